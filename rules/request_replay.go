package rules

import (
	"net/netip"
	"slices"
	"strconv"
	"time"

	"github.com/coapaudit/coapaudit/flows"
)

// RequestReplay reports requests a proxy sent a server again after the
// server had answered them, with no retransmission from the client to
// explain it.
var RequestReplay = &Rule{
	ID: "request-replay",
	Doc: `a proxy sent a server a request again after the server had answered it

A copy of a request (same Message ID, same bytes) that a proxy sends on
after the server answered it, while the client sent no copy the proxy
could be passing on, is a replay of the proxy's own. A server that keeps
the Message ID deduplicates it within EXCHANGE_LIFETIME (RFC 7252 section
4.5); later, or at a server that does not, an unsafe request acts twice.
OSCORE replays with a new Message ID are oscore-replay's business.

A reliable transport (TCP, TLS, WebSockets) has no Message IDs and never
retransmits, so there a copy is a request with the same token, code and
payload that the proxy sends the server on the same connection after the
answer, in an exchange of its own, while the client sent no request
with its token after the answer that the proxy could be passing on.
Forwarded requests and the clients' last requests are remembered up to
Config.MaxState each, the oldest forgotten first.`,
	Threat:   Replay,
	Severity: Medium,
	Seed:     "2.1.2.1",
	Requires: RequiresExchanges | RequiresProxy,
	Run: func(p *Pass) error {
		rs := &reliableReplays{sent: map[reliableKey]reliableSent{}, asked: map[reliableKey]int64{}, max: p.Config.MaxState}
		p.OnPacket(func(pk *Packet) {
			if pk.CoAP != nil && pk.Err == nil && pk.CoAP.Code.IsRequest() {
				rs.ask(p, reliableKey{pk.Src, pk.Dst, string(pk.CoAP.Token), 0}, pk.Time.UnixNano())
			}
		})
		p.OnExchange(func(x *flows.Exchange) {
			for _, i := range serverLegs(x, true) {
				requestReplay(p, x, &x.Legs[i])
			}
			rs.exchange(p, x)
		})
		return nil
	},
}

// reliableKey identifies a request on a reliable connection: the
// endpoints, the token and the content (code and payload).
type reliableKey struct {
	from, to netip.AddrPort
	token    string
	content  uint64
}

// reliableSent is a request a proxy forwarded on a reliable connection and
// the server answered; or a lone request from that endpoint, which may be
// seen first.
type reliableSent struct {
	x                           *flows.Exchange // the forwarded exchange; nil for a lone request
	frames                      []int           // client request, server request, answer; or the lone request
	answered, sent, clientAfter time.Time       // clientAfter: the client's last request
	what                        string
	client                      reliableKey // the client's endpoints and token (content 0)
}

type reliableReplays struct {
	sent  map[reliableKey]reliableSent
	order keyQueue[reliableKey]
	// asked is when each client (endpoints and token) last sent a
	// request: one sent again after the exchange was over is not in it.
	asked      map[reliableKey]int64
	askedOrder keyQueue[reliableKey]
	max        int
}

func (rs *reliableReplays) ask(p *Pass, k reliableKey, ns int64) {
	if _, ok := rs.asked[k]; !ok {
		if old, full := rs.askedOrder.push(k, rs.max); full {
			delete(rs.asked, old)
			p.Drop(1)
		}
	}
	rs.asked[k] = ns
}

func (rs *reliableReplays) remember(p *Pass, k reliableKey, s reliableSent) {
	if _, ok := rs.sent[k]; !ok {
		if old, full := rs.order.push(k, rs.max); full {
			delete(rs.sent, old)
			p.Drop(1)
		}
	}
	rs.sent[k] = s
}

// exchange looks at the reliable legs of x: a forwarded request is
// remembered, and a lone request on a connection that copies one after
// its answer is a replay.
func (rs *reliableReplays) exchange(p *Pass, x *flows.Exchange) {
	if x.Proxy.IsValid() && len(x.Legs) >= 2 {
		c := &x.Legs[0]
		for _, i := range serverLegs(x, true) {
			l := &x.Legs[i]
			if !reliableLeg(l) || len(l.RequestFrames) == 0 || len(l.ResponseFrames) == 0 || len(c.RequestFrames) == 0 {
				continue
			}
			req, ok1 := p.Frame(l.RequestFrames[0], l.From, l.To)
			ans, ok2 := p.Frame(l.ResponseFrames[0], l.To, l.From)
			last, ok3 := p.Frame(c.RequestFrames[len(c.RequestFrames)-1], c.From, c.To)
			if !ok1 || !ok2 || !ok3 {
				continue
			}
			k := reliableKey{l.From, l.To, string(l.Token), req.Content}
			s := reliableSent{x: x, frames: []int{c.RequestFrames[0], req.Frame, ans.Frame}, answered: ans.Time, clientAfter: last.Time, what: what(x),
				client: reliableKey{c.From, c.To, string(c.Token), 0}}
			if lone, ok := rs.sent[k]; ok && lone.x == nil {
				rs.report(p, s, lone)
			}
			rs.remember(p, k, s)
		}
		return
	}
	if len(x.Legs) != 1 || x.Proxy.IsValid() {
		return
	}
	l := &x.Legs[0]
	if !reliableLeg(l) || len(l.RequestFrames) == 0 {
		return
	}
	req, ok := p.Frame(l.RequestFrames[0], l.From, l.To)
	if !ok {
		return
	}
	k := reliableKey{l.From, l.To, string(l.Token), req.Content}
	lone := reliableSent{frames: []int{req.Frame}, sent: req.Time}
	if s, ok := rs.sent[k]; ok && s.x != nil {
		rs.report(p, s, lone)
		return
	}
	rs.remember(p, k, lone)
}

// report reports lone as a replay of s when it came after s's answer and
// after the client's last request.
func (rs *reliableReplays) report(p *Pass, s, lone reliableSent) {
	if !lone.sent.After(s.answered) || !lone.sent.After(s.clientAfter) {
		return
	}
	if t, ok := rs.asked[s.client]; ok && t > s.answered.UnixNano() && t <= lone.sent.UnixNano() {
		return // the client asked again: the proxy passes that on
	}
	x := s.x
	l := &x.Legs[1]
	for i := range x.Legs[1:] {
		if slices.Contains(x.Legs[i+1].RequestFrames, s.frames[1]) {
			l = &x.Legs[i+1]
		}
	}
	sev := Medium
	if !unsafeMethod(x.Method) {
		sev = Low
	}
	frames := append(slices.Clone(s.frames), lone.frames...)
	slices.Sort(frames)
	p.Report(Finding{
		Exchange: x.ID, Frames: frames, Severity: sev, Certainty: Did, Time: lone.sent,
		Message: "Proxy endpoint " + l.From.String() + " did replay " + s.what + " to " + l.To.String() + " over " +
			transportName(l.Transport) + " (frame " + strconv.Itoa(lone.frames[0]) + ") after the server had answered it (frame " +
			strconv.Itoa(s.frames[2]) + "), with no request from the client to pass on and no retransmission on that transport.",
	})
}

func requestReplay(p *Pass, x *flows.Exchange, l *flows.Leg) {
	if l.Replays == 0 || len(l.ResponseFrames) == 0 || len(l.RequestFrames) < 2 {
		return
	}
	answer, ok := p.Frame(l.ResponseFrames[0], l.To, l.From)
	if !ok {
		return
	}
	if first, ok := p.Frame(l.RequestFrames[0], l.From, l.To); !ok || first.Has(FrameOSCORE) {
		return // oscore-replay's business
	}
	var copies []int
	for _, n := range l.RequestFrames[1:] {
		if f, ok := p.Frame(n, l.From, l.To); ok && f.Time.After(answer.Time) {
			copies = append(copies, n)
		}
	}
	if len(copies) == 0 {
		return
	}
	last, _ := p.Frame(copies[len(copies)-1], l.From, l.To)
	frames := append([]int{l.RequestFrames[0], answer.Frame}, capFrames(copies, 8)...)
	if len(x.Legs[0].RequestFrames) > 0 {
		frames = append(frames, x.Legs[0].RequestFrames[0])
	}
	sev := Medium
	if !unsafeMethod(x.Method) {
		sev = Low
	}
	p.Report(Finding{
		Exchange: x.ID, Frames: frames, Severity: sev, Certainty: Did, Time: last.Time,
		Message: "Proxy endpoint " + l.From.String() + " did replay " + what(x) + " to " + l.To.String() + " (" +
			cappedFrames(copies, 8) + ") after the server had answered it (frame " + strconv.Itoa(answer.Frame) +
			"), with no retransmission from the client to pass on.",
	})
}
