package leaks

import (
	"math"
	"math/rand/v2"
	"strconv"
	"testing"
)

// TestBayesHandTable checks a table worked out by hand:
//
//	value   A  B  C
//	  1     3  1  .   A leads; A's 3 samples right, B's wrong
//	  2     1  2  .   without one B the column ties 1:1 -> 1/2 each
//	  3     1  .  .   alone: the prior, where A and B tie -> 1/2
//	  4     .  2  2   without any one sample the other label leads
//
// V = (3 + 2*(1/2) + 1/2 + 0) / 12 = 4.5/12, V0 = 5/12, plug-in V = 8/12.
func TestBayesHandTable(t *testing.T) {
	tb := tableOf([]string{"A", "B", "C"}, []uint64{1, 2, 3, 4},
		[][]int{{3, 1, 1, 0}, {1, 2, 0, 2}, {0, 0, 0, 2}})
	r := tb.Bayes()
	if !near(r.V, 4.5/12, 1e-15) || !near(r.V0, 5.0/12, 1e-15) || !near(r.VPlugIn, 8.0/12, 1e-15) {
		t.Errorf("V %v V0 %v plug-in %v", r.V, r.V0, r.VPlugIn)
	}
	if r.LeakageBits != 0 {
		t.Errorf("leakage %v, want 0 (V below V0)", r.LeakageBits)
	}
	if r.N != 12 {
		t.Errorf("N %d", r.N)
	}
}

// TestBayesBijection: four equiprobable labels with one size each; every
// sample is guessed right, and the min-entropy leakage is log2(1 / (1/4)).
func TestBayesBijection(t *testing.T) {
	tb := tableOf([]string{"a", "b", "c", "d"}, []uint64{1, 2, 3, 4},
		[][]int{{5, 0, 0, 0}, {0, 5, 0, 0}, {0, 0, 5, 0}, {0, 0, 0, 5}})
	r := tb.Bayes()
	if r.V != 1 || r.V0 != 0.25 || r.LeakageBits != 2 {
		t.Errorf("%+v", r)
	}
	l := r.Leak("s")
	if l.Metric != "bayes_vulnerability" || l.Value != 1 || l.Baseline == nil || *l.Baseline != 0.25 {
		t.Errorf("%+v", l)
	}
}

// looBrute scores every sample by recounting the table without it.
func looBrute(tb *Table) float64 {
	kx := len(tb.Labels())
	var correct float64
	for _, c := range tb.Cells() {
		for range c.N {
			col := make([]int, kx)
			for _, o := range tb.Column(c.Y) {
				col[o.X] = o.N
			}
			col[c.X]--
			sum := 0
			for _, n := range col {
				sum += n
			}
			if sum == 0 {
				col = append([]int(nil), tb.rows...)
			}
			top, tied := 0, 0
			for _, n := range col {
				switch {
				case n > top:
					top, tied = n, 1
				case n == top:
					tied++
				}
			}
			if col[c.X] == top {
				correct += 1 / float64(tied)
			}
		}
	}
	return correct / float64(tb.N())
}

func TestBayesMatchesBruteForce(t *testing.T) {
	r := rand.New(rand.NewPCG(21, 21))
	for i := range 300 {
		kx, ky := 1+r.IntN(4), 1+r.IntN(6)
		d := NewDiscrete(Limits{})
		for range 1 + r.IntN(40) {
			d.Add("L"+strconv.Itoa(r.IntN(kx)), uint64(r.IntN(ky)))
		}
		tb := d.Table()
		got, want := tb.Bayes().V, looBrute(tb)
		if math.Abs(got-want) > 1e-12 {
			t.Fatalf("case %d: V = %v, brute force %v; cells %v", i, got, want, tb.Cells())
		}
	}
}

func TestAnonymity(t *testing.T) {
	// value 1: a, b equally -> 2 labels, effective 2
	// value 2: a only        -> unique
	// value 3: a 3, b 1      -> effective 2^H(3/4, 1/4)
	tb := tableOf([]string{"a", "b"}, []uint64{1, 2, 3}, [][]int{{2, 4, 3}, {2, 0, 1}})
	r := tb.Anonymity()
	if len(r.Sets) != 3 {
		t.Fatalf("%d sets", len(r.Sets))
	}
	h := -(0.75*math.Log2(0.75) + 0.25*math.Log2(0.25))
	want := []AnonymitySet{
		{Value: 1, N: 4, Labels: 2, Effective: 2, Top: "a"},
		{Value: 2, N: 4, Labels: 1, Effective: 1, Top: "a"},
		{Value: 3, N: 4, Labels: 2, Effective: math.Exp2(h), Top: "a"},
	}
	for i, w := range want {
		g := r.Sets[i]
		if g.Value != w.Value || g.N != w.N || g.Labels != w.Labels || g.Top != w.Top || !near(g.Effective, w.Effective, 1e-12) {
			t.Errorf("set %d = %+v, want %+v", i, g, w)
		}
	}
	if !near(r.UniqueShare, 4.0/12, 1e-15) {
		t.Errorf("unique share %v", r.UniqueShare)
	}
	if !near(r.MeanEffective, (4*2+4*1+4*math.Exp2(h))/12, 1e-12) {
		t.Errorf("mean effective %v", r.MeanEffective)
	}
	ls := r.Leaks("GET /x")
	if len(ls) != 4 || ls[0].Scope != "GET /x" || ls[2].Scope != "GET /x value=2" || ls[2].Value != 1 || ls[2].Extra["unique"] != true {
		t.Errorf("leaks %+v", ls)
	}
}
