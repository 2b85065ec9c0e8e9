package rules

import (
	"github.com/coapaudit/coapaudit/flows"
)

// SpoofedRequest reports requests a proxy sent to a server with no
// client request behind them.
var SpoofedRequest = &Rule{
	ID: "spoofed-request",
	Doc: `a server got a request from a proxy that no client had sent

An exchange that starts at an endpoint a proxy forwards from, and has no
client leg, is a request of the proxy's own. For OSCORE that proves a
forgery: a proxy cannot protect a request, so the request either fails
verification or repeats one the capture does not show (a replay the
capture shows is reported by oscore-replay). An unprotected request of
the proxy's own may be legitimate (seed 2.1.2.1: a cache validation), so
it is only possible spoofing. Exchanges are held until a proxy is seen
forwarding from their source, or until the end of the capture.`,
	Threat:   T1,
	Severity: High,
	Seed:     "2.1.2.1",
	Requires: RequiresExchanges | RequiresProxy,
	Run: func(p *Pass) error {
		holdAndDecide(p, nil, func(x *flows.Exchange) bool {
			return len(x.Legs) == 1 && !x.Proxy.IsValid() && x.Method != "" && x.Method != "PING" && len(x.Legs[0].RequestFrames) > 0
		}, firstLegOnly, func(x *flows.Exchange, final bool) bool { return spoofedRequest(p, x, final) })
		return nil
	},
}

func spoofedRequest(p *Pass, x *flows.Exchange, final bool) bool {
	l := &x.Legs[0]
	if !p.ProxySource(l.From) {
		return final // not known to be a proxy (yet)
	}
	f, ok := p.Frame(l.RequestFrames[0], l.From, l.To)
	if !ok || f.Has(FrameReplay) {
		return true // a replay is oscore-replay's business
	}
	frames := capFrames(append([]int{}, l.RequestFrames...), 8)
	frames = append(frames, capFrames(l.ResponseFrames, 4)...)
	fnd := Finding{Exchange: x.ID, Frames: frames, Time: f.Time}
	if f.Has(FrameOSCORE) {
		fnd.Severity, fnd.Certainty = High, Did
		how := "a proxy cannot protect a request of its own"
		if p.verifyFailed(&f, l.From, l.To) {
			how = "it fails OSCORE verification"
		}
		fnd.Message = "Proxy endpoint " + l.From.String() + " did send " + what(x) + " to " + l.To.String() +
			" (" + frameList(capFrames(l.RequestFrames, 1)) + ") that no client had sent: " + how + "."
	} else {
		fnd.Severity, fnd.Certainty = Low, Could
		fnd.Message = "Proxy endpoint " + l.From.String() + " sent " + what(x) + " to " + l.To.String() +
			" (" + frameList(capFrames(l.RequestFrames, 1)) + ") on its own: it may validate a cache, but the server could not tell it from a spoofed request."
	}
	p.Report(fnd)
	return true
}
