package report

import (
	"cmp"
	"html/template"
	"math"
	"net/netip"
	"slices"
	"strconv"

	"github.com/coapaudit/coapaudit/stats"

	"github.com/coapaudit/coapaudit/leaks"
)

// sizeRow is one resource and direction of the size plot.
type sizeRow struct {
	label    string
	response bool
	v        []float64 // sorted
	seen     int
}

// sizeAxis maps byte counts onto [a, b] so that sizes close together
// stay apart. It spans the sizes seen, not from 0. When a few sizes lie
// far above the rest (a gap of more than 3 times between two sizes, with
// at least three quarters of the sizes below it), the axis breaks: the
// rest take the linear part, the large ones a short part of their own
// past the break. Otherwise, sizes spread over more than a factor of 4
// get a logarithmic axis.
type sizeAxis struct {
	log         bool
	lo, hi      float64 // the main domain, log10 of it when log
	a, b        float64 // the main range
	brk         bool    // sizes above hi go to [ba, bb], linear over [blo, bhi]
	blo, bhi    float64
	ba, bb      float64
	ticks, high []float64 // ticks of the main part and of the part past the break
}

// sizeBreakWidth is the width of the axis past a break.
const sizeBreakWidth = 90.0

func newSizeAxis(v []float64, a, b float64) sizeAxis {
	if len(v) == 0 {
		v = []float64{0, 1}
	}
	v = slices.Clone(v)
	slices.Sort(v)
	lo, hi := v[0], v[len(v)-1]
	for i := len(v) * 3 / 4; i+1 < len(v); i++ {
		if v[i] > 0 && v[i+1] > 3*v[i] {
			x := linearSizeAxis(lo, v[i], a, b-sizeBreakWidth-20)
			x.brk, x.blo, x.bhi, x.ba, x.bb = true, v[i+1], hi, b-sizeBreakWidth, b
			x.high = []float64{v[i+1]}
			if hi != v[i+1] {
				x.high = append(x.high, hi)
			}
			return x
		}
	}
	if lo >= 1 && hi > 4*lo {
		var ticks []float64
		for e := math.Floor(math.Log10(lo)); e <= math.Ceil(math.Log10(hi)); e++ {
			for _, m := range []float64{1, 2, 5} {
				if t := m * math.Pow(10, e); t >= lo/2 && t <= hi*2 {
					ticks = append(ticks, t)
				}
			}
		}
		return sizeAxis{log: true, lo: math.Log10(min(lo, ticks[0])), hi: math.Log10(max(hi, ticks[len(ticks)-1])), a: a, b: b, ticks: ticks}
	}
	return linearSizeAxis(lo, hi, a, b)
}

func linearSizeAxis(lo, hi, a, b float64) sizeAxis {
	pad := max((hi-lo)*0.1, 2)
	ticks := niceTicks(math.Max(0, lo-pad), hi+pad, 8)
	return sizeAxis{lo: ticks[0], hi: ticks[len(ticks)-1], a: a, b: b, ticks: ticks}
}

func (x sizeAxis) at(v float64) float64 {
	if x.brk && v > x.hi {
		return linearScale{x.blo, x.bhi, x.ba + 10, x.bb - 10}.at(v)
	}
	if x.log {
		v = math.Log10(math.Max(v, 1))
	}
	return linearScale{x.lo, x.hi, x.a, x.b}.at(v)
}

// sizePlot draws, per resource, a box (quartiles, whiskers to the
// extremes) and every kept size as a dot: requests blue, responses
// orange. A size that only one resource has shows as a lone dot. The
// axis spans the sizes seen (see sizeAxis); every strip names its own
// smallest and largest size at its right.
func sizePlot(rows []sizeRow) template.HTML {
	const left, right, rowH, top = 230.0, 30.0, 22.0, 30.0
	width := 900.0
	height := top + rowH*float64(len(rows)) + 40
	s := newSVG(int(width), int(height), "Message sizes per resource")
	var all []float64
	for _, r := range rows {
		all = append(all, r.v...)
	}
	x := newSizeAxis(all, left, width-right-70)
	bottom := top + rowH*float64(len(rows))
	for i, t := range append(slices.Clone(x.ticks), x.high...) {
		col := colMuted
		if i >= len(x.ticks) {
			col = colInk
		}
		s.line(x.at(t), top-6, x.at(t), bottom, `stroke="`+colGrid+`"`)
		s.text(x.at(t), bottom+16, "middle", `fill="`+col+`"`, strconv.FormatFloat(t, 'f', -1, 64))
	}
	axis := "UDP payload bytes (client leg)"
	switch {
	case x.log:
		axis += ", log scale"
	case x.brk:
		// The break: a white band with two slanted strokes.
		bx := (x.b + x.ba) / 2
		s.rect(bx-6, top-8, 12, bottom-top+12, `fill="#ffffff"`)
		for _, dx := range []float64{-4, 4} {
			s.line(bx+dx-4, bottom+8, bx+dx+4, bottom-4, `stroke="`+colMuted+`" stroke-width="1.5"`)
		}
		axis += ", broken at the gap before the largest sizes"
	}
	s.text((left+width-right-70)/2, bottom+34, "middle", `fill="`+colInk+`"`, axis)
	s.circle(left, 12, 4, `fill="`+colRequest+`"`, "")
	s.text(left+8, 16, "start", `fill="`+colInk+`"`, "request")
	s.circle(left+80, 12, 4, `fill="`+colResp+`"`, "")
	s.text(left+88, 16, "start", `fill="`+colInk+`"`, "response")
	for i, r := range rows {
		y := top + rowH*float64(i) + rowH/2
		col := colRequest
		dir := "request"
		if r.response {
			col, dir = colResp, "response"
		}
		if !r.response || i == 0 || rows[i-1].label != r.label {
			s.text(left-10, y+4, "end", `fill="`+colInk+`"`, clipText(r.label, 34))
		}
		if i%2 == 0 {
			s.rect(left, y-rowH/2, width-right-left, rowH, `fill="#f5f7fa" fill-opacity="0.6"`)
		}
		if len(r.v) == 0 {
			continue
		}
		q1, q2, q3 := stats.Quantile(r.v, .25), stats.Quantile(r.v, .5), stats.Quantile(r.v, .75)
		s.line(x.at(r.v[0]), y, x.at(r.v[len(r.v)-1]), y, `stroke="`+col+`" stroke-width="1"`)
		s.rect(x.at(q1), y-6, x.at(q3)-x.at(q1), 12, `fill="`+col+`" fill-opacity="0.15" stroke="`+col+`"`)
		s.line(x.at(q2), y-6, x.at(q2), y+6, `stroke="`+col+`" stroke-width="2"`)
		for j, v := range r.v {
			if j > 0 && r.v[j-1] == v {
				continue
			}
			n := 0
			for _, w := range r.v {
				if w == v {
					n++
				}
			}
			s.circle(x.at(v), y, 2.5+math.Min(3, math.Log2(float64(n))), `fill="`+col+`" fill-opacity="0.75"`,
				r.label+" "+dir+": "+strconv.FormatFloat(v, 'f', -1, 64)+" bytes ×"+strconv.Itoa(n))
		}
		span := strconv.FormatFloat(r.v[0], 'f', -1, 64)
		if last := r.v[len(r.v)-1]; last != r.v[0] {
			span += "–" + strconv.FormatFloat(last, 'f', -1, 64)
		}
		span += " B"
		if r.seen > len(r.v) {
			span += " (" + strconv.Itoa(len(r.v)) + "/" + strconv.Itoa(r.seen) + ")"
		}
		s.text(width-right, y+4, "end", `fill="`+col+`" font-size="10"`, span)
	}
	return s.html()
}

func clipText(t string, n int) string {
	r := []rune(t)
	if len(r) <= n {
		return t
	}
	return string(r[:n-1]) + "…"
}

// outlierZ is the modified z-score beyond which a residence time is
// marked, as the leak analysis flags delays.
const outlierZ = leaks.OutlierThreshold

// residencePlot draws one proxy's residence times against capture time
// on a log scale: requests as dots, responses as squares, outliers red
// and labelled with their exchange.
func residencePlot(proxy netip.AddrPort, samples []residenceSample, seen int) (template.HTML, int) {
	const left, right, top, bottom = 80.0, 30.0, 30.0, 50.0
	width, height := 900.0, 300.0
	s := newSVG(int(width), int(height), "Residence times at proxy "+proxy.String())
	if len(samples) == 0 {
		s.text(width/2, height/2, "middle", `fill="`+colMuted+`"`, "no residence times")
		return s.html(), 0
	}
	var dirs [2][]float64
	tmax, lo, hi := 0.0, math.Inf(1), math.Inf(-1)
	for _, r := range samples {
		d := 0
		if r.response {
			d = 1
		}
		dirs[d] = append(dirs[d], r.seconds)
		tmax = max(tmax, r.at.Seconds())
		if r.seconds > 0 {
			lo, hi = min(lo, r.seconds), max(hi, r.seconds)
		}
	}
	if math.IsInf(lo, 0) {
		lo, hi = 1e-6, 1e-3
	}
	elo, ehi := math.Floor(math.Log10(lo)), math.Ceil(math.Log10(hi))
	if ehi == elo {
		ehi++
	}
	y := linearScale{elo, ehi, height - bottom, top}
	ylog := func(v float64) float64 { return y.at(math.Log10(math.Max(v, math.Pow(10, elo)))) }
	xt := niceTicks(0, max(tmax, 1e-3), 8)
	x := linearScale{0, xt[len(xt)-1], left, width - right}
	for e := elo; e <= ehi; e++ {
		yy := y.at(e)
		s.line(left, yy, width-right, yy, `stroke="`+colGrid+`"`)
		s.text(left-8, yy+4, "end", `fill="`+colMuted+`"`, fmtSeconds(math.Pow(10, e)))
	}
	for _, t := range xt {
		s.line(x.at(t), top, x.at(t), height-bottom, `stroke="`+colGrid+`"`)
		s.text(x.at(t), height-bottom+16, "middle", `fill="`+colMuted+`"`, fmtSeconds(t))
	}
	s.text((left+width-right)/2, height-12, "middle", `fill="`+colInk+`"`, "capture time since the first exchange")
	s.raw(`<text x="16" y="` + num((top+height-bottom)/2) + `" text-anchor="middle" fill="` + colInk + `" transform="rotate(-90 16 ` + num((top+height-bottom)/2) + `)">residence time (log)</text>`)
	// The same robust z as the leak analysis, so that a delay has one
	// z-score wherever the report shows it.
	var z [2]leaks.DelayResult
	for d := range dirs {
		z[d] = leaks.DelayStats(nil, dirs[d])
	}
	outliers := 0
	for _, r := range samples {
		d, dir := 0, "request"
		if r.response {
			d, dir = 1, "response"
		}
		px, py := x.at(r.at.Seconds()), ylog(r.seconds)
		sc := z[d].Z(r.seconds)
		out := len(dirs[d]) >= 5 && math.Abs(sc) > outlierZ
		col := colRequest
		if r.response {
			col = colResp
		}
		tip := r.exchange + " " + dir + " held " + fmtSeconds(r.seconds)
		if out {
			outliers++
			col = colOutlier
			tip += " (outlier)"
		}
		if r.response {
			s.b.WriteString(`<rect class="pt" x="` + num(px-3.5) + `" y="` + num(py-3.5) + `" width="7" height="7" fill="` + col + `"><title>` + escape(tip) + `</title></rect>`)
		} else {
			s.circle(px, py, 4, `class="pt" fill="`+col+`"`, tip)
		}
		if out {
			s.b.WriteString(`<circle class="outlier" cx="` + num(px) + `" cy="` + num(py) + `" r="9" fill="none" stroke="` + colOutlier + `" stroke-width="2"/>`)
			lx, anchor := px+12, "start"
			if px > width-right-180 {
				lx, anchor = px-12, "end"
			}
			s.text(lx, py+4, anchor, `fill="`+colOutlier+`" font-weight="bold"`, r.exchange+" "+dir+" "+fmtSeconds(r.seconds))
		}
	}
	lx := width - right - 250
	s.circle(lx, 14, 4, `fill="`+colRequest+`"`, "")
	s.text(lx+8, 18, "start", `fill="`+colInk+`"`, "request")
	s.rect(lx+70, 10.5, 7, 7, `fill="`+colResp+`"`)
	s.text(lx+82, 18, "start", `fill="`+colInk+`"`, "response")
	s.circle(lx+160, 14, 6, `fill="none" stroke="`+colOutlier+`" stroke-width="2"`, "")
	s.text(lx+170, 18, "start", `fill="`+colInk+`"`, "outlier")
	if seen > len(samples) {
		s.text(left, 18, "start", `fill="`+colMuted+`" font-size="10"`, "sample of "+strconv.Itoa(len(samples))+" of "+strconv.Itoa(seen))
	}
	return s.html(), outliers
}

// protLabel says what protects a hop.
func protLabel(p string) (string, string) {
	switch p {
	case "oscore":
		return "OSCORE end-to-end", colOSCORE
	case "oscore-failed":
		return "OSCORE failed verification", colOutlier
	case "dtls":
		return "DTLS hop-by-hop only", colDTLS
	}
	return "no protection", colNone
}

type topoNode struct {
	addr      netip.AddrPort
	label     string
	exchanges int
	proven    int // proven findings against it as a proxy
	x, y      float64
}

// topologySVG draws clients, proxies and servers in three columns with
// one edge per hop and protection; edge labels say how the hop is
// protected and how many exchanges crossed it. At most maxPerRole nodes
// are drawn per column; the rest merge into one "others" node.
func topologySVG(nodes map[netip.AddrPort]*node, edges map[edgeKey]int, maxPerRole int) template.HTML {
	cols := [3][]*topoNode{}
	place := map[netip.AddrPort]*topoNode{}
	var others [3]*topoNode
	for _, r := range []int{0, 1, 2} {
		var list []*topoNode
		for a, n := range nodes {
			if roleColumn(n.role) == r {
				label := a.String()
				if a.Port() == 0 {
					label = a.Addr().String() + " (any port)"
				}
				list = append(list, &topoNode{addr: a, label: label, exchanges: n.exchanges, proven: n.proven})
			}
		}
		slices.SortFunc(list, func(a, b *topoNode) int {
			return cmp.Or(cmp.Compare(b.exchanges, a.exchanges), a.addr.Compare(b.addr))
		})
		if len(list) > maxPerRole {
			o := &topoNode{label: strconv.Itoa(len(list)-maxPerRole+1) + " others"}
			for _, t := range list[maxPerRole-1:] {
				o.exchanges += t.exchanges
				o.proven += t.proven
				place[t.addr] = o
			}
			list = append(list[:maxPerRole-1], o)
			others[r] = o
		}
		for _, t := range list {
			if t.addr.IsValid() {
				place[t.addr] = t
			}
		}
		cols[r] = list
	}
	rows := max(len(cols[0]), len(cols[1]), len(cols[2]), 1)
	const rowH, top, boxW, boxH = 44.0, 50.0, 190.0, 30.0
	width := 1000.0
	height := top + rowH*float64(rows) + 20
	xs := [3]float64{110, 500, 890}
	for r, list := range cols {
		off := (float64(rows) - float64(len(list))) * rowH / 2
		for i, t := range list {
			t.x, t.y = xs[r], top+off+rowH*float64(i)+rowH/2
		}
	}
	s := newSVG(int(width), int(height), "Proxy topology")
	for r, h := range []string{"clients", "proxies", "servers"} {
		s.text(xs[r], 22, "middle", `fill="`+colInk+`" font-weight="bold"`, h)
	}
	// Merge edges onto drawn nodes, then draw them thinnest first.
	type drawn struct {
		from, to        *topoNode
		prot, transport string
	}
	merged := map[drawn]int{}
	for k, n := range edges {
		f, t := place[k.from], place[k.to]
		if f == nil || t == nil || f == t {
			continue
		}
		merged[drawn{f, t, k.protected, k.transport}] += n
	}
	keys := make([]drawn, 0, len(merged))
	for k := range merged {
		keys = append(keys, k)
	}
	slices.SortFunc(keys, func(a, b drawn) int {
		return cmp.Or(cmp.Compare(merged[a], merged[b]), cmp.Compare(a.from.label, b.from.label), cmp.Compare(a.to.label, b.to.label), cmp.Compare(a.prot, b.prot), cmp.Compare(a.transport, b.transport))
	})
	// Edges that share both ends but differ in protection fan out.
	fan := map[[2]*topoNode]int{}
	for _, k := range keys {
		label, col := protLabel(k.prot)
		if k.transport != "" {
			label += " over " + k.transport
		}
		i := fan[[2]*topoNode{k.from, k.to}]
		fan[[2]*topoNode{k.from, k.to}]++
		x1, y1 := k.from.x+boxW/2, k.from.y+float64(i)*6
		x2, y2 := k.to.x-boxW/2, k.to.y+float64(i)*6
		w := 1.5 + math.Min(4, math.Log2(float64(merged[k])))
		dash := ""
		if k.prot == "none" || k.prot == "oscore-failed" {
			dash = ` stroke-dasharray="6 4"`
		}
		s.b.WriteString(`<g class="edge"><line x1="` + num(x1) + `" y1="` + num(y1) + `" x2="` + num(x2) + `" y2="` + num(y2) + `" stroke="` + col + `" stroke-width="` + num(w) + `"` + dash + `/>`)
		s.b.WriteString(`<title>` + escape(k.from.label+" → "+k.to.label+": "+label+", "+strconv.Itoa(merged[k])+" exchanges") + `</title></g>`)
		if len(keys) <= 24 || k.to.x > xs[1] {
			// Midway, unless many client edges fan into one proxy: then
			// nearer the clients, where the edges are apart.
			mx, my := (x1+x2)/2, (y1+y2)/2
			if k.to.x <= xs[1] && len(cols[0]) > 3 {
				mx, my = x1+(x2-x1)*0.3, y1+(y2-y1)*0.3
			}
			// Labels of edges fanned out between the same nodes stack.
			my += float64(i) * 17
			t := label + " ×" + strconv.Itoa(merged[k])
			s.rect(mx-float64(len(t))*3.3-4, my-9, float64(len(t))*6.6+8, 16, `fill="#ffffff" fill-opacity="0.9" rx="3"`)
			s.text(mx, my+3, "middle", `fill="`+col+`" font-size="11" font-weight="bold"`, t)
		}
	}
	for r, list := range cols {
		for _, t := range list {
			fill, stroke := "#eef2f7", `stroke="`+colMuted+`"`
			if t == others[r] {
				fill = "#f7f7f7"
			}
			tip := t.label + ": " + strconv.Itoa(t.exchanges) + " exchanges"
			if t.proven > 0 {
				// A proxy the capture proves misbehaved is drawn red,
				// whatever protection its hops claim.
				fill, stroke = "#fbe3e0", `stroke="`+colOutlier+`" stroke-width="2.5"`
				tip += ", " + strconv.Itoa(t.proven) + " proven findings"
			}
			s.b.WriteString(`<g class="node">`)
			s.rect(t.x-boxW/2, t.y-boxH/2, boxW, boxH, `rx="6" fill="`+fill+`" `+stroke)
			s.text(t.x, t.y+4, "middle", `fill="`+colInk+`" font-family="ui-monospace, monospace"`, clipText(t.label, 26))
			if t.proven > 0 {
				badge := strconv.Itoa(t.proven) + " proven"
				s.rect(t.x+boxW/2-float64(len(badge))*6-6, t.y-boxH/2-9, float64(len(badge))*6+10, 15, `rx="7" fill="`+colOutlier+`"`)
				s.text(t.x+boxW/2-float64(len(badge))*3-1, t.y-boxH/2+2, "middle", `fill="#ffffff" font-size="10" font-weight="bold"`, badge)
			}
			s.b.WriteString(`<title>` + escape(tip) + `</title></g>`)
		}
	}
	return s.html()
}

// roleColumn puts a node that is ever a proxy in the middle, a pure
// server on the right and everything else on the left.
func roleColumn(r role) int {
	switch {
	case r&roleProxy != 0:
		return 1
	case r&roleServer != 0 && r&roleClient == 0:
		return 2
	}
	return 0
}

type mscEvent struct {
	frame    int
	from, to int
	label    string
	evidence bool
}

// sequenceChart draws the legs of one exchange as a message sequence
// chart: one lifeline per endpoint, one arrow per request and response
// frame in frame order; evidence frames of findings are red.
func sequenceChart(c *chart) template.HTML {
	x := c.x
	ends := path(x)
	names := make([]string, len(ends))
	for i := range ends {
		switch {
		case i == 0:
			names[i] = "client"
		case i == len(ends)-1 && ends[i] == x.Server:
			names[i] = "server"
		default:
			names[i] = "proxy"
		}
	}
	var ev []mscEvent
	const maxArrows = 40
	for li, l := range x.Legs {
		from, to := min(li, len(ends)-1), min(li+1, len(ends)-1)
		if from == to {
			from = max(0, to-1)
		}
		for j, f := range l.RequestFrames {
			label := x.Method + " " + uriPath(x.URI)
			if j > 0 {
				label = "request again"
			}
			ev = append(ev, mscEvent{f, from, to, label, c.evidence[f]})
		}
		for j, f := range l.ResponseFrames {
			label := l.Code
			if label == "" {
				label = "response"
			}
			if j > 0 {
				label = "response " + strconv.Itoa(j+1)
			}
			ev = append(ev, mscEvent{f, to, from, label, c.evidence[f]})
		}
	}
	slices.SortStableFunc(ev, func(a, b mscEvent) int { return cmp.Compare(a.frame, b.frame) })
	more := 0
	if len(ev) > maxArrows {
		more = len(ev) - maxArrows
		ev = ev[:maxArrows]
	}
	const top, step, colW = 70.0, 34.0, 280.0
	width := 120 + colW*float64(len(ends)-1) + 120
	height := top + step*float64(len(ev)+1) + 30
	s := newSVG(int(width), int(height), "Message sequence chart of exchange "+x.ID)
	xs := make([]float64, len(ends))
	for i, a := range ends {
		xs[i] = 120 + colW*float64(i)
		s.rect(xs[i]-100, 10, 200, 40, `rx="6" fill="#eef2f7" stroke="`+colMuted+`"`)
		s.text(xs[i], 27, "middle", `fill="`+colInk+`" font-weight="bold"`, names[i])
		s.text(xs[i], 43, "middle", `fill="`+colMuted+`" font-family="ui-monospace, monospace" font-size="11"`, a.String())
		s.line(xs[i], 50, xs[i], height-20, `stroke="`+colMuted+`" stroke-dasharray="4 3"`)
	}
	for i, e := range ev {
		y := top + step*float64(i+1)
		col := colInk
		if e.evidence {
			col = colOutlier
		}
		x1, x2 := xs[e.from], xs[e.to]
		dir := 1.0
		if x2 < x1 {
			dir = -1
		}
		s.line(x1, y, x2-dir*8, y, `stroke="`+col+`" stroke-width="1.6"`)
		s.raw(`<polygon points="` + num(x2) + `,` + num(y) + ` ` + num(x2-dir*9) + `,` + num(y-4.5) + ` ` + num(x2-dir*9) + `,` + num(y+4.5) + `" fill="` + col + `"/>`)
		s.text((x1+x2)/2, y-5, "middle", `fill="`+col+`"`, clipText(e.label, 40))
		frame := "#" + strconv.Itoa(e.frame)
		if c.refs != nil {
			frame = c.refs.Name(e.frame) // "b.pcap#12"
		}
		s.text(min(x1, x2)-8, y+4, "end", `fill="`+colMuted+`" font-size="10"`, frame)
	}
	if len(ev) == 0 {
		s.text(width/2, top+step, "middle", `fill="`+colMuted+`"`, "no frames recorded")
	}
	if more > 0 {
		s.text(width/2, height-8, "middle", `fill="`+colMuted+`"`, "… and "+strconv.Itoa(more)+" more messages")
	}
	return s.html()
}

// uriPath shortens a URI to its path for arrow labels.
func uriPath(uri string) string {
	for i := 0; i+2 < len(uri); i++ {
		if uri[i] == ':' && uri[i+1] == '/' && uri[i+2] == '/' {
			rest := uri[i+3:]
			for j := 0; j < len(rest); j++ {
				if rest[j] == '/' {
					return rest[j:]
				}
			}
			return "/"
		}
	}
	return uri
}
