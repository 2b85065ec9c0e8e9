package leaks

import (
	"math"
	"strconv"
	"testing"
)

// FuzzEstimators builds a table from arbitrary bytes (label, size) and
// checks the invariants every estimator must keep.
func FuzzEstimators(f *testing.F) {
	f.Add([]byte{0, 10, 1, 20, 0, 10, 1, 20})
	f.Add([]byte{0, 1, 0, 2, 0, 3, 1, 1, 2, 2, 3, 3, 3, 200})
	f.Add([]byte{5, 5})
	f.Fuzz(func(t *testing.T, data []byte) {
		d := NewDiscrete(Limits{MaxCells: 64})
		for i := 0; i+1 < len(data); i += 2 {
			d.Add("L"+strconv.Itoa(int(data[i]%5)), uint64(data[i+1]))
		}
		tb := d.Table()
		if tb.N()+tb.Dropped() != len(data)/2 {
			t.Fatalf("N %d + dropped %d != %d", tb.N(), tb.Dropped(), len(data)/2)
		}
		mi := tb.MutualInformation(Options{Seed: 1, Resamples: 20, Permutations: 19})
		hy := 0.0
		if tb.N() > 0 {
			var s float64
			for y := range tb.Values() {
				s += nlogn(tb.ValueCount(y))
			}
			hy = entropyBits(s, tb.N())
		}
		hxPlug := mi.HX - float64(mi.KX-1)/(2*float64(max(mi.N, 1))*math.Ln2)
		if mi.Bits < 0 || mi.PlugIn > math.Min(hxPlug, hy)+1e-9 || mi.Share < 0 || mi.Share > 1 ||
			mi.PValue <= 0 || mi.PValue > 1 || (mi.CI.Valid() && mi.CI.Lo > mi.CI.Hi) || math.IsNaN(mi.Bits) {
			t.Fatalf("MI %+v (H(Y) %v)", mi, hy)
		}
		b := tb.Bayes()
		if b.V < 0 || b.V > b.VPlugIn+1e-12 || b.V0 > b.VPlugIn+1e-12 || b.VPlugIn > 1+1e-12 || b.LeakageBits < 0 {
			t.Fatalf("Bayes %+v", b)
		}
		a := tb.Anonymity()
		for _, s := range a.Sets {
			if s.Effective < 1-1e-9 || s.Effective > float64(s.Labels)+1e-9 {
				t.Fatalf("set %+v", s)
			}
		}
		for _, r := range AdvisePadding(tb, PaddingOptions{MI: Options{Seed: 1, Resamples: 10}}) {
			for _, v := range tb.Values() {
				if p := r.Scheme.Pad(v); p < v || (p != v && p < v+OSCOREMinPad) {
					t.Fatalf("%s pads %d to %d", r.Scheme.Name, v, p)
				}
			}
			if r.Overhead < 0 || math.IsNaN(r.Overhead) {
				t.Fatalf("%s overhead %v", r.Scheme.Name, r.Overhead)
			}
		}
		if s, err := OptimalBuckets(tb, 2, OSCOREMinPad); err == nil {
			pt := tb.Map(s.Pad)
			for y := range pt.Values() {
				if len(pt.Column(y)) < 2 {
					t.Fatalf("bucket %d holds one label", pt.Values()[y])
				}
			}
		}
		p := NewPoints(2, Limits{MaxPoints: 64}, 1)
		for i := 0; i+1 < len(data); i += 2 {
			p.Add("L"+strconv.Itoa(int(data[i]%3)), float64(data[i+1]), float64(data[i]>>4))
		}
		if k := p.KNNAccuracy(0); k.Accuracy < 0 || k.Accuracy > 1 {
			t.Fatalf("kNN %+v", k)
		}
		if m := p.MutualInformation(0, 0); math.IsNaN(m.Raw) || m.Bits < 0 {
			t.Fatalf("Ross %+v", m)
		}
	})
}
