package rules

import (
	"slices"

	"github.com/coapaudit/coapaudit/decode"
	"github.com/coapaudit/coapaudit/flows"
)

// ResponseFlood reports more responses to a request than the protocol
// allows.
var ResponseFlood = &Rule{
	ID: "response-flood",
	Doc: `a client got more responses to one request than the protocol allows

A response may come again only when the client sent its request again,
or as a confirmable message retransmitted until acknowledged; a request
without Observe or Block gets one response. On a reliable transport (TCP,
TLS, WebSockets) nothing is retransmitted: a copy of a response there was
sent again on purpose. Every other copy, and every
further distinct response, is a flood (seed 2.1.1.4: a client SHOULD
defend against it, as each costs it energy). When the client leg has more
of them than the server leg, the proxy added them, which is rated medium;
copies the server sent itself and the proxy relayed are rated low.`,
	Threat:   T4,
	Severity: Medium,
	Seed:     "2.1.1.4",
	Requires: RequiresExchanges,
	Run: func(p *Pass) error {
		p.OnExchange(func(x *flows.Exchange) {
			if len(x.Legs) == 0 || len(x.Legs[0].ResponseFrames) < 2 || x.Status == flows.Unmatched {
				return
			}
			single := x.Observe == nil && x.Block == nil && x.Method != "PING"
			c := &x.Legs[0]
			extra, firstCopy, ok := extraResponses(p, c, single)
			if !ok || len(extra) == 0 {
				return
			}
			serverExtra := 0
			proxied := false
			for i := range x.Legs {
				if !serverLeg(x, i, true) {
					continue
				}
				proxied = true
				e, _, ok := extraResponses(p, &x.Legs[i], single)
				if !ok {
					return
				}
				serverExtra += len(e)
			}
			frames := []int{}
			if len(c.RequestFrames) > 0 {
				frames = append(frames, c.RequestFrames[0])
			}
			frames = append(frames, firstCopy)
			frames = append(frames, capFrames(extra, 32)...)
			fnd := Finding{Exchange: x.ID, Certainty: Did, Frames: frames}
			if f, ok := p.Frame(extra[len(extra)-1], c.To, c.From); ok {
				fnd.Time = f.Time
			}
			n := plural(len(extra), "extra response")
			switch {
			case proxied && len(extra) > serverExtra:
				fnd.Severity = Medium
				fnd.Message = "Proxy " + x.Proxy.String() + " did flood client " + x.Client.String() + " with " + n +
					" to " + what(x) + " (" + cappedFrames(extra, 8) + ") that the server did not send."
			default:
				fnd.Severity = Low
				fnd.Message = addrString(c.To) + " did send client " + x.Client.String() + " " + n + " to " + what(x) +
					" (" + cappedFrames(extra, 8) + ")"
				if proxied {
					fnd.Message += ", relaying what the server sent"
				}
				fnd.Message += "."
			}
			p.Report(fnd)
		})
		return nil
	},
}

// extraResponses walks a leg's requests and responses in time order and
// returns the response frames the protocol does not allow, and the first
// frame of what they repeat. ok is false when frames are forgotten.
func extraResponses(p *Pass, l *flows.Leg, single bool) (extra []int, first int, ok bool) {
	type ev struct {
		f   FrameInfo
		req bool
	}
	evs := make([]ev, 0, len(l.RequestFrames)+len(l.ResponseFrames))
	for _, n := range l.RequestFrames {
		f, ok := p.Frame(n, l.From, l.To)
		if !ok {
			return nil, 0, false
		}
		evs = append(evs, ev{f, true})
	}
	for _, n := range l.ResponseFrames {
		f, ok := p.Frame(n, l.To, l.From)
		if !ok {
			return nil, 0, false
		}
		evs = append(evs, ev{f, false})
	}
	slices.SortStableFunc(evs, func(a, b ev) int { return a.f.Time.Compare(b.f.Time) })
	rel := reliableLeg(l)
	seen := map[uint64]int{} // content -> first frame
	allowance, distinct := 0, 0
	var reqMIDs []uint16
	for _, e := range evs {
		if e.req {
			if slices.Contains(reqMIDs, e.f.MID) {
				allowance++ // a copy of a request may be answered again
			} else {
				reqMIDs = append(reqMIDs, e.f.MID)
			}
			continue
		}
		if f0, dup := seen[e.f.Content]; dup {
			switch {
			case allowance > 0:
				allowance--
			case e.f.Type == decode.Confirmable && !rel:
				// Retransmitted until acknowledged.
			default:
				extra = append(extra, e.f.Frame)
				if first == 0 {
					first = f0
				}
			}
			continue
		}
		seen[e.f.Content] = e.f.Frame
		distinct++
		if single && distinct > 1 && e.f.Code.Class() == 2 {
			extra = append(extra, e.f.Frame)
			if first == 0 {
				first = l.ResponseFrames[0]
			}
		}
	}
	return extra, first, true
}
