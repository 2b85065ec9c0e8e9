package rules

import (
	"net/netip"
	"strconv"

	"github.com/coapaudit/coapaudit/decode"
	"github.com/coapaudit/coapaudit/flows"
)

// CacheAllowed reports cacheable responses through a forwarding proxy
// (FR1.1).
var CacheAllowed = &Rule{
	ID: "cache-allowed",
	Doc: `a response through a forwarding proxy may be cached (FR1.1)

In the forwarding profile a response is bound to one request and must not
be reused: the server sets Max-Age 0 (seed 2.2.1.2, FR1.1; RFC 7252
5.10.5). A cacheable response (2.05, 2.03 or an error, by its outer code:
an OSCORE 2.04 is not cacheable) without Max-Age, which means 60 s, or
with a Max-Age above 0 lets the proxy serve it again to other requests.
Checked on the responses the proxy received from the server (the client
leg's when there is no server leg), under the forwarding profile. One
finding per proxy, method and URI.`,
	Threat:   FR11,
	Severity: Low,
	Seed:     "2.2.1.2",
	Requires: RequiresExchanges | RequiresProxy,
	Run: func(p *Pass) error {
		type seenKey struct {
			proxy       netip.AddrPort
			method, uri string
		}
		seen := newBoundedSet[seenKey](p.Config.MaxState)
		p.OnExchange(func(x *flows.Exchange) {
			if !x.Proxy.IsValid() || len(x.Legs) == 0 || p.Profile(x) != Forwarding {
				return
			}
			legs := serverLegs(x, true)
			if len(legs) == 0 {
				legs = []int{0}
			}
			for _, i := range legs {
				l := &x.Legs[i]
				for _, n := range l.ResponseFrames {
					f, ok := p.Frame(n, l.To, l.From)
					if !ok || !cacheable(f.Code) || f.Has(FrameMaxAge) && f.MaxAge == 0 {
						continue
					}
					if !once(p, seen, seenKey{x.Proxy, x.Method, x.URI}) {
						return
					}
					age := "has no Max-Age (so 60 s)"
					if f.Has(FrameMaxAge) {
						age = "has Max-Age " + strconv.FormatUint(uint64(f.MaxAge), 10) + " s"
					}
					frames := []int{n}
					if len(x.Legs[0].RequestFrames) > 0 {
						frames = append(frames, x.Legs[0].RequestFrames[0])
					}
					p.Report(Finding{
						Severity: Low, Certainty: Could, Exchange: x.ID, Frames: frames, Time: f.Time,
						Message: "The " + f.Code.String() + " response to " + what(x) + " (frame " + strconv.Itoa(n) + ") " + age +
							": proxy " + x.Proxy.String() + " could cache it and serve it to other requests, which forwarding forbids (FR1.1).",
					})
					return
				}
			}
		})
		return nil
	},
}

// cacheable reports whether a response code is cacheable (RFC 7252
// section 5.6 and 5.9): 2.05 Content, 2.03 Valid and the error codes.
func cacheable(c decode.Code) bool {
	return c == decode.CodeContent || c == decode.CodeValid || c.Class() == 4 || c.Class() == 5
}

// ProxyURIPath reports Proxy-Uri options that carry a path or query
// (FR1.2).
var ProxyURIPath = &Rule{
	ID: "proxy-uri-path",
	Doc: `a Proxy-Uri carries the path or query (FR1.2)

In the forwarding profile the proxy needs only the scheme, host and port
of the target; a Proxy-Uri that carries the path or query tells it which
resource is requested (seed 2.2.1.2, FR1.2: use Proxy-Scheme and Uri-Host
instead, or, with OSCORE, let the path travel protected as Uri-Path). An
OSCORE request with such a Proxy-Uri is rated medium, as it undoes what
OSCORE hides; a plain request low. Not checked under the caching and
pubsub profiles, where the proxy reads the path anyway. One finding per
proxy and URI.`,
	Threat:   FR12,
	Severity: Medium,
	Seed:     "2.2.1.2",
	Run: func(p *Pass) error {
		if p.Config.Profile == Caching || p.Config.Profile == PubSub {
			return nil
		}
		seen := newBoundedSet[string](p.Config.MaxState)
		var key []byte // destination "|" Proxy-Uri
		p.OnPacket(func(pk *Packet) {
			m := pk.CoAP
			if m == nil || !m.Code.IsRequest() {
				return
			}
			v, ok := m.Option(decode.OptProxyURI)
			if !ok || !uriHasPath(v) {
				return
			}
			key = append(append(pk.Dst.AppendTo(key[:0]), '|'), v...)
			if hasBytes(seen, key) || !once(p, seen, string(key)) {
				return
			}
			sev, prot := Low, ""
			if pk.OSCORE != nil {
				sev, prot = Medium, " although the request is OSCORE-protected"
			}
			p.Report(Finding{
				Severity: sev, Certainty: Could, Frames: []int{pk.Frame}, Time: pk.Time,
				Message: "The request in frame " + strconv.Itoa(pk.Frame) + " from " + pk.Src.String() + " carries the path or query in Proxy-Uri " +
					strconv.Quote(string(v)) + prot + ": proxy " + pk.Dst.String() + " could read which resource is requested (FR1.2).",
			})
		})
		return nil
	},
}
