package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/coapaudit/coapaudit/analysis"
	"github.com/coapaudit/coapaudit/capture"
	"github.com/coapaudit/coapaudit/dissect"
	"github.com/coapaudit/coapaudit/export"
	"github.com/coapaudit/coapaudit/flows"
	"github.com/coapaudit/coapaudit/rules"
)

type liveFlags struct {
	analyzeFlags
	iface    string
	bpf      string
	duration time.Duration
	write    string
	snaplen  int
	allUDP   bool
	linger   time.Duration
}

func liveCmd(e *env) *cobra.Command {
	var lf liveFlags
	cmd := &cobra.Command{
		Use:   "live -i IFACE [flags]",
		Short: "audit a live interface until Ctrl-C or --duration",
		Long: `live captures on a network interface (Linux, AF_PACKET, no libpcap needed;
root or CAP_NET_RAW) and streams exchanges as they complete, with the same
records and flags as analyze. By default only UDP to or from the CoAP and
DTLS ports (5683, 5684, --port, --dtls-port) is captured; --all-udp or
--bpf widen or narrow that.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			return runLive(e, &lf)
		},
	}
	lf.commonFlags.register(cmd)
	lf.auditFlags.register(cmd)
	f := cmd.Flags()
	f.StringArrayVar(&lf.proxies, "proxy", nil, "address (ip or ip:port) of a proxy (repeatable)")
	f.IntVar(&lf.top, "top", 10, "rows per table in the text summary (0: all)")
	f.StringVarP(&lf.iface, "interface", "i", "", "interface to capture on (e.g. lo, eth0, any)")
	f.StringVar(&lf.bpf, "bpf", "", "capture filter expression, compiled with tcpdump (e.g. 'udp and host 10.0.0.5')")
	f.DurationVar(&lf.duration, "duration", 0, "stop after this long (e.g. 30s, 5m); default: until Ctrl-C")
	f.StringVarP(&lf.write, "write", "w", "", "also write the captured frames to FILE (pcapng)")
	f.IntVar(&lf.snaplen, "snaplen", 0, "bytes captured per frame (default 262144)")
	f.DurationVar(&lf.linger, "linger", 5*time.Second, "how long a finished exchange waits for late copies before it is reported")
	f.BoolVar(&lf.allUDP, "all-udp", false, "capture all UDP, so that CoAP and DTLS on other ports are found by heuristics")
	return cmd
}

func runLive(e *env, lf *liveFlags) error {
	start := time.Now()
	if lf.iface == "" {
		return usageErr("live needs an interface: -i IFACE")
	}
	format, err := lf.outputFormat(e.stdout)
	if err != nil {
		return err
	}
	opts, err := lf.options()
	if err != nil {
		return err
	}
	if opts.Flows, err = lf.flowsConfig(); err != nil {
		return err
	}
	opts.TrackExchanges = true
	if opts.Flows.Linger == 0 {
		opts.Flows.Linger = lf.linger
	}
	lo := capture.LiveOptions{Snaplen: lf.snaplen, Filter: lf.bpf}
	if !lf.allUDP {
		lo.Ports = livePorts(opts.Dissect)
	}
	live, err := capture.OpenLive(lf.iface, lo)
	if err != nil {
		return usageErr("-i %s: %v", lf.iface, err)
	}
	defer live.Close()
	var pw *capture.PcapngWriter
	if lf.write != "" {
		f, err := os.Create(lf.write)
		if err != nil {
			return usageErr("-w: %v", err)
		}
		pw, err = capture.NewPcapngWriter(f, live.LinkType(), live.Snaplen())
		if err != nil {
			f.Close()
			return usageErr("-w: %v", err)
		}
		defer pw.Close()
	}
	w, err := streamWriter(e, format)
	if err != nil {
		return err
	}
	dir, err := lf.outDir()
	if err != nil {
		return err
	}
	if dir != nil {
		w = export.Multi{w, dir}
	}
	var writeErr error
	failSev, err := parseFailOn(lf.failOn)
	if err != nil {
		return err
	}
	if err := lf.withRules(&opts, func(f *rules.Finding) {
		if err := w.Write(export.Finding{Finding: f}); err != nil && writeErr == nil {
			writeErr = err
		}
	}); err != nil {
		return err
	}
	eng := analysis.New(opts, func(x *flows.Exchange) {
		if err := w.Write(export.Exchange{Exchange: x}); err != nil && writeErr == nil {
			writeErr = err
		}
	})
	eng.AddFile("live:" + lf.iface)
	var deadline time.Time
	if lf.duration > 0 {
		deadline = start.Add(lf.duration)
	}
	// On Ctrl-C, wake a blocked read; the loop then drains what the
	// kernel already queued and stops.
	stop := make(chan struct{})
	defer close(stop)
	go func() {
		select {
		case <-e.ctx.Done():
			live.SetReadDeadline(time.Now())
		case <-stop:
		}
	}()
	if e.liveReady != nil {
		e.liveReady()
	}
	r := live.Reader()
	var d capture.Datagram
	const (
		tick  = 250 * time.Millisecond
		drain = 100 * time.Millisecond // quiet time that ends a stop
	)
	draining := false
	for writeErr == nil {
		now := time.Now()
		if !draining && (e.ctx.Err() != nil || (!deadline.IsZero() && !now.Before(deadline))) {
			draining = true
		}
		next := now.Add(tick)
		switch {
		case draining:
			next = now.Add(drain)
		case !deadline.IsZero() && deadline.Before(next):
			next = deadline
		}
		if e.ctx.Err() == nil || draining {
			live.SetReadDeadline(next)
		}
		err := r.Next(&d)
		if err != nil {
			if errors.Is(err, os.ErrDeadlineExceeded) {
				if draining {
					break // everything queued has been read
				}
				// Quiet link: let state expire on the clock.
				eng.Flush(time.Now())
				continue
			}
			if err == io.EOF {
				break
			}
			eng.SetTruncated(err)
			warnf(e, "capture on %s: %v", lf.iface, err)
			break
		}
		pk := eng.Frame(&d, 0, "")
		if pw != nil {
			if err := pw.WriteFrame(&d.Frame); err != nil {
				writeErr = fmt.Errorf("-w: %w", err)
			}
		}
		if dir != nil {
			if err := dir.Write(pk); err != nil && writeErr == nil {
				writeErr = err
			}
		}
	}
	sum := eng.Finish()
	warnDTLS(e, eng)
	if st, err := live.Stats(); err == nil {
		sum.KernelReceived = int(st.Received)
		sum.KernelDropped = int(st.Dropped)
	}
	sum.ElapsedSeconds = time.Since(start).Seconds()
	runErr := writeErr
	if err := w.Write(sum); err != nil && runErr == nil {
		runErr = err
	}
	if err := w.Close(); err != nil && runErr == nil {
		runErr = err
	}
	if runErr == nil {
		runErr = failOn(failSev, eng.Rules().Stats())
	}
	return runErr
}

// livePorts are the UDP ports the live capture keeps by default.
func livePorts(cfg dissect.Config) []uint16 {
	ports := []uint16{dissect.PortCoAP, dissect.PortCoAPS}
	ports = append(ports, cfg.CoAPPorts...)
	return append(ports, cfg.DTLSPorts...)
}

// streamWriter returns the stdout writer for commands that stream records
// as they happen: text prints one line per exchange at once.
func streamWriter(e *env, format export.Format) (export.Writer, error) {
	switch format {
	case export.FormatText:
		return &liveText{w: e.stdout, color: paletteFor(e.stdout)}, nil
	case export.FormatJSON:
		return export.NewJSONWriter(e.stdout), nil
	case export.FormatCSV:
		return export.NewCSVWriter(e.stdout, "exchange"), nil
	}
	return newFlushingNDJSON(e.stdout), nil
}

// flushingNDJSON writes each record through at once, so that a consumer
// of a live capture sees it when it happens.
type flushingNDJSON struct {
	w   io.Writer
	buf []byte
}

func newFlushingNDJSON(w io.Writer) *flushingNDJSON { return &flushingNDJSON{w: w} }

func (f *flushingNDJSON) Write(r export.Record) error {
	f.buf = append(r.AppendJSON(f.buf[:0]), '\n')
	_, err := f.w.Write(f.buf)
	return err
}

func (f *flushingNDJSON) Close() error { return nil }

// liveText prints exchanges as they complete and the summary at the end.
type liveText struct {
	w     io.Writer
	n     int
	color palette
}

func (t *liveText) Write(r export.Record) error {
	switch r := r.(type) {
	case export.Exchange:
		x := r.Exchange
		t.n++
		via := ""
		if x.Proxy.IsValid() {
			via = " via " + x.Proxy.String()
		}
		_, err := fmt.Fprintf(t.w, "%s %s %s %s %s%s → %s %s %s\n", x.Start.Format("15:04:05.000"), x.ID, x.Method, x.URI, x.Client, via, x.Server, x.Code, t.color.status(x.Status, string(x.Status)))
		return err
	case export.Finding:
		f := r.Finding
		_, err := fmt.Fprintf(t.w, "%s FINDING %s %s %s %s frames %s: %s\n", f.Time.Format("15:04:05.000"), t.color.severity(f.Severity, strings.ToUpper(f.Severity.String())), f.Threat, f.Rule, f.Exchange, frameRange(f.Frames), f.Message)
		return err
	case *export.Summary:
		return writeSummaryLine(t.w, r)
	}
	return nil
}

func (t *liveText) Close() error { return nil }
