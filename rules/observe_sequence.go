package rules

import (
	"time"

	"github.com/coapaudit/coapaudit/flows"
)

// ObserveSequence reports notifications delivered out of sequence.
var ObserveSequence = &Rule{
	ID: "observe-sequence",
	Doc: `a client got a notification that is not fresher than the one before

RFC 7641 section 3.4 orders notifications by their Observe value (with
wrap-around) or, 128 s apart, by arrival. A notification that is not
fresher than the latest one the client has is out of sequence (seed
A1.10, A2.6, A3.3: a response must be in sequence when observing). When
the server leg carries the same notifications in sequence, the proxy
reordered or replayed them, which is proven; otherwise the network could
have reordered them (non-confirmable notifications may arrive in any
order), so it is only possible.`,
	Threat:   T1,
	Severity: Medium,
	Seed:     "2.2.1.4",
	Requires: RequiresExchanges,
	Run: func(p *Pass) error {
		p.OnExchange(func(x *flows.Exchange) {
			if x.Observe == nil || x.Observe.Stale == 0 || len(x.Legs) == 0 {
				return
			}
			c := &x.Legs[0]
			stale, ok := staleNotifications(p, c)
			if !ok || len(stale) == 0 {
				return
			}
			serverStale, proxied := 0, false
			for i := range x.Legs {
				if !serverLeg(x, i, false) {
					continue
				}
				s, ok := staleNotifications(p, &x.Legs[i])
				if !ok {
					return
				}
				proxied = true
				serverStale += len(s)
			}
			fnd := Finding{Exchange: x.ID, Frames: capFrames(stale, 32)}
			if proxied && len(stale) > serverStale {
				fnd.Severity, fnd.Certainty = Medium, Did
				fnd.Message = "Proxy " + x.Proxy.String() + " did deliver " + plural(len(stale), "notification") + " of " + what(x) +
					" out of sequence (" + cappedFrames(stale, 8) + ") that the server sent in sequence."
			} else {
				fnd.Severity, fnd.Certainty = Low, Could
				fnd.Message = "Client " + x.Client.String() + " got " + plural(len(stale), "notification") + " of " + what(x) +
					" out of sequence (" + cappedFrames(stale, 8) + "): the network could have reordered them, or someone replayed stale ones."
			}
			p.Report(fnd)
		})
		return nil
	},
}

// staleNotifications returns the response frames of l, in time order,
// that are not fresher than the freshest before them (RFC 7641 section
// 3.4).
func staleNotifications(p *Pass, l *flows.Leg) ([]int, bool) {
	var out []int
	var v1 uint32
	var t1 time.Time
	have := false
	seen := make(map[uint64]bool, len(l.ResponseFrames))
	for _, n := range l.ResponseFrames {
		f, ok := p.Frame(n, l.To, l.From)
		if !ok {
			return nil, false
		}
		if !f.Has(FrameObserve) || seen[f.Content] {
			continue // copies are response-flood's business
		}
		seen[f.Content] = true
		v2, t2 := f.Observe, f.Time
		if have && !fresher(v1, t1, v2, t2) {
			out = append(out, n)
			continue
		}
		v1, t1, have = v2, t2, true
	}
	return out, true
}

// fresher implements the test of RFC 7641 section 3.4 for 24-bit Observe
// values.
func fresher(v1 uint32, t1 time.Time, v2 uint32, t2 time.Time) bool {
	const half = 1 << 23
	return v1 < v2 && v2-v1 < half || v1 > v2 && v1-v2 > half || t2.After(t1.Add(128*time.Second))
}
