package rules

// PublicationAltered reports notifications whose payload differs from the
// publication they stand for.
var PublicationAltered = &Rule{
	ID: "publication-altered",
	Doc: `a broker notified a subscriber of a publication with another payload

Seed 3.1.1.1 and A3.2: the payload of a publication must not be altered
between publisher and subscriber. When, right after a publication (within
the grace time), a subscriber gets a notification whose payload no
publication in the capture had, instead of one carrying the publication,
the broker did alter it. Evidence: the publication and the notification.`,
	Threat:   T1,
	Severity: High,
	Seed:     "3.1.1.1",
	Requires: RequiresExchanges,
	Run: brokerRun("altered", func(a *brokerAct) string {
		return "Broker " + a.topic.broker.String() + " did alter " + a.publicationName() + ": subscriber " + a.sub.client.String() +
			" got a notification with a payload nobody published (frame " + itoa(a.frames[len(a.frames)-1]) + ") in its place (A3.2)."
	}),
}
