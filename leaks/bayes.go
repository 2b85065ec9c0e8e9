package leaks

import "math"

// BayesResult is the attacker's success probability from the observed
// value alone (M2).
type BayesResult struct {
	// V is the leave-one-out Bayes vulnerability: the share of samples
	// that the maximum a posteriori guess, learnt from all other samples,
	// labels correctly.
	V float64
	// VPlugIn is sum over y of max over x of p(x, y) on the whole table
	// (the resubstitution estimate, optimistic for small samples).
	VPlugIn float64
	// V0 is the majority baseline max over x of p(x): the success of a
	// guess that ignores the observation.
	V0 float64
	// LeakageBits is the min-entropy leakage log2(V / V0) (Smith 2009),
	// clamped at 0.
	LeakageBits float64
	N           int
}

// Bayes computes the Bayes vulnerability of the table.
//
// Leave-one-out: each sample is guessed as the most frequent label among
// the other samples with the same value. When several labels tie, the
// guess counts as right with probability one over the number tied (the
// expected score of a uniformly random tie-break), which keeps the result
// independent of label order. A value seen only once leaves no other
// sample to learn from; its sample is guessed as the overall majority
// label (with ties split the same way). The baseline V0 is the plug-in
// majority share: the leave-one-out majority would penalise balanced
// labels (with two labels of n samples each it scores 0).
func (t *Table) Bayes() BayesResult {
	r := BayesResult{N: t.n}
	if t.n == 0 {
		return r
	}
	prior := argmaxSet(t.rows)
	maxRow := 0
	for _, n := range t.rows {
		maxRow = max(maxRow, n)
	}
	r.V0 = float64(maxRow) / float64(t.n)

	var correct float64
	maxSum := 0
	for y := range t.values {
		col := t.Column(y)
		// The largest count m1 (held by t1 labels) and the largest count
		// below it, m2 (held by t2 labels; 0 when none).
		m1, t1, m2, t2 := 0, 0, 0, 0
		for _, c := range col {
			switch {
			case c.N > m1:
				m2, t2 = m1, t1
				m1, t1 = c.N, 1
			case c.N == m1:
				t1++
			case c.N > m2:
				m2, t2 = c.N, 1
			case c.N == m2:
				t2++
			}
		}
		maxSum += m1
		for _, c := range col {
			if c.N < m1 {
				continue // another label keeps the larger count
			}
			// c.N == m1: remove this sample and see who leads.
			if t1 > 1 {
				continue // the other labels with m1 now lead alone
			}
			// m2 == 0 means no other label is in the column.
			rest := c.N - 1
			switch {
			case rest == 0 && m2 == 0:
				// The column held this sample only.
				correct += float64(c.N) * prior.credit(c.X)
			case rest > m2:
				correct += float64(c.N)
			case rest == m2:
				correct += float64(c.N) / float64(1+t2)
			}
		}
	}
	r.V = correct / float64(t.n)
	r.VPlugIn = float64(maxSum) / float64(t.n)
	if r.V > 0 && r.V0 > 0 {
		r.LeakageBits = clampZero(math.Log2(r.V / r.V0))
	}
	return r
}

// winners is the set of labels that share the largest count.
type winners struct {
	max   int
	count int
	of    []int
}

func argmaxSet(counts []int) winners {
	w := winners{of: counts}
	for _, n := range counts {
		switch {
		case n > w.max:
			w.max, w.count = n, 1
		case n == w.max:
			w.count++
		}
	}
	return w
}

// credit is the probability that a uniformly random pick among the
// winners is x.
func (w winners) credit(x int) float64 {
	if w.count == 0 || w.of[x] != w.max {
		return 0
	}
	return 1 / float64(w.count)
}

// Leak returns the result as a bayes_vulnerability record: the value is
// V, the baseline V0. Extra keys: plug_in, min_entropy_leakage_bits.
func (r BayesResult) Leak(scope string) Leak {
	return Leak{
		Metric:   MetricBayesVulnerability,
		Scope:    scope,
		Value:    r.V,
		Unit:     UnitProbability,
		Baseline: ptr(r.V0),
		N:        r.N,
		Extra: map[string]any{
			"plug_in":                  r.VPlugIn,
			"min_entropy_leakage_bits": r.LeakageBits,
		},
	}
}
