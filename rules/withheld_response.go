package rules

import (
	"slices"
	"time"

	"github.com/coapaudit/coapaudit/decode"
	"github.com/coapaudit/coapaudit/flows"
)

// WithheldResponse reports server responses a proxy did not pass on.
var WithheldResponse = &Rule{
	ID: "withheld-response",
	Doc: `a server's response reached the proxy but never the client

Each distinct response on a server leg (by code and payload, so that the
server's retransmissions count once) must show up on the client leg after
it. One that does not was withheld. It is proven when the capture goes on
for Config.Grace after the response, and the exchange ended normally.
Notifications are rated low and called possible: RFC 7641 lets a proxy
skip intermediate states of an observed resource. Responses that arrive
after the client cancelled its observation, after the proxy already gave
the client an error of its own (5.04 Gateway Timeout), or on a leg the
proxy made up (a replay) are not expected to reach the client. The seed
does not require a security solution to mitigate withholding (2.1.1.3),
but a user wants to see it. A server leg on a reliable transport (TCP,
TLS, WebSockets) delivered the response to the proxy, which the finding
says: it was not lost between them.`,
	Threat:   T3,
	Severity: Medium,
	Seed:     "2.1.1.3",
	Requires: RequiresExchanges | RequiresProxy,
	Run: func(p *Pass) error {
		p.OnExchange(func(x *flows.Exchange) { withheldResponse(p, x) })
		return nil
	},
}

func withheldResponse(p *Pass, x *flows.Exchange) {
	if len(x.Legs) < 2 || !x.Proxy.IsValid() || x.Status == flows.Evicted {
		return
	}
	legs := serverLegs(x, true)
	if len(legs) == 0 {
		return
	}
	c := &x.Legs[0]
	type resp struct {
		content uint64
		t       time.Time
	}
	client := make([]resp, 0, len(c.ResponseFrames))
	var proxyError time.Time // the first 5.xx the client got that the server did not send
	for _, n := range c.ResponseFrames {
		f, ok := p.Frame(n, c.To, c.From)
		if !ok {
			return
		}
		client = append(client, resp{f.Content, f.Time})
		if (f.Code.Class() == 5 || proxyErrorCode(f.Code)) && proxyError.IsZero() {
			proxyError = f.Time
		}
	}
	var ended time.Time
	if o := x.Observe; o != nil && (o.Ended == "deregistered" || o.Ended == "reset") && o.EndFrame > 0 {
		if f, ok := p.frameEither(o.EndFrame, c.From, c.To); ok {
			ended = f.Time
		}
	}

	var server []FrameInfo
	var via []string                   // per server frame, the reliable transport it came on ("" for UDP)
	earliest := map[uint64]time.Time{} // content -> first time the proxy had it
	paired := pairedFrames(x, false)
	for _, i := range legs {
		l := &x.Legs[i]
		for _, n := range l.ResponseFrames {
			if slices.Contains(paired, n) {
				continue // it reached the client, changed: altered-response's business
			}
			f, ok := p.Frame(n, l.To, l.From)
			if !ok {
				return
			}
			if !ended.IsZero() && f.Time.After(ended) || !proxyError.IsZero() && f.Time.After(proxyError) {
				continue
			}
			if f.Code == decode.CodeContinue || f.Options.Has(decode.OptBlock2) && len(client) > 0 {
				// A block acknowledged hop by hop, or a block a proxy
				// fetched on its own schedule (re-blocking, fetching the
				// whole body ahead): bodies differ per leg by design.
				continue
			}
			if !proxyError.IsZero() && !f.Time.After(proxyError) && proxyError.Sub(f.Time) <= time.Second {
				// The proxy answered the client at once with an error of
				// its own instead: it did not pass the response on, and
				// said so (a late error after holding it back is not this).
				continue
			}
			server = append(server, f)
			via = append(via, transportName(l.Transport))
			if t, ok := earliest[f.Content]; !ok || f.Time.Before(t) {
				earliest[f.Content] = f.Time
			}
		}
	}
	var withheld []FrameInfo
	var missing []uint64
	notif := true
	lastVia := ""
	for i, f := range server {
		relayed := false
		for _, r := range client {
			if r.content == f.Content && !r.t.Before(earliest[f.Content]) {
				relayed = true
				break
			}
		}
		if relayed {
			continue
		}
		if !slices.Contains(missing, f.Content) {
			missing = append(missing, f.Content)
			if !f.Has(FrameObserve) || len(client) == 0 {
				notif = false
			}
		}
		withheld = append(withheld, f)
		lastVia = via[i]
	}
	if len(withheld) == 0 {
		return
	}
	last := withheld[len(withheld)-1]
	proven := p.Now().Sub(last.Time) >= p.Config.Grace
	frames := make([]int, 0, len(withheld)+len(c.RequestFrames))
	nums := make([]int, 0, len(withheld))
	for _, f := range withheld {
		nums = append(nums, f.Frame)
	}
	frames = append(frames, nums...)
	frames = append(frames, capFrames(c.RequestFrames, 8)...)

	fnd := Finding{Exchange: x.ID, Frames: frames, Time: last.Time}
	kind := "the response"
	if len(missing) > 1 {
		kind = plural(len(missing), "response")
	}
	if notif {
		kind = "notification"
		if len(missing) > 1 {
			kind = plural(len(missing), "notification")
		}
	}
	switch {
	case x.Ambiguous:
		fnd.Severity, fnd.Certainty = Low, Could
		fnd.Message = "Proxy " + x.Proxy.String() + " could be withholding " + kind + " to " + what(x) + ": the server's " +
			codeOf(last) + " response (" + frameList(nums) + ") did not reach client " + x.Client.String() +
			", but other clients sent the same request at the same time, so it may have been relayed to one of them."
	case notif:
		fnd.Severity, fnd.Certainty = Low, Could
		fnd.Message = "Proxy " + x.Proxy.String() + " did not pass on " + kind + " of " + what(x) + " that the server sent (" +
			frameList(nums) + "): it could be withholding them, or skipping states as RFC 7641 allows."
	case proven:
		fnd.Severity, fnd.Certainty = Medium, Did
		fnd.Message = "Proxy " + x.Proxy.String() + " did withhold " + kind + " to " + what(x) + ": the server's " +
			codeOf(last) + " response (" + frameList(nums) + ")" + delivered(lastVia) + " never reached client " + x.Client.String() + "."
	default:
		fnd.Severity, fnd.Certainty = Low, Could
		fnd.Message = "Proxy " + x.Proxy.String() + " could be withholding " + kind + " to " + what(x) + ": the server's " +
			codeOf(last) + " response (" + frameList(nums) + ")" + delivered(lastVia) + " had not reached the client when the capture ended."
	}
	p.Report(fnd)
}

// delivered says that a response came to the proxy on a reliable
// transport, which does not lose it on the way ("" for UDP).
func delivered(via string) string {
	if via == "" {
		return ""
	}
	return ", which " + via + " delivered to the proxy,"
}

func codeOf(f FrameInfo) string {
	s := f.Code.String()
	if f.Has(FrameOSCORE) {
		s += " (OSCORE)"
	} else if n := f.Code.Name(); n != "" && f.Code != decode.CodeEmpty {
		s += " " + n
	}
	return s
}

// proxyErrorCode reports whether a 4.xx code is one a proxy may answer
// with about itself (seed 2.1.1.1): an option it cannot handle, a size or
// rate limit of its own, its own access control.
func proxyErrorCode(c decode.Code) bool {
	switch c {
	case decode.CodeUnauthorized, decode.CodeBadOption, decode.CodeRequestEntityTooLarge, decode.CodeTooManyRequests:
		return true
	}
	return false
}
