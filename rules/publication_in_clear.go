package rules

import (
	"slices"
	"strconv"

	"github.com/coapaudit/coapaudit/flows"
)

// PublicationInClear reports publication payloads a broker can read.
var PublicationInClear = &Rule{
	ID: "publication-in-clear",
	Doc: `a publication's payload travels in clear through a pub-sub broker

Seed 3.2.1.4: the payload of a publication is confidentiality protected
between publisher and subscribers; the broker reads only the topic
(FR3.1). A publication is a PUT or POST with a body to a topic's data
(flows.Exchange.Publication: the tracker learns the broker's resources
from rt=core.ps.* links, topic creation and configurations, or from a
resource PUT and observed by others). Discovery, topic creation, the
topic list and configurations are not publications. One finding per
publication sent without OSCORE or DTLS, medium as the seed rates T5;
its evidence is the publication and every notification and read that
carried it in clear, and it names the subscribers that received it.
Notifications on topic data whose publication the capture does not show
are reported per subscription. A publication protected with OSCORE is
reported at info (T6, 3.1.1.6) with what the broker still sees: the
topic, the size, the timing and whom it reaches. Under auto a resource
recognised only by
behaviour (a PUT whose value observers then got, which an ordinary
observable server shows too) is rated low.`,
	Threat:   T5,
	Severity: Medium,
	Seed:     "3.2.1.4",
	Requires: RequiresExchanges,
	Run: func(p *Pass) error {
		p.OnExchange(func(x *flows.Exchange) {
			if len(x.Legs) == 0 || p.Profile(x) != PubSub {
				return
			}
			if x.Protected == "oscore" && isPublication(p, x) {
				reportProtectedPublication(p, x)
				return
			}
			if x.Protected != "none" {
				return
			}
			switch {
			case isPublication(p, x):
				reportPublication(p, x)
			case x.Observe != nil && x.Observe.Established && (x.Role == flows.RoleData || x.Role == "" && hasLink(x, linkPublishedBy)):
				reportUnlinkedNotifications(p, x)
			}
		})
		return nil
	},
}

// isPublication reports whether x publishes: flows marks publications
// to known topic data; without a known role, a PUT or POST with a body
// that notifications or reads carried on, or any such request when the
// user chose the pubsub profile.
func isPublication(p *Pass, x *flows.Exchange) bool {
	if x.Publication {
		return true
	}
	if x.Role != "" || x.Method != "PUT" && x.Method != "POST" {
		return false
	}
	return hasLink(x, linkDeliveredTo) || hasLink(x, linkServedTo) || p.Config.Profile == PubSub && x.Legs[0].RequestSize > 0
}

func hasLink(x *flows.Exchange, kind string) bool {
	for _, l := range x.Links {
		if l.Kind == kind {
			return true
		}
	}
	return false
}

func reportPublication(p *Pass, x *flows.Exchange) {
	c := &x.Legs[0]
	var evidence []int
	size := 0
	for _, n := range c.RequestFrames {
		f, ok := p.Frame(n, c.From, c.To)
		if !ok || f.PayloadLen == 0 || !f.IsRequest() {
			continue
		}
		evidence = append(evidence, n)
		size = max(size, f.PayloadLen)
	}
	if len(evidence) == 0 {
		return
	}
	var delivered, served []string
	for _, l := range x.Links {
		switch l.Kind {
		case linkDeliveredTo, linkServedTo:
			evidence = append(evidence, l.Frame)
			who := l.Exchange
			if l.Peer.IsValid() {
				who = l.Peer.String()
			}
			who += " in frame " + strconv.Itoa(l.Frame)
			if l.Kind == linkDeliveredTo {
				delivered = append(delivered, who)
			} else {
				served = append(served, who)
			}
		}
	}
	sev := Medium
	if p.Config.Profile == Auto && (x.Role == "" || x.RoleEvidence == flows.EvidenceBehaviour) {
		sev = Low // recognised by behaviour only, as an observable server shows it too
	}
	msg := "Broker " + addrString(x.Server) + " could read the " + strconv.Itoa(size) + "-byte publication on " + topicName(x) +
		" by publisher " + x.Client.String() + " in clear (" + frameList(evidence[:1]) + ")"
	switch {
	case len(delivered) > 0:
		msg += " and notified it in clear to " + plural(len(delivered), "subscriber") + " (" + cappedList(delivered, 8) + ")"
	default:
		msg += "; no subscriber was notified of it in the capture"
	}
	if len(served) > 0 {
		msg += "; read in clear by " + cappedList(served, 8)
	}
	if x.LinksOmitted > 0 {
		msg += "; " + plural(x.LinksOmitted, "more delivery") + " not linked (the exchange record keeps 32 links)"
	}
	p.Report(Finding{
		Severity: sev, Certainty: Could, Exchange: x.ID, Frames: evidence, Time: x.End,
		Message: msg + ": only the topic may be visible to it (pub-sub profile, seed 3.2.1).",
	})
}

// reportProtectedPublication says what a broker still sees of a
// publication protected end to end (seed 3.1.1.6, 3.1.2): the topic, the
// size, the timing and whom it reaches.
func reportProtectedPublication(p *Pass, x *flows.Exchange) {
	c := &x.Legs[0]
	if len(c.RequestFrames) == 0 {
		return
	}
	f, ok := p.Frame(c.RequestFrames[0], c.From, c.To)
	if !ok {
		return
	}
	evidence := []int{f.Frame}
	var subs []string
	for _, l := range x.Links {
		if l.Kind == linkDeliveredTo || l.Kind == linkServedTo {
			evidence = append(evidence, l.Frame)
			if l.Peer.IsValid() {
				subs = append(subs, l.Peer.String())
			}
		}
	}
	msg := "Broker " + addrString(x.Server) + " cannot read the publication on " + topicName(x) + " by publisher " + x.Client.String() +
		" (frame " + strconv.Itoa(f.Frame) + ", OSCORE), but it sees the topic, its " + strconv.Itoa(f.PayloadLen) + "-byte protected payload and its timing"
	if len(subs) > 0 {
		msg += ", and whom it reaches: " + cappedList(subs, 8)
	}
	p.Report(Finding{
		Threat: T6, Seed: "3.1.1.6", Severity: Info, Certainty: Could, Exchange: x.ID, Frames: evidence, Time: x.End,
		Message: msg + " (pub-sub profile, seed 3.2.1).",
	})
}

// reportUnlinkedNotifications reports a subscription's notifications in
// clear that no publication in the capture accounts for (those that one
// does are evidence of that publication's finding).
func reportUnlinkedNotifications(p *Pass, x *flows.Exchange) {
	c := &x.Legs[0]
	linked := map[int]bool{}
	carried := map[uint64]bool{} // payloads of linked notifications
	for _, l := range x.Links {
		if l.Kind == linkPublishedBy {
			linked[l.Frame] = true
			if f, ok := p.Frame(l.Frame, c.To, c.From); ok {
				carried[f.Payload] = true
			}
		}
	}
	var evidence []int
	size := 0
	for _, n := range c.ResponseFrames {
		if linked[n] {
			continue
		}
		f, ok := p.Frame(n, c.To, c.From)
		if !ok || f.PayloadLen == 0 || f.Code.Class() != 2 || carried[f.Payload] {
			continue
		}
		evidence = append(evidence, n)
		size = max(size, f.PayloadLen)
	}
	if len(evidence) == 0 {
		return
	}
	sev := Medium
	if p.Config.Profile == Auto && x.RoleEvidence == flows.EvidenceBehaviour {
		sev = Low
	}
	p.Report(Finding{
		Severity: sev, Certainty: Could, Exchange: x.ID, Frames: evidence, Time: x.End,
		Message: "Broker " + addrString(x.Server) + " could read the publications on " + topicName(x) + " it sent subscriber " +
			x.Client.String() + " in clear (up to " + strconv.Itoa(size) + " bytes, " + cappedFrames(evidence, 8) +
			") whose publication the capture does not show: only the topic may be visible to it (pub-sub profile, seed 3.2.1).",
	})
}

// topicName names x's topic for messages.
func topicName(x *flows.Exchange) string {
	if x.URI != "" {
		return "topic " + x.URI
	}
	return what(x)
}

// cappedList joins at most n items; the rest are counted, and the
// finding's frames list them all.
func cappedList(items []string, n int) string {
	if len(items) <= n {
		return andList(items)
	}
	shown := slices.Clone(items[:n])
	shown = append(shown, strconv.Itoa(len(items)-n)+" more (this finding's frames list them all)")
	return andList(shown)
}
