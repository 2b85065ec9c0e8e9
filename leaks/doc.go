// Package leaks measures what message sizes and timing reveal about hidden
// labels (the resource, method or action behind an exchange), and what
// padding would cost to stop it.
//
// The package works on plain samples: a label string and an observation
// (a size, a pair of sizes from [Pair], a size sequence from [Sequence], a
// timing feature). It knows nothing about captures or exchanges; callers
// feed it. Results are plain structs, and each has a Leak method that
// shapes it as a leak record of docs/CONTRACT.md; the metrics are those of
// docs/LEAKS.md.
//
// Accumulators and their memory bounds:
//
//   - [Discrete] counts (label, observation) pairs exactly in a sparse
//     contingency table. It keeps at most [Limits].MaxLabels labels and
//     [Limits].MaxCells distinct pairs; samples beyond either cap are
//     counted in Dropped and not used. Adding a sample to a known cell is
//     a map increment and does not allocate.
//   - [Points] keeps labelled feature vectors for the k-nearest-neighbour
//     estimators, at most [Limits].MaxPoints of them, chosen by reservoir
//     sampling (Li's Algorithm L) with a seeded PCG generator.
//   - [Delays] keeps proxy residence times the same way, plus the
//     [Limits].MaxExtremes largest and smallest values so that outliers
//     are never lost to sampling.
//   - [Links] folds linkability candidate sets into running sums.
//
// Estimators:
//
//   - M1 [Table.MutualInformation]: plug-in mutual information with the
//     Miller-Madow correction, a bootstrap interval and a permutation
//     test (the G-test for tables too large to permute within
//     [Options].PermutationWork), all on the contingency table so that
//     their cost does not grow with the number of samples;
//     [Points.MutualInformation] is Ross's k-NN estimator for a
//     continuous feature.
//   - M2 [Table.Bayes]: leave-one-out Bayes vulnerability, majority
//     baseline and min-entropy leakage; [Points.KNNAccuracy] is a
//     leave-one-out k-NN classifier on standardised features.
//   - M3 [Table.Anonymity]: anonymity sets per observed value.
//   - M4 [AdvisePadding]: padding schemes, their overhead and the leakage
//     left after them.
//   - M5 [Links], [LinkExact], [LinkByTiming]: linkability across a proxy.
//   - M6 [Delays], [DelayStats]: median, MAD and robust z-scores.
//   - [WhatIfOSCORE]: the size a plaintext CoAP message would have under
//     OSCORE.
//
// [Analyze] runs M1 to M4 on one table, and [Verdicts] turns a table and
// its padding advice into sentences for the text summary.
//
// Everything is deterministic: random resampling uses PCG generators
// seeded from [Options].Seed, and nothing reads the clock.
package leaks

// Metric names of leak records (docs/CONTRACT.md).
const (
	MetricMutualInformation  = "mutual_information"
	MetricBayesVulnerability = "bayes_vulnerability"
	MetricKNNAccuracy        = "knn_accuracy"
	MetricAnonymitySet       = "anonymity_set"
	MetricPadding            = "padding"
	MetricLinkability        = "linkability"
	MetricProxyDelay         = "proxy_delay"
)

// Units of leak records.
const (
	UnitBits        = "bits"
	UnitProbability = "probability"
	UnitLabels      = "labels"
	UnitPercent     = "percent"
	UnitSeconds     = "seconds"
)

// Default caps; see [Limits].
const (
	DefaultMaxLabels   = 1024
	DefaultMaxCells    = 1 << 16
	DefaultMaxPoints   = 4096
	DefaultMaxExtremes = 32
)

// Limits bounds the memory of an accumulator. A zero field takes its
// default.
type Limits struct {
	// MaxLabels is the number of distinct labels a Discrete or Points
	// keeps (default 1024; a Discrete keeps at most 65536).
	MaxLabels int
	// MaxCells is the number of distinct (label, observation) pairs a
	// Discrete keeps (default 65536, a few MB).
	MaxCells int
	// MaxPoints is the reservoir size of Points and Delays (default 4096).
	MaxPoints int
	// MaxExtremes is how many of the largest and of the smallest values
	// Delays keeps besides its reservoir (default 32 each).
	MaxExtremes int
}

func (l Limits) withDefaults() Limits {
	if l.MaxLabels <= 0 {
		l.MaxLabels = DefaultMaxLabels
	}
	if l.MaxCells <= 0 {
		l.MaxCells = DefaultMaxCells
	}
	if l.MaxPoints <= 0 {
		l.MaxPoints = DefaultMaxPoints
	}
	if l.MaxExtremes <= 0 {
		l.MaxExtremes = DefaultMaxExtremes
	}
	return l
}

// Interval is a confidence interval. Level 0 means there is none.
type Interval struct {
	Lo    float64 `json:"lo"`
	Hi    float64 `json:"hi"`
	Level float64 `json:"level"` // e.g. 0.95
}

// Valid reports whether the interval was computed.
func (iv Interval) Valid() bool { return iv.Level > 0 }

// Leak is one measurement in the shape of a leak record (docs/CONTRACT.md):
// metric, scope, value and unit, plus what the metric needs. Extra holds
// metric-specific fields under the keys documented on each result's Leak
// method; its values are strings, booleans, integers and finite floats.
type Leak struct {
	Metric string `json:"metric"`
	Scope  string `json:"scope"`
	// Observable, Label and View say what was measured when a caller
	// measures several things per scope: the observed quantity (such as
	// request_size or rtt), the kind of hidden label (such as resource
	// or method) and which sizes (such as wire or oscore-inner). The
	// estimators leave them empty.
	Observable string         `json:"observable,omitempty"`
	Label      string         `json:"label,omitempty"`
	View       string         `json:"view,omitempty"`
	Value      float64        `json:"value"`
	Unit       string         `json:"unit"`
	CI         *Interval      `json:"ci,omitempty"`
	Baseline   *float64       `json:"baseline,omitempty"`
	N          int            `json:"n"`
	Extra      map[string]any `json:"extra,omitempty"`
	// Padding and Delay are the typed results behind padding and
	// proxy_delay records (Extra holds them for output); nil otherwise.
	Padding *PaddingResult `json:"-"`
	Delay   *DelayResult   `json:"-"`
}

func ptr[T any](v T) *T { return &v }
