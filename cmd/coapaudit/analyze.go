package main

import (
	"errors"
	"fmt"
	"io"
	"runtime"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/spf13/cobra"

	"github.com/coapaudit/coapaudit/analysis"
	"github.com/coapaudit/coapaudit/capture"
	"github.com/coapaudit/coapaudit/export"
	"github.com/coapaudit/coapaudit/flows"
	"github.com/coapaudit/coapaudit/internal/human"
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
	// memLimit is --memory-limit, in MiB.
	memLimit int
	labels   string
	stream   streamFlags
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
	restore, err := af.setMemoryLimit()
	if err != nil {
		return err
	}
	defer restore()
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
	refs := capture.NewFrameRefs(names)
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
		text = &analyzeText{w: e.stdout, top: af.top, color: paletteFor(e.stdout), refs: refs, width: termWidth(e.stdout)}
		w = text
	case export.FormatJSON:
		w = export.NewJSONWriter(e.stdout)
	case export.FormatNDJSON:
		w = export.NewNDJSONWriter(e.stdout)
	case export.FormatCSV:
		w = af.newCSVStdout(e)
	}
	if rem != nil && rem.results != nil {
		w = export.Multi{w, rem.results} // the results go where stdout's records go
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
	var writeErr firstErr // exchanges and findings are written from the pipeline's goroutine
	opts.RulesConfig.MaxFindings = af.maxFindings
	if err := af.withRules(e, &opts, func(f *rules.Finding) {
		rep.finding(f)
		writeErr.set(w.Write(export.Finding{Finding: f, Refs: refs}))
	}); err != nil {
		return err
	}
	eng := analysis.New(opts, func(x *flows.Exchange) {
		rep.exchange(x)
		writeErr.set(w.Write(export.Exchange{Exchange: x, Refs: refs}))
	})
	var ro *reportOutput
	if rep != nil {
		ro = &reportOutput{rep: rep, eng: eng}
		out.files = append(out.files, ro)
	}
	if rem != nil {
		writeErr.set(rem.run(e, eng)) // it names the files as they come
	} else {
		for _, name := range names {
			eng.AddFile(name)
		}
	}
	m := analysis.NewMerge(files, readers)
	applyOffsets(m, offsets)
	recs := newPacketRecords(refs)
	err = analysis.Run(e.ctx, &analysis.MergeSource{M: m}, eng, analysis.RunOptions{
		FileName: refs.FileName,
		Pipeline: pipelineRuns && runtime.GOMAXPROCS(0) > 1,
		OnPacket: func(pk *analysis.Packet, _ int) error {
			if dir != nil {
				writeErr.set(dir.Write(recs.of(pk)))
			}
			return writeErr.get()
		},
	})
	if errors.Is(err, analysis.ErrInterrupted) {
		warnf(e, "%v", err)
	}
	writeErr.set(mergeEnded(e, eng, m))
	sum := eng.Finish()
	warnDTLS(e, eng)
	sum.ElapsedSeconds = time.Since(start).Seconds()
	sum.ClockOffsets = offsets
	if rem != nil {
		sum.ClockOffsets = rem.sess.Offsets // between the sensors' files
	}
	if text != nil {
		text.report = eng.Report()
		text.leaks = eng.LeakReport()
		if run := eng.Rules(); run != nil {
			text.stats = run.Stats()
		}
	}
	writeErr.set(writeLeaks(w, eng))
	if ro != nil {
		ro.sum = sum
	}
	runErr := out.finish(writeErr.get(), sum)
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
	rows   []exchangeRow
	// width is the terminal's width in columns; 0 means 80.
	width int
	// kept are the findings to print first, by severity: at most
	// maxTextFindings, the most severe ones, each severity in the order
	// reported. counts counts every finding record by severity; stats
	// adds those the rules suppressed past their cap.
	kept   [rules.High + 1][]*rules.Finding
	nkept  int
	counts [rules.High + 1]int
	stats  rules.Stats
	color  palette
	refs   *capture.FrameRefs // frame names with several files
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
		t.shown++
		t.rows = append(t.rows, t.exchangeRow(r.Exchange))
	case *export.Summary:
		t.writeFindings()
		t.writeExchanges()
		if t.more > 0 {
			fmt.Fprintf(t.w, "... and %d more exchanges (use --format ndjson or csv for all)\n", t.more)
		}
		fmt.Fprintln(t.w)
		if err := export.WriteReportTextWidth(t.w, t.report, t.top, t.lineWidth()); err != nil {
			return err
		}
		if err := t.leaks.WriteText(t.w, t.lineWidth()); err != nil {
			return err
		}
		return writeSummaryLine(t.w, r, t.lineWidth())
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

// findingIndent indents the lines of a finding's message after the first.
const findingIndent = 7

func (t *analyzeText) writeFindingLines(fs []*rules.Finding) {
	width := t.lineWidth()
	for _, f := range fs {
		ex := f.Exchange
		if ex == "" {
			ex = "-"
		}
		sevText := fmt.Sprintf("%-6s", strings.ToUpper(f.Severity.String()))
		head := fmt.Sprintf("%s %-6s %-5s %-24s %-4s frames %s:", sevText, f.Threat, ex, f.Rule, f.Certainty, frameRange(f.Frames, t.refs))
		sev := t.color.severity(f.Severity, sevText)
		// The message follows the heading when a fair part of it fits
		// there, and starts on a line of its own otherwise.
		if used := human.Width(head) + 1; width-used >= 40 {
			lines := human.WrapAfter(f.Message, used, width, findingIndent)
			fmt.Fprintf(t.w, "%s%s %s\n", sev, head[len(sevText):], strings.Join(lines, "\n"))
			continue
		}
		if human.Width(head) <= width {
			fmt.Fprintln(t.w, sev+head[len(sevText):])
		} else { // many frames in several files: they get lines of their own
			fmt.Fprintf(t.w, "%s %-6s %-5s %-24s %s\n", sev, f.Threat, ex, f.Rule, f.Certainty)
			for _, l := range human.Wrap("frames "+frameRange(f.Frames, t.refs)+":", width-findingIndent, 0) {
				fmt.Fprintf(t.w, "%*s%s\n", findingIndent, "", l)
			}
		}
		for _, l := range human.Wrap(f.Message, width-findingIndent, 0) {
			fmt.Fprintf(t.w, "%*s%s\n", findingIndent, "", l)
		}
	}
}

// lineWidth is the width the text is laid out to.
func (t *analyzeText) lineWidth() int {
	if t.width <= 0 {
		return defaultWidth
	}
	return t.width
}

// exchangeRow is one line of the exchange table, before layout.
type exchangeRow struct {
	cells  [numExchangeColumns]string
	status flows.Status
}

// The exchange table's columns.
const (
	colID = iota
	colMethod
	colURI
	colClient
	colProxy
	colServer
	colCode
	colStatus
	colFrames
	numExchangeColumns
)

var exchangeHeader = [numExchangeColumns]string{"id", "method", "uri", "client", "proxy", "server", "code", "status", "frames"}

// exchangeDrop is the order in which columns leave a table too wide for
// the terminal; exchangeMin is how far the URI and the status may shrink
// before the next column goes.
var (
	exchangeDrop = []int{colProxy, colServer, colClient, colFrames}
	exchangeMin  = map[int]int{colURI: 20, colStatus: 17}
)

func (t *analyzeText) exchangeRow(x *flows.Exchange) exchangeRow {
	var r exchangeRow
	if x.Proxy.IsValid() {
		r.cells[colProxy] = x.Proxy.String()
	}
	if x.Server.IsValid() {
		r.cells[colServer] = x.Server.String()
	}
	status := string(x.Status)
	if x.Notifications > 0 {
		status += " (" + strconv.Itoa(x.Notifications) + " notif.)"
	}
	if x.Protected != "none" && x.Protected != "" {
		status += " [" + x.Protected + "]"
	}
	r.cells[colID], r.cells[colMethod], r.cells[colURI] = x.ID, x.Method, x.URI
	r.cells[colClient], r.cells[colCode], r.cells[colStatus] = x.Client.String(), x.Code, status
	r.cells[colFrames] = frameRange(x.Frames, t.refs)
	r.status = x.Status
	return r
}

// exchangeLayout gives each column of rows its width in a table of at
// most width cells, 0 for a column left out: columns leave in
// exchangeDrop order while the rest cannot fit, then the status and the
// URI shrink (the URI from its host side).
func exchangeLayout(rows []exchangeRow, width int) [numExchangeColumns]int {
	var w [numExchangeColumns]int
	for c := range w {
		w[c] = human.Width(exchangeHeader[c])
		for i := range rows {
			w[c] = max(w[c], human.Width(rows[i].cells[c]))
		}
	}
	total := func(minimal bool) int {
		n, cols := 0, 0
		for c, cw := range w {
			if cw == 0 {
				continue
			}
			if m, ok := exchangeMin[c]; ok && minimal {
				cw = min(cw, m)
			}
			n += cw
			cols++
		}
		return n + cols - 1
	}
	for _, c := range exchangeDrop {
		if total(true) <= width {
			break
		}
		w[c] = 0
	}
	for _, c := range []int{colStatus, colURI} {
		if over := total(false) - width; over > 0 {
			w[c] = max(min(w[c], exchangeMin[c]), w[c]-over)
		}
	}
	return w
}

func (t *analyzeText) writeExchanges() {
	if len(t.rows) == 0 {
		return
	}
	w := exchangeLayout(t.rows, t.lineWidth())
	line := func(cells *[numExchangeColumns]string, st flows.Status, paint bool) {
		var b strings.Builder
		last := colID
		for c := range cells {
			if w[c] > 0 {
				last = c
			}
		}
		for c, cell := range cells {
			if w[c] == 0 {
				continue
			}
			if c != colID {
				b.WriteByte(' ')
			}
			if c == colURI {
				cell = human.URI(cell, w[c])
			} else {
				cell = human.Cut(cell, w[c])
			}
			if c != last {
				cell += strings.Repeat(" ", w[c]-human.Width(cell))
			}
			if c == colStatus && paint {
				cell = t.color.status(st, cell)
			}
			b.WriteString(cell)
		}
		fmt.Fprintln(t.w, strings.TrimRight(b.String(), " "))
	}
	header := exchangeHeader
	line(&header, "", false)
	for i := range t.rows {
		line(&t.rows[i].cells, t.rows[i].status, true)
	}
}

// writeSummaryLine writes the run's counts, wrapped to width.
func writeSummaryLine(w io.Writer, s *export.Summary, width int) error {
	c := human.Count
	parts := []string{fmt.Sprintf("%s frames: %s CoAP, %s DTLS, %s malformed, %s other", c(s.Frames), c(s.CoAPFrames),
		c(s.DTLSFrames), c(s.MalformedFrames), c(s.OtherFrames)), c(s.Exchanges) + " exchanges"}
	if s.Decrypted+s.DecryptFailures > 0 {
		parts = append(parts, fmt.Sprintf("OSCORE %s decrypted, %s not verified", c(s.Decrypted), c(s.DecryptFailures)))
	}
	if s.FindingsSuppressed > 0 {
		parts = append(parts, c(s.FindingsSuppressed)+" findings suppressed")
	}
	if s.DTLSDecrypted+s.DTLSDecryptFailures > 0 {
		parts = append(parts, fmt.Sprintf("DTLS %s records decrypted (%s CoAP), %s not", c(s.DTLSDecrypted), c(s.DTLSCoAP), c(s.DTLSDecryptFailures)))
	}
	if len(s.Evicted) > 0 {
		parts = append(parts, "evicted: "+human.Counts(s.Evicted))
	}
	if s.KernelReceived > 0 {
		parts = append(parts, fmt.Sprintf("kernel received %s, dropped %s", c(s.KernelReceived), c(s.KernelDropped)))
	}
	if s.Truncated {
		parts = append(parts, "capture truncated: "+s.TruncatedError)
	}
	if len(s.ClockOffsets) > 0 {
		parts = append(parts, formatOffsets(s.ClockOffsets))
	}
	_, err := fmt.Fprintf(w, "\n%s\n", strings.Join(human.Wrap(strings.Join(parts, "; "), width, 2), "\n"))
	return err
}

// frameRange shows a frame list briefly: "1-6" or "3,7,9" or "3,7,...,41
// (12)". With several files (refs not nil) each file's frames are shown
// so after its name: "a.pcap#1-4 b.pcap#1,2".
func frameRange(f []int, refs *capture.FrameRefs) string {
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

// pipelineRuns runs the stages of analyze and live in goroutines of
// their own behind the decoding (analysis.RunOptions.Pipeline); tests
// turn it off to compare.
var pipelineRuns = true

// firstErr keeps the first error set, from any goroutine.
type firstErr struct{ p atomic.Pointer[error] }

func (f *firstErr) set(err error) {
	if err != nil {
		first := err // on the heap only when there is an error
		f.p.CompareAndSwap(nil, &first)
	}
}

func (f *firstErr) get() error {
	if p := f.p.Load(); p != nil {
		return *p
	}
	return nil
}
