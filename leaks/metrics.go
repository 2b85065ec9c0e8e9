package leaks

import "strings"

// MetricInfo describes one leak metric, as rules.All describes the rules:
// the method of package leaks behind it, its unit, and the words a report
// uses for it. A new metric is one entry in Metrics and a result with a
// Leak method.
type MetricInfo struct {
	// ID is the metric field of its records.
	ID string
	// Method is the method in package leaks's documentation (M1 to M6).
	Method string
	// Unit is the unit of its values.
	Unit string
	// Measure names the value in a table of results; "%s" stands for the
	// kind of label ("resource").
	Measure string
	// Advice marks a metric that proposes a change (padding) rather than
	// measuring the capture.
	Advice bool
	// ask, when set, phrases the metric's own question about an
	// observable; otherwise the question is what the observable reveals.
	ask func(obs string) string
}

var metrics = []*MetricInfo{
	{ID: MetricMutualInformation, Method: "M1", Unit: UnitBits, Measure: "information it carries"},
	{ID: MetricBayesVulnerability, Method: "M2", Unit: UnitProbability, Measure: "chance an observer guesses right"},
	{ID: MetricKNNAccuracy, Method: "M1", Unit: UnitProbability, Measure: "nearest-neighbour guesses right"},
	{ID: MetricAnonymitySet, Method: "M3", Unit: UnitLabels, Measure: "%ss sharing a value (anonymity set)"},
	{ID: MetricPadding, Method: "M4", Unit: UnitPercent, Measure: "padding overhead", Advice: true},
	{ID: MetricLinkability, Method: "M5", Unit: UnitProbability, Measure: "share linked with certainty",
		ask: func(obs string) string { return "Can an observer link " + obs + " across the proxy?" }},
	{ID: MetricProxyDelay, Method: "M6", Unit: UnitSeconds, Measure: "median time held",
		ask: func(obs string) string {
			return "How long does the proxy hold " + strings.TrimPrefix(obs, "the ") + "?"
		}},
}

// Metrics returns every leak metric, in the order of the methods.
func Metrics() []*MetricInfo { return metrics }

// MetricOf returns the metric with the given ID, or nil.
func MetricOf(id string) *MetricInfo {
	for _, m := range metrics {
		if m.ID == id {
			return m
		}
	}
	return nil
}

// MeasureName names the value of a record of metric id about labels of
// kind label ("label" when empty); an unknown metric is named by its ID.
func MeasureName(id, label string) string {
	m := MetricOf(id)
	if m == nil {
		return strings.ReplaceAll(id, "_", " ")
	}
	if label == "" {
		label = "label"
	}
	return strings.Replace(m.Measure, "%s", label, 1)
}

// Question is the question a record of metric id answers, in words, about
// an observable named obs ("the request size"), labels of kind label and
// the view named view ("inside OSCORE"), either possibly empty.
func Question(id, obs, label, view string) string {
	if m := MetricOf(id); m != nil && m.ask != nil {
		return m.ask(obs)
	}
	q := "What does " + obs + " reveal"
	if label != "" {
		q += " about the " + label
	}
	if view != "" {
		q += ", " + view
	}
	return q + "?"
}
