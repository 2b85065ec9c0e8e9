package rules

// PublicationWithheld reports subscribers a broker left out of a
// publication's fan-out.
var PublicationWithheld = &Rule{
	ID: "publication-withheld",
	Doc: `a broker notified some subscribers of a publication and withheld it from another

Seed 3.1.1.3: a broker can withhold a publication from a subscriber. At
the broker's capture point the publication and its fan-out are both
visible: when the other subscribers got a notification carrying the
publication, and a subscriber that was observing and acknowledging got
none (and nothing in its place) while no newer publication replaced it
within the grace time (RFC 7641 lets a newer state replace an older
one), the broker did withhold it. Evidence: the publication and the
notifications the others got.`,
	Threat:   T3,
	Severity: Medium,
	Seed:     "3.1.1.3",
	Requires: RequiresExchanges,
	Run: brokerRun("withheld", func(a *brokerAct) string {
		return "Broker " + a.topic.broker.String() + " did withhold " + a.publicationName() + " from subscriber " +
			a.sub.client.String() + ", still observing, while it notified " + a.detail + "."
	}),
}
