package rules

import (
	"strconv"

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
OSCORE replays with a new Message ID are oscore-replay's business.`,
	Threat:   Replay,
	Severity: Medium,
	Seed:     "2.1.2.1",
	Requires: RequiresExchanges | RequiresProxy,
	Run: func(p *Pass) error {
		p.OnExchange(func(x *flows.Exchange) {
			for _, i := range serverLegs(x, true) {
				requestReplay(p, x, &x.Legs[i])
			}
		})
		return nil
	},
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
