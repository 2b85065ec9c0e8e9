package rules

// PublicationRepeated reports a publication notified more times than it
// was published.
var PublicationRepeated = &Rule{
	ID: "publication-repeated",
	Doc: `a broker notified a subscriber of one publication several times

Seed 3.1.1.4: a broker can flood a subscriber. Notifications with new
Message IDs (not retransmissions) that carry the same publication, with
no second publication of that payload in between, while the one before
was still fresh (within its Max-Age: after it, a broker refreshes the
notification, RFC 7641 section 4.3.1), are more than the publication
asked for. Only topics the broker declared are judged. Evidence: the
publication and every notification carrying it.`,
	Threat:   T4,
	Severity: Medium,
	Seed:     "3.1.1.4",
	Requires: RequiresExchanges,
	Run: brokerRun("repeated", func(a *brokerAct) string {
		return "Broker " + a.topic.broker.String() + " did notify subscriber " + a.sub.client.String() + " of " + a.publicationName() + " " +
			plural(len(a.frames)-1, "time") + " (" + cappedFrames(a.frames[1:], 8) + "), though it was published once."
	}),
}
