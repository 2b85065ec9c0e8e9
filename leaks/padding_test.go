package leaks

import (
	"math"
	"math/bits"
	"math/rand/v2"
	"strconv"
	"testing"
)

// TestPadmeLen checks values worked out from the definition: E =
// floor(log2 L), S = floor(log2 E) + 1, the low E-S bits round up.
func TestPadmeLen(t *testing.T) {
	for _, c := range []struct{ in, want uint64 }{
		{0, 0}, {1, 1}, {2, 2}, {3, 3}, // E <= 1: no bits to clear
		{4, 4}, {7, 7}, // E = 2, S = 2
		{8, 8}, {9, 10}, {11, 12}, {15, 16}, // E = 3, S = 2: one bit
		{17, 18}, {31, 32}, // E = 4, S = 3: one bit
		{33, 36}, {63, 64}, // E = 5: two bits
		{65, 72}, {100, 104}, // E = 6: three bits
		{129, 144}, {255, 256}, // E = 7, S = 3: four bits
		{1000, 1024}, {1025, 1088}, // E = 9 and 10, S = 4
		{1 << 20, 1 << 20}, {1<<20 + 1, 1<<20 + 1<<15}, // E = 20, S = 5
	} {
		if got := PadmeLen(c.in); got != c.want {
			t.Errorf("PadmeLen(%d) = %d, want %d", c.in, got, c.want)
		}
	}
}

// TestPadmeProperties checks the published properties over all lengths up
// to 2^20: the overhead stays below 12% (the worst case is 129 -> 144,
// 11.6%), padded lengths keep at most S bits below the leading one,
// padding is monotone and idempotent.
func TestPadmeProperties(t *testing.T) {
	worst, worstL := 0.0, uint64(0)
	prev := uint64(0)
	for L := uint64(2); L <= 1<<20; L++ {
		p := PadmeLen(L)
		if p < L || p < prev {
			t.Fatalf("PadmeLen(%d) = %d (previous %d)", L, p, prev)
		}
		prev = p
		if PadmeLen(p) != p {
			t.Fatalf("PadmeLen(PadmeLen(%d)) = %d, not %d", L, PadmeLen(p), p)
		}
		e := bits.Len64(L) - 1
		s := bits.Len64(uint64(e))
		if sig := bits.Len64(p) - bits.TrailingZeros64(p); sig > s+1 {
			t.Fatalf("PadmeLen(%d) = %b has %d significant bits, S = %d", L, p, sig, s)
		}
		if o := float64(p-L) / float64(L); o > worst {
			worst, worstL = o, L
		}
	}
	if worstL != 129 || worst >= 0.12 {
		t.Errorf("worst overhead %.4f at %d", worst, worstL)
	}
}

func TestBlockAndPowerOfTwo(t *testing.T) {
	b16 := Block(16)
	pow := PowerOfTwo()
	for _, c := range []struct{ in, block, pow uint64 }{
		{0, 0, 0}, {1, 16, 1}, {2, 16, 2}, {3, 16, 4}, {16, 16, 16}, {17, 32, 32}, {100, 112, 128}, {128, 128, 128},
	} {
		if got := b16.Pad(c.in); got != c.block {
			t.Errorf("block16(%d) = %d, want %d", c.in, got, c.block)
		}
		if got := pow.Pad(c.in); got != c.pow {
			t.Errorf("pow2(%d) = %d, want %d", c.in, got, c.pow)
		}
	}
	if b16.Name != "block16" || b16.Desc != "padding to 16-byte blocks" {
		t.Errorf("%q %q", b16.Name, b16.Desc)
	}
}

// TestWithMinPad: OSCORE padding adds 0 or at least 3 bytes, and the
// restricted schemes round up to the next allowed target.
func TestWithMinPad(t *testing.T) {
	b8 := Block(8).WithMinPad(OSCOREMinPad)
	for _, c := range []struct{ in, want uint64 }{
		{16, 16}, // no padding needed
		{13, 16}, // 3 bytes: allowed
		{14, 24}, // 2 bytes would be too few: next block
		{15, 24},
	} {
		if got := b8.Pad(c.in); got != c.want {
			t.Errorf("block8/min3(%d) = %d, want %d", c.in, got, c.want)
		}
	}
	if got := Padme().WithMinPad(3).Pad(27); got != 30 { // Padmé: 28 (+1), so 30
		t.Errorf("padme/min3(27) = %d, want 30", got)
	}
	if got := PowerOfTwo().WithMinPad(3).Pad(63); got != 128 {
		t.Errorf("pow2/min3(63) = %d, want 128", got)
	}

	r := rand.New(rand.NewPCG(41, 41))
	tb := randomSizeTable(r, 6, 40, 3)
	for _, s := range DefaultSchemes(tb, 2, OSCOREMinPad) {
		for v := uint64(0); v < 3000; v++ {
			if p := s.Pad(v); p < v || (p != v && p < v+OSCOREMinPad) {
				t.Fatalf("%s pads %d to %d", s.Name, v, p)
			}
		}
	}
}

// randomSizeTable draws n samples of kx labels over m distinct sizes
// between 10 and 10+3m.
func randomSizeTable(r *rand.Rand, m, n, kx int) *Table {
	sizes := make([]uint64, m)
	for i := range sizes {
		sizes[i] = uint64(10 + i*3 + r.IntN(3))
	}
	d := NewDiscrete(Limits{})
	for range n {
		d.Add("L"+strconv.Itoa(r.IntN(kx)), sizes[r.IntN(m)])
	}
	return d.Table()
}

// bruteBuckets returns the least bytes added over all partitions of the
// values of t into contiguous buckets of at least k labels, or +Inf.
func bruteBuckets(t *Table, k int, minPad uint64) float64 {
	m := len(t.values)
	best := math.Inf(1)
	for mask := 0; mask < 1<<(m-1); mask++ { // bit i: a bucket ends after value i
		cost := 0.0
		ok := true
		start := 0
		for j := range m {
			if j < m-1 && mask&(1<<j) == 0 {
				continue
			}
			labels := map[int]bool{}
			for i := start; i <= j; i++ {
				for _, c := range t.Column(i) {
					labels[c.X] = true
				}
			}
			if len(labels) < k {
				ok = false
				break
			}
			target := bucketTarget(t.values, start, j, minPad)
			for i := start; i <= j; i++ {
				cost += float64(t.cols[i]) * float64(target-t.values[i])
			}
			start = j + 1
		}
		if ok && cost < best {
			best = cost
		}
	}
	return best
}

func addedBytes(t *Table, s Scheme) float64 {
	var a float64
	for _, c := range t.cells {
		a += float64(c.N) * float64(s.Pad(t.values[c.Y])-t.values[c.Y])
	}
	return a
}

func TestOptimalBucketsBruteForce(t *testing.T) {
	r := rand.New(rand.NewPCG(42, 42))
	for i := range 400 {
		tb := randomSizeTable(r, 1+r.IntN(9), 1+r.IntN(40), 1+r.IntN(4))
		k := 1 + r.IntN(3)
		minPad := uint64(1 + 2*r.IntN(2))
		want := bruteBuckets(tb, k, minPad)
		s, err := OptimalBuckets(tb, k, minPad)
		if math.IsInf(want, 1) {
			if err != ErrTooFewLabels {
				t.Fatalf("case %d: infeasible, got err %v", i, err)
			}
			continue
		}
		if err != nil {
			t.Fatalf("case %d: %v", i, err)
		}
		if got := addedBytes(tb, s); got != want {
			t.Fatalf("case %d (k %d, minPad %d): DP adds %v bytes, brute force %v; values %v", i, k, minPad, got, want, tb.values)
		}
		// Every padded size holds at least k labels, and every padding is
		// 0 or at least minPad.
		pt := tb.Map(s.Pad)
		for y := range pt.values {
			if len(pt.Column(y)) < k {
				t.Fatalf("case %d: padded size %d has %d labels", i, pt.values[y], len(pt.Column(y)))
			}
		}
		for _, v := range tb.values {
			if p := s.Pad(v); p != v && p < v+minPad {
				t.Fatalf("case %d: %d padded to %d", i, v, p)
			}
		}
	}
}

func TestOptimalBucketsMinPad(t *testing.T) {
	// 10: a, 11: b, 12: a and b. With k = 2 and a 3-byte minimum the best
	// is {10, 11} -> 14 (11 + 3, since 10 + 3 > 11) and {12} -> 12.
	tb := tableOf([]string{"a", "b"}, []uint64{10, 11, 12}, [][]int{{1, 0, 1}, {0, 1, 1}})
	s, err := OptimalBuckets(tb, 2, 3)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct{ in, want uint64 }{{10, 14}, {11, 14}, {12, 12}, {13, 13}, {9, 14}} {
		if got := s.Pad(c.in); got != c.want {
			t.Errorf("Pad(%d) = %d, want %d", c.in, got, c.want)
		}
	}
	if s.Name != "buckets-all" {
		t.Errorf("name %q", s.Name)
	}
	if _, err := OptimalBuckets(tb, 3, 3); err != ErrTooFewLabels {
		t.Errorf("k = 3 with 2 labels: %v", err)
	}
}

// valveTable: GET /a is 20 bytes, PUT /a 27, GET /b 40, 30 samples each.
func valveTable() *Table {
	return tableOf([]string{"GET /a", "PUT /a", "GET /b"}, []uint64{20, 27, 40},
		[][]int{{30, 0, 0}, {0, 30, 0}, {0, 0, 30}})
}

func TestAdvisePadding(t *testing.T) {
	res := AdvisePadding(valveTable(), PaddingOptions{MI: Options{Seed: 1}})
	byName := map[string]PaddingResult{}
	for _, r := range res {
		byName[r.Scheme.Name] = r
	}
	if len(byName) != len(res) || len(res) != 9 {
		names := []string{}
		for _, r := range res {
			names = append(names, r.Scheme.Name)
		}
		t.Fatalf("schemes %v", names)
	}
	// The only bucketing with 2 labels per bucket pads everything to 40:
	// 20 + 13 bytes per pair of samples over 87.
	first := res[0]
	if first.Scheme.Name != "buckets-k2" || !first.Recommended || !first.Removes {
		t.Errorf("first %s recommended %v removes %v", first.Scheme.Name, first.Recommended, first.Removes)
	}
	if want := 100 * 33.0 / 87; !near(first.Overhead, want, 1e-9) || first.Added != 33*30 || first.Original != 87*30 {
		t.Errorf("overhead %v (added %d of %d), want %v", first.Overhead, first.Added, first.Original, want)
	}
	// One size left: no information, and leave-one-out guessing of three
	// balanced labels does no better than the baseline.
	if first.MI.Bits != 0 || first.MI.KY != 1 || first.Bayes.V > first.Bayes.V0 || first.Anonymity.UniqueShare != 0 {
		t.Errorf("leak left: %v, V %v", first.MI, first.Bayes.V)
	}
	// 64-byte blocks also merge all three, at a higher cost.
	b64 := byName["block64"]
	if !b64.Removes || b64.Recommended || !near(b64.Overhead, 100*105.0/87, 1e-9) {
		t.Errorf("block64: %+v", b64)
	}
	// 16-byte blocks merge the two methods but not the resource.
	b16 := byName["block16"]
	if b16.Removes || b16.MI.KY != 2 || b16.Anonymity.UniqueShare != 1.0/3 {
		t.Errorf("block16: removes %v values %d unique %v", b16.Removes, b16.MI.KY, b16.Anonymity.UniqueShare)
	}
	// Padmé under the 3-byte rule: 27 would become 28, so it becomes 30.
	if pm := byName["padme"]; pm.Added != 3*30 {
		t.Errorf("padme added %d", pm.Added)
	}
	none := byName["none"]
	if none.Overhead != 0 || none.Removes || !near(none.MI.PlugIn, math.Log2(3), 1e-12) {
		t.Errorf("none: %+v", none)
	}
	// Schemes that remove the leak come first, by overhead; the rest by
	// leak left.
	seenRest := false
	for i, r := range res {
		if !r.Removes {
			seenRest = true
		} else if seenRest {
			t.Errorf("%s removes the leak but comes after one that does not", r.Scheme.Name)
		}
		if i > 0 && r.Removes && res[i-1].Removes && r.Overhead < res[i-1].Overhead {
			t.Errorf("%s is cheaper than %s before it", r.Scheme.Name, res[i-1].Scheme.Name)
		}
		if i > 0 && r.Recommended {
			t.Errorf("%s recommended at position %d", r.Scheme.Name, i)
		}
	}
	l := first.Leak("req")
	if l.Metric != "padding" || l.Unit != "percent" || l.Extra["recommended"] != true || l.Extra["scheme"] != "buckets-k2" {
		t.Errorf("%+v", l)
	}
}

func TestAdviseNoLeak(t *testing.T) {
	// Size independent of label: no padding needed.
	tb := tableOf([]string{"a", "b"}, []uint64{10, 20}, [][]int{{100, 100}, {100, 100}})
	res := AdvisePadding(tb, PaddingOptions{MI: Options{Seed: 1}})
	if res[0].Scheme.Name != "none" || !res[0].Recommended || res[0].Overhead != 0 {
		t.Errorf("first %s recommended %v overhead %v", res[0].Scheme.Name, res[0].Recommended, res[0].Overhead)
	}
}

func TestAdviseNothingRemoves(t *testing.T) {
	// One label: no bucket can hold two; with only block schemes the leak
	// stays and nothing is recommended.
	tb := tableOf([]string{"a", "b"}, []uint64{10, 1000}, [][]int{{50, 0}, {0, 50}})
	res := AdvisePadding(tb, PaddingOptions{Schemes: []Scheme{Block(8), Block(16)}, MI: Options{Seed: 1}})
	for _, r := range res {
		if r.Recommended || r.Removes {
			t.Errorf("%s: recommended %v removes %v", r.Scheme.Name, r.Recommended, r.Removes)
		}
	}
}
