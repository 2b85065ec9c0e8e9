package leaks

import (
	"math/rand/v2"
	"strconv"
	"testing"
)

// The synthetic workload of the benchmarks: 20 resources with Zipf-like
// popularity, each with sizes spread over 24 bytes around its own centre,
// so that about 200 distinct sizes overlap between neighbours.
var benchLabels = func() []string {
	s := make([]string, 20)
	for i := range s {
		s[i] = "GET /r/" + strconv.Itoa(i)
	}
	return s
}()

func benchSample(r *rand.Rand) (int, uint64) {
	var x int
	for {
		x = int(r.ExpFloat64() * 6)
		if x < len(benchLabels) {
			break
		}
	}
	return x, uint64(40 + 9*x + r.IntN(24))
}

func benchTable(n int) *Table {
	r := rand.New(rand.NewPCG(1, 2))
	d := NewDiscrete(Limits{})
	ids := make([]LabelID, len(benchLabels))
	for i, l := range benchLabels {
		ids[i], _ = d.Intern(l)
	}
	for range n {
		x, s := benchSample(r)
		d.AddID(ids[x], s)
	}
	return d.Table()
}

func benchPoints(n int) *Points {
	r := rand.New(rand.NewPCG(3, 4))
	p := NewPoints(3, Limits{}, 1)
	for range n {
		x, s := benchSample(r)
		p.Add(benchLabels[x], float64(s), float64(x%2), r.ExpFloat64()*float64(1+x%3))
	}
	return p
}

func BenchmarkDiscreteAdd(b *testing.B) {
	d := NewDiscrete(Limits{})
	r := rand.New(rand.NewPCG(1, 2))
	const m = 4096
	xs := make([]int, m)
	ss := make([]uint64, m)
	for i := range m {
		xs[i], ss[i] = benchSample(r)
		d.Add(benchLabels[xs[i]], ss[i])
	}
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		d.Add(benchLabels[xs[i%m]], ss[i%m])
		i++
	}
}

func BenchmarkDiscreteAddID(b *testing.B) {
	d := NewDiscrete(Limits{})
	r := rand.New(rand.NewPCG(1, 2))
	const m = 4096
	xs := make([]LabelID, m)
	ss := make([]uint64, m)
	for i := range m {
		x, s := benchSample(r)
		xs[i], _ = d.Intern(benchLabels[x])
		ss[i] = s
		d.AddID(xs[i], s)
	}
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		d.AddID(xs[i%m], ss[i%m])
		i++
	}
}

// BenchmarkPointsAdd offers points to a full reservoir, the steady state.
func BenchmarkPointsAdd(b *testing.B) {
	p := benchPoints(DefaultMaxPoints)
	id, _ := p.Intern(benchLabels[0])
	b.ReportAllocs()
	v := 0.0
	for b.Loop() {
		v++
		p.AddID(id, v, 1, 0.5)
	}
}

func BenchmarkDelaysAdd(b *testing.B) {
	d := NewDelays(Limits{}, 1)
	r := rand.New(rand.NewPCG(5, 6))
	for range DefaultMaxPoints {
		d.Add("x", r.Float64())
	}
	b.ReportAllocs()
	for b.Loop() {
		d.Add("x", r.Float64())
	}
}

// BenchmarkBuild1M counts a million samples and snapshots the table.
func BenchmarkBuild1M(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		benchTable(1_000_000)
	}
}

// BenchmarkAnalyze1M computes M1-M4 (mutual information with interval
// and p-value, Bayes vulnerability, anonymity sets, nine padding schemes)
// on a table of a million samples: 20 labels, ~200 sizes.
func BenchmarkAnalyze1M(b *testing.B) {
	t := benchTable(1_000_000)
	b.Logf("labels %d values %d cells %d", len(t.Labels()), len(t.Values()), len(t.Cells()))
	b.ReportAllocs()
	for b.Loop() {
		Analyze("bench", t, Options{Seed: 1}, PaddingOptions{})
	}
}

func BenchmarkMIBootstrap1M(b *testing.B) {
	t := benchTable(1_000_000)
	for b.Loop() {
		t.MutualInformation(Options{Seed: 1, Permutations: -1})
	}
}

// BenchmarkMIPermutation runs the full 1000 shuffles on a table that fits
// the default budget: 5 labels, ~50 sizes.
func BenchmarkMIPermutation(b *testing.B) {
	r := rand.New(rand.NewPCG(7, 8))
	d := NewDiscrete(Limits{})
	for range 100_000 {
		x := r.IntN(5)
		d.Add(benchLabels[x], uint64(40+5*x+r.IntN(30)))
	}
	t := d.Table()
	mi := t.MutualInformation(Options{Seed: 1, Resamples: -1})
	b.Logf("df %d, %d permutations (%s)", mi.DF, mi.Permutations, mi.PValueMethod)
	for b.Loop() {
		t.MutualInformation(Options{Seed: 1, Resamples: -1})
	}
}

func BenchmarkAdvisePadding1M(b *testing.B) {
	t := benchTable(1_000_000)
	for b.Loop() {
		AdvisePadding(t, PaddingOptions{MI: Options{Seed: 1}})
	}
}

func BenchmarkKNNAccuracy(b *testing.B) {
	p := benchPoints(DefaultMaxPoints)
	for b.Loop() {
		p.KNNAccuracy(0)
	}
}

func BenchmarkRossMI(b *testing.B) {
	p := benchPoints(DefaultMaxPoints)
	for b.Loop() {
		p.MutualInformation(2, 0)
	}
}

func BenchmarkHypergeometric(b *testing.B) {
	r := rand.New(rand.NewPCG(1, 2))
	for b.Loop() {
		hypergeometric(r, 1_000_000, 50_000, 5000)
	}
}

func BenchmarkBinomial(b *testing.B) {
	r := rand.New(rand.NewPCG(1, 2))
	for b.Loop() {
		binomial(r, 1_000_000, 0.002)
	}
}
