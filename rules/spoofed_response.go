package rules

import (
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/coapaudit/coapaudit/decode"
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
		cache := &latestResponses{newBoundedMap[latestKey, FrameInfo](p.Config.MaxState)}
		holdAndDecide(p, func(x *flows.Exchange) { cache.learn(p, x) }, func(x *flows.Exchange) bool {
			return x.Proxy.IsValid() && len(x.Legs) > 0 && len(x.Legs[0].ResponseFrames) > 0 && x.Status != flows.Unmatched
		}, nil, func(x *flows.Exchange, final bool) bool { return spoofedResponse(p, x, final, cache) })
		return nil
	},
}

// spoofedResponse decides x; it returns false to hold x for knowledge
// about its proxy (never when final).
func spoofedResponse(p *Pass, x *flows.Exchange, final bool, cache *latestResponses) bool {
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
	paired := pairedFrames(x, true)
	for _, n := range c.ResponseFrames {
		if slices.Contains(paired, n) {
			continue // relayed in a changed form: altered-response's business
		}
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
		if relayed || !f.Has(FrameOSCORE) && f.Code.Class() == 5 || f.Code == decode.CodeContinue {
			// (2.31 Continue: a re-blocking proxy acknowledges the
			// client's blocks itself.)
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
	latest, latestOK := cache.get(latestKey{x.Proxy, x.URI})
	if latestOK && latest.Content == first.Content {
		latestOK = false
	}
	// A response with this content that reached the proxy anywhere in the
	// capture forbids saying the server never sent it.
	gotAt, got := p.ResponseTo(first.Content, x.Proxy.Addr(), first.Time)
	// An exchange linked by arrival order among identical requests may
	// have lost its server leg to another: absence proves nothing there.
	got = got || x.Ambiguous
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
	case known && !got && x.Protected == "oscore" && first.Code.Class() == 2:
		// RFC 8613 section 8.3: a server answers a protected request
		// with a protected response; only errors may go unprotected.
		fnd.Severity, fnd.Certainty = High, Did
		b.WriteString("Proxy " + x.Proxy.String() + " did answer the OSCORE request " + what(x) + " with an unprotected " + first.Code.String() +
			" (" + frameList(nums) + ") that the server never sent: a server answers a protected request with a protected response, except for errors.")
	case known && !got && unsafeMethod(x.Method) && first.Code.Class() == 2 && first.Code != decode.CodeContinue:
		// (2.31 Continue acknowledges a block that a re-blocking proxy
		// collects before it sends the body on: its own, legitimately.)
		// Responses to unsafe methods are not cacheable (RFC 7252
		// section 5.9): the proxy answered for a server it never asked.
		fnd.Severity, fnd.Certainty = High, Did
		b.WriteString("Proxy " + x.Proxy.String() + " did answer " + what(x) + " with " + first.Code.String() + " (" + frameList(nums) +
			") on its own: it never forwarded the request, and a response to " + x.Method + " cannot come from a cache.")
	case !got && latestOK && latest.Time.Before(first.Time) && first.Code.Class() == 2:
		// A cache holds the newest response it got (RFC 7252 section
		// 5.6): a copy of an older one cannot be served any more.
		fnd.Severity, fnd.Certainty = High, Did
		frames = append(frames, latest.Frame)
		b.WriteString("Proxy " + x.Proxy.String() + " did send the client a response to " + what(x) + " (" + frameList(nums) +
			") that the server never sent: the last response the proxy got from the server for it (frame " + strconv.Itoa(latest.Frame) +
			") carries other content, and a cached copy would carry that one.")
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
		if n, ok := gotAt, gotAt > 0; ok {
			// Not on this exchange's server leg, but the proxy did get
			// the same response: never claim it matches none.
			fnd.Severity = min(fnd.Severity, Low)
			frames = append(frames, n)
			b.WriteString("Proxy " + x.Proxy.String() + " answered " + what(x) + " with " + first.Code.String() +
				" (" + frameList(nums) + ") that the capture does not link to a request it forwarded; a response with the same code and payload reached the proxy in frame " +
				strconv.Itoa(n) + ": it could have served that one, from its cache or relayed for another request")
		} else {
			b.WriteString("Proxy " + x.Proxy.String() + " answered " + what(x) + " with " + first.Code.String() +
				" (" + frameList(nums) + ") that matches no response of the server: it could have spoofed it")
		}
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

// latestResponses remembers, per proxy and request URI, the newest
// response the proxy received from a server: what its cache would hold.
type latestResponses struct {
	*boundedMap[latestKey, FrameInfo]
}

type latestKey struct {
	proxy netip.AddrPort
	uri   string
}

func (c *latestResponses) learn(p *Pass, x *flows.Exchange) {
	if !x.Proxy.IsValid() || x.URI == "" || x.Method != "GET" && x.Method != "FETCH" {
		return
	}
	for i := range x.Legs {
		if !serverLeg(x, i, false) {
			continue
		}
		l := &x.Legs[i]
		for _, n := range l.ResponseFrames {
			f, ok := p.Frame(n, l.To, l.From)
			if !ok || f.Code.Class() != 2 {
				continue
			}
			k := latestKey{x.Proxy, x.URI}
			if old, ok := c.get(k); ok && !old.Time.Before(f.Time) {
				continue
			}
			c.put(k, f) // full: the resource learnt first is forgotten
		}
	}
}
