package report

import (
	"cmp"
	"fmt"
	"html/template"
	"io"
	"maps"
	"math"
	"slices"
	"strconv"
	"strings"

	"github.com/coapaudit/coapaudit/capture"
	"github.com/coapaudit/coapaudit/leaks"
	"github.com/coapaudit/coapaudit/leaks/collect"
	"github.com/coapaudit/coapaudit/rules"
	"github.com/coapaudit/coapaudit/stats"
)

// maxLeakRows bounds the leak table; per-value anonymity rows are left
// out first.
const maxLeakRows = 80

type page struct {
	Title      string
	Headline   string
	Level      string // css class: high, medium, low, ok
	Counts     []sevCount
	Exposed    []string
	Misbehaved []string
	// MisbehavedTitle heads Misbehaved: the findings prove acts, or only
	// show what an intermediary could do.
	MisbehavedTitle string
	Reveals         []string
	Facts           [][2]string

	Groups       []sevGroup
	MoreFindings int

	Topology   template.HTML
	Protection []protCount

	Charts []chartView

	Sizes         template.HTML
	HasSizes      bool
	MoreResources int
	Residence     []residenceView
	MoreProxies   int
	Outliers      []outlierRow

	Verdicts   []string
	LeakGroups []leakGroup
	MoreLeaks  int
	Padding    []paddingRow
}

type sevCount struct {
	Name  string
	N     int
	Class string
}

type sevGroup struct {
	Name     string
	Class    string
	Findings []findingView
}

type findingView struct {
	ID, Rule, Threat, Certainty, Exchange, Frames, Message, Seed string
	Class                                                        string
	Charted                                                      bool
}

type protCount struct {
	Key, Label string
	N          int
	Share      string
}

type chartView struct {
	ID, Method, URI, Status, Protected, Findings string
	SVG                                          template.HTML
}

type residenceView struct {
	Proxy    string
	SVG      template.HTML
	Outliers int
	N        int
}

type outlierRow struct {
	Proxy, Direction, Exchange, Frames, Held, Median, Z string
}

type leakRow struct {
	Measure, Scope, Value, CI, Baseline string
	N                                   int
}

// leakGroup is one question of the leak table and the measurements that
// answer it.
type leakGroup struct {
	Question string
	Rows     []leakRow
}

type paddingRow struct {
	What, Scheme, Cost, Added, Left string
}

// WriteHTML writes the report as one self-contained HTML document.
func (b *Builder) WriteHTML(w io.Writer) error {
	return pageTemplate.Execute(w, b.page())
}

func (b *Builder) page() *page {
	p := &page{Title: b.opt.Title}
	b.verdict(p)
	b.findingGroups(p)
	p.Topology = topologySVG(b.nodes, b.edges, 12)
	for _, k := range []string{"oscore", "oscore-failed", "dtls", "none"} {
		if n := b.protected[k]; n > 0 {
			l, _ := protLabel(k)
			p.Protection = append(p.Protection, protCount{k, l, n, percent(n, b.exchanges)})
		}
	}
	for _, c := range b.charted {
		x := c.x
		p.Charts = append(p.Charts, chartView{
			ID: x.ID, Method: x.Method, URI: x.URI, Status: string(x.Status), Protected: protection(x.Protected),
			Findings: strings.Join(c.findings, ", "), SVG: sequenceChart(c),
		})
	}
	var rows []sizeRow
	for _, name := range b.sizeOrder {
		s := b.sizes[name]
		for d, r := range []*stats.Sample[float64]{&s.req, &s.resp} {
			v := slices.Clone(r.Values)
			slices.Sort(v)
			rows = append(rows, sizeRow{label: name, response: d == 1, v: v, seen: r.Seen()})
		}
	}
	if len(rows) > 0 {
		p.Sizes, p.HasSizes = sizePlot(rows), true
	}
	p.MoreResources = b.moreResources
	for _, a := range b.proxyOrder {
		r := b.residence[a]
		svg, n := residencePlot(a, r.samples.Values, r.samples.Seen())
		p.Residence = append(p.Residence, residenceView{a.String(), svg, n, r.samples.Seen()})
	}
	p.MoreProxies = b.moreProxies
	for _, o := range b.delayOutlier {
		p.Outliers = append(p.Outliers, outlierRow{o.Proxy.String(), o.Direction, o.Exchange, frameList(o.Frames, b.opt.FrameRefs),
			fmtSeconds(o.Seconds), fmtSeconds(o.Median), collect.ZText(o.Z)})
	}
	p.Verdicts = b.verdicts
	b.leakTables(p)
	return p
}

func percent(n, of int) string {
	if of == 0 {
		return "0%"
	}
	return strconv.Itoa(int(math.Round(100*float64(n)/float64(of)))) + "%"
}

func plural(n int, one, many string) string {
	if n == 1 {
		return "1 " + one
	}
	return strconv.Itoa(n) + " " + many
}

// verdict writes the plain-language top of the page.
func (b *Builder) verdict(p *page) {
	count := b.bySeverity
	total := b.totalFinding
	for i, n := range b.suppressed {
		count[i] += n
		total += n
	}
	hi, med := count[rules.High], count[rules.Medium]
	switch {
	case hi > 0:
		p.Level = "high"
		p.Headline = fmt.Sprintf("Attack evidence: %s and %s.", plural(hi, "high-severity finding", "high-severity findings"), plural(med, "medium-severity one", "medium-severity ones"))
	case med > 0 && b.proven > 0:
		p.Level = "medium"
		p.Headline = fmt.Sprintf("Misbehaviour found: %s.", plural(med, "medium-severity finding", "medium-severity findings"))
	case med > 0:
		p.Level = "medium"
		p.Headline = fmt.Sprintf("Weaknesses found: %s about what an intermediary could do unnoticed.", plural(med, "medium-severity finding", "medium-severity findings"))
	case total > 0:
		p.Level = "low"
		p.Headline = fmt.Sprintf("No serious finding: %s of low severity or for information.", plural(total, "finding", "findings"))
	default:
		p.Level = "ok"
		p.Headline = "No findings: nothing in this capture breaks the audited rules."
	}
	for _, s := range []rules.Severity{rules.High, rules.Medium, rules.Low, rules.Info} {
		p.Counts = append(p.Counts, sevCount{s.String(), count[s], s.String()})
	}

	n := b.exchanges
	if n == 0 {
		p.Exposed = append(p.Exposed, "No CoAP exchange was reassembled from the capture.")
	}
	if k := b.protected["oscore"]; k > 0 {
		p.Exposed = append(p.Exposed, fmt.Sprintf("%s of %d (%s) were protected end-to-end with OSCORE: proxies see options and sizes, not the payload.",
			plural(k, "exchange", "exchanges"), n, percent(k, n)))
	}
	if k := b.protected["oscore-failed"]; k > 0 {
		p.Exposed = append(p.Exposed, fmt.Sprintf("%s of %d (%s) used OSCORE but failed verification: a message was forged or altered on the way, and OSCORE protected nothing end to end there.",
			plural(k, "exchange", "exchanges"), n, percent(k, n)))
	}
	if k := b.protected["dtls"]; k > 0 {
		p.Exposed = append(p.Exposed, fmt.Sprintf("%s of %d (%s) had only DTLS, hop by hop: every proxy on the path reads and could change them.",
			plural(k, "exchange", "exchanges"), n, percent(k, n)))
	}
	if k := b.protected["none"]; k > 0 {
		p.Exposed = append(p.Exposed, fmt.Sprintf("%s of %d (%s) travelled with no protection at all: anyone on the network reads and could change them.",
			plural(k, "exchange", "exchanges"), n, percent(k, n)))
	}

	// One sentence per rule that fired at medium or above, most severe
	// first, with the first message as the example.
	by := b.byRule
	order := slices.Clone(b.ruleOrder)
	slices.SortStableFunc(order, func(a, c string) int { return cmp.Compare(by[c].sev, by[a].sev) })
	for _, name := range order {
		r := by[name]
		s := r.first
		if r.n > 1 {
			s = fmt.Sprintf("%s (and %s like it)", s, plural(r.n-1, "more", "more"))
		}
		p.Misbehaved = append(p.Misbehaved, strings.ToUpper(r.sev.String())+" · "+name+": "+s)
	}
	p.MisbehavedTitle = "What misbehaved"
	if b.proven == 0 {
		p.MisbehavedTitle = "What an intermediary could do unnoticed"
	}
	if len(b.verdicts) > 0 {
		p.Reveals = b.verdicts[:min(3, len(b.verdicts))]
	}
	if s := b.sum; s != nil {
		p.Facts = append(p.Facts,
			[2]string{"Files", strings.Join(s.Files, ", ")},
			[2]string{"Frames", fmt.Sprintf("%d: %d CoAP, %d DTLS, %d malformed, %d other", s.Frames, s.CoAPFrames, s.DTLSFrames, s.MalformedFrames, s.OtherFrames)},
			[2]string{"Exchanges", strconv.Itoa(s.Exchanges)},
			[2]string{"OSCORE", fmt.Sprintf("%d messages decrypted, %d failed verification", s.Decrypted, s.DecryptFailures)},
		)
		if s.FirstTime != "" {
			p.Facts = append(p.Facts, [2]string{"Capture time", s.FirstTime + " to " + s.LastTime})
		}
		if s.Truncated {
			p.Facts = append(p.Facts, [2]string{"Truncated", "the capture ends early: " + s.TruncatedError})
		}
		if len(s.ClockOffsets) > 0 {
			var offs []string
			for _, o := range s.ClockOffsets {
				v := o.File + " " + strconv.FormatFloat(o.Offset*1000, 'f', 3, 64) + " ms"
				if o.Applied {
					v += " (" + o.Source + ", " + strconv.Itoa(o.Pairs) + " pairs)"
				} else {
					v += " not applied: " + o.Note
				}
				offs = append(offs, v)
			}
			p.Facts = append(p.Facts, [2]string{"Clock offsets", strings.Join(offs, "; ")})
		}
	}
	if n := total - b.totalFinding; n > 0 {
		p.Facts = append(p.Facts, [2]string{"Suppressed findings", SuppressedText(n, b.suppressedBy)})
	}
}

// SuppressedText says how many findings were suppressed, and by which
// rules: "12 past the cap of findings per rule (request-flood 12), counted
// above, in no record".
func SuppressedText(n int, by map[string]int) string {
	ids := slices.Sorted(maps.Keys(by))
	parts := make([]string, len(ids))
	for i, id := range ids {
		parts[i] = id + " " + strconv.Itoa(by[id])
	}
	return strconv.Itoa(n) + " past the cap of findings per rule (" + strings.Join(parts, ", ") + "), counted above, in no record"
}

func (b *Builder) findingGroups(p *page) {
	charted := map[string]bool{}
	for _, c := range b.charted {
		charted[c.x.ID] = true
	}
	fs := slices.Clone(b.findings)
	slices.SortStableFunc(fs, func(a, c *rules.Finding) int { return cmp.Compare(c.Severity, a.Severity) })
	for _, f := range fs {
		name := f.Severity.String()
		if len(p.Groups) == 0 || p.Groups[len(p.Groups)-1].Name != name {
			p.Groups = append(p.Groups, sevGroup{Name: name, Class: name})
		}
		g := &p.Groups[len(p.Groups)-1]
		g.Findings = append(g.Findings, findingView{
			ID: f.ID, Rule: f.Rule, Threat: string(f.Threat), Certainty: f.Certainty.String(),
			Exchange: f.Exchange, Frames: frameList(f.Frames, b.opt.FrameRefs), Message: f.Message, Seed: f.Seed,
			Class: name, Charted: charted[f.Exchange],
		})
	}
	p.MoreFindings = b.totalFinding - len(b.findings)
}

// frameList shows at most 12 frame numbers (named with their file when
// refs is not nil).
func frameList(f []int, refs *capture.FrameRefs) string {
	var s strings.Builder
	for i, n := range f {
		if i == 12 {
			fmt.Fprintf(&s, " … (%d frames)", len(f))
			break
		}
		if i > 0 {
			s.WriteString(", ")
		}
		s.WriteString(refs.Name(n))
	}
	return s.String()
}

func fmtFloat(v float64) string {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return strconv.FormatFloat(v, 'g', -1, 64)
	}
	return strconv.FormatFloat(v, 'g', 4, 64)
}

func (b *Builder) leakTables(p *page) {
	skipped, rows := 0, 0
	group := map[string]int{}
	for _, l := range b.leaks {
		if r := l.Padding; r != nil {
			p.Padding = append(p.Padding, paddingRow{
				What:   strings.Join(nonEmpty(observableName(l.Observable), viewName(l.View), l.Scope), " · "),
				Scheme: r.Scheme.Desc,
				Cost:   fmtFloat(l.Value) + " " + unitName(l.Unit, l.Label, l.Value),
				Added:  strconv.FormatUint(r.Added, 10),
				Left:   fmtFloat(r.MI.Bits),
			})
			continue
		}
		if strings.Contains(l.Scope, " value=") || rows >= maxLeakRows {
			skipped++
			continue
		}
		rows++
		r := leakRow{Measure: leaks.MeasureName(l.Metric, l.Label), Value: leakValue(l.Value, l.Unit, l.Label), N: l.N}
		if l.Scope != "all" {
			r.Scope = l.Scope
		}
		if l.CI != nil {
			r.CI = ciText(l.CI, l.Unit)
		}
		if l.Baseline != nil {
			r.Baseline = leakValue(*l.Baseline, l.Unit, l.Label)
		}
		q := leaks.Question(l.Metric, observableName(l.Observable), l.Label, viewName(l.View))
		i, ok := group[q]
		if !ok {
			i = len(p.LeakGroups)
			group[q] = i
			p.LeakGroups = append(p.LeakGroups, leakGroup{Question: q})
		}
		p.LeakGroups[i].Rows = append(p.LeakGroups[i].Rows, r)
	}
	p.MoreLeaks = skipped
}

var observableNames = map[string]string{
	"request_size":       "the request size",
	"response_size":      "the response size",
	"exchange_sizes":     "the pair of request and response sizes",
	"size_sequence":      "the sequence of message sizes",
	"blocks":             "the number of blocks",
	"inter_arrival":      "the time between requests",
	"rtt":                "the round-trip time",
	"sizes_rtt":          "sizes and round-trip time together",
	"requests":           "requests",
	"responses":          "responses",
	"request_residence":  "the requests",
	"response_residence": "the responses",
}

func observableName(o string) string {
	if n, ok := observableNames[o]; ok {
		return n
	}
	return strings.ReplaceAll(o, "_", " ")
}

func viewName(v string) string {
	switch v {
	case "wire":
		return "on the wire"
	case "oscore-inner":
		return "inside OSCORE"
	}
	return v
}

func ciText(ci *leaks.Interval, unit string) string {
	switch unit {
	case "seconds":
		return fmtSeconds(ci.Lo) + " – " + fmtSeconds(ci.Hi)
	case "probability":
		return fmtFloat(100*ci.Lo) + " – " + fmtFloat(100*ci.Hi) + "%"
	}
	return fmtFloat(ci.Lo) + " – " + fmtFloat(ci.Hi)
}

// leakValue writes a leak value in the units people read: a
// probability as a percentage, labels as what they count ("1 resource",
// "3.6 resources").
func leakValue(v float64, unit, label string) string {
	switch unit {
	case "seconds":
		return fmtSeconds(v)
	case "probability":
		return fmtFloat(100*v) + "%"
	case "percent":
		return fmtFloat(v) + "%"
	}
	return fmtFloat(v) + " " + unitName(unit, label, v)
}

// unitName names a unit for a value v: "labels" are the label counted,
// singular for exactly 1.
func unitName(u, label string, v float64) string {
	switch u {
	case "percent":
		return "%"
	case "labels":
		if label == "" {
			label = "label"
		}
		if v == 1 {
			return label
		}
		return label + "s"
	case "bits":
		if v == 1 {
			return "bit"
		}
	}
	return u
}

func nonEmpty(s ...string) []string {
	out := s[:0:0]
	for _, v := range s {
		if v != "" {
			out = append(out, v)
		}
	}
	return out
}
