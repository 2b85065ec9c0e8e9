package tui

import (
	"cmp"
	"net/netip"
	"slices"
	"strconv"
	"strings"

	"github.com/gdamore/tcell/v2"

	"github.com/coapaudit/coapaudit/export"
	"github.com/coapaudit/coapaudit/filter"
	"github.com/coapaudit/coapaudit/flows"
	"github.com/coapaudit/coapaudit/internal/human"
)

// Exchange list columns.
const (
	xcID = iota
	xcTime
	xcClient
	xcProxy
	xcServer
	xcMethod
	xcURI
	xcCode
	xcProt
	xcStatus
	xcFindings
	xcCount
)

var exchangeCols = []column{
	xcID:       {title: "#", min: 3, max: 8},
	xcTime:     {title: "time", min: 8, max: 12, right: true, drop: 5},
	xcClient:   {title: "client", min: 9, max: 28, drop: 6},
	xcProxy:    {title: "proxy", min: 9, max: 28, drop: 3},
	xcServer:   {title: "server", min: 9, max: 28, drop: 4},
	xcMethod:   {title: "method", min: 4, max: 7},
	xcURI:      {title: "uri", min: 20, flex: true, shorten: human.URI},
	xcCode:     {title: "code", min: 4, max: 5},
	xcProt:     {title: "prot", min: 5, max: 8, drop: 1},
	xcStatus:   {title: "status", min: 8, max: 16, drop: 2},
	xcFindings: {title: "F", min: 1, max: 4, right: true},
}

// xrow is an exchange with its columns formatted once.
type xrow struct {
	x     *flows.Exchange
	num   int // the number in the ID
	start int64
	cells [xcCount]string
	text  string
	// flds are the exchange record's fields, made when a filter
	// expression first asks.
	flds map[string]any
}

// exchanges is the exchange list's data: the exchanges kept, in the
// order they finished.
type exchanges struct {
	rows     []xrow
	byID     map[string]int // ID to index in rows
	findings map[string]int // findings per exchange ID
	first    int64          // capture time of the first frame
}

func newExchanges() *exchanges {
	return &exchanges{byID: map[string]int{}, findings: map[string]int{}}
}

func (e *exchanges) add(x *flows.Exchange) {
	// Keep a copy whose legs take no more room than they need: the
	// tracker leaves spare capacity, which adds up over 100,000 rows.
	c := *x
	c.Legs = slices.Clone(x.Legs)
	x = &c
	r := xrow{x: x, start: x.Start.UnixNano()}
	r.num, _ = strconv.Atoi(strings.TrimLeft(x.ID, "X"))
	r.cells = [xcCount]string{
		xcID:     x.ID,
		xcTime:   relTime(r.start, e.first),
		xcClient: addr(x.Client),
		xcProxy:  addr(x.Proxy),
		xcServer: addr(x.Server),
		xcMethod: x.Method,
		xcURI:    x.URI,
		xcCode:   x.Code,
		xcProt:   protection(x),
		xcStatus: status(x),
	}
	r.text = strings.ToLower(strings.Join(r.cells[:xcFindings], "\x00"))
	e.byID[x.ID] = len(e.rows)
	e.rows = append(e.rows, r)
}

// dropFront forgets the k oldest rows.
func (e *exchanges) dropFront(k int) {
	for _, r := range e.rows[:k] {
		delete(e.byID, r.x.ID)
	}
	e.rows = append(e.rows[:0], e.rows[k:]...)
	for i, r := range e.rows {
		e.byID[r.x.ID] = i
	}
}

func relTime(t, first int64) string {
	if first == 0 || t == 0 {
		return ""
	}
	return strconv.FormatFloat(float64(t-first)/1e9, 'f', 6, 64)
}

func addr(a netip.AddrPort) string {
	if !a.IsValid() {
		return ""
	}
	return a.String()
}

func protection(x *flows.Exchange) string {
	switch x.Protected {
	case "", "none":
		return "plain"
	case "oscore":
		if o := x.OSCORE; o != nil {
			if o.RequestVerified == "no" || o.ResponseVerified == "no" {
				return "oscore ✗"
			}
			if o.RequestVerified == "yes" {
				return "oscore ✓"
			}
		}
	}
	return x.Protected
}

func status(x *flows.Exchange) string {
	s := string(x.Status)
	if x.Notifications > 0 {
		s += " (" + strconv.Itoa(x.Notifications) + ")"
	}
	return s
}

func (e *exchanges) count() int { return len(e.rows) }

func (e *exchanges) cell(row, col int) string {
	if col == xcFindings {
		if n := e.findings[e.rows[row].x.ID]; n > 0 {
			return strconv.Itoa(n)
		}
		return ""
	}
	return e.rows[row].cells[col]
}

func (e *exchanges) text(row int) string { return e.rows[row].text }

func (e *exchanges) fields(row int) map[string]any {
	r := &e.rows[row]
	if r.flds == nil {
		r.flds = filter.FieldsOf(export.Exchange{Exchange: r.x}.AppendJSON(nil))
	}
	return r.flds
}

func (e *exchanges) compare(a, b, col int) int {
	ra, rb := &e.rows[a], &e.rows[b]
	switch col {
	case xcID:
		return cmp.Compare(ra.num, rb.num)
	case xcTime:
		return cmp.Compare(ra.start, rb.start)
	case xcClient:
		return ra.x.Client.Compare(rb.x.Client)
	case xcProxy:
		return ra.x.Proxy.Compare(rb.x.Proxy)
	case xcServer:
		return ra.x.Server.Compare(rb.x.Server)
	case xcFindings:
		return cmp.Compare(e.findings[ra.x.ID], e.findings[rb.x.ID])
	}
	return strings.Compare(ra.cells[col], rb.cells[col])
}

func (e *exchanges) style(row, col int) tcell.Style {
	x := e.rows[row].x
	switch col {
	case xcProt:
		switch {
		case strings.HasSuffix(e.rows[row].cells[col], "✗"):
			return stShould
		case x.Protected == "oscore":
			return stProtected
		case x.Protected == "dtls":
			return stExposed
		}
		return stShould
	case xcStatus:
		switch x.Status {
		case flows.Withheld, flows.ServedByIntermediary, flows.Unmatched:
			return stShould
		case flows.Unanswered, flows.Evicted, flows.Incomplete, flows.Reset:
			return stExposed
		}
	case xcFindings:
		if e.findings[x.ID] > 0 {
			return stHigh
		}
	case xcCode:
		if c := x.Code; len(c) > 0 && (c[0] == '4' || c[0] == '5') {
			return stExposed
		}
	}
	return stDefault
}

// Findings columns.
const (
	fcID = iota
	fcSeverity
	fcThreat
	fcRule
	fcExchange
	fcFrames
	fcMessage
)

var findingCols = []column{
	fcID:       {title: "#", min: 2, max: 7},
	fcSeverity: {title: "severity", min: 4, max: 8},
	fcThreat:   {title: "threat", min: 3, max: 9},
	fcRule:     {title: "rule", min: 8, max: 28, drop: 2},
	fcExchange: {title: "exch", min: 3, max: 8, drop: 1},
	fcFrames:   {title: "frames", min: 6, max: 18, drop: 3},
	fcMessage:  {title: "message", min: 20, flex: true},
}

type findingRows struct {
	rows   []FindingRow
	search []string
}

func (f *findingRows) add(r FindingRow) {
	f.rows = append(f.rows, r)
	var b strings.Builder
	for c := range findingCols {
		b.WriteString(f.cell(len(f.rows)-1, c))
		b.WriteByte(0)
	}
	f.search = append(f.search, strings.ToLower(b.String()))
}

func (f *findingRows) count() int          { return len(f.rows) }
func (f *findingRows) text(row int) string { return f.search[row] }

// fields are a finding's record fields, as in its JSON record.
func (f *findingRows) fields(row int) map[string]any {
	r := &f.rows[row]
	frames := make([]any, len(r.Frames))
	for i, n := range r.Frames {
		frames[i] = float64(n)
	}
	return map[string]any{"type": "finding", "id": r.ID, "severity": filter.Severity(r.Severity), "threat": r.Threat,
		"rule": r.Rule, "exchange": r.Exchange, "frames": frames, "message": r.Message, "seed": r.Seed}
}

func (f *findingRows) cell(row, col int) string {
	r := &f.rows[row]
	switch col {
	case fcID:
		return r.ID
	case fcSeverity:
		return r.Severity
	case fcThreat:
		return r.Threat
	case fcRule:
		return r.Rule
	case fcExchange:
		return r.Exchange
	case fcFrames:
		return frameList(r.Frames)
	case fcMessage:
		return r.Message
	}
	return ""
}

func severityRank(s string) int {
	switch s {
	case "info":
		return 1
	case "low":
		return 2
	case "medium":
		return 3
	case "high":
		return 4
	}
	return 0
}

func severityStyle(s string) tcell.Style {
	switch s {
	case "high":
		return stHigh
	case "medium":
		return stMedium
	case "low":
		return stLow
	}
	return stDefault
}

func (f *findingRows) compare(a, b, col int) int {
	ra, rb := &f.rows[a], &f.rows[b]
	switch col {
	case fcID:
		return cmp.Compare(idNum(ra.ID), idNum(rb.ID))
	case fcSeverity:
		return cmp.Compare(severityRank(ra.Severity), severityRank(rb.Severity))
	case fcExchange:
		return cmp.Compare(idNum(ra.Exchange), idNum(rb.Exchange))
	case fcFrames:
		return cmp.Compare(firstOr(ra.Frames), firstOr(rb.Frames))
	}
	return strings.Compare(f.cell(a, col), f.cell(b, col))
}

func (f *findingRows) style(row, col int) tcell.Style {
	if col == fcSeverity {
		return severityStyle(f.rows[row].Severity)
	}
	return stDefault
}

func idNum(s string) int {
	n, _ := strconv.Atoi(strings.TrimLeft(s, "XFL"))
	return n
}

func firstOr(f []int) int {
	if len(f) == 0 {
		return 0
	}
	return f[0]
}

// frameList shows a frame list briefly: "1-6", "3,7,9" or "3,7,…,41".
func frameList(f []int) string {
	switch {
	case len(f) == 0:
		return ""
	case len(f) > 1 && f[len(f)-1]-f[0] == len(f)-1:
		return strconv.Itoa(f[0]) + "-" + strconv.Itoa(f[len(f)-1])
	case len(f) <= 4:
		s := make([]string, len(f))
		for i, n := range f {
			s[i] = strconv.Itoa(n)
		}
		return strings.Join(s, ",")
	}
	return strconv.Itoa(f[0]) + "," + strconv.Itoa(f[1]) + ",…," + strconv.Itoa(f[len(f)-1])
}

// Leak columns.
const (
	lcMetric = iota
	lcWhat
	lcScope
	lcValue
	lcDetail
)

var leakCols = []column{
	lcMetric: {title: "metric", min: 8, max: 19},
	lcWhat:   {title: "measures", min: 16, flex: true},
	lcScope:  {title: "scope", min: 5, max: 18},
	lcValue:  {title: "value", min: 5, max: 16, right: true},
	lcDetail: {title: "detail", min: 10, max: 40, drop: 1},
}

type leakRows struct {
	rows   []LeakRow
	search []string
}

func (l *leakRows) add(r LeakRow) {
	l.rows = append(l.rows, r)
	l.search = append(l.search, strings.ToLower(strings.Join([]string{r.Metric, r.What, r.Scope, r.Value, r.Unit, r.Detail}, "\x00")))
}

func (l *leakRows) count() int          { return len(l.rows) }
func (l *leakRows) text(row int) string { return l.search[row] }

func (l *leakRows) fields(row int) map[string]any { return l.rows[row].fields }

func (l *leakRows) cell(row, col int) string {
	r := &l.rows[row]
	switch col {
	case lcMetric:
		return r.Metric
	case lcWhat:
		return r.What
	case lcScope:
		return r.Scope
	case lcValue:
		if r.Unit == "%" {
			return r.Value + "%"
		}
		return strings.TrimSpace(r.Value + " " + r.Unit)
	case lcDetail:
		return r.Detail
	}
	return ""
}

func (l *leakRows) compare(a, b, col int) int {
	if col == lcValue {
		va, _ := strconv.ParseFloat(l.rows[a].Value, 64)
		vb, _ := strconv.ParseFloat(l.rows[b].Value, 64)
		return cmp.Compare(va, vb)
	}
	return strings.Compare(l.cell(a, col), l.cell(b, col))
}

func (l *leakRows) style(row, col int) tcell.Style { return stDefault }
