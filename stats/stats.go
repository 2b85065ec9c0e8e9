// Package stats holds the order statistics coapaudit computes in several
// places (the text tables, the leak analysis, the report), written once:
// quantiles in their two definitions, and the median.
package stats

import (
	"cmp"
	"math"
)

// Quantile returns the q-quantile of sorted values by linear
// interpolation between order statistics (Hyndman and Fan type 7, as R's
// and NumPy's default), or NaN for no values.
func Quantile(sorted []float64, q float64) float64 {
	if len(sorted) == 0 {
		return math.NaN()
	}
	h := q * float64(len(sorted)-1)
	lo := int(math.Floor(h))
	if lo >= len(sorted)-1 {
		return sorted[len(sorted)-1]
	}
	if lo < 0 {
		return sorted[0]
	}
	return sorted[lo] + (h-float64(lo))*(sorted[lo+1]-sorted[lo])
}

// NearestRank returns the nearest-rank q-quantile of sorted values: the
// smallest value that at least a share q of them do not exceed (always a
// value of the data). sorted must not be empty.
func NearestRank[T cmp.Ordered](sorted []T, q float64) T {
	i := int(math.Ceil(q*float64(len(sorted)))) - 1
	return sorted[max(0, min(i, len(sorted)-1))]
}

// Median returns the median of sorted values (the mean of the middle two
// for an even count), or NaN for no values.
func Median(sorted []float64) float64 {
	n := len(sorted)
	switch {
	case n == 0:
		return math.NaN()
	case n%2 == 1:
		return sorted[n/2]
	}
	return (sorted[n/2-1] + sorted[n/2]) / 2
}
