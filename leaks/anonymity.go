package leaks

import (
	"math"
	"strconv"
)

// AnonymitySet describes the labels that share one observed value (M3).
type AnonymitySet struct {
	Value uint64
	// N is the number of samples with this value.
	N int
	// Labels is the number of distinct labels seen with this value.
	Labels int
	// Effective is 2^H(X | Y = value), the number of equally likely labels
	// with the same uncertainty; between 1 and Labels.
	Effective float64
	// Top is the most frequent label with this value (the first in sorted
	// order when several tie).
	Top string
}

// AnonymityResult is M3 over a table.
type AnonymityResult struct {
	Sets []AnonymitySet // one per observed value, in increasing value order
	// UniqueShare is the share of samples whose value is seen with a single
	// label, so that the value identifies the label.
	UniqueShare float64
	// MeanEffective is the sample-weighted mean of Effective.
	MeanEffective float64
	N             int
}

// Anonymity computes the anonymity set of every observed value.
func (t *Table) Anonymity() AnonymityResult {
	r := AnonymityResult{N: t.n, Sets: make([]AnonymitySet, len(t.values))}
	if t.n == 0 {
		return r
	}
	unique := 0
	var eff float64
	for y, v := range t.values {
		col := t.Column(y)
		ny := t.cols[y]
		var s float64
		top := col[0]
		for _, c := range col {
			s += nlogn(c.N)
			if c.N > top.N {
				top = c
			}
		}
		h := entropyBits(s, ny)
		e := math.Exp2(h)
		r.Sets[y] = AnonymitySet{Value: v, N: ny, Labels: len(col), Effective: e, Top: t.labels[top.X]}
		if len(col) == 1 {
			unique += ny
		}
		eff += float64(ny) * e
	}
	r.UniqueShare = float64(unique) / float64(t.n)
	r.MeanEffective = eff / float64(t.n)
	return r
}

// Leaks returns an anonymity_set summary record for scope (the value is
// MeanEffective; Extra keys: unique_share, values) followed by one record
// per observed value: the value is
// the number of labels, and the scope is scope + " value=" + the value.
// Extra keys: value, effective, unique (bool), top.
func (r AnonymityResult) Leaks(scope string) []Leak {
	out := make([]Leak, 1+len(r.Sets))
	out[0] = Leak{
		Metric: MetricAnonymitySet,
		Scope:  scope,
		Value:  r.MeanEffective,
		Unit:   UnitLabels,
		N:      r.N,
		Extra: map[string]any{
			"unique_share": r.UniqueShare,
			"values":       len(r.Sets),
		},
	}
	for i, s := range r.Sets {
		out[1+i] = Leak{
			Metric: MetricAnonymitySet,
			Scope:  scope + " value=" + strconv.FormatUint(s.Value, 10),
			Value:  float64(s.Labels),
			Unit:   UnitLabels,
			N:      s.N,
			Extra: map[string]any{
				"value":     s.Value,
				"effective": s.Effective,
				"unique":    s.Labels == 1,
				"top":       s.Top,
			},
		}
	}
	return out
}
