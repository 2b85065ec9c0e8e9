package rules

import (
	"net/netip"
	"slices"
	"strconv"
	"strings"

	"github.com/coapaudit/coapaudit/decode"
	"github.com/coapaudit/coapaudit/flows"
)

// PlaintextExposed reports options and payloads sent in clear that the
// profile requires to be confidential.
var PlaintextExposed = &Rule{
	ID: "plaintext-exposed",
	Doc: `options and payloads the profile requires confidential travel in clear

For an exchange with neither OSCORE nor DTLS, every option and payload
that the exchange's profile requires to be confidentiality protected is
readable by the proxy, and by anyone else on the path (seed 2.1.1.5 and
2.1.2.5: eavesdropping must be mitigated). Forwarding (2.2.1.5): all
options but Proxy-Uri, Proxy-Scheme, Uri-Host, Uri-Port and those that
serve the hop (Block, Size, Hop-Limit), and the payloads, including a
path or query inside Proxy-Uri. Caching (2.2.2.5): response payloads.
Pub-sub exchanges are left to publication-in-clear. Through a proxy the
exposure is rated medium, on a direct exchange low. One finding per
proxy, server, method and URI.`,
	Threat:   T5,
	Severity: Medium,
	Seed:     "2.2.1.5",
	Requires: RequiresExchanges,
	Run: func(p *Pass) error {
		// What was reported: proxy, server, method, URI and profile.
		type seenKey struct {
			proxy, server netip.AddrPort
			method, uri   string
			prof          Profile
		}
		seen := newBoundedSet[seenKey](p.Config.MaxState)
		e := new(exposure) // one, reset for each exchange
		p.OnExchange(func(x *flows.Exchange) {
			if x.Protected != "none" || len(x.Legs) == 0 || x.Status == flows.Unmatched {
				return
			}
			prof := p.Profile(x)
			if prof == PubSub {
				return
			}
			*e = exposure{}
			e.frames = e.buf[:0]
			for i := range x.Legs {
				l := &x.Legs[i]
				if l.Replay || l.Shared != "" {
					continue
				}
				e.leg(p, prof, l)
			}
			if e.empty() {
				return
			}
			if !once(p, seen, seenKey{x.Proxy, x.Server, x.Method, x.URI, prof}) {
				return
			}
			who := "Anyone on the path between " + x.Client.String() + " and " + addrString(x.Server)
			sev := Low
			if x.Proxy.IsValid() {
				who, sev = "Proxy "+x.Proxy.String(), Medium
			}
			p.Report(Finding{
				Severity: sev, Certainty: Could, Exchange: x.ID, Frames: slices.Clone(e.frames), Seed: prof.ConfidentialitySeed(), Time: x.End,
				Message: who + " could read in clear, in " + what(x) + ": " + e.String() + " (" + prof.String() + " profile).",
			})
		})
		return nil
	},
}

// exposure collects what the messages of an exchange expose.
type exposure struct {
	reqOpts, respOpts       OptionSet
	reqPayload, respPayload int
	proxyURIPath            bool
	frames                  []int // evidence, in buf while few
	buf                     [8]int
}

func (e *exposure) empty() bool { return len(e.frames) == 0 }

// leg adds the exposures of l's messages under prof, with at most one
// evidence frame per leg and direction.
func (e *exposure) leg(p *Pass, prof Profile, l *flows.Leg) {
	for dir, frames := range [2][]int{l.RequestFrames, l.ResponseFrames} {
		req := dir == 0
		src, dst := l.From, l.To
		if !req {
			src, dst = dst, src
		}
		evidence := false
		for _, n := range frames {
			f, ok := p.Frame(n, src, dst)
			if !ok {
				continue
			}
			opts := f.Options.Filter(func(id decode.OptionID) bool { return prof.ConfidentialOption(id, req) })
			payload := 0
			if prof.ConfidentialPayload(req, false) {
				payload = f.PayloadLen
			}
			path := req && prof != Caching && f.Has(FrameProxyURIPath)
			if opts.Len() == 0 && opts.More == 0 && payload == 0 && !path {
				continue
			}
			if req {
				e.reqOpts = e.reqOpts.Union(opts)
				e.reqPayload = max(e.reqPayload, payload)
			} else {
				e.respOpts = e.respOpts.Union(opts)
				e.respPayload = max(e.respPayload, payload)
			}
			e.proxyURIPath = e.proxyURIPath || path
			if !evidence {
				e.frames = append(e.frames, n)
				evidence = true
			}
		}
	}
}

// String lists what is exposed: "the request options Uri-Path and
// Accept; the path or query in Proxy-Uri; the 2-byte request payload;
// the 10-byte response payload".
func (e *exposure) String() string {
	var parts []string
	if e.reqOpts.Len() > 0 {
		parts = append(parts, "the request "+optionWord(e.reqOpts)+" "+andList(e.reqOpts.Names()))
	}
	if e.proxyURIPath {
		parts = append(parts, "the path or query in Proxy-Uri")
	}
	if e.reqPayload > 0 {
		parts = append(parts, "the "+strconv.Itoa(e.reqPayload)+"-byte request payload")
	}
	if e.respOpts.Len() > 0 {
		parts = append(parts, "the response "+optionWord(e.respOpts)+" "+andList(e.respOpts.Names()))
	}
	if e.respPayload > 0 {
		parts = append(parts, "the "+strconv.Itoa(e.respPayload)+"-byte response payload")
	}
	return strings.Join(parts, "; ")
}

func optionWord(s OptionSet) string {
	if s.Len() == 1 {
		return "option"
	}
	return "options"
}
