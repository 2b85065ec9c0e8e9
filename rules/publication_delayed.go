package rules

// PublicationDelayed reports a subscriber notified of a publication far
// later than the others.
var PublicationDelayed = &Rule{
	ID: "publication-delayed",
	Doc: `a broker held one subscriber's notification of a publication far longer than the others'

Seed 3.1.1.2: a broker can delay a publication. Per publication, the
time from the publication to each subscriber's first notification
carrying it is compared with the median of the other subscribers'; more
than MinDelay (500 ms) and four times that median above it is a delay
the broker did. Evidence: the publication, the fastest notification and
the delayed one.`,
	Threat:   T2,
	Severity: Medium,
	Seed:     "3.1.1.2",
	Requires: RequiresExchanges,
	Run: brokerRun("delayed", func(a *brokerAct) string {
		return "Broker " + a.topic.broker.String() + " did delay " + a.publicationName() + " for subscriber " + a.sub.client.String() +
			": it notified it " + a.detail + " (frame " + itoa(a.frames[len(a.frames)-1]) + ")."
	}),
}
