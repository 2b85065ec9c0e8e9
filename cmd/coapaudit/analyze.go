package main

import (
	"fmt"
	"io"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/coapaudit/coapaudit/capture"
	"github.com/coapaudit/coapaudit/dissect"
	"github.com/coapaudit/coapaudit/export"
	"github.com/coapaudit/coapaudit/flows"
)

type analyzeFlags struct {
	commonFlags
	proxies []string
	top     int
}

func analyzeCmd(e *env) *cobra.Command {
	var af analyzeFlags
	cmd := &cobra.Command{
		Use:   "analyze [flags] FILE...",
		Short: "audit captures: exchanges across proxies, OSCORE, findings",
		Long: `analyze reads one or more captures ('-' reads stdin), merges them by
timestamp (for example one taken on each side of a proxy), and reassembles
CoAP exchanges across every hop: client and server legs of proxies linked,
Observe notifications and block-wise transfers followed, OSCORE decrypted
with --keys.`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runAnalyze(e, &af, args)
		},
	}
	af.register(cmd)
	cmd.Flags().StringArrayVar(&af.proxies, "proxy", nil, "address (ip or ip:port) of a proxy, in addition to those found in the traffic (repeatable)")
	cmd.Flags().IntVar(&af.top, "top", 10, "rows per table in the text summary (0: all)")
	return cmd
}

func (af *analyzeFlags) flowsConfig() (flows.Config, error) {
	var cfg flows.Config
	for _, p := range af.proxies {
		if ap, err := netip.ParseAddrPort(p); err == nil {
			cfg.Proxies = append(cfg.Proxies, ap)
			continue
		}
		a, err := netip.ParseAddr(p)
		if err != nil {
			return cfg, usageErr("--proxy %q: want an IP address or ip:port", p)
		}
		cfg.Proxies = append(cfg.Proxies, netip.AddrPortFrom(a, 0))
	}
	return cfg, nil
}

// analysis is one run of the analyze pipeline: frames in, records out.
type analysis struct {
	loop    *packetLoop
	tracker *flows.Tracker
	summary *flows.Summary
	out     export.Writer
	err     error
	fp      flows.Packet
	oi      flows.OSCOREInfo
}

func newAnalysis(ds *dissect.Dissector, af *analyzeFlags, loop *packetLoop, out export.Writer) (*analysis, error) {
	cfg, err := af.flowsConfig()
	if err != nil {
		return nil, err
	}
	a := &analysis{loop: loop, summary: flows.NewSummary(0), out: out}
	a.tracker = flows.NewTracker(cfg, a.emit)
	return a, nil
}

func (a *analysis) emit(x *flows.Exchange) {
	a.loop.sum.Exchanges++
	a.summary.Add(x)
	if err := a.out.Write(export.Exchange{Exchange: x}); err != nil && a.err == nil {
		a.err = err
	}
}

// frame runs one datagram through dissection, decryption and the tracker.
func (a *analysis) frame(d *capture.Datagram, file int) {
	p := a.loop
	p.step(d, "")
	f := &p.f
	if f.Proto != dissect.ProtoCoAP || len(f.CoAP.Raw) < 4 || f.CoAP.Version != 1 {
		return
	}
	a.fp = flows.Packet{Frame: d.Number, File: file, Time: d.Time, Src: d.Src, Dst: d.Dst, Msg: &f.CoAP, Size: len(d.Payload)}
	if r := p.pk.OSCORE; r != nil {
		a.oi = flows.OSCOREInfo{KID: r.Option.KID, KIDContext: r.Option.KIDContext, PIV: r.Option.PIV, Tried: r.Tried, Verified: r.Verified}
		if r.Verified {
			a.oi.Inner = &r.Inner
		}
		a.fp.OSCORE = &a.oi
	}
	a.tracker.Add(&a.fp)
}

func runAnalyze(e *env, af *analyzeFlags, files []string) error {
	start := time.Now()
	format, err := af.outputFormat(e.stdout)
	if err != nil {
		return err
	}
	ds, err := af.dissector()
	if err != nil {
		return err
	}
	kr, err := af.keyring()
	if err != nil {
		return err
	}
	var readers []*capture.Reader
	defer func() {
		for _, r := range readers {
			r.Close()
		}
	}()
	stdinUsed := false
	for _, name := range files {
		if name == "-" {
			if stdinUsed {
				return usageErr("stdin ('-') given twice")
			}
			stdinUsed = true
		}
		r, err := openCapture(e, name)
		if err != nil {
			return err
		}
		readers = append(readers, r)
	}
	var w export.Writer
	var text *analyzeText
	switch format {
	case export.FormatText:
		text = &analyzeText{w: e.stdout, top: af.top}
		w = text
	case export.FormatJSON:
		w = export.NewJSONWriter(e.stdout)
	case export.FormatNDJSON:
		w = export.NewNDJSONWriter(e.stdout)
	case export.FormatCSV:
		w = export.NewCSVWriter(e.stdout, "exchange")
	}
	loop := newPacketLoop(ds, kr)
	for _, name := range files {
		loop.sum.Files = append(loop.sum.Files, displayName(name))
	}
	a, err := newAnalysis(ds, af, loop, w)
	if err != nil {
		return err
	}
	ms := newMergeSource(files, readers)
	for f := ms.next(); f != nil; f = ms.next() {
		if e.ctx.Err() != nil {
			warnf(e, "interrupted after %d frames", loop.sum.Frames)
			break
		}
		a.frame(&f.d, f.index)
		if a.err != nil {
			break
		}
		f.advance()
	}
	for _, f := range ms.files {
		if f.err != nil {
			loop.sum.Truncated = true
			if loop.sum.TruncatedError != "" {
				loop.sum.TruncatedError += "; "
			}
			loop.sum.TruncatedError += f.err.Error()
			warnf(e, "%v (analysed the %d frames before it)", f.err, f.r.Frames())
		}
	}
	a.tracker.Close()
	loop.finish()
	st := a.tracker.Stats()
	addEvictions(&loop.sum, st)
	loop.sum.ElapsedSeconds = time.Since(start).Seconds()
	if text != nil {
		text.report = a.summary.Report()
	}
	runErr := a.err
	if err := w.Write(&loop.sum); err != nil && runErr == nil {
		runErr = err
	}
	if err := w.Close(); err != nil && runErr == nil {
		runErr = err
	}
	return runErr
}

// addEvictions copies the tracker's eviction counters into the summary.
func addEvictions(s *export.Summary, st flows.Stats) {
	if s.Evicted == nil {
		s.Evicted = map[string]int{}
	}
	for k, v := range map[string]uint64{
		"exchanges-pending":  st.EvictedPending,
		"exchanges-per-pair": st.EvictedPerPair,
		"exchanges-early":    st.EarlyEmits,
		"message-ids":        st.EvictedMessages,
	} {
		if v > 0 {
			s.Evicted[k] += int(v)
		}
	}
	if len(s.Evicted) == 0 {
		s.Evicted = nil
	}
}

// analyzeText is the terminal view of analyze: one line per exchange (up
// to a limit), then the summary tables.
type analyzeText struct {
	w      io.Writer
	top    int
	shown  int
	more   int
	report flows.Report
	buf    strings.Builder
}

const maxTextExchanges = 200

func (t *analyzeText) Write(r export.Record) error {
	switch r := r.(type) {
	case export.Exchange:
		if t.shown >= maxTextExchanges {
			t.more++
			return nil
		}
		if t.shown == 0 {
			fmt.Fprintf(&t.buf, "%-6s %-7s %-40s %-22s %-22s %-22s %-5s %-22s %s\n", "id", "method", "uri", "client", "proxy", "server", "code", "status", "frames")
		}
		t.shown++
		x := r.Exchange
		proxy := ""
		if x.Proxy.IsValid() {
			proxy = x.Proxy.String()
		}
		server := ""
		if x.Server.IsValid() {
			server = x.Server.String()
		}
		status := string(x.Status)
		if x.Notifications > 0 {
			status += " (" + strconv.Itoa(x.Notifications) + " notif.)"
		}
		if x.Protected != "none" && x.Protected != "" {
			status += " [" + x.Protected + "]"
		}
		fmt.Fprintf(&t.buf, "%-6s %-7s %-40s %-22s %-22s %-22s %-5s %-22s %s\n", x.ID, x.Method, clip(x.URI, 40), x.Client, proxy, server, x.Code, status, frameRange(x.Frames))
	case *export.Summary:
		fmt.Fprint(t.w, t.buf.String())
		if t.more > 0 {
			fmt.Fprintf(t.w, "... and %d more exchanges (use --format ndjson or csv for all)\n", t.more)
		}
		fmt.Fprintln(t.w)
		if err := t.report.WriteText(t.w, t.top); err != nil {
			return err
		}
		return writeSummaryLine(t.w, r)
	}
	return nil
}

func (t *analyzeText) Close() error { return nil }

func writeSummaryLine(w io.Writer, s *export.Summary) error {
	_, err := fmt.Fprintf(w, "\n%d frames: %d CoAP, %d DTLS, %d malformed, %d other; %d exchanges",
		s.Frames, s.CoAPFrames, s.DTLSFrames, s.MalformedFrames, s.OtherFrames, s.Exchanges)
	if s.Decrypted+s.DecryptFailures > 0 {
		fmt.Fprintf(w, "; OSCORE %d decrypted, %d not verified", s.Decrypted, s.DecryptFailures)
	}
	if len(s.Evicted) > 0 {
		fmt.Fprintf(w, "; evicted %v", s.Evicted)
	}
	if s.Truncated {
		fmt.Fprintf(w, "; capture truncated: %s", s.TruncatedError)
	}
	fmt.Fprintln(w)
	return err
}

func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n-1] + "…"
}

// frameRange shows a frame list briefly: "1-6" or "3,7,9" or "3,7,...,41 (12)".
func frameRange(f []int) string {
	switch {
	case len(f) == 0:
		return ""
	case f[len(f)-1]-f[0] == len(f)-1 && len(f) > 1:
		return strconv.Itoa(f[0]) + "-" + strconv.Itoa(f[len(f)-1])
	case len(f) <= 4:
		s := make([]string, len(f))
		for i, n := range f {
			s[i] = strconv.Itoa(n)
		}
		return strings.Join(s, ",")
	}
	return strconv.Itoa(f[0]) + "," + strconv.Itoa(f[1]) + ",...," + strconv.Itoa(f[len(f)-1]) + " (" + strconv.Itoa(len(f)) + ")"
}
