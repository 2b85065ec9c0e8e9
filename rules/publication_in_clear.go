package rules

import (
	"strconv"

	"github.com/coapaudit/coapaudit/decode"
	"github.com/coapaudit/coapaudit/flows"
)

// PublicationInClear reports publication payloads a broker can read.
var PublicationInClear = &Rule{
	ID: "publication-in-clear",
	Doc: `a publication's payload travels in clear through a pub-sub broker

Seed 3.2.1.4: the payload of a publication is confidentiality protected
between publisher and subscribers; the broker reads only the topic
(FR3.1). Under the pubsub profile, and under auto for the exchanges the
tracker links as a publication and its deliveries, a publication (PUT or
POST with a body) or a notification relaying one without OSCORE or DTLS
exposes the payload to the broker and the path. Under auto the finding is
rated low: the tracker recognises a publication by a PUT or POST whose
body an observer of the same resource then receives, which an ordinary
server's observable resource also shows. One finding per broker, topic
and direction.`,
	Threat:   T5,
	Severity: Medium,
	Seed:     "3.2.1.4",
	Requires: RequiresExchanges,
	Run: func(p *Pass) error {
		seen := newBoundedSet[string](p.Config.MaxState)
		p.OnExchange(func(x *flows.Exchange) {
			if x.Protected != "none" || len(x.Legs) == 0 || p.Profile(x) != PubSub {
				return
			}
			c := &x.Legs[0]
			publish := x.Method == "PUT" || x.Method == "POST"
			frames, src, dst := c.ResponseFrames, c.To, c.From
			role := "subscriber " + x.Client.String()
			if publish {
				frames, src, dst = c.RequestFrames, c.From, c.To
				role = "publisher " + x.Client.String()
			}
			broker := c.To
			var evidence []int
			size := 0
			for _, n := range frames {
				f, ok := p.Frame(n, src, dst)
				if !ok || f.PayloadLen == 0 || !publish && f.Code.Class() != 2 || publish && f.Code != decode.CodePUT && f.Code != decode.CodePOST {
					continue
				}
				evidence = append(evidence, n)
				size = max(size, f.PayloadLen)
				if len(evidence) == 4 {
					break
				}
			}
			if len(evidence) == 0 {
				return
			}
			if !p.once(seen, broker.String()+"|"+x.URI+"|"+strconv.FormatBool(publish)) {
				return
			}
			topic := x.URI
			if topic == "" {
				topic = what(x)
			}
			verb := "delivered to " + role
			if publish {
				verb = "published by " + role
			}
			sev := Medium
			if p.Config.Profile == Auto {
				sev = Low // the tracker's links are a heuristic
			}
			p.Report(Finding{
				Severity: sev, Certainty: Could, Exchange: x.ID, Frames: evidence, Time: x.End,
				Message: "Broker " + broker.String() + " could read the " + strconv.Itoa(size) + "-byte publication on " + topic +
					" " + verb + " in clear (" + frameList(evidence) + "): only the topic may be visible to it.",
			})
		})
		return nil
	},
}
