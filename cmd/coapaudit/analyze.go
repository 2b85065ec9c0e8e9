package main

import (
	"cmp"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/coapaudit/coapaudit/analysis"
	"github.com/coapaudit/coapaudit/capture"
	"github.com/coapaudit/coapaudit/export"
	"github.com/coapaudit/coapaudit/flows"
	"github.com/coapaudit/coapaudit/leaks/collect"
	"github.com/coapaudit/coapaudit/rules"
)

type analyzeFlags struct {
	commonFlags
	auditFlags
	proxies []string
	top     int
	noLeaks bool
	labels  string
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
	af.commonFlags.register(cmd)
	af.auditFlags.register(cmd)
	cmd.Flags().StringArrayVar(&af.proxies, "proxy", nil, "address (ip or ip:port) of a proxy, in addition to those found in the traffic (repeatable)")
	cmd.Flags().IntVar(&af.top, "top", 10, "rows per table in the text summary (0: all)")
	cmd.Flags().BoolVar(&af.noLeaks, "no-leaks", false, "skip the leak analysis (what sizes and timing reveal)")
	cmd.Flags().StringVar(&af.report, "report", "", "also write a self-contained HTML report with plots to `FILE.html`")
	cmd.Flags().StringVar(&af.labels, "labels", "", "CSV `FILE` of id,label lines giving the hidden label of exchanges for the leak analysis (id: exchange id such as X12, or frame number)")
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
	opts.Leaks = !af.noLeaks
	if af.labels != "" {
		if opts.LeakConfig.Labels, err = collect.ReadLabelsFile(af.labels); err != nil {
			return usageErr("--labels: %v", err)
		}
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
		text = &analyzeText{w: e.stdout, top: af.top, color: paletteFor(e.stdout)}
		w = text
	case export.FormatJSON:
		w = export.NewJSONWriter(e.stdout)
	case export.FormatNDJSON:
		w = export.NewNDJSONWriter(e.stdout)
	case export.FormatCSV:
		w = export.NewCSVWriter(e.stdout, "exchange")
	}
	dir, err := af.outDir()
	if err != nil {
		return err
	}
	if dir != nil {
		w = export.Multi{w, dir}
	}
	rep, err := openReport(af.report)
	if err != nil {
		return err
	}
	defer rep.close()
	var writeErr error
	failSev, err := parseFailOn(af.failOn)
	if err != nil {
		return err
	}
	if err := af.withRules(&opts, func(f *rules.Finding) {
		rep.finding(f)
		if err := w.Write(export.Finding{Finding: f}); err != nil && writeErr == nil {
			writeErr = err
		}
	}); err != nil {
		return err
	}
	eng := analysis.New(opts, func(x *flows.Exchange) {
		rep.exchange(x)
		if err := w.Write(export.Exchange{Exchange: x}); err != nil && writeErr == nil {
			writeErr = err
		}
	})
	for _, name := range files {
		eng.AddFile(displayName(name))
	}
	m := analysis.NewMerge(files, readers)
	for f := m.Next(); f != nil && writeErr == nil; f = m.Next() {
		if e.ctx.Err() != nil {
			warnf(e, "interrupted after %d frames", eng.Summary().Frames)
			break
		}
		pk := eng.Frame(&f.D, f.Index, "")
		if dir != nil {
			if err := dir.Write(pk); err != nil && writeErr == nil {
				writeErr = err
			}
		}
		f.Advance()
	}
	for _, f := range m.Files {
		if f.Err != nil {
			eng.SetTruncated(f.Err)
			warnf(e, "%v (analysed the %d frames before it)", f.Err, f.R.Frames())
		}
	}
	sum := eng.Finish()
	warnDTLS(e, eng)
	sum.ElapsedSeconds = time.Since(start).Seconds()
	if text != nil {
		text.report = eng.Report()
		text.leaks = eng.LeakReport()
	}
	ls := eng.Leaks()
	for i := range ls {
		if err := w.Write(export.Leak{Leak: &ls[i]}); err != nil && writeErr == nil {
			writeErr = err
		}
	}
	runErr := writeErr
	if err := rep.finish(eng, sum); err != nil && runErr == nil {
		runErr = err
	}
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
	// findings, kept to print first, by severity (at most maxTextFindings;
	// the rest are counted).
	findings     []*rules.Finding
	moreFindings int
	color        palette
}

const maxTextFindings = 500

const maxTextExchanges = 200

func (t *analyzeText) Write(r export.Record) error {
	switch r := r.(type) {
	case export.Finding:
		if len(t.findings) >= maxTextFindings {
			t.moreFindings++
			return nil
		}
		t.findings = append(t.findings, r.Finding)
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
		fmt.Fprintf(&t.buf, "%-6s %-7s %-40s %-22s %-22s %-22s %-5s %s %s\n", x.ID, x.Method, clip(x.URI, 40), x.Client, proxy, server, x.Code, status, frameRange(x.Frames))
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

// writeFindings prints the findings, most severe first: what is exposed and
// what misbehaved comes before the traffic that shows it.
func (t *analyzeText) writeFindings() {
	if len(t.findings) == 0 {
		fmt.Fprint(t.w, "no findings\n\n")
		return
	}
	slices.SortStableFunc(t.findings, func(a, b *rules.Finding) int { return cmp.Compare(b.Severity, a.Severity) })
	counts := map[rules.Severity]int{}
	for _, f := range t.findings {
		counts[f.Severity]++
	}
	fmt.Fprintf(t.w, "%d findings: %d high, %d medium, %d low, %d info\n", len(t.findings)+t.moreFindings,
		counts[rules.High], counts[rules.Medium], counts[rules.Low], counts[rules.Info])
	for _, f := range t.findings {
		ex := f.Exchange
		if ex == "" {
			ex = "-"
		}
		sev := t.color.severity(f.Severity, fmt.Sprintf("%-6s", strings.ToUpper(f.Severity.String())))
		fmt.Fprintf(t.w, "%s %-6s %-5s %-24s %-4s frames %s: %s\n", sev, f.Threat, ex, f.Rule, f.Certainty, frameRange(f.Frames), f.Message)
	}
	if t.moreFindings > 0 {
		fmt.Fprintf(t.w, "... and %d more findings (use --format ndjson or csv for all)\n", t.moreFindings)
	}
	fmt.Fprintln(t.w)
}

func writeSummaryLine(w io.Writer, s *export.Summary) error {
	_, err := fmt.Fprintf(w, "\n%d frames: %d CoAP, %d DTLS, %d malformed, %d other; %d exchanges",
		s.Frames, s.CoAPFrames, s.DTLSFrames, s.MalformedFrames, s.OtherFrames, s.Exchanges)
	if s.Decrypted+s.DecryptFailures > 0 {
		fmt.Fprintf(w, "; OSCORE %d decrypted, %d not verified", s.Decrypted, s.DecryptFailures)
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
