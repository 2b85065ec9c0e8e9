package rules

// PublicationInjected reports notifications carrying values nobody
// published.
var PublicationInjected = &Rule{
	ID: "publication-injected",
	Doc: `a broker notified a subscriber of a value nobody published

Seed 3.1.1.1 ("topic poisoning"): a notification whose payload no
publication in the capture had, and that does not stand for the latest
publication (the subscriber already got that one, or it came later than
the grace time), was made up by the broker. Only topics whose
publications the capture shows are judged. Evidence: the notification,
the latest publication and what the subscriber got of it.`,
	Threat:   T1,
	Severity: High,
	Seed:     "3.1.1.1",
	Requires: RequiresExchanges,
	Run: brokerRun("injected", func(a *brokerAct) string {
		return "Broker " + a.topic.broker.String() + " did inject a notification on topic " + a.topic.uri + " to subscriber " +
			a.sub.client.String() + " (frame " + itoa(a.frames[1]) + ") with a payload nobody published, after " +
			a.publicationName() + ", which it had already notified."
	}),
}
