package rules

import (
	"strconv"

	"github.com/coapaudit/coapaudit/decode"
	"github.com/coapaudit/coapaudit/flows"
)

// LateForward reports requests a proxy forwarded only after the client
// had retransmitted them or given up on them.
var LateForward = &Rule{
	ID: "late-forward",
	Doc: `a proxy forwarded a request after the client had retransmitted it or given up

A proxy that forwards a confirmable request only after the client sent
it again (ACK_TIMEOUT passed without the request moving on), or after
MAX_TRANSMIT_WAIT (93 s) when the client has given up, delays it (seed
2.1.1.2, A1.5: the request must have been sent recently). Forwarding after
the client gave up is rated medium: the server acts on a request nobody
waits for any more.`,
	Threat:   T2,
	Severity: Medium,
	Seed:     "2.1.1.2",
	Requires: RequiresExchanges | RequiresProxy,
	Run: func(p *Pass) error {
		p.OnExchange(func(x *flows.Exchange) {
			if len(x.Legs) < 2 || len(x.Residence) == 0 {
				return
			}
			c, s := &x.Legs[0], &x.Legs[1]
			if len(c.RequestFrames) == 0 || len(s.RequestFrames) == 0 || s.Replay || s.Shared != "" {
				return
			}
			first, ok := p.Frame(c.RequestFrames[0], c.From, c.To)
			if !ok {
				return
			}
			fwd := s.RequestTime
			wait := fwd.Sub(first.Time)
			if first.Type == decode.Confirmable && wait > flows.MaxTransmitWait {
				p.Report(Finding{
					Severity: Medium, Certainty: Did, Exchange: x.ID, Time: fwd,
					Frames: []int{c.RequestFrames[0], s.RequestFrames[0]},
					Message: "Proxy " + x.Proxy.String() + " did forward " + what(x) + " " + seconds(wait) +
						" after the client sent it (frame " + strconv.Itoa(c.RequestFrames[0]) + " in, frame " +
						strconv.Itoa(s.RequestFrames[0]) + " out), when the client had given up on it (MAX_TRANSMIT_WAIT is 93 s).",
				})
				return
			}
			// The client's first retransmission: the next request frame
			// with the same Message ID.
			for _, n := range c.RequestFrames[1:] {
				f, ok := p.Frame(n, c.From, c.To)
				if !ok || f.MID != first.MID {
					continue
				}
				if f.Time.Before(fwd) {
					p.Report(Finding{
						Severity: Low, Certainty: Did, Exchange: x.ID, Time: fwd,
						Frames: []int{c.RequestFrames[0], n, s.RequestFrames[0]},
						Message: "Proxy " + x.Proxy.String() + " did forward " + what(x) + " only after the client had retransmitted it (frames " +
							strconv.Itoa(c.RequestFrames[0]) + " and " + strconv.Itoa(n) + ", forwarded in frame " +
							strconv.Itoa(s.RequestFrames[0]) + ", " + seconds(wait) + " after the first).",
					})
				}
				return
			}
		})
		return nil
	},
}
