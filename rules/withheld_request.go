package rules

import (
	"github.com/coapaudit/coapaudit/flows"
)

// WithheldRequest reports client requests a proxy neither forwarded nor
// answered.
var WithheldRequest = &Rule{
	ID: "withheld-request",
	Doc: `a proxy neither forwarded a client's request nor answered it

A request that reached a proxy, never left it towards a server, and got
no response at all (not even 5.04 Gateway Timeout) was withheld (seed
2.1.2.3). It is proven when the capture shows the proxy forwarding other
requests (so its server side is in the capture) and goes on for
Config.Grace after the client's last attempt; otherwise it is only
possible. Exchanges are held until their proxy is seen forwarding, or
the end of the capture.`,
	Threat:   T3,
	Severity: Medium,
	Seed:     "2.1.2.3",
	Requires: RequiresExchanges | RequiresProxy,
	Run: func(p *Pass) error {
		holdAndDecide(p, nil, func(x *flows.Exchange) bool {
			return x.Status == flows.Unanswered && len(x.Legs) == 1 && x.Proxy.IsValid() && len(x.Legs[0].RequestFrames) > 0
		}, firstLegOnly, func(x *flows.Exchange, final bool) bool { return withheldRequest(p, x, final) })
		return nil
	},
}

func withheldRequest(p *Pass, x *flows.Exchange, final bool) bool {
	known := p.Forwarding(x.Proxy)
	if !known && !final {
		return false
	}
	c := &x.Legs[0]
	last := c.RequestFrames[len(c.RequestFrames)-1]
	lastT := c.RequestTime
	if f, ok := p.Frame(last, c.From, c.To); ok {
		lastT = f.Time
	}
	frames := capFrames(c.RequestFrames, 8)
	fnd := Finding{Exchange: x.ID, Frames: frames, Time: lastT}
	attempts := ""
	if n := len(c.RequestFrames); n > 1 {
		attempts = ", sent " + plural(n, "time")
	}
	if known && p.Now().Sub(lastT) >= p.Config.Grace {
		fnd.Severity, fnd.Certainty = Medium, Did
		fnd.Message = "Proxy " + x.Proxy.String() + " did withhold " + what(x) + " from client " + x.Client.String() +
			" (" + frameList(frames) + attempts + "): it neither forwarded the request nor answered it."
	} else {
		fnd.Severity, fnd.Certainty = Low, Could
		reason := "the capture does not show the proxy's server side"
		if known {
			reason = "the capture ends soon after it"
		}
		fnd.Message = "Proxy " + x.Proxy.String() + " could be withholding " + what(x) + " from client " + x.Client.String() +
			" (" + frameList(frames) + attempts + "): no forwarded request and no response, but " + reason + "."
	}
	p.Report(fnd)
	return true
}
