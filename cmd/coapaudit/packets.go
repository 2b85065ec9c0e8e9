package main

import (
	"errors"
	"time"

	"github.com/spf13/cobra"

	"github.com/coapaudit/coapaudit/analysis"
	"github.com/coapaudit/coapaudit/capture"
	"github.com/coapaudit/coapaudit/export"
)

func packetsCmd(e *env) *cobra.Command {
	var cf commonFlags
	cmd := &cobra.Command{
		Use:   "packets [flags] [FILE...]",
		Short: "one record per frame, like tshark -T ek",
		Long: `packets decodes every frame of the capture files ('-', or no file, reads
stdin) and writes one record per frame, then a summary record whose frame
counts add up to the number of frames read.`,
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) == 0 {
				if isTerminal(e.stdin) {
					return usageErr("packets reads a capture from stdin: give a FILE or pipe a capture in")
				}
				args = []string{"-"}
			}
			return runPackets(e, &cf, args)
		},
	}
	cf.register(cmd)
	cf.registerRecords(cmd, "packets", "summary")
	return cmd
}

func runPackets(e *env, cf *commonFlags, files []string) error {
	start := time.Now()
	if err := cf.validate(); err != nil {
		return err
	}
	format, err := cf.outputFormat(e.stdout)
	if err != nil {
		return err
	}
	opts, err := cf.options()
	if err != nil {
		return err
	}
	var w export.Writer
	switch format {
	case export.FormatText:
		w = export.NewTextWriter(e.stdout)
	case export.FormatJSON:
		w = export.NewJSONWriter(e.stdout)
	case export.FormatNDJSON:
		w = export.NewNDJSONWriter(e.stdout)
	case export.FormatCSV:
		w = cf.newCSVStdout(e)
	}
	out := &outputs{stdout: w, filter: cf.filter}
	defer out.abort()
	if out.dir, err = cf.outDir(); err != nil {
		return err
	}
	w = out.writer()
	eng := analysis.New(opts, nil)
	var runErr error
	recs := newPacketRecords(nil)
	for _, name := range files {
		if e.ctx.Err() != nil {
			break
		}
		r, err := openCapture(e, name)
		if err != nil {
			runErr = err
			break
		}
		eng.AddFile(displayName(name))
		file := ""
		if len(files) > 1 {
			file = displayName(name)
		}
		err = readAll(e, eng, r, file, func(pk *analysis.Packet) error { return w.Write(recs.of(pk)) })
		r.Close()
		if err != nil {
			runErr = err
			break
		}
	}
	sum := eng.Finish()
	warnDTLS(e, eng)
	sum.ElapsedSeconds = time.Since(start).Seconds()
	if runErr != nil && isUsage(runErr) && !errors.Is(runErr, errNoFrames) {
		out.stdout.Close()
		return runErr
	}
	return out.finish(runErr, sum)
}

func isUsage(err error) bool {
	var ee *exitError
	return errors.As(err, &ee) && ee.code == exitUsage
}

// readAll runs every frame of r through eng, calling emit for each. A
// truncated or corrupt capture ends the file with a warning and the
// summary's truncated flag set.
func readAll(e *env, eng *analysis.Engine, r *capture.Reader, file string, emit func(*analysis.Packet) error) error {
	defer func() { eng.ReaderStats(r.Stats()) }()
	src := &analysis.ReaderSource{R: r}
	err := analysis.Run(e.ctx, src, eng, analysis.RunOptions{FileName: func(int) string { return file }, OnPacket: func(pk *analysis.Packet, _ int) error { return emit(pk) }})
	switch {
	case errors.Is(err, analysis.ErrInterrupted):
		warnf(e, "%v", err)
		return nil
	case err != nil:
		return err
	case src.Err != nil:
		return captureEnded(e, eng, r, src.Err)
	}
	return nil
}
