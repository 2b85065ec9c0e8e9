package main

import (
	"errors"
	"io"
	"time"

	"github.com/spf13/cobra"

	"github.com/coapaudit/coapaudit/capture"
	"github.com/coapaudit/coapaudit/dissect"
	"github.com/coapaudit/coapaudit/export"
	"github.com/coapaudit/coapaudit/oscore"
)

func packetsCmd(e *env) *cobra.Command {
	var cf commonFlags
	cmd := &cobra.Command{
		Use:   "packets [flags] FILE...",
		Short: "one record per frame, like tshark -T ek",
		Long: `packets decodes every frame of the capture files ('-' reads stdin) and writes
one record per frame, then a summary record whose frame counts add up to the
number of frames read.`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runPackets(e, &cf, args)
		},
	}
	cf.register(cmd)
	return cmd
}

func runPackets(e *env, cf *commonFlags, files []string) error {
	start := time.Now()
	format, err := cf.outputFormat(e.stdout)
	if err != nil {
		return err
	}
	ds, err := cf.dissector()
	if err != nil {
		return err
	}
	kr, err := cf.keyring()
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
		w = export.NewCSVWriter(e.stdout, "packet")
	}
	p := newPacketLoop(ds, kr)
	var runErr error
	for _, name := range files {
		r, err := openCapture(e, name)
		if err != nil {
			runErr = err
			break
		}
		p.sum.Files = append(p.sum.Files, displayName(name))
		file := ""
		if len(files) > 1 {
			file = displayName(name)
		}
		err = p.readAll(e, r, file, func(pk *export.Packet) error { return w.Write(pk) })
		r.Close()
		if err != nil {
			runErr = err
			break
		}
	}
	p.finish()
	p.sum.ElapsedSeconds = time.Since(start).Seconds()
	if runErr == nil || !isUsage(runErr) {
		if err := w.Write(&p.sum); err != nil && runErr == nil {
			runErr = err
		}
	}
	if err := w.Close(); err != nil && runErr == nil {
		runErr = err
	}
	return runErr
}

func isUsage(err error) bool {
	var ee *exitError
	return errors.As(err, &ee) && ee.code == exitUsage
}

// packetLoop reads frames, dissects them, decrypts OSCORE and counts.
type packetLoop struct {
	ds   *dissect.Dissector
	dec  *oscore.Decryptor
	dtls *dissect.DTLSSessions
	sum  export.Summary
	// first and last frame times, formatted into sum at the end.
	first, last time.Time
	times       export.TimeCache

	d  capture.Datagram
	f  dissect.Frame
	pk export.Packet
}

func newPacketLoop(ds *dissect.Dissector, kr *oscore.Keyring) *packetLoop {
	p := &packetLoop{ds: ds, dec: oscore.NewDecryptor(kr), dtls: dissect.NewDTLSSessions(4096)}
	p.sum.OtherBy = map[string]int{}
	p.sum.Evicted = map[string]int{}
	return p
}

// readAll processes every frame of r, calling emit for each. A truncated or
// corrupt capture ends the file with a warning and Summary.Truncated set.
func (p *packetLoop) readAll(e *env, r *capture.Reader, file string, emit func(*export.Packet) error) error {
	for {
		if err := e.ctx.Err(); err != nil {
			warnf(e, "interrupted after %d frames", p.sum.Frames)
			return nil
		}
		err := r.Next(&p.d)
		if err == io.EOF {
			return nil
		}
		if err != nil {
			p.sum.Truncated = true
			p.sum.TruncatedError = err.Error()
			warnf(e, "%s: %v (analysed the %d frames before it)", displayName(file), err, r.Frames())
			return nil
		}
		p.step(&p.d, file)
		if err := emit(&p.pk); err != nil {
			return err
		}
	}
}

// step dissects the current frame, fills p.pk and counts it.
func (p *packetLoop) step(d *capture.Datagram, file string) {
	f := &p.f
	p.ds.Dissect(d, f)
	p.pk = export.Packet{D: d, F: f, File: file, Times: &p.times}
	s := &p.sum
	s.Frames++
	if p.first.IsZero() {
		p.first = d.Time
	}
	p.last = d.Time
	if f.Heuristic {
		s.HeuristicFrames++
	}
	if len(d.Fragments) > 0 {
		s.IPReassembled++
	}
	switch {
	case f.Err != nil:
		s.MalformedFrames++
	case f.Proto == dissect.ProtoCoAP:
		s.CoAPFrames++
	case f.Proto == dissect.ProtoDTLS:
		s.DTLSFrames++
	default:
		s.OtherFrames++
		s.OtherBy[otherKind(&p.pk)]++
	}
	switch f.Proto {
	case dissect.ProtoCoAP:
		s.Anomalies += len(f.CoAP.Anomalies)
		if len(f.CoAP.Raw) >= 4 {
			if res := p.dec.Process(d.Time, d.Number, d.Src, d.Dst, &f.CoAP); res != nil {
				p.pk.OSCORE = res
				if res.Tried {
					if res.Verified {
						s.Decrypted++
					} else {
						s.DecryptFailures++
					}
				}
			}
		}
	case dissect.ProtoDTLS:
		p.pk.PSKIdentity = p.dtls.Observe(d.Src, d.Dst, &f.DTLS)
	}
	if d.Kind == capture.KindFragment {
		s.IPFragments++
	}
}

// otherKind names what an "other" frame is: udp, ip-fragment, or the
// capture layer's reason (icmp, arp, tcp, ...).
func otherKind(p *export.Packet) string {
	if p.D.Kind == capture.KindOther && p.D.Reason != "" {
		return p.D.Reason
	}
	return p.ProtoName()
}

// finish copies reader and tracker statistics into the summary.
func (p *packetLoop) finish() {
	if !p.first.IsZero() {
		p.sum.FirstTime = p.first.UTC().Format(time.RFC3339Nano)
		p.sum.LastTime = p.last.UTC().Format(time.RFC3339Nano)
	}
	if p.sum.OtherBy != nil && len(p.sum.OtherBy) == 0 {
		p.sum.OtherBy = nil
	}
	st := p.dec.Stats()
	if st.Evicted > 0 {
		p.sum.Evicted["oscore-requests"] += st.Evicted
	}
	if len(p.sum.Evicted) == 0 {
		p.sum.Evicted = nil
	}
}
