package leaks

import (
	"cmp"
	"math"
	"slices"

	"github.com/coapaudit/coapaudit/stats"
)

// Robust outlier rule of Iglewicz and Hoaglin ("How to Detect and Handle
// Outliers", ASQC 1993): the modified z-score 0.6745 (x - median) / MAD,
// flagged above 3.5 in absolute value. 0.6745 is the 0.75 quantile of the
// standard normal, which makes MAD / 0.6745 estimate the standard
// deviation of normal data.
const (
	ZScale           = 0.6745
	OutlierThreshold = 3.5
	// MeanADScale replaces ZScale / MAD by 1 / (MeanADScale * MeanAD) when
	// the MAD is 0: sqrt(pi/2), the ratio of the standard deviation to the
	// mean absolute deviation for normal data (the convention of IBM SPSS
	// and of Iglewicz and Hoaglin's follow-up use).
	MeanADScale = 1.253314
)

// DelayResult summarises proxy residence times (M6).
type DelayResult struct {
	// N is the number of values offered; Sampled is how many the median
	// and MAD were computed from (fewer when the reservoir sampled).
	N, Sampled int
	Median     float64
	// MAD is the unscaled median absolute deviation from the median.
	MAD float64
	// MeanAD is the mean absolute deviation from the median, the scale
	// used when MAD is 0 (Fallback true). When both are 0 every value
	// equals the median and all z-scores are 0.
	MeanAD   float64
	Fallback bool
	// Outliers are the values whose modified z-score exceeds
	// OutlierThreshold in absolute value, largest |z| first.
	Outliers []Outlier
}

// Outlier is one flagged value.
type Outlier struct {
	ID      string
	Seconds float64
	Z       float64
}

// Z returns the modified z-score of x under the result's median and
// scale.
func (r DelayResult) Z(x float64) float64 {
	dev := x - r.Median
	switch {
	case r.MAD > 0:
		return ZScale * dev / r.MAD
	case r.MeanAD > 0:
		return dev / (MeanADScale * r.MeanAD)
	}
	return 0
}

// DelayStats computes the median, MAD and modified z-scores of values
// (seconds) exactly; ids name the values in Outliers (ids may be nil, or
// as long as values). NaN values are ignored.
func DelayStats(ids []string, values []float64) DelayResult {
	kept := make([]float64, 0, len(values))
	for _, v := range values {
		if !math.IsNaN(v) {
			kept = append(kept, v)
		}
	}
	r := robust(kept)
	r.N = len(kept)
	for i, v := range values {
		if math.IsNaN(v) {
			continue
		}
		var id string
		if i < len(ids) {
			id = ids[i]
		}
		r.flag(id, v)
	}
	r.sortOutliers()
	return r
}

// robust returns the median, MAD and mean absolute deviation of values,
// which it reorders.
func robust(values []float64) DelayResult {
	r := DelayResult{Sampled: len(values)}
	if len(values) == 0 {
		return r
	}
	slices.Sort(values)
	r.Median = stats.Median(values)
	dev := make([]float64, len(values))
	var sum float64
	for i, v := range values {
		dev[i] = math.Abs(v - r.Median)
		sum += dev[i]
	}
	slices.Sort(dev)
	r.MAD = stats.Median(dev)
	r.MeanAD = sum / float64(len(dev))
	r.Fallback = r.MAD == 0
	return r
}

func (r *DelayResult) flag(id string, v float64) {
	if z := r.Z(v); math.Abs(z) > OutlierThreshold {
		r.Outliers = append(r.Outliers, Outlier{ID: id, Seconds: v, Z: z})
	}
}

func (r *DelayResult) sortOutliers() {
	slices.SortStableFunc(r.Outliers, func(a, b Outlier) int {
		return cmp.Compare(math.Abs(b.Z), math.Abs(a.Z))
	})
}

// Delays accumulates residence times of one proxy or route. The median
// and MAD come from a reservoir sample of Limits.MaxPoints values (exact
// while fewer were offered); the Limits.MaxExtremes largest and smallest
// values are kept besides, so that the values most likely to be outliers
// are always scored. A Delays is not safe for concurrent use.
type Delays struct {
	lim    Limits
	res    stats.Reservoir
	sample []delaySample
	high   []delaySample // min-heap on value: the largest values seen
	low    []delaySample // max-heap on value: the smallest values seen
	drop   int
}

type delaySample struct {
	seq int // position in the stream, to merge the sample and the tails
	id  string
	v   float64
}

// NewDelays returns an empty accumulator.
func NewDelays(lim Limits, seed uint64) *Delays {
	lim = lim.withDefaults()
	return &Delays{lim: lim, res: stats.NewReservoir(lim.MaxPoints, newRand(seed, streamReservoir))}
}

// Add offers one residence time in seconds; id names it in Outliers (it is
// kept as given, not copied). NaN and infinite values are dropped.
func (d *Delays) Add(id string, seconds float64) {
	if math.IsNaN(seconds) || math.IsInf(seconds, 0) {
		d.drop++
		return
	}
	s := delaySample{seq: d.res.Seen(), id: id, v: seconds}
	switch slot := d.res.Offer(); {
	case slot == len(d.sample):
		d.sample = append(d.sample, s)
	case slot >= 0:
		d.sample[slot] = s
	}
	d.high = pushExtreme(d.high, s, d.lim.MaxExtremes, func(a, b float64) bool { return a < b })
	d.low = pushExtreme(d.low, s, d.lim.MaxExtremes, func(a, b float64) bool { return a > b })
}

// pushExtreme keeps the size most extreme samples in a heap whose root is
// the least extreme; less(a, b) orders the root first.
func pushExtreme(h []delaySample, s delaySample, size int, less func(a, b float64) bool) []delaySample {
	if len(h) == size {
		if !less(h[0].v, s.v) {
			return h
		}
		h[0] = s
		siftDown(h, less)
		return h
	}
	h = append(h, s)
	for i := len(h) - 1; i > 0; {
		p := (i - 1) / 2
		if !less(h[i].v, h[p].v) {
			break
		}
		h[i], h[p] = h[p], h[i]
		i = p
	}
	return h
}

func siftDown(h []delaySample, less func(a, b float64) bool) {
	for i := 0; ; {
		l, r, m := 2*i+1, 2*i+2, i
		if l < len(h) && less(h[l].v, h[m].v) {
			m = l
		}
		if r < len(h) && less(h[r].v, h[m].v) {
			m = r
		}
		if m == i {
			return
		}
		h[i], h[m] = h[m], h[i]
		i = m
	}
}

// N returns the number of values offered; Dropped the number refused.
func (d *Delays) N() int       { return d.res.Seen() }
func (d *Delays) Dropped() int { return d.drop }

// Result computes the statistics of the values so far.
func (d *Delays) Result() DelayResult {
	vals := make([]float64, len(d.sample))
	for i, s := range d.sample {
		vals[i] = s.v
	}
	r := robust(vals)
	r.N = d.res.Seen()
	scored := make(map[int]bool, len(d.sample)+len(d.high)+len(d.low))
	for _, set := range [][]delaySample{d.sample, d.high, d.low} {
		for _, s := range set {
			if !scored[s.seq] {
				scored[s.seq] = true
				r.flag(s.id, s.v)
			}
		}
	}
	r.sortOutliers()
	return r
}

// Leak returns the result as a proxy_delay record: the value is the median
// in seconds. Extra keys: mad, mean_ad, fallback, sampled, and outliers (a
// list of {id, seconds, z}).
func (r DelayResult) Leak(scope string) Leak {
	out := make([]map[string]any, len(r.Outliers))
	for i, o := range r.Outliers {
		out[i] = map[string]any{"id": o.ID, "seconds": o.Seconds, "z": o.Z}
	}
	return Leak{
		Metric: MetricProxyDelay,
		Scope:  scope,
		Value:  r.Median,
		Unit:   UnitSeconds,
		N:      r.N,
		Extra: map[string]any{
			"mad":      r.MAD,
			"mean_ad":  r.MeanAD,
			"fallback": r.Fallback,
			"sampled":  r.Sampled,
			"outliers": out,
		},
		Delay: &r,
	}
}
