package leaks

import (
	"math"
	"math/rand/v2"
	"slices"
	"strconv"

	"github.com/coapaudit/coapaudit/stats"
)

// Defaults of Options.
const (
	DefaultResamples    = 1000
	DefaultPermutations = 1000
	DefaultLevel        = 0.95
	// DefaultPermutationWork caps the hypergeometric draws of one
	// permutation test, Permutations * (KX-1) * (KY-1): about 50 ms.
	DefaultPermutationWork = 250_000
)

// The bootstrap stops after bootstrapCheck resamples when the interval is
// already narrower than bootstrapNarrow bits (large samples): the Monte
// Carlo error of its ends is then a fraction of that width, below the
// precision anyone reads mutual information at.
const (
	bootstrapCheck  = 200
	bootstrapNarrow = 0.01
)

// P-value methods of MIResult.
const (
	PValuePermutation = "permutation"
	PValueGTest       = "g-test"
)

// Options controls the resampling estimators. A zero field takes its
// default; a negative Resamples or Permutations turns that part off.
type Options struct {
	// Seed seeds the PCG generators of the bootstrap and the permutation
	// test. Equal seeds give equal results.
	Seed uint64
	// Resamples is the number of bootstrap resamples (default 1000).
	Resamples int
	// Permutations is the number of label shuffles of the permutation
	// test (default 1000).
	Permutations int
	// Level is the confidence level of the bootstrap interval (default
	// 0.95).
	Level float64
	// PermutationWork caps the cost of the permutation test in
	// hypergeometric draws (default DefaultPermutationWork); see
	// MutualInformation.
	PermutationWork int
}

func (o Options) withDefaults() Options {
	if o.Resamples == 0 {
		o.Resamples = DefaultResamples
	}
	if o.Permutations == 0 {
		o.Permutations = DefaultPermutations
	}
	if o.Level <= 0 || o.Level >= 1 {
		o.Level = DefaultLevel
	}
	if o.PermutationWork <= 0 {
		o.PermutationWork = DefaultPermutationWork
	}
	return o
}

// MIResult is the mutual information between the label and the observed
// value (M1), in bits.
type MIResult struct {
	// Bits is the Miller-Madow corrected estimate PlugIn - Correction,
	// clamped at 0.
	Bits float64
	// PlugIn is the maximum-likelihood (plug-in) estimate.
	PlugIn float64
	// Correction is the Miller-Madow bias term
	// (KXY - KX - KY + 1) / (2 N ln 2).
	Correction float64
	// CI is the bootstrap interval of Bits; see MutualInformation.
	CI Interval
	// PValue is the p-value of independence: from the permutation test,
	// (1 + #{perm >= observed}) / (1 + Permutations), or from the G-test
	// for large tables (PValueMethod says which). It is 1 when the test
	// was off or the table has a single label or value.
	PValue       float64
	PValueMethod string
	// G is the likelihood-ratio statistic 2 N ln(2) PlugIn, with DF =
	// (KX-1)(KY-1) degrees of freedom.
	G  float64
	DF int
	// Permutations and Resamples are the numbers actually run (Resamples
	// can stop early, see MutualInformation).
	Permutations, Resamples int
	// HX is the Miller-Madow corrected entropy of the label, in bits.
	HX float64
	// Share is Bits / HX, between 0 and 1 (0 when HX is 0).
	Share float64
	// N is the number of samples; KX, KY and KXY count the labels, values
	// and non-empty cells.
	N, KX, KY, KXY int
	// Reliable is false when N < 5 * KXY: too few samples per cell for
	// the bias correction to hold.
	Reliable bool
}

// MutualInformation estimates I(X;Y) between the labels X and the values
// Y of the table.
//
// The point estimate is the plug-in value minus the Miller-Madow term
// (Miller 1955): Î = Î_ML - (KXY - KX - KY + 1) / (2 N ln 2), where K
// counts non-empty cells. For a bijection between labels and values this
// equals the corrected entropy of the label.
//
// The interval comes from Resamples multinomial resamples of the table
// (sequential conditional binomial draws, so the cost is O(KXY) per
// resample whatever N is); when 200 resamples already give an interval
// narrower than 0.01 bits, as large samples do, the rest are skipped. The
// corrected estimator is still biased when applied to resamples of the
// empirical distribution (their expected value is the plug-in value of
// the sample, not the corrected one), so the bootstrap distribution is
// first centred on the estimate by subtracting its mean bias, then the
// percentile interval is taken and clamped at 0. Without the centring,
// independent data with more than a handful of cells would get an
// interval that excludes 0.
//
// The p-value comes from Permutations random tables with the same row and
// column sums, which is what shuffling the labels over the samples gives.
// Each is drawn column by column from sequential hypergeometric
// distributions, (KX-1)(KY-1) draws whatever N is. The test statistic is
// the plug-in mutual information (the G statistic up to a constant); ties
// within a relative 1e-9 count as exceeding. When Permutations draws
// would exceed PermutationWork, the test runs as many permutations as fit
// if that is at least 99 (a p-value resolution of 0.01); otherwise the
// table is large and the p-value is the G-test's chi-square tail with
// (KX-1)(KY-1) degrees of freedom, the permutation distribution's large
// sample limit (it underflows to 0 for strong leaks).
func (t *Table) MutualInformation(opt Options) MIResult {
	opt = opt.withDefaults()
	r := MIResult{N: t.n, KX: len(t.labels), KY: len(t.values), KXY: len(t.cells), PValue: 1}
	r.DF = (r.KX - 1) * (r.KY - 1)
	if t.n == 0 {
		return r
	}
	r.Reliable = t.n >= 5*r.KXY
	nf := float64(t.n)
	sCells := sumNLogN(t.cells)
	sRows := sumNLogNInts(t.rows)
	sCols := sumNLogNInts(t.cols)
	r.PlugIn = clampZero(miFromSums(sCells, sRows, sCols, t.n))
	r.G = 2 * nf * math.Ln2 * r.PlugIn
	r.Correction = float64(r.KXY-r.KX-r.KY+1) / (2 * nf * math.Ln2)
	corrected := r.PlugIn - r.Correction
	r.Bits = clampZero(corrected)
	r.HX = entropyBits(sRows, t.n) + float64(r.KX-1)/(2*nf*math.Ln2)
	if r.HX > 0 {
		r.Share = min(1, r.Bits/r.HX)
	}
	if opt.Resamples > 0 {
		r.CI, r.Resamples = t.bootstrapMI(corrected, opt)
	}
	if opt.Permutations > 0 && r.DF > 0 {
		perms := opt.Permutations
		if perms*r.DF > opt.PermutationWork {
			perms = opt.PermutationWork / r.DF
		}
		if perms >= 99 || perms == opt.Permutations {
			exceed := t.permuteMI(sCells, perms, opt.Seed)
			r.Permutations = perms
			r.PValue = float64(1+exceed) / float64(1+perms)
			r.PValueMethod = PValuePermutation
		} else {
			r.PValue = gammaQ(float64(r.DF)/2, r.G/2)
			r.PValueMethod = PValueGTest
		}
	}
	return r
}

// miFromSums returns the plug-in mutual information in bits from the sums
// of n*ln(n) over cells, rows and columns.
func miFromSums(cells, rows, cols float64, n int) float64 {
	return (cells - rows - cols + nlogn(n)) / (float64(n) * math.Ln2)
}

// entropyBits returns the plug-in entropy in bits of counts whose n*ln(n)
// sum is s and whose total is n.
func entropyBits(s float64, n int) float64 {
	if n == 0 {
		return 0
	}
	return clampZero((nlogn(n) - s) / (float64(n) * math.Ln2))
}

func sumNLogN(cells []Cell) float64 {
	var s float64
	for _, c := range cells {
		s += nlogn(c.N)
	}
	return s
}

func sumNLogNInts(v []int) float64 {
	var s float64
	for _, k := range v {
		s += nlogn(k)
	}
	return s
}

func clampZero(x float64) float64 {
	if x < 0 {
		return 0
	}
	return x
}

// bootstrapMI returns the centred percentile interval described at
// MutualInformation.
func (t *Table) bootstrapMI(estimate float64, opt Options) (Interval, int) {
	rng := newRand(opt.Seed, streamBootstrap)
	nf := float64(t.n)
	rows := make([]int, len(t.rows))
	cols := make([]int, len(t.cols))
	vals := make([]float64, 0, opt.Resamples)
	var sum float64
	alpha := (1 - opt.Level) / 2
	interval := func(vals []float64) Interval {
		sorted := slices.Clone(vals)
		slices.Sort(sorted)
		bias := sum/float64(len(vals)) - estimate
		return Interval{
			Lo:    clampZero(stats.Quantile(sorted, alpha) - bias),
			Hi:    clampZero(stats.Quantile(sorted, 1-alpha) - bias),
			Level: opt.Level,
		}
	}
	for range opt.Resamples {
		clear(rows)
		clear(cols)
		rem, massLeft := t.n, t.n
		var sCells float64
		kxy := 0
		for _, c := range t.cells {
			var k int
			if massLeft == c.N {
				k = rem
			} else {
				k = binomial(rng, rem, float64(c.N)/float64(massLeft))
			}
			massLeft -= c.N
			rem -= k
			if k == 0 {
				continue
			}
			kxy++
			sCells += nlogn(k)
			rows[c.X] += k
			cols[c.Y] += k
		}
		kx, sRows := nonZeroNLogN(rows)
		ky, sCols := nonZeroNLogN(cols)
		v := miFromSums(sCells, sRows, sCols, t.n) - float64(kxy-kx-ky+1)/(2*nf*math.Ln2)
		vals = append(vals, v)
		sum += v
		if len(vals) == bootstrapCheck && opt.Resamples > bootstrapCheck {
			if iv := interval(vals); iv.Hi-iv.Lo < bootstrapNarrow {
				return iv, len(vals)
			}
		}
	}
	return interval(vals), len(vals)
}

func nonZeroNLogN(v []int) (k int, s float64) {
	for _, n := range v {
		if n > 0 {
			k++
			s += nlogn(n)
		}
	}
	return k, s
}

// permuteMI counts the random tables with the margins of t whose sum of
// n*ln(n) over cells reaches observed.
func (t *Table) permuteMI(observed float64, perms int, seed uint64) int {
	rng := newRand(seed, streamPermutation)
	threshold := observed - 1e-9*math.Max(1, math.Abs(observed))
	rows := make([]int, len(t.rows))
	exceed := 0
	for range perms {
		if permutedNLogN(rng, t.rows, t.cols, t.n, rows) >= threshold {
			exceed++
		}
	}
	return exceed
}

// permutedNLogN draws a table with row sums rowSums and column sums
// colSums uniformly from those a label shuffle yields, and returns the
// sum of n*ln(n) over its cells. rows is scratch space of len(rowSums).
func permutedNLogN(rng *rand.Rand, rowSums, colSums []int, n int, rows []int) float64 {
	copy(rows, rowSums)
	left := n // samples not yet placed in a column
	var s float64
	last := len(colSums) - 1
	for y, c := range colSums {
		if y == last {
			// The last column takes what is left of every row.
			for _, k := range rows {
				s += nlogn(k)
			}
			break
		}
		urn := left // balls of the rows not yet visited in this column
		need := c
		for x, rx := range rows {
			if need == 0 {
				break
			}
			if rx == 0 {
				continue
			}
			k := hypergeometric(rng, urn, rx, need)
			urn -= rx
			need -= k
			rows[x] = rx - k
			s += nlogn(k)
		}
		left -= c
	}
	return s
}

// Leak returns the result as a mutual_information record. Extra keys:
// plug_in, correction, p_value, p_value_method (when tested), g, df,
// permutations, resamples, share, h_x, k_x, k_y, k_xy, reliable.
func (r MIResult) Leak(scope string) Leak {
	l := Leak{
		Metric: MetricMutualInformation,
		Scope:  scope,
		Value:  r.Bits,
		Unit:   UnitBits,
		N:      r.N,
		Extra: map[string]any{
			"plug_in":      r.PlugIn,
			"correction":   r.Correction,
			"p_value":      r.PValue,
			"g":            r.G,
			"df":           r.DF,
			"permutations": r.Permutations,
			"resamples":    r.Resamples,
			"share":        r.Share,
			"h_x":          r.HX,
			"k_x":          r.KX,
			"k_y":          r.KY,
			"k_xy":         r.KXY,
			"reliable":     r.Reliable,
		},
	}
	if r.CI.Valid() {
		l.CI = ptr(r.CI)
	}
	if r.PValueMethod != "" {
		l.Extra["p_value_method"] = r.PValueMethod
	}
	return l
}

// String formats the result for logs and tests.
func (r MIResult) String() string {
	s := strconv.FormatFloat(r.Bits, 'f', 3, 64) + " bits"
	if r.CI.Valid() {
		s += " [" + strconv.FormatFloat(r.CI.Lo, 'f', 3, 64) + ", " + strconv.FormatFloat(r.CI.Hi, 'f', 3, 64) + "]"
	}
	if r.PValueMethod != "" {
		s += " p=" + strconv.FormatFloat(r.PValue, 'g', 3, 64)
	}
	s += " n=" + strconv.Itoa(r.N)
	if !r.Reliable {
		s += " (unreliable)"
	}
	return s
}
