package leaks

import (
	"math/rand/v2"
	"strconv"
	"testing"
)

// benchLabels are the labels of the synthetic workload: 20 resources.
var benchLabels = func() []string {
	s := make([]string, 20)
	for i := range s {
		s[i] = "GET /r/" + strconv.Itoa(i)
	}
	return s
}()

// benchSample draws a label with Zipf-like weights and a size near a
// label-specific centre, so that ~200 distinct sizes overlap between
// neighbouring labels.
func benchSample(r *rand.Rand) (int, uint64) {
	var x int
	for {
		x = int(r.ExpFloat64() * 6)
		if x < len(benchLabels) {
			break
		}
	}
	size := 40 + 9*x + r.IntN(24)
	return x, uint64(size)
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

func BenchmarkDiscreteAdd(b *testing.B) {
	d := NewDiscrete(Limits{})
	r := rand.New(rand.NewPCG(1, 2))
	const m = 4096
	xs := make([]int, m)
	ss := make([]uint64, m)
	for i := range m {
		xs[i], ss[i] = benchSample(r)
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
	}
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		d.AddID(xs[i%m], ss[i%m])
		i++
	}
}

func BenchmarkMutualInformation1M(b *testing.B) {
	t := benchTable(1_000_000)
	b.Logf("labels %d values %d cells %d", len(t.Labels()), len(t.Values()), len(t.Cells()))
	b.ReportAllocs()
	for b.Loop() {
		t.MutualInformation(Options{Seed: 1})
	}
}

func BenchmarkBootstrap1M(b *testing.B) {
	t := benchTable(1_000_000)
	for b.Loop() {
		t.MutualInformation(Options{Seed: 1, Permutations: -1})
	}
}

func BenchmarkPermutation1M(b *testing.B) {
	t := benchTable(1_000_000)
	for b.Loop() {
		t.MutualInformation(Options{Seed: 1, Resamples: -1})
	}
}

func BenchmarkHypergeometricLarge(b *testing.B) {
	r := rand.New(rand.NewPCG(1, 2))
	for b.Loop() {
		hypergeometric(r, 1_000_000, 50_000, 5000)
	}
}

func BenchmarkHypergeometricSmall(b *testing.B) {
	r := rand.New(rand.NewPCG(1, 2))
	for b.Loop() {
		hypergeometric(r, 1_000_000, 500, 5000)
	}
}

func BenchmarkBinomialLarge(b *testing.B) {
	r := rand.New(rand.NewPCG(1, 2))
	for b.Loop() {
		binomial(r, 1_000_000, 0.002)
	}
}
