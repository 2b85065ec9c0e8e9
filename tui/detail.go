package tui

import (
	"encoding/hex"
	"net/netip"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/coapaudit/coapaudit/decode"
	"github.com/coapaudit/coapaudit/flows"
	"github.com/coapaudit/coapaudit/rules"
)

// mark says how a part of a message is protected from the proxy.
type mark uint8

const (
	markNone      mark = iota
	markProtected      // inside OSCORE: encrypted and integrity-protected
	markExposed        // visible to the proxy, which needs it (routing, transport)
	markShould         // visible, but the profile asks for it to be protected
)

func (m mark) spans() span {
	switch m {
	case markProtected:
		return span{" P ", stProtected}
	case markExposed:
		return span{" X ", stExposed}
	case markShould:
		return span{" ! ", stShould}
	}
	return span{"   ", stDefault}
}

// focusRef points the hex pane at bytes: a frame, and a span in its CoAP
// message (or, with inner, in the decrypted message).
type focusRef struct {
	key     frameKey
	ok      bool
	span    decode.Span
	hasSpan bool
	inner   bool
	label   string
}

// dline is one line of the legs pane.
type dline struct {
	spans []span
	ref   focusRef
}

// legCol is one leg of the selected exchange, as a column of lines.
type legCol struct {
	title string
	lines []dline
}

// profileFor resolves the profile the markers hold an exchange to; Auto
// picks one from what the exchange shows (as the rules do).
func profileFor(p rules.Profile, x *flows.Exchange) rules.Profile { return p.Resolve(x) }

// classify marks option id of a message. oscoreMsg says the message is
// OSCORE-protected; inner that the option was found inside it.
func classify(p rules.Profile, id decode.OptionID, request, oscoreMsg, inner bool) mark {
	switch {
	case inner:
		return markProtected
	case oscoreMsg:
		if id == decode.OptOSCORE || decode.OSCOREClass(id).Outer() {
			return markExposed
		}
		// A Class E option in the outer message: OSCORE would have
		// protected it had the sender put it inside.
		return markShould
	case p.ConfidentialOption(id, request):
		return markShould
	}
	return markExposed
}

// roles names the endpoints of an exchange: C (client), P or P1, P2...
// (proxies, by the addresses they listen and send on), S (server).
func roles(x *flows.Exchange) map[netip.AddrPort]string {
	m := map[netip.AddrPort]string{}
	set := func(a netip.AddrPort, r string) {
		if _, ok := m[a]; !ok && a.IsValid() {
			m[a] = r
		}
	}
	proxy := func(i int) string {
		if len(x.Legs) <= 2 {
			return "P"
		}
		return "P" + strconv.Itoa(i)
	}
	set(x.Client, "C")
	set(x.Server, "S")
	for i, p := range x.Proxies {
		set(p, proxy(i+1))
	}
	set(x.Proxy, proxy(1))
	for i, l := range x.Legs {
		if i > 0 {
			set(l.From, proxy(i))
		}
		if i < len(x.Legs)-1 {
			set(l.To, proxy(i+1))
		}
	}
	return m
}

func legTitle(x *flows.Exchange, i int) string {
	n := len(x.Legs)
	switch {
	case n == 1 && x.Proxy.IsValid() && x.Legs[0].To == x.Proxy:
		return "client leg (no server leg)"
	case n == 1:
		return "direct"
	case i == 0:
		return "client leg"
	case i == n-1:
		return "server leg"
	}
	return "leg " + strconv.Itoa(i+1)
}

func fmtDur(d time.Duration) string {
	switch {
	case d < time.Millisecond:
		return strconv.FormatFloat(float64(d)/1e3, 'f', 0, 64) + "µs"
	case d < time.Second:
		return strconv.FormatFloat(float64(d)/1e6, 'f', 1, 64) + "ms"
	}
	return strconv.FormatFloat(d.Seconds(), 'f', 3, 64) + "s"
}

func (a *App) relTime(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return "+" + relTime(t.UnixNano(), a.xs.first) + "s"
}

// buildLegs lays out the legs of x: per leg its request and response,
// each message's header, options (marked) and payload, with residence
// times of the proxies.
func (a *App) buildLegs(x *flows.Exchange) []legCol {
	prof := profileFor(a.cfg.Profile, x)
	var cols []legCol
	for i := range x.Legs {
		l := &x.Legs[i]
		c := legCol{title: legTitle(x, i) + "  " + addr(l.From) + " → " + addr(l.To)}
		if l.Transport != "" {
			c.title += "  over " + l.Transport
		}
		add := func(sp ...span) { c.lines = append(c.lines, dline{spans: sp}) }
		// The header lines of a message point at its first frame.
		addFrame := func(frames []int, pair uint32, sp ...span) {
			var ref focusRef
			if len(frames) > 0 {
				if r := a.frames.lookup(frames[0], pair); r != nil {
					ref = focusRef{key: r.key(), ok: true}
				}
			}
			c.lines = append(c.lines, dline{spans: sp, ref: ref})
		}
		fw, bw := pairHash(l.From, l.To), pairHash(l.To, l.From)

		// Request.
		req := "request  at " + a.relTime(l.RequestTime)
		if l.Type != "" {
			req = "request " + l.Type + "  at " + a.relTime(l.RequestTime)
		}
		addFrame(l.RequestFrames, fw, span{req, stHeader})
		info := "frames " + frameList(l.RequestFrames) + "  " + strconv.Itoa(l.RequestSize) + " B"
		if l.Retransmissions > 0 {
			info += "  " + strconv.Itoa(l.Retransmissions) + " retx"
		}
		if l.Duplicates > 0 {
			info += "  " + strconv.Itoa(l.Duplicates) + " dup"
		}
		if l.Replay || l.Replays > 0 {
			info += "  REPLAY"
		}
		addFrame(l.RequestFrames, fw, span{info, stDim})
		if i > 0 && i-1 < len(x.Residence) && x.Residence[i-1].Request.Valid {
			add(span{"proxy held the request " + fmtDur(x.Residence[i-1].Request.D), stExposed})
		}
		if len(l.RequestFrames) > 0 {
			c.lines = append(c.lines, a.messageLines(l.RequestFrames[0], fw, true, prof)...)
		}

		// Response.
		add()
		if len(l.ResponseFrames) == 0 {
			st := stExposed
			if x.Status == flows.Withheld && i == 0 {
				st = stShould
			}
			add(span{"no response", st})
		} else {
			resp := "response " + l.Code + "  at " + a.relTime(l.ResponseTime)
			if !l.ResponseTime.IsZero() && !l.RequestTime.IsZero() {
				resp += "  (" + fmtDur(l.ResponseTime.Sub(l.RequestTime)) + ")"
			}
			addFrame(l.ResponseFrames, bw, span{resp, stHeader})
			info := "frames " + frameList(l.ResponseFrames) + "  " + strconv.Itoa(l.ResponseSize) + " B"
			if l.Notifications > 0 {
				info += "  " + strconv.Itoa(l.Notifications) + " notifications"
			}
			if l.ResponseRetransmissions+l.ResponseDuplicates > 0 {
				info += "  " + strconv.Itoa(l.ResponseRetransmissions+l.ResponseDuplicates) + " copies"
			}
			addFrame(l.ResponseFrames, bw, span{info, stDim})
			if i < len(x.Residence) && x.Residence[i].Response.Valid {
				add(span{"proxy held the response " + fmtDur(x.Residence[i].Response.D), stExposed})
			}
			c.lines = append(c.lines, a.messageLines(l.ResponseFrames[0], bw, false, prof)...)
		}
		if len(l.OtherFrames) > 0 {
			add()
			add(span{"empty ACK/RST: frames " + frameList(l.OtherFrames), stDim})
		}
		cols = append(cols, c)
	}
	return cols
}

// messageLines decodes frame num and lists its header, options and
// payload, each marked by its protection.
func (a *App) messageLines(num int, pair uint32, request bool, prof rules.Profile) []dline {
	r := a.frames.lookup(num, pair)
	if r == nil {
		return []dline{{spans: []span{{"frame " + strconv.Itoa(num) + " not kept", stDim}}}}
	}
	d := a.cache.get(a.store, r)
	key := r.key()
	var out []dline
	line := func(ref focusRef, sp ...span) {
		ref.key, ref.ok = key, true
		out = append(out, dline{spans: sp, ref: ref})
	}
	if d.gone != nil {
		line(focusRef{}, span{"frame " + strconv.Itoa(num) + ": " + d.gone.Error(), stDim})
		return out
	}
	m := &d.msg
	if len(m.Raw) < 4 {
		line(focusRef{}, span{"frame " + strconv.Itoa(num) + ": not a CoAP message", stDim})
		return out
	}
	osc := m.HasOption(decode.OptOSCORE)
	hdr := m.Type.String() + " " + m.Code.String() + " " + m.Code.Name() + "  MID " + strconv.Itoa(int(m.MessageID))
	if len(m.Token) > 0 {
		hdr += "  token " + hex.EncodeToString(m.Token)
	}
	line(focusRef{span: decode.Span{Off: 0, Len: 4 + len(m.Token)}, hasSpan: true, label: "header"},
		span{"   ", stDefault}, span{hdr, stDefault})
	if d.err != nil {
		line(focusRef{}, span{" ! ", stShould}, span{"malformed: " + d.err.Error(), stShould})
	}
	optLines := func(opts []decode.Option, inner bool) {
		for _, o := range opts {
			mk := classify(prof, o.ID, request, osc, inner)
			v := optionValue(o)
			line(focusRef{span: o.Span, hasSpan: true, inner: inner, label: o.ID.String()},
				mk.spans(), span{padRight(o.ID.String(), 14) + " ", stDefault}, span{v, stDim})
		}
	}
	optLines(m.Options, false)
	if len(m.Payload) > 0 {
		ps := decode.Span{Off: m.PayloadOff, Len: len(m.Payload)}
		if osc {
			line(focusRef{span: ps, hasSpan: true, label: "ciphertext"}, markProtected.spans(),
				span{"ciphertext     ", stDefault}, span{strconv.Itoa(len(m.Payload)) + " B", stDim})
		} else {
			mk := markExposed
			if prof.ConfidentialPayload(request, false) {
				mk = markShould
			}
			line(focusRef{span: ps, hasSpan: true, label: "payload"}, mk.spans(),
				span{"payload        ", stDefault}, span{payloadPreview(m.Payload), stDim})
		}
	}
	if !osc {
		return out
	}
	switch {
	case d.hasInner:
		in := &d.innerMsg
		line(focusRef{span: decode.Span{Off: 1, Len: 1}, hasSpan: true, inner: true, label: "inner code"},
			markProtected.spans(), span{"decrypted      ", stProtected}, span{in.Code.String() + " " + in.Code.Name(), stDefault})
		optLines(in.Options, true)
		if len(in.Payload) > 0 {
			line(focusRef{span: decode.Span{Off: in.PayloadOff, Len: len(in.Payload)}, hasSpan: true, inner: true, label: "payload"},
				markProtected.spans(), span{"payload        ", stDefault}, span{payloadPreview(in.Payload), stDim})
		}
	case d.rec.osc == oscFailed:
		line(focusRef{}, span{" ! ", stShould}, span{orDefault(d.note, "not verified"), stShould})
	default:
		line(focusRef{}, span{"   ", stDefault}, span{"no key: inner options and payload not shown (--keys)", stDim})
	}
	return out
}

func orDefault(s, d string) string {
	if s == "" {
		return d
	}
	return s
}

func padRight(s string, n int) string {
	if w := textWidth(s); w < n {
		return s + strings.Repeat(" ", n-w)
	}
	return s
}

func optionValue(o decode.Option) string {
	if o.ID == decode.OptOSCORE {
		v, err := decode.ParseOSCORE(o.Value)
		if err != nil {
			return hex.EncodeToString(o.Value) + " (invalid)"
		}
		var parts []string
		if len(v.PIV) > 0 {
			parts = append(parts, "piv "+hex.EncodeToString(v.PIV))
		}
		if v.HasKID {
			parts = append(parts, "kid "+orDefault(hex.EncodeToString(v.KID), "(empty)"))
		}
		if v.HasKIDContext {
			parts = append(parts, "ctx "+hex.EncodeToString(v.KIDContext))
		}
		return orDefault(strings.Join(parts, " "), "(empty)")
	}
	b := decode.AppendOptionValue(nil, o.ID, o.Value)
	if len(b) > 200 {
		b = append(b[:200], "…"...)
	}
	return string(b)
}

// payloadPreview shows a payload as text when it is printable, else as
// hex; both cut short.
func payloadPreview(p []byte) string {
	const max = 48
	n := strconv.Itoa(len(p)) + " B  "
	if utf8.Valid(p) && printable(p) {
		s := string(p)
		if len(s) > max {
			s = s[:max] + "…"
		}
		return n + strconv.Quote(s)
	}
	if len(p) > max/2 {
		return n + hex.EncodeToString(p[:max/2]) + "…"
	}
	return n + hex.EncodeToString(p)
}

func printable(p []byte) bool {
	for _, c := range p {
		if c < 0x20 && c != '\n' && c != '\r' && c != '\t' {
			return false
		}
	}
	return true
}

// frameLine is one row of the frames pane.
type frameLine struct {
	num  int
	rec  *frameRec
	text string
}

// frameLines lists the frames of x with their direction, message and
// OSCORE state.
func (a *App) frameLines(x *flows.Exchange) []frameLine {
	rl := roles(x)
	dir := func(from, to netip.AddrPort) string { return rl[from] + "→" + rl[to] }
	type where struct {
		dir   string
		pairs []uint32
	}
	at := map[int]where{}
	for i := range x.Legs {
		l := &x.Legs[i]
		fw, bw := pairHash(l.From, l.To), pairHash(l.To, l.From)
		for _, n := range l.RequestFrames {
			at[n] = where{dir(l.From, l.To), []uint32{fw}}
		}
		for _, n := range l.ResponseFrames {
			at[n] = where{dir(l.To, l.From), []uint32{bw}}
		}
		for _, n := range l.OtherFrames {
			if _, ok := at[n]; !ok {
				at[n] = where{"", []uint32{fw, bw}}
			}
		}
	}
	out := make([]frameLine, 0, len(x.Frames))
	for _, n := range x.Frames {
		w := at[n]
		r := a.frames.lookup(n, w.pairs...)
		fl := frameLine{num: n, rec: r}
		var b strings.Builder
		b.WriteString(padLeft(strconv.Itoa(n), 5))
		if r == nil {
			b.WriteString("  (not kept)")
			fl.text = b.String()
			out = append(out, fl)
			continue
		}
		b.WriteString(" ")
		b.WriteString(padLeft(relTime(r.t, a.xs.first), 10))
		d := w.dir
		if d == "" {
			for i := range x.Legs {
				l := &x.Legs[i]
				if r.pair == pairHash(l.From, l.To) {
					d = dir(l.From, l.To)
				} else if r.pair == pairHash(l.To, l.From) {
					d = dir(l.To, l.From)
				}
			}
		}
		b.WriteString(" " + padRight(d, 5))
		if r.coap() {
			c := decode.Code(r.code)
			what := c.String()
			if c.IsRequest() {
				what = c.Name()
			}
			b.WriteString(padRight(decode.Type(r.typ).String(), 4) + padRight(what, 7) + "MID " + strconv.Itoa(int(r.mid)))
		}
		b.WriteString("  " + strconv.Itoa(int(r.wire)) + " B")
		switch r.osc {
		case oscVerified:
			b.WriteString("  oscore ✓")
		case oscFailed:
			b.WriteString("  oscore ✗")
		case oscNoKey:
			b.WriteString("  oscore")
		}
		if r.flags&flagReplay != 0 {
			b.WriteString("  REPLAY")
		}
		if r.flags&flagMalformed != 0 {
			b.WriteString("  malformed")
		}
		fl.text = b.String()
		out = append(out, fl)
	}
	return out
}

func padLeft(s string, n int) string {
	if w := textWidth(s); w < n {
		return strings.Repeat(" ", n-w) + s
	}
	return s
}

// hexRow is one line of the hex pane.
type hexRow []span

// hexView lays out the bytes in focus, bpr bytes a row: the frame (its
// lower layers dim, the CoAP message plain, the span in focus marked), or
// the decrypted plaintext. It returns the rows, the row of the mark, and
// a title.
func (a *App) hexView(f focusRef, bpr int) (rows []hexRow, markRow int, title string) {
	markRow = -1
	if !f.ok {
		return nil, -1, "hex"
	}
	r := a.frames.get(int(f.key.file), int(f.key.num))
	if r == nil {
		return nil, -1, "frame " + strconv.Itoa(int(f.key.num)) + " not kept"
	}
	d := a.cache.get(a.store, r)
	if d.gone != nil {
		return nil, -1, "frame " + strconv.Itoa(int(f.key.num)) + ": " + d.gone.Error()
	}
	data := d.data
	lo, hi := -1, -1         // marked range
	clo, chi := 0, len(data) // CoAP message
	if r.coap() {
		clo, chi = int(r.coapOff), int(r.coapOff)+int(r.coapLen)
	}
	title = "frame " + strconv.Itoa(int(f.key.num)) + "  " + strconv.Itoa(len(data)) + " B"
	if f.inner {
		data = d.plaintext()
		clo, chi = 0, len(data)
		title = "frame " + strconv.Itoa(int(f.key.num)) + " decrypted plaintext  " + strconv.Itoa(len(data)) + " B"
		if f.hasSpan {
			s := d.innerSpan(f.span)
			lo, hi = s.Off, s.Off+s.Len
		}
	} else if f.hasSpan {
		lo, hi = clo+f.span.Off, clo+f.span.Off+f.span.Len
	}
	if f.label != "" {
		title += "  [" + f.label + "]"
	}
	for off := 0; off < len(data); off += bpr {
		var row hexRow
		row = append(row, span{hex4(off) + "  ", stDim})
		end := min(off+bpr, len(data))
		var ascii strings.Builder
		for i := off; i < off+bpr; i++ {
			if i >= end {
				row = append(row, span{"   ", stDefault})
				continue
			}
			st := stDefault
			switch {
			case i >= lo && i < hi:
				st = stHexMark
				if markRow < 0 {
					markRow = len(rows)
				}
			case i < clo || i >= chi:
				st = stDim
			}
			row = append(row, span{hex.EncodeToString(data[i : i+1]), st}, span{" ", stDefault})
			c := data[i]
			if c < 0x20 || c >= 0x7f {
				c = '.'
			}
			ascii.WriteByte(c)
		}
		row = append(row, span{" ", stDefault})
		asc := ascii.String()
		for i := 0; i < len(asc); i++ {
			st := stDim
			if j := off + i; j >= lo && j < hi {
				st = stHexMark
			} else if j >= clo && j < chi {
				st = stDefault
			}
			row = append(row, span{asc[i : i+1], st})
		}
		rows = append(rows, row)
	}
	return rows, markRow, title
}

func hex4(n int) string {
	const digits = "0123456789abcdef"
	return string([]byte{digits[n>>12&15], digits[n>>8&15], digits[n>>4&15], digits[n&15]})
}
