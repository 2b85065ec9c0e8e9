package leaks

import (
	"math"
	"math/rand/v2"
	"slices"
	"strconv"
	"testing"
)

func gaussianPoints(r *rand.Rand, n int, sep float64) *Points {
	p := NewPoints(3, Limits{}, 1)
	for i := range n {
		x := i % 2
		p.Add("L"+strconv.Itoa(x),
			float64(x)*sep+r.NormFloat64(),
			float64(x)*sep+r.NormFloat64(),
			r.NormFloat64())
	}
	return p
}

func TestKNNSeparableAndOverlapping(t *testing.T) {
	r := rand.New(rand.NewPCG(31, 31))
	sep := gaussianPoints(r, 1000, 10).KNNAccuracy(0)
	if sep.Accuracy != 1 || sep.K != DefaultK || sep.N != 1000 || sep.Features != 3 || sep.Baseline != 0.5 {
		t.Errorf("separable: %+v", sep)
	}
	same := gaussianPoints(r, 2000, 0).KNNAccuracy(3)
	if same.Accuracy < 0.45 || same.Accuracy > 0.55 {
		t.Errorf("identical distributions: accuracy %v", same.Accuracy)
	}
	// Means 1 apart in two coordinates: sqrt(2) standard deviations; the
	// Bayes accuracy is Phi(sqrt(2)/2) = 0.760, and 3-NN stays below it.
	mid := gaussianPoints(r, 3000, 1).KNNAccuracy(3)
	if mid.Accuracy < 0.65 || mid.Accuracy > 0.77 {
		t.Errorf("overlapping: accuracy %v", mid.Accuracy)
	}
}

// knnBrute is the leave-one-out k-NN vote by a full scan: all points at
// the k-th smallest distance vote, ties split.
func knnBrute(p *Points, k int) float64 {
	z, d := p.standardised()
	n := len(p.lab)
	var correct float64
	for i := range n {
		dist := make([]float64, 0, n-1)
		for j := range n {
			if j == i {
				continue
			}
			var s float64
			for f := range d {
				dv := z[i*d+f] - z[j*d+f]
				s += dv * dv
			}
			dist = append(dist, s)
		}
		sorted := slices.Clone(dist)
		slices.Sort(sorted)
		dk := sorted[min(k, len(sorted))-1]
		votes := map[LabelID]int{}
		jj := 0
		for j := range n {
			if j == i {
				continue
			}
			if dist[jj] <= dk {
				votes[p.lab[j]]++
			}
			jj++
		}
		top, tied := 0, 0
		for _, v := range votes {
			switch {
			case v > top:
				top, tied = v, 1
			case v == top:
				tied++
			}
		}
		if votes[p.lab[i]] == top {
			correct += 1 / float64(tied)
		}
	}
	return correct / float64(n)
}

func TestKNNMatchesBruteForce(t *testing.T) {
	r := rand.New(rand.NewPCG(32, 32))
	for i := range 60 {
		p := NewPoints(3, Limits{}, uint64(i))
		n := 2 + r.IntN(80)
		for range n {
			// Small integer grids make many duplicates and distance ties.
			x := r.IntN(3)
			p.Add("L"+strconv.Itoa(x),
				float64(r.IntN(4)+x),
				float64(r.IntN(2)),
				float64(r.IntN(3))*0.5)
		}
		k := 1 + r.IntN(5)
		got, want := p.KNNAccuracy(k).Accuracy, knnBrute(p, k)
		if math.Abs(got-want) > 1e-9 {
			t.Fatalf("case %d (n %d, k %d): %v, brute force %v", i, n, k, got, want)
		}
	}
	// Continuous features, no ties.
	p := gaussianPoints(r, 400, 1)
	if got, want := p.KNNAccuracy(5).Accuracy, knnBrute(p, 5); math.Abs(got-want) > 1e-9 {
		t.Errorf("gaussian: %v, brute force %v", got, want)
	}
}

func TestKNNConstantFeatures(t *testing.T) {
	p := NewPoints(2, Limits{}, 1)
	for i := range 10 {
		p.Add("L"+strconv.Itoa(i%2), 5, 7)
	}
	r := p.KNNAccuracy(3)
	if r.Features != 0 || r.Accuracy != 0 { // a balanced pool minus oneself always votes the other label
		t.Errorf("%+v", r)
	}
}

func TestPointsReservoir(t *testing.T) {
	const stream, size, runs = 50, 10, 4000
	hits := make([]int, stream)
	for s := range runs {
		p := NewPoints(1, Limits{MaxPoints: size}, uint64(s))
		for i := range stream {
			p.Add("a", float64(i))
		}
		if p.Len() != size || p.Seen() != stream {
			t.Fatalf("len %d seen %d", p.Len(), p.Seen())
		}
		seen := map[float64]bool{}
		for _, v := range p.feat {
			if seen[v] {
				t.Fatalf("value %v kept twice", v)
			}
			seen[v] = true
			hits[int(v)]++
		}
	}
	// Each item is kept with probability size/stream = 0.2: 800 of 4000
	// runs, standard deviation 25.
	for i, h := range hits {
		if h < 800-125 || h > 800+125 {
			t.Errorf("item %d kept %d times of %d", i, h, runs)
		}
	}
}

func TestPointsDrops(t *testing.T) {
	p := NewPoints(2, Limits{MaxLabels: 1}, 1)
	p.Add("a", 1, math.NaN())
	p.Add("a", math.Inf(1), 1)
	p.Add("b", 1, 1)
	p.Add("a", 1, 1)
	if p.Len() != 1 || p.Dropped() != 3 {
		t.Errorf("len %d dropped %d", p.Len(), p.Dropped())
	}
	defer func() {
		if recover() == nil {
			t.Error("no panic for a wrong feature count")
		}
	}()
	p.Add("a", 1)
}

func TestPointsAddAllocs(t *testing.T) {
	p := NewPoints(3, Limits{MaxPoints: 64}, 1)
	id, _ := p.Intern("a")
	for range 64 {
		p.AddID(id, 1, 2, 3)
	}
	x := 0.5
	if n := testing.AllocsPerRun(1000, func() { p.Add("a", x, x, x) }); n != 0 {
		t.Errorf("Add: %v allocations", n)
	}
}

// TestRossDisjoint: labels with disjoint uniform supports are told apart
// exactly, so I(X;Y) = H(X): 1 bit for two labels, 2 for four.
func TestRossDisjoint(t *testing.T) {
	r := rand.New(rand.NewPCG(33, 33))
	for _, labels := range []int{2, 4} {
		p := NewPoints(1, Limits{}, 1)
		for i := range 4000 {
			x := i % labels
			p.Add("L"+strconv.Itoa(x), 3*float64(x)+r.Float64())
		}
		m := p.MutualInformation(0, 0)
		want := math.Log2(float64(labels))
		if math.Abs(m.Bits-want) > 0.01 || m.N != 4000 || m.K != DefaultK {
			t.Errorf("%d labels: %+v, want %v bits", labels, m, want)
		}
		if math.Abs(m.HX-want) > 1e-9 || m.Share < 0.99 {
			t.Errorf("H(X) %v share %v", m.HX, m.Share)
		}
	}
}

// TestRossIndependent: the same distribution for every label gives about
// 0 bits (the estimate's standard deviation is about 0.014 bits here).
func TestRossIndependent(t *testing.T) {
	r := rand.New(rand.NewPCG(34, 34))
	p := NewPoints(1, Limits{}, 1)
	for i := range 4000 {
		p.Add("L"+strconv.Itoa(i%3), r.NormFloat64())
	}
	m := p.MutualInformation(0, 3)
	if math.Abs(m.Raw) > 0.05 {
		t.Errorf("%+v", m)
	}
}

// TestRossGaussians compares with the exact mutual information of two
// equiprobable unit Gaussians 2 apart, by numerical integration.
func TestRossGaussians(t *testing.T) {
	const mu = 2.0
	phi := func(y, m float64) float64 { return math.Exp(-(y-m)*(y-m)/2) / math.Sqrt(2*math.Pi) }
	var exact float64
	const step = 1e-3
	for y := -10.0; y < 12; y += step {
		p0, p1 := phi(y, 0), phi(y, mu)
		m := (p0 + p1) / 2
		exact += step * 0.5 * (p0*math.Log2(p0/m) + p1*math.Log2(p1/m))
	}
	r := rand.New(rand.NewPCG(35, 35))
	p := NewPoints(1, Limits{MaxPoints: 8000}, 1)
	for i := range 8000 {
		x := i % 2
		p.Add("L"+strconv.Itoa(x), mu*float64(x)+r.NormFloat64())
	}
	m := p.MutualInformation(0, 3)
	if math.Abs(m.Bits-exact) > 0.03 {
		t.Errorf("estimate %v, exact %v", m.Bits, exact)
	}
}

func TestRossSmallLabels(t *testing.T) {
	p := NewPoints(1, Limits{}, 1)
	p.Add("lonely", 5)
	p.Add("a", 1)
	p.Add("a", 2)
	p.Add("b", 10)
	p.Add("b", 11)
	m := p.MutualInformation(0, 3) // k drops to 1 for labels of 2 points
	if m.N != 4 {
		t.Errorf("used %d points, want 4 (the single-point label left out)", m.N)
	}
	// psi(4) - psi(2) + psi(1) - psi(1) = 1/2 + 1/3 nats.
	if want := (0.5 + 1.0/3) / math.Ln2; math.Abs(m.Raw-want) > 1e-12 {
		t.Errorf("raw %v, want %v", m.Raw, want)
	}
}
