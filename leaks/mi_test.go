package leaks

import (
	"math"
	"math/rand/v2"
	"strconv"
	"testing"
)

func near(a, b, tol float64) bool { return math.Abs(a-b) <= tol }

// TestMIKnownTable checks the plug-in value and the Miller-Madow term on a
// table whose mutual information has a closed form: p(x,y) = 3/8 on the
// diagonal and 1/8 off it, so I = 3/4 log2(3/2) + 1/4 log2(1/2).
func TestMIKnownTable(t *testing.T) {
	tb := tableOf([]string{"a", "b"}, []uint64{1, 2}, [][]int{{30, 10}, {10, 30}})
	r := tb.MutualInformation(Options{Seed: 1})
	want := 0.75*math.Log2(1.5) - 0.25
	if !near(r.PlugIn, want, 1e-12) {
		t.Errorf("plug-in %.15f, want %.15f", r.PlugIn, want)
	}
	corr := 1 / (2 * 80 * math.Ln2) // (4 - 2 - 2 + 1) / (2 N ln 2)
	if !near(r.Correction, corr, 1e-15) || !near(r.Bits, want-corr, 1e-12) {
		t.Errorf("correction %v bits %v, want %v and %v", r.Correction, r.Bits, corr, want-corr)
	}
	if !near(r.HX, 1+1/(2*80*math.Ln2), 1e-12) {
		t.Errorf("H(X) = %v", r.HX)
	}
	if r.KX != 2 || r.KY != 2 || r.KXY != 4 || r.N != 80 || !r.Reliable || r.DF != 1 {
		t.Errorf("counts %+v", r)
	}
	if !near(r.G, 2*80*math.Ln2*want, 1e-9) {
		t.Errorf("G = %v", r.G)
	}
	if !(r.CI.Lo <= r.Bits && r.Bits <= r.CI.Hi) || r.CI.Level != 0.95 {
		t.Errorf("interval %+v does not hold the estimate %v", r.CI, r.Bits)
	}
	if r.PValueMethod != PValuePermutation || r.Permutations != DefaultPermutations || r.Resamples != DefaultResamples {
		t.Errorf("method %q permutations %d resamples %d", r.PValueMethod, r.Permutations, r.Resamples)
	}
	// The exact permutation p-value of a 2x2 table is a hypergeometric
	// tail; G = 12.6 here, p ~ 4e-4: no shuffle in 1000 should reach it
	// more than a few times.
	if r.PValue > 0.01 {
		t.Errorf("p = %v", r.PValue)
	}
}

// TestMIBijection: four equiprobable labels, each with its own size. The
// plug-in value is H(X) = 2 bits, and the Miller-Madow term is
// (4 - 4 - 4 + 1) / (2 N ln 2), so the estimate equals the corrected
// entropy of X.
func TestMIBijection(t *testing.T) {
	const n = 40
	tb := tableOf([]string{"a", "b", "c", "d"}, []uint64{10, 20, 30, 40},
		[][]int{{10, 0, 0, 0}, {0, 10, 0, 0}, {0, 0, 10, 0}, {0, 0, 0, 10}})
	r := tb.MutualInformation(Options{Seed: 2})
	if !near(r.PlugIn, 2, 1e-12) {
		t.Errorf("plug-in %.17g, want 2", r.PlugIn)
	}
	corr := -3 / (2 * n * math.Ln2)
	if !near(r.Correction, corr, 1e-15) {
		t.Errorf("correction %.17g, want %.17g", r.Correction, corr)
	}
	if !near(r.Bits, 2-corr, 1e-12) || !near(r.HX, r.Bits, 1e-12) || r.Share != 1 {
		t.Errorf("bits %v H(X) %v share %v", r.Bits, r.HX, r.Share)
	}
	if !r.Reliable {
		t.Error("40 samples in 4 cells reported unreliable")
	}
	if r.PValue != 1.0/1001 {
		t.Errorf("p = %v, want 1/1001", r.PValue)
	}
	if r.CI.Lo > r.Bits || r.CI.Hi < r.Bits || r.CI.Lo < 1.5 {
		t.Errorf("interval %+v around %v", r.CI, r.Bits)
	}
}

// TestMIExactlyIndependent: counts are the product of their margins, so
// the plug-in estimate is 0 and the corrected one is clamped at 0.
func TestMIExactlyIndependent(t *testing.T) {
	rows := []int{1, 2, 3}
	cols := []int{4, 1, 2, 3, 5}
	counts := make([][]int, len(rows))
	for x := range rows {
		counts[x] = make([]int, len(cols))
		for y := range cols {
			counts[x][y] = 2 * rows[x] * cols[y]
		}
	}
	tb := tableOf([]string{"a", "b", "c"}, []uint64{1, 2, 3, 4, 5}, counts)
	r := tb.MutualInformation(Options{Seed: 3})
	if !near(r.PlugIn, 0, 1e-12) || r.Bits != 0 || r.Share != 0 {
		t.Errorf("plug-in %v bits %v share %v", r.PlugIn, r.Bits, r.Share)
	}
	if r.CI.Lo != 0 {
		t.Errorf("interval %+v excludes 0", r.CI)
	}
	if r.PValue < 0.5 {
		t.Errorf("p = %v for a table that fits independence exactly", r.PValue)
	}
}

// sampleTable draws n samples from the joint distribution p[x][y].
func sampleTable(r *rand.Rand, n int, p [][]float64) *Table {
	var cum []float64
	var cells [][2]int
	var acc float64
	for x := range p {
		for y := range p[x] {
			acc += p[x][y]
			cum = append(cum, acc)
			cells = append(cells, [2]int{x, y})
		}
	}
	d := NewDiscrete(Limits{})
	for range n {
		u := r.Float64() * acc
		i := 0
		for i < len(cum)-1 && cum[i] <= u {
			i++
		}
		d.Add("L"+strconv.Itoa(cells[i][0]), uint64(cells[i][1]))
	}
	return d.Table()
}

func uniformJoint(kx, ky int) [][]float64 {
	p := make([][]float64, kx)
	for x := range p {
		p[x] = make([]float64, ky)
		for y := range p[x] {
			p[x][y] = 1
		}
	}
	return p
}

// TestMIIndependentCoverage: on independent data the corrected estimate
// is near 0 and its interval holds 0, in nearly all of many data sets.
func TestMIIndependentCoverage(t *testing.T) {
	r := rand.New(rand.NewPCG(4, 4))
	const sets = 100
	covered := 0
	var sum float64
	for i := range sets {
		tb := sampleTable(r, 500, uniformJoint(3, 8))
		mi := tb.MutualInformation(Options{Seed: uint64(i), Permutations: -1, Resamples: 400})
		sum += mi.Bits
		if mi.CI.Lo == 0 {
			covered++
		}
	}
	// The plug-in bias alone would be about (2*7)/(2*500*ln 2) = 0.02 bits.
	if mean := sum / sets; mean > 0.01 {
		t.Errorf("mean corrected estimate %v bits on independent data", mean)
	}
	t.Logf("mean %.4f bits, interval held 0 in %d of %d", sum/sets, covered, sets)
	if covered < 90 {
		t.Errorf("interval held 0 in %d of %d data sets", covered, sets)
	}
}

// TestMICoverage: the interval covers the true value of the 2x2 table of
// TestMIKnownTable in about 95% of samples of it.
func TestMICoverage(t *testing.T) {
	truth := 0.75*math.Log2(1.5) - 0.25
	r := rand.New(rand.NewPCG(5, 5))
	p := [][]float64{{3, 1}, {1, 3}}
	const sets = 200
	covered := 0
	for i := range sets {
		tb := sampleTable(r, 400, p)
		mi := tb.MutualInformation(Options{Seed: uint64(i), Permutations: -1, Resamples: 400})
		if mi.CI.Lo <= truth && truth <= mi.CI.Hi {
			covered++
		}
	}
	t.Logf("covered %d of %d", covered, sets)
	if covered < 180 || covered == sets {
		t.Errorf("interval covered the truth in %d of %d samples", covered, sets)
	}
}

// TestPermutationExact2x2 compares the Monte Carlo p-value with the exact
// permutation p-value of a 2x2 table, a hypergeometric tail over the
// upper-left cell.
func TestPermutationExact2x2(t *testing.T) {
	counts := [][]int{{9, 5}, {4, 10}}
	tb := tableOf([]string{"a", "b"}, []uint64{1, 2}, counts)
	r1, c1, n := 14, 13, 28
	stat := func(a int) float64 {
		return nlogn(a) + nlogn(r1-a) + nlogn(c1-a) + nlogn(n-r1-c1+a)
	}
	obs := stat(counts[0][0])
	var exact float64
	for a := max(0, r1+c1-n); a <= min(r1, c1); a++ {
		if stat(a) >= obs-1e-9 {
			exact += math.Exp(logFactorial(r1) - logFactorial(a) - logFactorial(r1-a) +
				logFactorial(n-r1) - logFactorial(c1-a) - logFactorial(n-r1-c1+a) -
				(logFactorial(n) - logFactorial(c1) - logFactorial(n-c1)))
		}
	}
	const perms = 20000
	mi := tb.MutualInformation(Options{Seed: 6, Permutations: perms, PermutationWork: perms, Resamples: -1})
	se := math.Sqrt(exact * (1 - exact) / perms)
	if mi.PValueMethod != PValuePermutation || math.Abs(mi.PValue-exact) > 4*se {
		t.Errorf("p = %v (%s), exact %v (se %v)", mi.PValue, mi.PValueMethod, exact, se)
	}
}

// TestPermutationMatchesShuffles compares the table-based permutation test
// with shuffling the labels of the raw samples on a 3x4 table.
func TestPermutationMatchesShuffles(t *testing.T) {
	counts := [][]int{{5, 3, 1, 0}, {2, 4, 2, 1}, {1, 1, 3, 4}}
	tb := tableOf([]string{"a", "b", "c"}, []uint64{1, 2, 3, 4}, counts)
	var xs, ys []int
	for x := range counts {
		for y, n := range counts[x] {
			for range n {
				xs = append(xs, x)
				ys = append(ys, y)
			}
		}
	}
	sCells := func(xs []int) float64 {
		var c [3][4]int
		for i := range xs {
			c[xs[i]][ys[i]]++
		}
		var s float64
		for x := range c {
			for y := range c[x] {
				s += nlogn(c[x][y])
			}
		}
		return s
	}
	obs := sCells(xs)
	r := rand.New(rand.NewPCG(9, 9))
	const perms = 20000
	exceed := 0
	for range perms {
		r.Shuffle(len(xs), func(i, j int) { xs[i], xs[j] = xs[j], xs[i] })
		if sCells(xs) >= obs-1e-9 {
			exceed++
		}
	}
	ref := float64(1+exceed) / (1 + perms)
	mi := tb.MutualInformation(Options{Seed: 10, Permutations: perms, PermutationWork: 6 * perms, Resamples: -1})
	se := math.Sqrt(2 * ref * (1 - ref) / perms)
	if math.Abs(mi.PValue-ref) > 4*se {
		t.Errorf("table permutation p = %v, raw shuffles p = %v (se %v)", mi.PValue, ref, se)
	}
}

// TestPermutationNullUniform: on independent data the p-value is about
// uniform, so p < 0.05 happens in about 5% of data sets.
func TestPermutationNullUniform(t *testing.T) {
	r := rand.New(rand.NewPCG(11, 11))
	const sets = 300
	small := 0
	var sum float64
	for i := range sets {
		tb := sampleTable(r, 200, uniformJoint(3, 4))
		mi := tb.MutualInformation(Options{Seed: uint64(i), Permutations: 199, Resamples: -1})
		if mi.PValueMethod != PValuePermutation {
			t.Fatalf("method %q", mi.PValueMethod)
		}
		sum += mi.PValue
		if mi.PValue < 0.05 {
			small++
		}
	}
	t.Logf("p < 0.05 in %d of %d, mean p %.3f", small, sets, sum/sets)
	// Binomial(300, 0.05): mean 15, sd 3.8.
	if small < 4 || small > 30 {
		t.Errorf("p < 0.05 in %d of %d independent data sets", small, sets)
	}
	if mean := sum / sets; mean < 0.4 || mean > 0.6 {
		t.Errorf("mean p-value %v on independent data", mean)
	}
}

// TestPermutationDeterministicSmall: a deterministic mapping with N = 40
// gets a small p-value.
func TestPermutationDeterministicSmall(t *testing.T) {
	tb := tableOf([]string{"a", "b"}, []uint64{1, 2}, [][]int{{20, 0}, {0, 20}})
	r := tb.MutualInformation(Options{Seed: 12})
	if r.PValue >= 0.01 {
		t.Errorf("p = %v", r.PValue)
	}
}

func TestMIGTestForLargeTables(t *testing.T) {
	r := rand.New(rand.NewPCG(13, 13))
	tb := sampleTable(r, 20000, uniformJoint(10, 40))
	mi := tb.MutualInformation(Options{Seed: 1, Resamples: -1, PermutationWork: 1000})
	if mi.PValueMethod != PValueGTest || mi.Permutations != 0 || mi.DF != 9*39 {
		t.Fatalf("method %q permutations %d df %d", mi.PValueMethod, mi.Permutations, mi.DF)
	}
	if want := gammaQ(float64(mi.DF)/2, mi.G/2); mi.PValue != want || mi.PValue < 0.001 {
		t.Errorf("p = %v, want %v", mi.PValue, want)
	}
	// A budget that fits at least 99 permutations runs that many.
	mi = tb.MutualInformation(Options{Seed: 1, Resamples: -1, PermutationWork: 200 * mi.DF})
	if mi.PValueMethod != PValuePermutation || mi.Permutations != 200 {
		t.Errorf("method %q permutations %d", mi.PValueMethod, mi.Permutations)
	}
}

func TestMIDeterministic(t *testing.T) {
	r := rand.New(rand.NewPCG(14, 14))
	tb := sampleTable(r, 300, [][]float64{{2, 1, 0}, {1, 2, 1}})
	a := tb.MutualInformation(Options{Seed: 7})
	b := tb.MutualInformation(Options{Seed: 7})
	c := tb.MutualInformation(Options{Seed: 8})
	if a != b {
		t.Errorf("same seed, different results: %+v vs %+v", a, b)
	}
	if a.CI == c.CI {
		t.Errorf("different seeds, same interval %+v", a.CI)
	}
	if a.Bits != c.Bits {
		t.Error("the estimate depends on the seed")
	}
}

func TestMIUnreliable(t *testing.T) {
	tb := tableOf([]string{"a", "b"}, []uint64{1, 2, 3}, [][]int{{2, 1, 0}, {0, 1, 2}})
	if r := tb.MutualInformation(Options{Resamples: -1, Permutations: -1}); r.Reliable || r.CI.Valid() || r.PValueMethod != "" {
		t.Errorf("%+v", r)
	}
}

func TestMILeak(t *testing.T) {
	tb := tableOf([]string{"a", "b"}, []uint64{1, 2}, [][]int{{30, 10}, {10, 30}})
	l := tb.MutualInformation(Options{Seed: 1}).Leak("GET /x")
	if l.Metric != "mutual_information" || l.Unit != "bits" || l.Scope != "GET /x" || l.N != 80 || l.CI == nil {
		t.Errorf("%+v", l)
	}
	for _, k := range []string{"p_value", "p_value_method", "share", "reliable", "correction", "plug_in"} {
		if _, ok := l.Extra[k]; !ok {
			t.Errorf("no %s in %v", k, l.Extra)
		}
	}
}

// TestMIBootstrapStopsEarly: with a million samples the interval is far
// narrower than 0.01 bits after 200 resamples, and the rest are skipped.
func TestMIBootstrapStopsEarly(t *testing.T) {
	tb := tableOf([]string{"a", "b"}, []uint64{1, 2}, [][]int{{300_000, 100_000}, {100_000, 300_000}})
	r := tb.MutualInformation(Options{Seed: 1, Permutations: -1})
	truth := 0.75*math.Log2(1.5) - 0.25
	if r.Resamples != 200 || !(r.CI.Lo <= r.Bits && r.Bits <= r.CI.Hi) || r.CI.Hi-r.CI.Lo > 0.01 || math.Abs(r.Bits-truth) > 1e-5 {
		t.Errorf("%+v", r)
	}
	small := tableOf([]string{"a", "b"}, []uint64{1, 2}, [][]int{{30, 10}, {10, 30}})
	if r := small.MutualInformation(Options{Seed: 1, Permutations: -1}); r.Resamples != DefaultResamples {
		t.Errorf("80 samples: %d resamples", r.Resamples)
	}
}
