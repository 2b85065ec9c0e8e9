package rules

import (
	"slices"
	"time"

	"github.com/coapaudit/coapaudit/flows"
)

// duplicateGap is how close two copies of a request must be to be a
// duplicate rather than a retransmission: the exchange tracker's
// MinRetransmitGap (500 ms, a quarter of ACK_TIMEOUT, by default).
func duplicateGap(p *Pass) time.Duration { return p.Config.Flows.MinRetransmitGap }

// RequestFlood reports request copies a proxy sent to a server that the
// client did not send.
var RequestFlood = &Rule{
	ID: "request-flood",
	Doc: `a proxy sent a server more copies of a request than the client sent it

Copies of a request (same Message ID on the same leg) that follow the
previous one within 500 ms are no retransmission (ACK_TIMEOUT is at least
2 s). When the server leg has more of them than the client leg, the proxy
floods the server (seed 2.1.2.4: a server SHOULD defend against it). The
proxy's own retransmissions, and replays with a new Message ID (reported
by oscore-replay), and copies sent after the answer (replays) are not
counted. Legs on reliable transports (TCP, TLS, WebSockets) have no
Message IDs to tell a copy from a new request, and no retransmissions:
their requests are not counted here (request-replay judges copies sent
after the answer).`,
	Threat:   T4,
	Severity: Medium,
	Seed:     "2.1.2.4",
	Requires: RequiresExchanges | RequiresProxy,
	Run: func(p *Pass) error {
		p.OnExchange(func(x *flows.Exchange) {
			if len(x.Legs) < 2 {
				return
			}
			cd, ok := duplicateRequests(p, &x.Legs[0])
			if !ok {
				return
			}
			for i := range x.Legs {
				if !serverLeg(x, i, true) {
					continue
				}
				l := &x.Legs[i]
				sd, ok := duplicateRequests(p, l)
				if !ok || len(sd) <= len(cd) {
					continue
				}
				extra := sd[len(cd):]
				frames := append([]int{x.Legs[0].RequestFrames[0], l.RequestFrames[0]}, capFrames(extra, 32)...)
				fnd := Finding{
					Severity: Medium, Certainty: Did, Exchange: x.ID, Frames: frames,
					Message: "Proxy " + l.From.String() + " did send server " + l.To.String() + " " + plural(len(extra), "extra copy") +
						" of " + what(x) + " within " + seconds(duplicateGap(p)) + " (" + cappedFrames(extra, 8) +
						") that the client did not send.",
				}
				if f, ok := p.Frame(extra[len(extra)-1], l.From, l.To); ok {
					fnd.Time = f.Time
				}
				p.Report(fnd)
			}
		})
		return nil
	},
}

// duplicateRequests returns the request frames of l that copy an earlier
// one within duplicateGap, before the request was answered: a copy sent
// after the answer is a replay.
func duplicateRequests(p *Pass, l *flows.Leg) ([]int, bool) {
	if len(l.RequestFrames) < 2 || reliableLeg(l) {
		return nil, true
	}
	answered := l.ResponseTime
	fs := make([]FrameInfo, 0, len(l.RequestFrames))
	for _, n := range l.RequestFrames {
		f, ok := p.Frame(n, l.From, l.To)
		if !ok {
			return nil, false
		}
		fs = append(fs, f)
	}
	slices.SortStableFunc(fs, func(a, b FrameInfo) int { return a.Time.Compare(b.Time) })
	var out []int
	for i := 1; i < len(fs); i++ {
		for j := i - 1; j >= 0; j-- {
			if fs[j].MID == fs[i].MID {
				late := !answered.IsZero() && fs[i].Time.After(answered)
				if fs[i].Time.Sub(fs[j].Time) < duplicateGap(p) && !late && !fs[i].Has(FrameReplay) {
					out = append(out, fs[i].Frame)
				}
				break
			}
		}
	}
	return out, true
}
