package tui

import (
	"cmp"
	"encoding/json"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"github.com/gdamore/tcell/v2"

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

// xrec is a finished exchange as the loader passes it to the viewer: the
// values of the list's columns, and where its record went.
type xrec struct {
	id                    string
	start                 int64
	client, proxy, server netip.AddrPort
	method, uri, code     string
	protected, prot       string
	status                flows.Status
	notif                 int
	ref                   blobRef
	n                     uint32 // bytes of the JSON record at ref; 0: not stored
}

// xrecOf takes what the list shows of x.
func xrecOf(x *flows.Exchange) xrec {
	return xrec{id: x.ID, start: x.Start.UnixNano(), client: x.Client, proxy: x.Proxy, server: x.Server,
		method: x.Method, uri: x.URI, code: x.Code, protected: x.Protected, prot: protection(x),
		status: x.Status, notif: x.Notifications}
}

// xkind is what few values an exchange's short columns take, kept once
// for the exchanges that share them.
type xkind struct {
	method, code, protected, prot string
	status                        flows.Status
}

// xrow is an exchange of the list, kept compactly: its strings and
// addresses are indices into the exchanges' tables (they repeat from
// exchange to exchange), and the exchange itself is its JSON record in
// the exchange store, decoded again when it is selected or a filter
// expression asks for its fields. Cells are formatted as they are drawn.
type xrow struct {
	start                 int64
	num                   uint32 // the number in the ID
	id                    uint32 // index of the ID in strs when it is not "X" and num, else 0
	client, proxy, server uint32 // indices into addrs
	uri                   uint32 // index into strs
	kind                  uint32 // index into kinds
	notif                 uint32
	ref                   blobRef
	n                     uint32
}

// exchanges is the exchange list's data: the exchanges kept, in the
// order they finished.
type exchanges struct {
	rows     chunked[xrow]
	byNum    map[uint32]int32 // ID number to index in rows, for IDs "X" and a number
	byStr    map[string]int32 // other IDs to index in rows
	findings map[string]int   // findings per exchange ID
	first    int64            // capture time of the first frame
	store    *byteStore       // the JSON records of the exchanges
	strs     []string
	strIdx   map[string]uint32
	addrs    []netip.AddrPort
	addrIdx  map[netip.AddrPort]uint32
	kinds    []xkind
	kindIdx  map[xkind]uint32
}

func newExchanges(st *byteStore) *exchanges {
	return &exchanges{byNum: map[uint32]int32{}, byStr: map[string]int32{}, findings: map[string]int{}, store: st,
		strs: []string{""}, strIdx: map[string]uint32{"": 0}, addrs: []netip.AddrPort{{}}, addrIdx: map[netip.AddrPort]uint32{{}: 0},
		kindIdx: map[xkind]uint32{}}
}

// str returns the index of s in the string table, adding a copy of s.
func (e *exchanges) str(s string) uint32 {
	if i, ok := e.strIdx[s]; ok {
		return i
	}
	s = strings.Clone(s)
	i := uint32(len(e.strs))
	e.strs = append(e.strs, s)
	e.strIdx[s] = i
	return i
}

func (e *exchanges) kind(k xkind) uint32 {
	if i, ok := e.kindIdx[k]; ok {
		return i
	}
	k = xkind{strings.Clone(k.method), strings.Clone(k.code), strings.Clone(k.protected), strings.Clone(k.prot), flows.Status(strings.Clone(string(k.status)))}
	i := uint32(len(e.kinds))
	e.kinds = append(e.kinds, k)
	e.kindIdx[k] = i
	return i
}

func (e *exchanges) addr(a netip.AddrPort) uint32 {
	if i, ok := e.addrIdx[a]; ok {
		return i
	}
	i := uint32(len(e.addrs))
	e.addrs = append(e.addrs, a)
	e.addrIdx[a] = i
	return i
}

// idNumOf returns the number of an ID "X<n>", and whether the ID is
// exactly that.
func idNumOf(id string) (uint32, bool) {
	n, err := strconv.ParseUint(strings.TrimPrefix(id, "X"), 10, 32)
	return uint32(n), err == nil && id == "X"+strconv.FormatUint(n, 10)
}

func (e *exchanges) add(x xrec) {
	r := xrow{start: x.start, client: e.addr(x.client), proxy: e.addr(x.proxy), server: e.addr(x.server),
		uri: e.str(x.uri), notif: uint32(x.notif), ref: x.ref, n: x.n,
		kind: e.kind(xkind{method: x.method, code: x.code, protected: x.protected, prot: x.prot, status: x.status})}
	num, exact := idNumOf(x.id)
	r.num = num
	if exact {
		e.byNum[num] = int32(e.rows.len())
	} else {
		r.id = e.str(x.id)
		e.byStr[x.id] = int32(e.rows.len())
	}
	e.rows.append(r)
}

// id returns the ID of row i.
func (e *exchanges) id(i int) string {
	r := e.rows.at(i)
	if r.id != 0 {
		return e.strs[r.id]
	}
	return "X" + strconv.FormatUint(uint64(r.num), 10)
}

// row returns the index of the exchange with this ID.
func (e *exchanges) row(id string) (int, bool) {
	var i int32
	var ok bool
	if num, exact := idNumOf(id); exact {
		i, ok = e.byNum[num]
	} else {
		i, ok = e.byStr[id]
	}
	return int(i), ok
}

// record returns the JSON record of row i, or nil when it was not kept.
func (e *exchanges) record(i int) []byte {
	r := e.rows.at(i)
	if r.n == 0 || e.store == nil {
		return nil
	}
	b, err := e.store.read(r.ref, int(r.n))
	if err != nil {
		return nil
	}
	return b
}

// exchange decodes row i's exchange from its record; with no record, it
// has what the list shows.
func (e *exchanges) exchange(i int) *flows.Exchange {
	x := new(flows.Exchange)
	if b := e.record(i); b != nil && json.Unmarshal(b, x) == nil {
		return x
	}
	r := e.rows.at(i)
	*x = flows.Exchange{ID: e.id(i), Client: e.addrs[r.client], Proxy: e.addrs[r.proxy], Server: e.addrs[r.server],
		Method: e.kinds[r.kind].method, URI: e.strs[r.uri], Code: e.kinds[r.kind].code, Protected: e.kinds[r.kind].protected,
		Status: e.kinds[r.kind].status, Notifications: int(r.notif), Start: time.Unix(0, r.start)}
	return x
}

// dropFront forgets the k oldest rows.
func (e *exchanges) dropFront(k int) {
	e.rows.dropFront(k)
	clear(e.byNum)
	clear(e.byStr)
	for i := range e.rows.len() {
		if r := e.rows.at(i); r.id == 0 {
			e.byNum[r.num] = int32(i)
		} else {
			e.byStr[e.strs[r.id]] = int32(i)
		}
	}
	if e.store != nil && e.rows.len() > 0 {
		e.store.dropBefore(e.rows.at(0).ref)
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

func statusText(status string, notifications uint32) string {
	if notifications > 0 {
		return status + " (" + strconv.FormatUint(uint64(notifications), 10) + ")"
	}
	return status
}

func (e *exchanges) count() int { return e.rows.len() }

func (e *exchanges) cell(row, col int) string {
	r := e.rows.at(row)
	switch col {
	case xcID:
		return e.id(row)
	case xcTime:
		return relTime(r.start, e.first)
	case xcClient:
		return addr(e.addrs[r.client])
	case xcProxy:
		return addr(e.addrs[r.proxy])
	case xcServer:
		return addr(e.addrs[r.server])
	case xcMethod:
		return e.kinds[r.kind].method
	case xcURI:
		return e.strs[r.uri]
	case xcCode:
		return e.kinds[r.kind].code
	case xcProt:
		return e.kinds[r.kind].prot
	case xcStatus:
		return statusText(string(e.kinds[r.kind].status), r.notif)
	case xcFindings:
		if n := e.findings[e.id(row)]; n > 0 {
			return strconv.Itoa(n)
		}
	}
	return ""
}

// text is the row's searchable text: its cells but the findings count,
// in lowercase.
func (e *exchanges) text(row int) string {
	var b strings.Builder
	for c := range xcFindings {
		if c > 0 {
			b.WriteByte(0)
		}
		b.WriteString(e.cell(row, c))
	}
	return strings.ToLower(b.String())
}

// fields are the exchange record's fields, decoded again on each call:
// keeping them per row would cost kilobytes each.
func (e *exchanges) fields(row int) map[string]any {
	b := e.record(row)
	if b == nil {
		return nil
	}
	return filter.FieldsOf(b)
}

// someFields gives the fields an expression reads from the row alone,
// without reading the record, when the row has them all: the list's
// columns, as the record has them. Else it returns nil.
func (e *exchanges) someFields(row int, names []string) map[string]any {
	r := e.rows.at(row)
	k := &e.kinds[r.kind]
	m := make(map[string]any, len(names))
	for _, n := range names {
		switch n {
		case "type":
			m[n] = "exchange"
		case "id":
			m[n] = e.id(row)
		case "client":
			m[n] = addr(e.addrs[r.client])
		case "proxy":
			m[n] = addr(e.addrs[r.proxy])
		case "server":
			m[n] = addr(e.addrs[r.server])
		case "method":
			m[n] = k.method
		case "uri":
			m[n] = e.strs[r.uri]
		case "code":
			m[n] = k.code
		case "protected":
			m[n] = k.protected
		case "status":
			m[n] = string(k.status)
		case "notifications":
			m[n] = float64(r.notif)
		default:
			return nil
		}
	}
	return m
}

func (e *exchanges) compare(a, b, col int) int {
	ra, rb := e.rows.at(a), e.rows.at(b)
	switch col {
	case xcID:
		return cmp.Compare(ra.num, rb.num)
	case xcTime:
		return cmp.Compare(ra.start, rb.start)
	case xcClient:
		return e.addrs[ra.client].Compare(e.addrs[rb.client])
	case xcProxy:
		return e.addrs[ra.proxy].Compare(e.addrs[rb.proxy])
	case xcServer:
		return e.addrs[ra.server].Compare(e.addrs[rb.server])
	case xcFindings:
		return cmp.Compare(e.findings[e.id(a)], e.findings[e.id(b)])
	case xcStatus:
		if c := strings.Compare(string(e.kinds[ra.kind].status), string(e.kinds[rb.kind].status)); c != 0 || ra.notif == rb.notif {
			return c
		}
	}
	return strings.Compare(e.cell(a, col), e.cell(b, col))
}

func (e *exchanges) style(row, col int) tcell.Style {
	r := e.rows.at(row)
	switch col {
	case xcProt:
		switch prot := e.kinds[r.kind].protected; {
		case strings.HasSuffix(e.kinds[r.kind].prot, "✗"):
			return stShould
		case prot == "oscore":
			return stProtected
		case prot == "dtls":
			return stExposed
		}
		return stShould
	case xcStatus:
		switch e.kinds[r.kind].status {
		case flows.Withheld, flows.ServedByIntermediary, flows.Unmatched:
			return stShould
		case flows.Unanswered, flows.Evicted, flows.Incomplete, flows.Reset:
			return stExposed
		}
	case xcFindings:
		if e.findings[e.id(row)] > 0 {
			return stHigh
		}
	case xcCode:
		if c := e.kinds[r.kind].code; len(c) > 0 && (c[0] == '4' || c[0] == '5') {
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
