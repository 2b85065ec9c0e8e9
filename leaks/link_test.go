package leaks

import (
	"math"
	"testing"
)

func TestLinkExact(t *testing.T) {
	a, b, c, d := []byte("A"), []byte("B"), []byte("CC"), []byte("D")
	r := LinkExact([][]byte{a, b, c, c}, [][]byte{a, c, d})
	// a: one candidate; c: two equal ones (p = 1/2, 1 bit, degree 1); d:
	// none.
	want := LinkResult{Items: 3, NoCandidate: 1, Certain: 1, Linkability: 0.75, Entropy: 0.5, Degree: 0.5}
	if r != want {
		t.Errorf("%+v, want %+v", r, want)
	}
	r = LinkExact([][]byte{a, b, c}, [][]byte{c, b, a})
	if r.Linkability != 1 || r.Certain != 3 || r.Entropy != 0 || r.Degree != 0 {
		t.Errorf("identical legs: %+v", r)
	}
	l := r.Leak("proxy 127.0.0.22")
	if l.Metric != "linkability" || l.Value != 1 || l.Unit != "probability" || l.N != 3 {
		t.Errorf("%+v", l)
	}
	if _, ok := l.Extra["top1_accuracy"]; ok {
		t.Error("top-1 accuracy without ground truth")
	}
}

func TestLinksScores(t *testing.T) {
	var l Links
	l.Add([]float64{1, 1, 2}, 2) // p = 1/4, 1/4, 1/2: H = 1.5 bits, right
	l.Add([]float64{3, 3}, 0)    // tie: half right, H = 1
	l.Add([]float64{0, 5, math.NaN(), -1}, TruthAbsent)
	l.Add(nil, TruthUnknown)
	r := l.Result()
	if r.Items != 4 || r.NoCandidate != 1 || r.Certain != 1 || r.Known != 3 {
		t.Fatalf("%+v", r)
	}
	if !near(r.Top1, 1.5/3, 1e-15) {
		t.Errorf("top-1 %v", r.Top1)
	}
	if !near(r.Linkability, (0.5+0.5+1)/3, 1e-15) {
		t.Errorf("linkability %v", r.Linkability)
	}
	if !near(r.Entropy, (1.5+1+0)/3, 1e-15) {
		t.Errorf("entropy %v", r.Entropy)
	}
	// Degrees: 1.5/log2(3), 1/log2(2), 0 (one positive candidate of 4).
	if !near(r.Degree, (1.5/math.Log2(3)+1)/3, 1e-15) {
		t.Errorf("degree %v", r.Degree)
	}
}

func TestLinkByTiming(t *testing.T) {
	in := []LinkEvent{{Time: 2, Size: 30, ID: 3}, {Time: 0, Size: 10, ID: 1}, {Time: 1, Size: 20, ID: 2}}
	out := []LinkEvent{{Time: 0.1, Size: 10, ID: 1}, {Time: 1.1, Size: 20, ID: 2}, {Time: 2.05, Size: 30, ID: 3}}
	r := LinkByTiming(in, out, LinkModel{MaxDelay: 0.5})
	if r.Linkability != 1 || r.Top1 != 1 || r.Known != 3 || r.Certain != 3 {
		t.Errorf("narrow window: %+v", r)
	}
	// A 1.5 s window gives the second and third out events two
	// candidates each; with equal weights the guess is a coin toss.
	r = LinkByTiming(in, out, LinkModel{MaxDelay: 1.5})
	if !near(r.Top1, (1+0.5+0.5)/3, 1e-15) || !near(r.Linkability, (1+0.5+0.5)/3, 1e-15) {
		t.Errorf("wide window: %+v", r)
	}
	// Weighting short delays picks the right one.
	r = LinkByTiming(in, out, LinkModel{MaxDelay: 1.5, Score: func(d float64, _, _ int) float64 { return math.Exp(-d / 0.2) }})
	if r.Top1 != 1 || r.Linkability <= 0.9 || r.Linkability >= 1 {
		t.Errorf("weighted: %+v", r)
	}
	// Sizes rule candidates out too.
	r = LinkByTiming(in, out, LinkModel{MaxDelay: 1.5, SizeOK: func(a, b int) bool { return a == b }})
	if r.Top1 != 1 || r.Linkability != 1 {
		t.Errorf("size filter: %+v", r)
	}
	// A minimum delay above the real one loses the truth.
	r = LinkByTiming(in, out, LinkModel{MinDelay: 0.2, MaxDelay: 1.5})
	if r.Top1 != 0 || r.NoCandidate != 1 {
		t.Errorf("min delay: %+v", r)
	}
}
