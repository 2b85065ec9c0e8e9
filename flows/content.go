package flows

import (
	"bytes"
	"net/netip"
	"strconv"
	"unicode/utf8"

	"github.com/coapaudit/coapaudit/decode"
)

// Equality and evidence. The proxy under audit chooses the bytes of what
// it sends, so the Tracker never takes a hash match for equality: a keyed
// hash picks the candidates, the bytes kept on the legs confirm them. When
// no candidate is equal, the leg a request was forwarded from is chosen by
// evidence (token, Message ID, method, resource, payload, timing), and
// what the proxy changed on the way is recorded as Diffs.

// evidence is a set of facts that single out the leg a request was
// forwarded from.
type evidence uint16

const (
	evOSCORE       evidence = 1 << iota // the OSCORE option and ciphertext
	evToken                             // the same token
	evMID                               // the same Message ID
	evMethod                            // the same method
	evURI                               // the same resource (Proxy-Uri decomposed)
	evPayload                           // the same payload
	evTiming                            // within the proxy's usual residence
	evOSCOREOption                      // the same OSCORE option (Partial IV, kid), other bytes changed
	evOrder                             // chosen by arrival order among equal candidates
	evURISuffix                         // the resource with leading path segments removed
	evProxyOut                          // sent from an endpoint a proxy was confirmed to send from
)

var evidenceNames = [...]string{"oscore", "token", "message-id", "method", "uri", "payload", "timing", "oscore-option", "order", "uri-suffix", "proxy-endpoint"}

// evidenceNames returns e.names(), shared among the exchanges that have
// the same evidence (with no spare capacity).
func (t *Tracker) evidenceNames(e evidence) []string {
	if e == 0 {
		return nil
	}
	if s, ok := t.evNames[e]; ok {
		return s
	}
	s := e.names()
	s = s[:len(s):len(s)]
	t.evNames[e] = s // at most one per combination of evidenceNames
	return s
}

// names lists the facts in e.
func (e evidence) names() []string {
	var out []string
	for i, n := range evidenceNames {
		if e&(1<<i) != 0 {
			out = append(out, n)
		}
	}
	return out
}

// Evidence weights. A link by evidence needs minLinkScore and a score no
// other candidate reaches. The weights make a plain GET forwarded with a
// new token and Message ID (method, empty payload, timing) just enough,
// and anything less than a method and a body, a token and a resource, or
// a Message ID and a token not enough.
const (
	scoreToken    = 3
	scoreMID      = 3
	scoreMethod   = 2
	scoreURI      = 2
	scorePayload  = 3
	scoreEmpty    = 1 // both payloads empty
	scoreTiming   = 1
	scoreOSCORE   = 4 // the same OSCORE option: a Partial IV is used once
	minLinkScore  = 4
	maxDiffs      = 32 // per leg
	maxDiffValue  = 64 // bytes of a value shown in a Diff
	dstSlots      = 1024
	dstWays       = 8
	maxOutsPerOut = 8
)

// decodeRaw decodes a remembered message into the Tracker's scratch
// message, or returns nil.
func (t *Tracker) decodeRaw(raw []byte) *decode.Message {
	if len(raw) < 4 {
		return nil
	}
	m := &t.scratch
	m.Decode(raw) // framing errors keep what decoded before them
	return m
}

// sameContent reports whether two responses carry the same code, OSCORE
// option and payload: what a proxy relays unchanged.
func sameContent(a, b *decode.Message) bool {
	if a.Code != b.Code || !bytes.Equal(a.Payload, b.Payload) {
		return false
	}
	oa, _ := a.Option(decode.OptOSCORE)
	ob, _ := b.Option(decode.OptOSCORE)
	return bytes.Equal(oa, ob)
}

// confirmLink checks on the bytes that the request in p is the one u
// received: for OSCORE the option and ciphertext, otherwise the method,
// the resource and (unless the proxy reassembled a Block1 body) the
// payload. The link keys only picked u as a candidate.
func (t *Tracker) confirmLink(u *hop, p *Packet, v *view, reassembled bool) bool {
	um := t.decodeRaw(u.reqRaw)
	if um == nil {
		return false
	}
	if v.hasOSCORE {
		uo, ok := um.Option(decode.OptOSCORE)
		return ok && um.Code == p.Msg.Code && bytes.Equal(uo, v.oscore) && bytes.Equal(um.Payload, v.payload)
	}
	if u.method != v.code || !bytes.Equal(u.path, v.path) {
		return false
	}
	return reassembled || bytes.Equal(um.Payload, v.payload)
}

// score weighs the evidence that p is the request u received, sent on
// by the proxy u went to. It returns 0 when u cannot be it.
func (t *Tracker) score(u *hop, p *Packet, v *view, now int64) (int, evidence) {
	if u.kind != kindRequest || u.from == p.Src || u.to == p.Dst || now < u.firstReq || now-u.firstReq > t.maxRes {
		return 0, 0
	}
	if u.oscore != v.hasOSCORE || u.multicast || u.main != nil || len(u.x.hops) >= t.cfg.MaxLegs {
		// A proxy cannot add or remove OSCORE.
		return 0, 0
	}
	if u.downs > 0 && u.pendingRetrans == 0 || u.hasResp && u.waiting == 0 && !u.rdMore().b1.open() {
		return 0, 0
	}
	if u.target.IsValid() && !v.hasProxy && u.target != p.Dst {
		return 0, 0
	}
	if outs := t.outs[u.to]; len(outs) > 0 && !containsAddr(outs, p.Src.Addr()) {
		return 0, 0
	}
	if !u.proxyHint && !t.isProxy(u.to) && p.Src.Addr() != u.to.Addr() {
		return 0, 0
	}
	um := t.decodeRaw(u.reqRaw)
	if um == nil {
		return 0, 0
	}
	m := p.Msg
	s, ev := 0, evidence(0)
	if v.hasOSCORE {
		// An OSCORE request whose ciphertext or outer part changed on
		// the way: the option, with its Partial IV, still names it.
		uo, _ := um.Option(decode.OptOSCORE)
		if !bytes.Equal(uo, v.oscore) {
			return 0, 0
		}
		s, ev = s+scoreOSCORE, ev|evOSCOREOption
	}
	if len(m.Token) > 0 && bytes.Equal(um.Token, m.Token) {
		s, ev = s+scoreToken, ev|evToken
	}
	if um.MessageID == m.MessageID && !p.Reliable && !t.carrierOf(u).reliable {
		s, ev = s+scoreMID, ev|evMID
	}
	if u.method == v.code {
		s, ev = s+scoreMethod, ev|evMethod
	}
	switch {
	case bytes.Equal(u.path, v.path):
		s, ev = s+scoreURI, ev|evURI
	case !u.proxyHint && stripsPrefix(u.path, v.path):
		s, ev = s+scoreURI, ev|evURISuffix
	}
	switch {
	case len(um.Payload) > 0 && bytes.Equal(um.Payload, v.payload):
		s, ev = s+scorePayload, ev|evPayload
	case len(um.Payload) == 0 && len(v.payload) == 0:
		s += scoreEmpty
	}
	if now-u.firstReq <= t.freshWindow(u.to) {
		s, ev = s+scoreTiming, ev|evTiming
	}
	return s, ev
}

// bestUpstream looks, when no request with the same content was
// received, for the one a proxy changed before sending it on as p: among
// the requests sent to the address p comes from (or to a proxy known to
// send from it), the one the evidence singles out.
func (t *Tracker) bestUpstream(p *Packet, v *view, now int64) (*hop, evidence) {
	var best *hop
	bestScore, second, bestEv := 0, 0, evidence(0)
	try := func(a netip.Addr) {
		i := t.dstSlot(a)
		for _, r := range t.dstTab[i] {
			u := t.hop(r)
			if u == nil || u.to.Addr() != a || u == best {
				continue
			}
			s, ev := t.score(u, p, v, now)
			switch {
			case s > bestScore:
				best, bestScore, second, bestEv = u, s, bestScore, ev
			case s > second:
				second = s
			}
		}
	}
	src := p.Src.Addr()
	try(src)
	for _, a := range t.outOf[src] {
		if a != src {
			try(a)
		}
	}
	if best == nil || bestScore < minLinkScore || second == bestScore {
		return nil, 0
	}
	return best, bestEv
}

func (t *Tracker) dstSlot(a netip.Addr) int {
	b := a.As16()
	return int(fixedHash(b[:]) & (dstSlots - 1))
}

// noteDst remembers h as a request that the receiver may send on.
func (t *Tracker) noteDst(h *hop) {
	i := t.dstSlot(h.to.Addr())
	t.dstTab[i][t.dstNext[i]%dstWays] = h.ref()
	t.dstNext[i]++
}

func containsAddr(s []netip.Addr, a netip.Addr) bool {
	for _, b := range s {
		if b == a {
			return true
		}
	}
	return false
}

// linkEvidence says what links the request in p to u's, for a link
// found by its link key (confirmed on the bytes).
func (t *Tracker) linkEvidence(u *hop, p *Packet, v *view, exact bool, now int64) evidence {
	if exact {
		return evOSCORE
	}
	_, ev := t.score(u, p, v, now)
	if ev == 0 {
		// score refuses some links the link key allows (a candidate
		// already answered, a retransmission forwarded): the content
		// matched.
		ev = evMethod | evURI
		if len(v.payload) > 0 {
			ev |= evPayload
		}
	}
	return ev
}

// Diff is one difference between a message a proxy received and the one
// it sent on: a request from the client leg to the server leg, or a
// response the other way.
type Diff struct {
	// Dir is "request" or "response".
	Dir string `json:"dir"`
	// Field names what differs: "method", "code", "uri", "payload", or an
	// option name ("Content-Format", "Max-Age", "Option(2053)").
	Field string `json:"field"`
	// Client and Server are the values on the leg towards the client and
	// on the leg towards the server, formatted for people (strings quoted,
	// opaque bytes in hex, long values cut); "" for an absent option.
	Client string `json:"client"`
	Server string `json:"server"`
	// ClientFrame and ServerFrame carry the two messages.
	ClientFrame int `json:"client_frame"`
	ServerFrame int `json:"server_frame"`
	// Proxy is the proxy between the two legs.
	Proxy netip.AddrPort `json:"proxy"`
	// Allowed names the legitimate proxy transformation the difference
	// is ("proxy-error", "etag-validation", "max-age-reduced"); empty
	// for a change no honest proxy makes.
	Allowed string `json:"allowed,omitempty"`
}

// hopOptions are options that differ between legs by design: the
// request target (Proxy-Uri decomposed into Uri-Host/Port/Path/Query,
// compared as "uri"), message-layer and transfer-layer options, and
// options that are per hop or renumbered by a proxy.
func hopOption(id decode.OptionID) bool {
	switch id {
	case decode.OptURIHost, decode.OptURIPort, decode.OptURIPath, decode.OptURIQuery,
		decode.OptProxyURI, decode.OptProxyScheme, decode.OptObserve, decode.OptHopLimit,
		decode.OptBlock1, decode.OptBlock2, decode.OptSize1, decode.OptSize2,
		decode.OptQBlock1, decode.OptQBlock2, decode.OptEcho, decode.OptRequestTag,
		decode.OptOSCORE:
		return true
	}
	return false
}

func blockwise(m *decode.Message) bool {
	return m.HasOption(decode.OptBlock1) || m.HasOption(decode.OptBlock2) ||
		m.HasOption(decode.OptQBlock1) || m.HasOption(decode.OptQBlock2)
}

// diffRequest records what the proxy between u and h changed in the
// request: um is u's first request (decoded from reqRaw), m the one the
// proxy sent on in frame.
func (t *Tracker) diffRequest(u, h *hop, um, m *decode.Message, frame int) {
	add := func(field, client, server, allowed string) {
		if len(h.diffs) < maxDiffs {
			h.diffs = append(h.diffs, Diff{Dir: "request", Field: field, Client: client, Server: server,
				ClientFrame: firstFrame(u.reqFrames), ServerFrame: frame, Proxy: u.to, Allowed: allowed})
		} else {
			t.stats.DiffsOmitted++
		}
	}
	if !u.oscore {
		if u.method != h.method {
			add("method", methodName(u.method), methodName(h.method), "")
		}
		if !bytes.Equal(u.path, h.path) {
			allowed := ""
			if !u.proxyHint && stripsPrefix(u.path, h.path) {
				// A reverse proxy maps its own namespace onto the
				// origin's by removing leading segments.
				allowed = "reverse-proxy-prefix"
			}
			add("uri", string(u.uri), string(h.uri), allowed)
		}
		if !blockwise(um) && !blockwise(m) && !bytes.Equal(um.Payload, m.Payload) {
			add("payload", fmtBytes(um.Payload), fmtBytes(m.Payload), "")
		}
	} else {
		// Protected: the proxy can only change the outer message, which
		// the server then cannot verify or reads differently.
		if um.Code != m.Code {
			add("code", methodName(um.Code), methodName(m.Code), "")
		}
		if cp, sp := appendPath(nil, um), appendPath(nil, m); !bytes.Equal(cp, sp) {
			add("outer uri", fmtBytes(um.URIPath(nil)), fmtBytes(m.URIPath(nil)), "")
		}
		if !bytes.Equal(um.Payload, m.Payload) {
			add("ciphertext", fmtBytes(um.Payload), fmtBytes(m.Payload), "")
		}
	}
	t.diffOptions(um, m, func(id decode.OptionID, cv, sv string) {
		allowed := ""
		if id == decode.OptETag && cv == "" {
			allowed = "etag-validation" // the proxy validates its cached copy
		}
		add(optionName(id), cv, sv, allowed)
	})
}

// diffResponse records what the proxy changed in a response: sm is the
// response it received in sframe, cm the one it sent the client in
// cframe.
func (t *Tracker) diffResponse(up, d *hop, sm, cm *decode.Message, sframe, cframe int) {
	add := func(field, client, server, allowed string) {
		if len(d.diffs) < maxDiffs {
			d.diffs = append(d.diffs, Diff{Dir: "response", Field: field, Client: client, Server: server,
				ClientFrame: cframe, ServerFrame: sframe, Proxy: up.to, Allowed: allowed})
		} else {
			t.stats.DiffsOmitted++
		}
	}
	codeAllowed := ""
	switch {
	case cm.Code.Class() == 5, proxyOwnError(cm.Code):
		// The proxy's own 5.02, 5.04, or a 4.xx about itself (seed
		// 2.1.1.1).
		codeAllowed = "proxy-error"
	case sm.Code == decode.CodeValid && cm.Code == decode.CodeContent:
		codeAllowed = "etag-validation" // served from the cache the 2.03 validated
	}
	if sm.Code != cm.Code {
		add("code", codeName(cm.Code), codeName(sm.Code), codeAllowed)
	}
	if codeAllowed != "" {
		return // a response of the proxy's own: its payload and options are too
	}
	if !blockwise(sm) && !blockwise(cm) && !bytes.Equal(sm.Payload, cm.Payload) {
		field := "payload"
		if sm.HasOption(decode.OptOSCORE) {
			field = "ciphertext"
		}
		add(field, fmtBytes(cm.Payload), fmtBytes(sm.Payload), "")
	}
	t.diffOptions(cm, sm, func(id decode.OptionID, cv, sv string) {
		allowed := ""
		if id == decode.OptMaxAge {
			c, _ := cm.UintOption(decode.OptMaxAge)
			s, ok := sm.UintOption(decode.OptMaxAge)
			if !ok {
				s = 60 // RFC 7252 section 5.10.5
			}
			if c <= s {
				allowed = "max-age-reduced"
			}
		}
		if id == decode.OptETag && sm.Code == decode.CodeValid {
			allowed = "etag-validation"
		}
		add(optionName(id), cv, sv, allowed)
	})
}

// diffOptions calls f for every option other than hopOption whose values
// differ between the client-leg message c and the server-leg message s,
// with both values formatted ("" where absent).
func (t *Tracker) diffOptions(c, s *decode.Message, f func(id decode.OptionID, cv, sv string)) {
	var done [8]decode.OptionID
	nd := 0
	seen := func(id decode.OptionID) bool {
		for _, d := range done[:nd] {
			if d == id {
				return true
			}
		}
		if nd < len(done) {
			done[nd] = id
			nd++
		}
		return false
	}
	for _, pass := range [2]*decode.Message{c, s} {
		for i := range pass.Options {
			id := pass.Options[i].ID
			if hopOption(id) || seen(id) {
				continue
			}
			cv, sv := optionValues(c, id), optionValues(s, id)
			if cv != sv {
				f(id, cv, sv)
			}
		}
	}
}

// optionValues formats every value of option id in m, joined by ", ".
func optionValues(m *decode.Message, id decode.OptionID) string {
	var b []byte
	for i := range m.Options {
		o := &m.Options[i]
		if o.ID != id {
			continue
		}
		if len(b) > 0 {
			b = append(b, ", "...)
		}
		format := decode.FormatOpaque
		if d, ok := decode.LookupOption(id); ok {
			format = d.Format
		}
		switch format {
		case decode.FormatUint:
			b = strconv.AppendUint(b, uint64(decode.DecodeUint(o.Value)), 10)
		case decode.FormatEmpty:
			b = append(b, "(empty)"...)
		case decode.FormatString:
			b = append(b, fmtBytes(o.Value)...)
		default:
			b = appendHexCut(b, o.Value)
		}
	}
	return string(b)
}

func optionName(id decode.OptionID) string {
	if d, ok := decode.LookupOption(id); ok {
		return d.Name
	}
	return "Option(" + strconv.Itoa(int(id)) + ")"
}

func codeName(c decode.Code) string {
	if n := c.Name(); n != "" {
		return c.String() + " " + n
	}
	return c.String()
}

// fmtBytes formats a payload or string value: quoted text when it is
// printable UTF-8, hex otherwise; cut after maxDiffValue bytes with the
// full length said.
func fmtBytes(b []byte) string {
	if len(b) == 0 {
		return `""`
	}
	cut := b
	if len(cut) > maxDiffValue {
		cut = cut[:maxDiffValue]
	}
	if printable(cut) {
		s := strconv.Quote(string(cut))
		if len(cut) < len(b) {
			s += "... (" + strconv.Itoa(len(b)) + " bytes)"
		}
		return s
	}
	return string(appendHexCut(nil, b))
}

func appendHexCut(dst, b []byte) []byte {
	const digits = "0123456789abcdef"
	cut := b
	if len(cut) > maxDiffValue {
		cut = cut[:maxDiffValue]
	}
	dst = append(dst, "0x"...)
	for _, c := range cut {
		dst = append(dst, digits[c>>4], digits[c&15])
	}
	if len(cut) < len(b) {
		dst = append(dst, "... ("...)
		dst = strconv.AppendInt(dst, int64(len(b)), 10)
		dst = append(dst, " bytes)"...)
	}
	return dst
}

func printable(b []byte) bool {
	for len(b) > 0 {
		r, n := utf8.DecodeRune(b)
		if r == utf8.RuneError && n <= 1 || r < 0x20 && r != '\n' && r != '\t' || r == 0x7f {
			return false
		}
		b = b[n:]
	}
	return true
}

func firstFrame(f []uint32) int {
	if len(f) == 0 {
		return 0
	}
	return int(f[0])
}

// unrelayed returns the earliest response that a leg after h received
// and that no response to h's client relayed yet, or nil.
func (t *Tracker) unrelayed(h *hop, now int64) *recentResp {
	return t.downResp(h, now, func(r *recentResp) bool {
		d := t.hop(r.hop)
		return len(r.raw) > 0 && d != nil && !d.ambiguous
	})
}

// downResp returns the earliest response for which ok is true among the
// unrelayed ones that legs after h received within the residence bound.
func (t *Tracker) downResp(h *hop, now int64, ok func(*recentResp) bool) *recentResp {
	var best *recentResp
	self := h.ref()
	for _, d := range h.x.hops {
		if d.up != self || d.recent == nil {
			continue
		}
		for i := range d.recent {
			r := &d.recent[i]
			if r.used || r.t > now || now-r.t > t.maxRes || best != nil && r.t >= best.t || !ok(r) {
				continue
			}
			best = r
		}
	}
	return best
}

// sameResp confirms on the bytes that the remembered response r carries
// the content of m. The bytes are on the leg that received r, as long as
// it still holds them.
func (t *Tracker) sameResp(r respRec, m *decode.Message) bool {
	d := t.hop(r.hop)
	if d == nil || d.recent == nil {
		return false
	}
	for i := range d.recent {
		rr := &d.recent[i]
		if rr.frame == r.frame && rr.key == r.key && len(rr.raw) >= 4 {
			// sameContent on the message as decoded when it came.
			payload, osc := rr.content()
			mo, _ := m.Option(decode.OptOSCORE)
			return rr.code == m.Code && bytes.Equal(payload, m.Payload) && bytes.Equal(osc, mo)
		}
	}
	return false
}

// proxyOwnError reports whether a 4.xx code is one a proxy may answer
// with about itself: an option it cannot handle, a size or rate limit of
// its own, its own access control.
func proxyOwnError(c decode.Code) bool {
	switch c {
	case decode.CodeUnauthorized, decode.CodeBadOption, decode.CodeRequestEntityTooLarge, decode.CodeTooManyRequests:
		return true
	}
	return false
}

// stripsPrefix reports whether the canonical resource server is client
// with one or more leading path segments removed (and something left).
func stripsPrefix(client, server []byte) bool {
	return len(server) > 0 && len(server) < len(client) && server[0] == markPath && bytes.HasSuffix(client, server)
}

// prefixUpstream links a request sent from an endpoint, or an address, a
// proxy was confirmed to send from, when nothing else links it: a reverse proxy
// behind another front address of the same proxy process, which maps its
// namespace by removing a path prefix. The candidate must be fresh,
// unforwarded and unanswered, with the same method and payload, and the
// resource with leading segments removed; exactly one may qualify.
func (t *Tracker) prefixUpstream(p *Packet, v *view, now int64) (*hop, evidence) {
	_, known := t.outEPs[p.Src]
	if !known && len(t.outOf[p.Src.Addr()]) == 0 || v.hasOSCORE || len(v.path) == 0 {
		// Neither the endpoint nor the address was seen sending on for
		// a proxy.
		return nil, 0
	}
	var best *hop
	n := 0
	for i := range t.dstTab {
		for _, r := range t.dstTab[i] {
			u := t.hop(r)
			if u == nil || u == best || u.kind != kindRequest || u.oscore || u.proxyHint || u.main != nil ||
				u.from == p.Src || u.to == p.Dst || u.downs > 0 || u.hasResp && !u.rdMore().b1.open() ||
				now < u.firstReq || now-u.firstReq > t.freshWindow(u.to) || u.method != v.code ||
				!stripsPrefix(u.path, v.path) || len(u.x.hops) >= t.cfg.MaxLegs {
				continue
			}
			um := t.decodeRaw(u.reqRaw)
			if um == nil || !bytes.Equal(um.Payload, v.payload) {
				continue
			}
			best = u
			n++
		}
	}
	if n != 1 {
		return nil, 0
	}
	ev := evMethod | evURISuffix | evTiming | evProxyOut
	if len(v.payload) > 0 {
		ev |= evPayload
	}
	return best, ev
}

// sameAfterToken reports whether two messages carry the same code, options
// and payload byte for byte (type, Message ID and token may differ): then
// no option can differ either.
func sameAfterToken(a, b []byte) bool {
	if len(a) < 4 || len(b) < 4 || a[1] != b[1] {
		return false
	}
	ta, tb := 4+int(a[0]&0x0f), 4+int(b[0]&0x0f)
	if a[0]&0x0f > 8 || b[0]&0x0f > 8 || len(a) < ta || len(b) < tb {
		return false // RFC 8974 extended token lengths: decode instead
	}
	return bytes.Equal(a[ta:], b[tb:])
}
