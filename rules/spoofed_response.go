package rules

import (
	"strings"
	"time"

	"github.com/coapaudit/coapaudit/flows"
)

// SpoofedResponse reports responses on a proxy's client leg that no
// response on the server leg could have become.
var SpoofedResponse = &Rule{
	ID: "spoofed-response",
	Doc: `a proxy's client got a response that the server never sent

Every response on the client leg of a proxied exchange is matched, by
code and payload (for OSCORE the ciphertext, which a proxy relays
unchanged), against the responses the proxy received from the server
before it. A response that matches none was made up or replayed by the
proxy. For OSCORE that is proven: a proxy cannot produce a protected
response. For unprotected traffic it is only possible: the proxy may have
answered from a cache, which the forwarding profile forbids (FR1.1) and
the caching profile allows. Error responses of class 5 (5.02 Bad Gateway,
5.04 Gateway Timeout, ...) that a proxy sends on its own are the seed's
exception and not reported. An exchange whose proxy was never seen
forwarding anything is held until the end of the capture: without the
proxy's server side the capture cannot tell.`,
	Threat:   T1,
	Severity: High,
	Seed:     "2.1.1.1",
	Requires: RequiresExchanges | RequiresProxy,
	Run: func(p *Pass) error {
		q := &holdQueue{max: p.Config.MaxState}
		decide := func(x *flows.Exchange, final bool) bool { return spoofedResponse(p, x, final) }
		p.OnExchange(func(x *flows.Exchange) {
			q.retry(p, false, time.Time{}, decide)
			if !x.Proxy.IsValid() || len(x.Legs) == 0 || len(x.Legs[0].ResponseFrames) == 0 || x.Status == flows.Unmatched {
				return
			}
			if !decide(x, false) {
				if old := q.push(p, x); old != nil {
					decide(old, true)
				}
			}
		})
		p.OnFlush(func(before time.Time) { q.retry(p, false, before.Add(-flows.ExchangeLifetime), decide) })
		p.OnClose(func() { q.retry(p, true, time.Time{}, decide) })
		return nil
	},
}

// spoofedResponse decides x; it returns false to hold x for knowledge
// about its proxy (never when final).
func spoofedResponse(p *Pass, x *flows.Exchange, final bool) bool {
	c := &x.Legs[0]
	legs := serverLegs(x, false)
	type resp struct {
		content uint64
		t       time.Time
	}
	var server []resp
	var serverFrames []int
	for _, i := range legs {
		l := &x.Legs[i]
		for _, n := range l.ResponseFrames {
			f, ok := p.Frame(n, l.To, l.From)
			if !ok {
				return true // the server's responses are forgotten: nothing to compare
			}
			server = append(server, resp{f.Content, f.Time})
			serverFrames = append(serverFrames, n)
		}
	}
	var cached string
	for _, l := range x.Links {
		switch l.Kind {
		case linkFedBy:
			if len(legs) == 0 {
				return true // notifications of an observation the proxy shares
			}
		case linkCachedFrom:
			cached = l.Exchange
		}
	}

	var spoofed []FrameInfo
	seen := make(map[uint64]bool, len(c.ResponseFrames))
	for _, n := range c.ResponseFrames {
		f, ok := p.Frame(n, c.To, c.From)
		if !ok {
			return true
		}
		if seen[f.Content] {
			continue // a copy: response-flood's business
		}
		seen[f.Content] = true
		relayed := false
		for _, s := range server {
			if s.content == f.Content && !s.t.After(f.Time) {
				relayed = true
				break
			}
		}
		if relayed || !f.Has(FrameOSCORE) && f.Code.Class() == 5 {
			continue
		}
		spoofed = append(spoofed, f)
	}
	if len(spoofed) == 0 {
		return true
	}
	known := len(legs) > 0 || p.Forwarding(x.Proxy)
	if !known && !final {
		return false
	}

	protected, unverified := false, false
	for _, f := range spoofed {
		if f.Has(FrameOSCORE) {
			protected = true
			if p.verifyFailed(&f, c.To, c.From) {
				unverified = true
			}
		}
	}
	first := spoofed[0]
	frames := []int{}
	if len(c.RequestFrames) > 0 {
		frames = append(frames, c.RequestFrames[0])
	}
	var nums []int
	for _, f := range spoofed {
		nums = append(nums, f.Frame)
	}
	frames = append(frames, nums...)
	frames = append(frames, capFrames(serverFrames, 8)...)

	var b strings.Builder
	fnd := Finding{Exchange: x.ID, Time: spoofed[len(spoofed)-1].Time}
	switch {
	case protected && known:
		fnd.Severity, fnd.Certainty = High, Did
		b.WriteString("Proxy " + x.Proxy.String() + " did send the client a response to " + what(x) +
			" (" + frameList(nums) + ") that the server never sent: ")
		switch {
		case unverified:
			b.WriteString("it fails OSCORE verification.")
		case cached != "":
			b.WriteString("it replays a protected response of exchange " + cached + ".")
		default:
			b.WriteString("a proxy cannot produce an OSCORE-protected response.")
		}
	case protected:
		fnd.Severity, fnd.Certainty = Low, Could
		b.WriteString("Proxy " + x.Proxy.String() + " answered " + what(x) + " with a protected response (" +
			frameList(nums) + ") without a server leg in the capture: it could have forged it, or the capture misses the proxy's server side.")
	default:
		fnd.Certainty = Could
		prof := p.Profile(x)
		switch {
		case prof == Caching && (first.Code == 0x45 || first.Code == 0x43):
			fnd.Severity = Info
		case !known || first.Code.Class() == 4:
			fnd.Severity = Low
		default:
			fnd.Severity = Medium
		}
		b.WriteString("Proxy " + x.Proxy.String() + " answered " + what(x) + " with " + first.Code.String() +
			" (" + frameList(nums) + ") that matches no response of the server: it could have spoofed it")
		if prof == Caching {
			b.WriteString(" or served it from its cache")
		}
		b.WriteString(", and without end-to-end protection the client could not tell.")
	}
	fnd.Frames = frames
	fnd.Message = b.String()
	p.Report(fnd)
	return true
}
