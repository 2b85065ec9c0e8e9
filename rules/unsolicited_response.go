package rules

import (
	"cmp"
	"net/netip"
	"slices"

	"github.com/coapaudit/coapaudit/flows"
)

// floodCount is how many unsolicited responses from one sender to one
// receiver make a flood.
const floodCount = 10

// UnsolicitedResponse reports responses to no request.
var UnsolicitedResponse = &Rule{
	ID: "unsolicited-response",
	Doc: `an endpoint got responses to no request

A response whose request is nowhere in the capture is a response nobody
asked for (seed 2.1.1.4: a client rejects it, but only after spending
energy on it). Near the start of the capture (within EXCHANGE_LIFETIME)
the request may simply predate it (an observation registered before the
capture started goes on sending notifications), so such a response is
information only. The first one from each sender to each receiver is
reported; at the end of the capture a sender that sent 10 or more outside
that window is reported as a flood.`,
	Threat:   T4,
	Severity: Medium,
	Seed:     "2.1.1.4",
	Requires: RequiresExchanges,
	Run: func(p *Pass) error {
		type pair struct{ from, to netip.AddrPort }
		type count struct {
			n      int // responses
			late   int // of which in exchanges that started after the capture's first EXCHANGE_LIFETIME
			frames []int
			x      string
		}
		counts := map[pair]*count{}
		p.OnExchange(func(x *flows.Exchange) {
			if x.Status != flows.Unmatched || len(x.Legs) == 0 || len(x.Legs[0].ResponseFrames) == 0 {
				return
			}
			l := &x.Legs[0]
			k := pair{l.To, l.From}
			c := counts[k]
			if c == nil {
				if len(counts) >= p.Config.MaxState {
					p.Drop(1)
					return
				}
				c = &count{x: x.ID}
				counts[k] = c
			}
			c.n += len(l.ResponseFrames)
			if len(c.frames) < 32 {
				c.frames = append(c.frames, capFrames(l.ResponseFrames, 32-len(c.frames))...)
			}
			f, ok := p.Frame(l.ResponseFrames[0], l.To, l.From)
			if !ok {
				return
			}
			early := f.Time.Sub(p.Start()) < p.Config.Flows.ExchangeLifetime
			if !early {
				c.late += len(l.ResponseFrames)
			}
			if c.n > len(l.ResponseFrames) {
				return // already reported
			}
			fnd := Finding{Exchange: x.ID, Frames: capFrames(l.ResponseFrames, 8), Time: f.Time}
			if early {
				fnd.Severity, fnd.Certainty = Info, Could
				fnd.Message = l.To.String() + " sent " + l.From.String() + " a " + codeOf(f) + " response (" +
					cappedFrames(l.ResponseFrames, 8) + ") to no request in the capture; its request could predate the capture."
			} else {
				fnd.Severity, fnd.Certainty = Low, Did
				fnd.Message = l.To.String() + " did send " + l.From.String() + " a " + codeOf(f) + " response (" +
					cappedFrames(l.ResponseFrames, 8) + ") to no request."
			}
			p.Report(fnd)
		})
		p.OnClose(func() {
			keys := make([]pair, 0, len(counts))
			for k, c := range counts {
				if c.late >= floodCount {
					keys = append(keys, k)
				}
			}
			slices.SortFunc(keys, func(a, b pair) int {
				return cmp.Or(a.from.Compare(b.from), a.to.Compare(b.to))
			})
			for _, k := range keys {
				c := counts[k]
				p.Report(Finding{
					Severity: Medium, Certainty: Did, Frames: c.frames, Exchange: c.x,
					Message: k.from.String() + " did flood " + k.to.String() + " with " + plural(c.late, "response") + " to no request.",
				})
			}
		})
		return nil
	},
}
