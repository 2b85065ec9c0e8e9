package rules

import (
	"github.com/coapaudit/coapaudit/decode"
	"github.com/coapaudit/coapaudit/flows"
	"net/netip"
)

// Unauthenticated reports proxied exchanges without end-to-end
// authenticity.
var Unauthenticated = &Rule{
	ID: "no-e2e-authenticity",
	Doc: `a proxy could change requests and responses unnoticed

An exchange through a proxy with neither OSCORE nor DTLS end to end gives
the server no proof that the request is the client's (A1.1 to A1.5,
A2.1, A2.2) and the client none that the response is the server's and
answers its request (A1.6 to A1.10, A2.3 to A2.6): the proxy could alter,
forge or replay either, and no endpoint would notice (seed 2.1.1.1 and
2.1.2.1 require both to be mitigated). Hop-by-hop DTLS does not help
against the proxy itself (dtls-hop-by-hop reports those sessions). One
finding per proxy and server.`,
	Threat:   T1,
	Severity: Medium,
	Seed:     "2.2.1.4",
	Requires: RequiresExchanges | RequiresProxy,
	Run: func(p *Pass) error {
		seen := newBoundedSet[[2]netip.AddrPort](p.Config.MaxState) // proxy, server
		p.OnExchange(func(x *flows.Exchange) {
			if x.Protected != "none" || !x.Proxy.IsValid() || !x.Server.IsValid() || x.Method == "" || x.Method == "PING" || len(x.Legs) == 0 {
				return
			}
			c := &x.Legs[0]
			if len(c.RequestFrames) == 0 {
				return
			}
			prof := p.Profile(x)
			// What the profile asks to be authentic and the traffic shows.
			var opts OptionSet
			for _, n := range capFrames(c.RequestFrames, 1) {
				if f, ok := p.Frame(n, c.From, c.To); ok {
					opts = opts.Union(f.Options.Filter(func(id decode.OptionID) bool { return prof.AuthenticOption(id, true) }))
				}
			}
			if !once(p, seen, [2]netip.AddrPort{x.Proxy, x.Server}) {
				return
			}
			frames := []int{c.RequestFrames[0]}
			if len(c.ResponseFrames) > 0 {
				frames = append(frames, c.ResponseFrames[0])
			}
			for i := range x.Legs {
				if !serverLeg(x, i, true) {
					continue
				}
				l := &x.Legs[i]
				frames = append(frames, capFrames(l.RequestFrames, 1)...)
				frames = append(frames, capFrames(l.ResponseFrames, 1)...)
				break
			}
			parts := andList(append(append([]string{"the method"}, opts.Names()...), "the payload", "the URI"))
			server := addrString(x.Server)
			p.Report(Finding{
				Severity: Medium, Certainty: Could, Exchange: x.ID, Frames: frames, Seed: prof.AuthenticitySeed(), Time: x.End,
				Message: "Proxy " + x.Proxy.String() + " could change requests from " + x.Client.String() + " to " + server +
					" (" + parts + ") and forge or replay the responses unnoticed, as in " + what(x) +
					": nothing protects them end to end (" + prof.String() + " profile).",
			})
		})
		return nil
	},
}
