package main

import (
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/coapaudit/coapaudit/analysis"
	"github.com/coapaudit/coapaudit/capture"
	"github.com/coapaudit/coapaudit/export"
	"github.com/coapaudit/coapaudit/flows"
	"github.com/coapaudit/coapaudit/leaks/collect"
	"github.com/coapaudit/coapaudit/report"
	"github.com/coapaudit/coapaudit/rules"
	"github.com/coapaudit/coapaudit/stream"
)

type analyzeFlags struct {
	commonFlags
	auditFlags
	clockFlags
	proxies []string
	top     int
	noLeaks bool
	labels  string
	stream  streamFlags
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
with --keys.

Captures taken on several machines carry several clocks: before the
analysis, the files after the first are read once to find messages seen in
more than one file (the same datagram, an OSCORE message or a payload a
proxy relayed) and estimate each file's clock offset against the first;
an estimate within --max-skew is applied to every frame time of the file
(--clock-offset sets one by hand). With several files, every frame
reference names its file: "b.pcap#12".

On several machines (see "Running on several machines" in the README):
--publish nats://HOST:PORT makes analyze a sensor, which decodes and
decrypts here and publishes every CoAP message to a JetStream stream;
"analyze nats://HOST:PORT --stream NAME" is the analyzer, which consumes
the stream through a durable consumer and audits what the sensors saw.`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runAnalyze(e, &af, args)
		},
	}
	af.registerAudit(cmd)
	af.clockFlags.register(cmd)
	af.stream.register(cmd)
	cmd.Flags().StringVar(&af.report, "report", "", "also write a self-contained HTML report with plots to `FILE`")
	return cmd
}

func (af *analyzeFlags) flowsConfig() (flows.Config, error) {
	var cfg flows.Config
	for _, p := range af.proxies {
		ap, ok := analysis.ProxyFor(p)
		if !ok {
			return cfg, usageErr("--proxy %q: want an IP address or ip:port", p)
		}
		cfg.Proxies = append(cfg.Proxies, ap)
	}
	return cfg, nil
}

func runAnalyze(e *env, af *analyzeFlags, files []string) error {
	start := time.Now()
	if af.stream.publish != "" {
		return runSensor(e, af, files)
	}
	var rem *remote
	if stream.IsURL(files[0]) && len(files) > 1 {
		return usageErr("one stream URL (nats://HOST:PORT[,...]) and no capture files")
	}
	failSev, err := af.validate()
	if err != nil {
		return err
	}
	format, err := af.outputFormat(e.stdout)
	if err != nil {
		return err
	}
	opts, err := af.options()
	if err != nil {
		return err
	}
	if opts.Flows, err = af.flowsConfig(); err != nil {
		return err
	}
	opts.TrackExchanges = true
	if err := af.leakOptions(&opts); err != nil {
		return err
	}
	names := make([]string, len(files))
	for i, f := range files {
		names[i] = displayName(f)
	}
	refs := export.NewFrameRefs(names)
	if stream.IsURL(files[0]) {
		if rem, err = openRemote(e, af, files[0], &opts); err != nil {
			return err
		}
		defer rem.close()
		refs, files = rem.refs, nil
	}
	if refs != nil {
		names = refs.Files
	}
	opts.FrameRefs = refs
	if err := opts.LeakConfig.Labels.ResolveFiles(names, refs.Ref); err != nil {
		return usageErr("--labels: %v", err)
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
	offsets, err := af.clockFlags.estimate(e, files, names, opts.Dissect)
	if err != nil {
		return err
	}
	var w export.Writer
	var text *analyzeText
	switch format {
	case export.FormatText:
		text = &analyzeText{w: e.stdout, top: af.top, color: paletteFor(e.stdout), refs: refs}
		w = text
	case export.FormatJSON:
		w = export.NewJSONWriter(e.stdout)
	case export.FormatNDJSON:
		w = export.NewNDJSONWriter(e.stdout)
	case export.FormatCSV:
		w = af.newCSVStdout(e)
	}
	out := &outputs{stdout: w, filter: af.filter}
	defer out.abort()
	if out.dir, err = af.outDir(); err != nil {
		return err
	}
	w = out.writer()
	dir := out.packets()
	rep, err := openReport(af.report, refs)
	if err != nil {
		return err
	}
	defer rep.close()
	var writeErr error
	opts.RulesConfig.MaxFindings = af.maxFindings
	if err := af.withRules(e, &opts, func(f *rules.Finding) {
		rep.finding(f)
		if err := w.Write(export.Finding{Finding: f, Refs: refs}); err != nil && writeErr == nil {
			writeErr = err
		}
	}); err != nil {
		return err
	}
	eng := analysis.New(opts, func(x *flows.Exchange) {
		rep.exchange(x)
		if err := w.Write(export.Exchange{Exchange: x, Refs: refs}); err != nil && writeErr == nil {
			writeErr = err
		}
	})
	var ro *reportOutput
	if rep != nil {
		ro = &reportOutput{rep: rep, eng: eng}
		out.files = append(out.files, ro)
	}
	if rem != nil {
		writeErr = rem.run(e, eng) // it names the files as they come
	} else {
		for _, name := range names {
			eng.AddFile(name)
		}
	}
	m := analysis.NewMerge(files, readers)
	applyOffsets(m, offsets)
	for f := m.Next(); f != nil && writeErr == nil; f = m.Next() {
		if e.ctx.Err() != nil {
			warnf(e, "interrupted after %d frames", eng.Summary().Frames)
			break
		}
		pk := eng.Frame(&f.D, f.Index, refs.FileName(f.Index))
		if dir != nil {
			if err := dir.Write(pk); err != nil && writeErr == nil {
				writeErr = err
			}
		}
		f.Advance()
	}
	if err := mergeEnded(e, eng, m); err != nil && writeErr == nil {
		writeErr = err
	}
	sum := eng.Finish()
	warnDTLS(e, eng)
	sum.ElapsedSeconds = time.Since(start).Seconds()
	sum.ClockOffsets = offsets
	if text != nil {
		text.report = eng.Report()
		text.leaks = eng.LeakReport()
		if run := eng.Rules(); run != nil {
			text.stats = run.Stats()
		}
	}
	if err := writeLeaks(w, eng); err != nil && writeErr == nil {
		writeErr = err
	}
	if ro != nil {
		ro.sum = sum
	}
	runErr := out.finish(writeErr, sum)
	if runErr == nil && rem != nil {
		runErr = rem.ack()
	}
	if runErr == nil {
		runErr = failOn(failSev, eng.Rules().Stats())
	}
	return runErr
}

// analyzeText is the terminal view of analyze: one line per exchange (up
// to a limit), then the summary tables.
type analyzeText struct {
	w      io.Writer
	top    int
	shown  int
	more   int
	report flows.Report
	leaks  *collect.Report
	buf    strings.Builder
	// kept are the findings to print first, by severity: at most
	// maxTextFindings, the most severe ones, each severity in the order
	// reported. counts counts every finding record by severity; stats
	// adds those the rules suppressed past their cap.
	kept   [rules.High + 1][]*rules.Finding
	nkept  int
	counts [rules.High + 1]int
	stats  rules.Stats
	color  palette
	refs   *export.FrameRefs // frame names with several files
}

const maxTextFindings = 500

const maxTextExchanges = 200

func (t *analyzeText) Write(r export.Record) error {
	switch r := r.(type) {
	case export.Finding:
		t.keep(r.Finding)
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
		status = t.color.status(x.Status, fmt.Sprintf("%-22s", status))
		fmt.Fprintf(&t.buf, "%-6s %-7s %-40s %-22s %-22s %-22s %-5s %s %s\n", x.ID, x.Method, clip(x.URI, 40), x.Client, proxy, server, x.Code, status, frameRange(x.Frames, t.refs))
	case *export.Summary:
		t.writeFindings()
		fmt.Fprint(t.w, t.buf.String())
		if t.more > 0 {
			fmt.Fprintf(t.w, "... and %d more exchanges (use --format ndjson or csv for all)\n", t.more)
		}
		fmt.Fprintln(t.w)
		if err := t.report.WriteText(t.w, t.top); err != nil {
			return err
		}
		if err := t.leaks.WriteText(t.w); err != nil {
			return err
		}
		return writeSummaryLine(t.w, r)
	}
	return nil
}

func (t *analyzeText) Close() error { return nil }

// keep counts f and keeps it to print when it is among the
// maxTextFindings most severe so far: with the list full, it takes the
// place of the latest of the least severe findings kept.
func (t *analyzeText) keep(f *rules.Finding) {
	s := min(f.Severity, rules.High)
	t.counts[s]++
	if t.nkept >= maxTextFindings {
		low := rules.Severity(0)
		for l := rules.Info; l < s; l++ {
			if len(t.kept[l]) > 0 {
				low = l
				break
			}
		}
		if low == 0 {
			return
		}
		t.kept[low] = t.kept[low][:len(t.kept[low])-1]
		t.nkept--
	}
	t.kept[s] = append(t.kept[s], f)
	t.nkept++
}

// writeFindings prints the verdict, which counts every finding (those
// suppressed past a rule's cap too), then the findings kept, most severe
// first: what is exposed and what misbehaved comes before the traffic
// that shows it.
func (t *analyzeText) writeFindings() {
	var total [rules.High + 1]int
	records, all := 0, 0
	for s := rules.Info; s <= rules.High; s++ {
		total[s] = t.counts[s] + t.stats.SuppressedBySeverity[s]
		records += t.counts[s]
		all += total[s]
	}
	if all == 0 {
		fmt.Fprint(t.w, "no findings\n\n")
		return
	}
	fmt.Fprintf(t.w, "%d findings: %d high, %d medium, %d low, %d info\n", all,
		total[rules.High], total[rules.Medium], total[rules.Low], total[rules.Info])
	if n := t.stats.SuppressedTotal(); n > 0 {
		fmt.Fprintf(t.w, "suppressed: %s\n", report.SuppressedText(n, t.stats.Suppressed))
	}
	for s := rules.High; s >= rules.Info; s-- {
		t.writeFindingLines(t.kept[s])
	}
	if n := records - t.nkept; n > 0 {
		fmt.Fprintf(t.w, "... and %d more findings of lower severity (use --format ndjson or csv for all)\n", n)
	}
	fmt.Fprintln(t.w)
}

func (t *analyzeText) writeFindingLines(fs []*rules.Finding) {
	for _, f := range fs {
		ex := f.Exchange
		if ex == "" {
			ex = "-"
		}
		sev := t.color.severity(f.Severity, fmt.Sprintf("%-6s", strings.ToUpper(f.Severity.String())))
		fmt.Fprintf(t.w, "%s %-6s %-5s %-24s %-4s frames %s: %s\n", sev, f.Threat, ex, f.Rule, f.Certainty, frameRange(f.Frames, t.refs), f.Message)
	}
}

func writeSummaryLine(w io.Writer, s *export.Summary) error {
	_, err := fmt.Fprintf(w, "\n%d frames: %d CoAP, %d DTLS, %d malformed, %d other; %d exchanges",
		s.Frames, s.CoAPFrames, s.DTLSFrames, s.MalformedFrames, s.OtherFrames, s.Exchanges)
	if s.Decrypted+s.DecryptFailures > 0 {
		fmt.Fprintf(w, "; OSCORE %d decrypted, %d not verified", s.Decrypted, s.DecryptFailures)
	}
	if s.FindingsSuppressed > 0 {
		fmt.Fprintf(w, "; %d findings suppressed", s.FindingsSuppressed)
	}
	if s.DTLSDecrypted+s.DTLSDecryptFailures > 0 {
		fmt.Fprintf(w, "; DTLS %d records decrypted (%d CoAP), %d not", s.DTLSDecrypted, s.DTLSCoAP, s.DTLSDecryptFailures)
	}
	if len(s.Evicted) > 0 {
		fmt.Fprintf(w, "; evicted %v", s.Evicted)
	}
	if s.KernelReceived > 0 {
		fmt.Fprintf(w, "; kernel received %d, dropped %d", s.KernelReceived, s.KernelDropped)
	}
	if s.Truncated {
		fmt.Fprintf(w, "; capture truncated: %s", s.TruncatedError)
	}
	if len(s.ClockOffsets) > 0 {
		fmt.Fprintf(w, "; %s", formatOffsets(s.ClockOffsets))
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

// frameRange shows a frame list briefly: "1-6" or "3,7,9" or "3,7,...,41
// (12)". With several files (refs not nil) each file's frames are shown
// so after its name: "a.pcap#1-4 b.pcap#1,2".
func frameRange(f []int, refs *export.FrameRefs) string {
	if refs == nil {
		return frameNumbers(f)
	}
	byFile := make([][]int, len(refs.Files))
	for _, r := range f {
		i, n := refs.Split(r)
		byFile[i] = append(byFile[i], n)
	}
	var parts []string
	for i, nums := range byFile {
		if len(nums) > 0 {
			parts = append(parts, refs.Files[i]+"#"+frameNumbers(nums))
		}
	}
	return strings.Join(parts, " ")
}

func frameNumbers(f []int) string {
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
