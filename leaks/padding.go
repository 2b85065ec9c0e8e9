package leaks

import (
	"cmp"
	"errors"
	"math"
	"math/bits"
	"slices"
	"strconv"
)

// OSCOREMinPad is the smallest non-zero padding OSCORE can add: the
// Padding option of draft-ietf-core-cacheable-oscore takes at least 3
// bytes (option header and extended delta) even when empty.
const OSCOREMinPad = 3

// MaxBucketValues bounds the distinct sizes OptimalBuckets accepts; its
// dynamic programme is quadratic in them.
const MaxBucketValues = 4096

// Errors of OptimalBuckets.
var (
	ErrTooFewLabels = errors.New("leaks: fewer labels than the bucket minimum")
	ErrTooManySizes = errors.New("leaks: too many distinct sizes for optimal buckets")
)

// Scheme is a padding rule: the size a message of a given size is padded
// to. Pad never shrinks a size.
type Scheme struct {
	// Name is a short identifier: none, block8, pow2, padme, buckets-k2,
	// buckets-all, ...
	Name string
	// Desc names the scheme as the subject of a sentence, such as
	// "padding to 16-byte blocks" (costs 9%).
	Desc string
	pad  func(uint64) uint64
}

// Pad returns the padded size of a message of size bytes.
func (s Scheme) Pad(size uint64) uint64 {
	if s.pad == nil {
		return size
	}
	return s.pad(size)
}

// WithMinPad returns the scheme restricted to paddings of 0 or at least
// min bytes. A size that the scheme would pad by 1 to min-1 bytes is
// padded as size+min would be: the next allowed target at least min bytes
// above it (every scheme pads a size to at least itself, so the result is
// at least size+min). For block schemes this is the next block boundary
// but one, for power-of-two and Padmé the next target above size+min-1,
// for buckets the bucket that holds size+min (or size+min itself above
// the largest bucket). min <= 1 returns s unchanged.
func (s Scheme) WithMinPad(min uint64) Scheme {
	if min <= 1 {
		return s
	}
	f := s.Pad
	return Scheme{Name: s.Name, Desc: s.Desc, pad: func(size uint64) uint64 {
		p := f(size)
		if p == size || p >= size+min {
			return p
		}
		return f(size + min)
	}}
}

// NoPadding leaves sizes as they are.
func NoPadding() Scheme { return Scheme{Name: "none", Desc: "no padding"} }

// Block pads to the next multiple of b bytes (b >= 1).
func Block(b uint64) Scheme {
	if b == 0 {
		panic("leaks: Block(0)")
	}
	n := strconv.FormatUint(b, 10)
	return Scheme{Name: "block" + n, Desc: "padding to " + n + "-byte blocks", pad: func(s uint64) uint64 {
		if r := s % b; r != 0 {
			return s + b - r
		}
		return s
	}}
}

// PowerOfTwo pads to the next power of two (0 stays 0).
func PowerOfTwo() Scheme {
	return Scheme{Name: "pow2", Desc: "padding to powers of two", pad: func(s uint64) uint64 {
		if s <= 1 {
			return s
		}
		return 1 << bits.Len64(s-1)
	}}
}

// Padme is the Padmé scheme of Nikitin et al. ("Reducing Metadata
// Leakage from Encrypted Files and Communication with PURBs", PoPETs
// 2019); see PadmeLen.
func Padme() Scheme {
	return Scheme{Name: "padme", Desc: "Padmé padding", pad: PadmeLen}
}

// PadmeLen returns the Padmé length of L: with E = floor(log2 L) and
// S = floor(log2 E) + 1, the low E - S bits of L are rounded up to zero,
// so the result has at most S significant bits and exceeds L by at most
// 11.1% (L = 9 becomes 10). Lengths below 2 stay as they are.
func PadmeLen(L uint64) uint64 {
	if L < 2 {
		return L
	}
	e := uint64(bits.Len64(L) - 1) // floor(log2 L) >= 1
	s := uint64(bits.Len64(e))     // floor(log2 E) + 1
	lastBits := e - s
	mask := uint64(1)<<lastBits - 1
	return (L + mask) &^ mask
}

// bucket pads the sizes above the previous bucket's hi, up to hi, to
// target.
type bucket struct{ hi, target uint64 }

// Buckets returns a scheme from explicit buckets, given by the largest
// size of each (in increasing order) and the size its members are padded
// to (at least that largest size). Sizes above the last bucket are left
// unpadded.
func Buckets(name, desc string, his, targets []uint64) Scheme {
	bs := make([]bucket, len(his))
	for i := range his {
		bs[i] = bucket{hi: his[i], target: max(targets[i], his[i])}
	}
	return Scheme{Name: name, Desc: desc, pad: func(s uint64) uint64 {
		i, _ := slices.BinarySearchFunc(bs, s, func(b bucket, s uint64) int { return cmp.Compare(b.hi, s) })
		if i == len(bs) {
			return s
		}
		return bs[i].target
	}}
}

// OptimalBuckets finds contiguous buckets over the sorted distinct values
// of t that minimise the bytes added over all samples, subject to every
// bucket holding at least k distinct labels, by dynamic programming in
// O(m * cells) for m distinct values. Every member of a bucket is padded
// to one target: the bucket's largest size, or that size plus minPad when
// the second largest is closer to it than minPad (a padding must add 0 or
// at least minPad bytes). k <= 1 means 1; minPad <= 1 means no constraint.
//
// The buckets are fitted to t, so the leakage measured on t after padding
// is optimistic for new traffic.
func OptimalBuckets(t *Table, k int, minPad uint64) (Scheme, error) {
	k = max(k, 1)
	minPad = max(minPad, 1)
	m := len(t.values)
	if len(t.labels) < k {
		return Scheme{}, ErrTooFewLabels
	}
	if m > MaxBucketValues {
		return Scheme{}, ErrTooManySizes
	}
	// Prefix sums of counts and bytes.
	w := make([]float64, m+1)
	b := make([]float64, m+1)
	for y, v := range t.values {
		w[y+1] = w[y] + float64(t.cols[y])
		b[y+1] = b[y] + float64(t.cols[y])*float64(v)
	}
	best := make([]float64, m+1)
	from := make([]int, m+1)
	seen := make([]int, len(t.labels)) // stamp j+1 when seen for end j
	for j := range m {
		best[j+1] = math.Inf(1)
		distinct := 0
		for i := j; i >= 0; i-- {
			for _, c := range t.Column(i) {
				if seen[c.X] != j+1 {
					seen[c.X] = j + 1
					distinct++
				}
			}
			if distinct < k || math.IsInf(best[i], 1) {
				continue
			}
			target := bucketTarget(t.values, i, j, minPad)
			cost := best[i] + float64(target)*(w[j+1]-w[i]) - (b[j+1] - b[i])
			if cost < best[j+1] {
				best[j+1] = cost
				from[j+1] = i
			}
		}
	}
	if math.IsInf(best[m], 1) {
		return Scheme{}, ErrTooFewLabels
	}
	var his, targets []uint64
	for j := m; j > 0; j = from[j] {
		i := from[j]
		his = append(his, t.values[j-1])
		targets = append(targets, bucketTarget(t.values, i, j-1, minPad))
	}
	slices.Reverse(his)
	slices.Reverse(targets)
	name, desc := "buckets-k"+strconv.Itoa(k), "padding to optimal buckets of at least "+strconv.Itoa(k)+" labels"
	if k >= len(t.labels) {
		name, desc = "buckets-all", "padding to optimal buckets that hold every label"
	}
	return Buckets(name, desc, his, targets), nil
}

// bucketTarget is the size values[i..j] are padded to.
func bucketTarget(values []uint64, i, j int, minPad uint64) uint64 {
	hi := values[j]
	if i < j && values[j-1]+minPad > hi {
		return hi + minPad
	}
	return hi
}

// Defaults of PaddingOptions.
const (
	DefaultBucketLabels = 2
	DefaultTolBits      = 0.05
	DefaultTolV         = 0.01
	// DefaultPaddingResamples is the bootstrap size on padded tables: the
	// advice only compares the interval's upper bound with TolBits.
	DefaultPaddingResamples = 200
)

// PaddingOptions controls AdvisePadding. A zero field takes its default.
type PaddingOptions struct {
	// MinPad is the smallest non-zero padding (default OSCOREMinPad); 1
	// lifts the constraint.
	MinPad uint64
	// K is the least number of distinct labels per optimal bucket
	// (default 2). A second optimal scheme always puts every label in
	// every bucket.
	K int
	// Schemes replaces the default list (DefaultSchemes); they are used as
	// given, without MinPad.
	Schemes []Scheme
	// TolBits is how far the upper bound of the mutual information
	// interval may stay above 0 (default 0.05 bits).
	TolBits float64
	// TolV is how far the Bayes vulnerability may stay above the majority
	// baseline (default 0.01).
	TolV float64
	// MI controls the resampling on padded tables: Resamples defaults to
	// DefaultPaddingResamples, and the permutation test is off unless
	// MI.Permutations > 0, since the advice needs the interval only.
	MI Options
}

func (o PaddingOptions) withDefaults() PaddingOptions {
	if o.MinPad == 0 {
		o.MinPad = OSCOREMinPad
	}
	if o.K <= 0 {
		o.K = DefaultBucketLabels
	}
	if o.TolBits <= 0 {
		o.TolBits = DefaultTolBits
	}
	if o.TolV <= 0 {
		o.TolV = DefaultTolV
	}
	if o.MI.Permutations == 0 {
		o.MI.Permutations = -1
	}
	if o.MI.Resamples == 0 {
		o.MI.Resamples = DefaultPaddingResamples
	}
	return o
}

// DefaultSchemes returns no padding, blocks of 8, 16, 32 and 64 bytes,
// powers of two, Padmé and the optimal buckets for t (at least k labels,
// and every label), all restricted to paddings of 0 or at least minPad
// bytes.
func DefaultSchemes(t *Table, k int, minPad uint64) []Scheme {
	s := []Scheme{NoPadding(), Block(8), Block(16), Block(32), Block(64), PowerOfTwo(), Padme()}
	if b, err := OptimalBuckets(t, k, minPad); err == nil {
		s = append(s, b)
	}
	if len(t.labels) > max(k, 1) {
		if b, err := OptimalBuckets(t, len(t.labels), minPad); err == nil {
			s = append(s, b)
		}
	}
	for i := range s {
		s[i] = s[i].WithMinPad(minPad)
	}
	return s
}

// PaddingResult is one scheme's cost and the leakage it leaves (M4).
type PaddingResult struct {
	Scheme Scheme
	// Original and Added are bytes summed over all samples; Overhead is
	// 100 * Added / Original.
	Original, Added uint64
	Overhead        float64
	MI              MIResult
	Bayes           BayesResult
	Anonymity       AnonymityResult
	// Removes reports that the scheme brings the leak to the baseline
	// within tolerance: the upper bound of the mutual information interval
	// (the estimate when there is no interval) is at most TolBits and the
	// Bayes vulnerability at most V0 + TolV. Both are required because
	// each can miss a leak alone: mutual information stays small when a
	// rare label is fully revealed, and Bayes vulnerability stays at the
	// baseline when one label dominates every value.
	Removes bool
	// Recommended marks the cheapest scheme that removes the leak.
	Recommended bool
}

// AdvisePadding evaluates padding schemes on a table of sizes. The result
// lists the schemes that remove the leak first, cheapest first (the first
// is Recommended), then the others by remaining mutual information and
// overhead. When no scheme removes the leak, none is recommended.
func AdvisePadding(t *Table, opt PaddingOptions) []PaddingResult {
	return advisePadding(t, opt, nil)
}

// advisePadding is AdvisePadding with the mutual information of t itself,
// when known, for schemes that leave every size of t as it is.
func advisePadding(t *Table, opt PaddingOptions, base *MIResult) []PaddingResult {
	opt = opt.withDefaults()
	schemes := opt.Schemes
	if schemes == nil {
		schemes = DefaultSchemes(t, opt.K, opt.MinPad)
	}
	res := make([]PaddingResult, len(schemes))
	for i, s := range schemes {
		res[i] = evaluateScheme(t, s, opt, base)
	}
	order := make([]int, len(res))
	for i := range order {
		order[i] = i
	}
	slices.SortStableFunc(order, func(a, b int) int {
		ra, rb := &res[a], &res[b]
		if ra.Removes != rb.Removes {
			if ra.Removes {
				return -1
			}
			return 1
		}
		if !ra.Removes {
			if c := cmp.Compare(ra.MI.Bits, rb.MI.Bits); c != 0 {
				return c
			}
		}
		return cmp.Compare(ra.Overhead, rb.Overhead)
	})
	out := make([]PaddingResult, len(res))
	for i, j := range order {
		out[i] = res[j]
	}
	if len(out) > 0 && out[0].Removes {
		out[0].Recommended = true
	}
	return out
}

func evaluateScheme(t *Table, s Scheme, opt PaddingOptions, base *MIResult) PaddingResult {
	r := PaddingResult{Scheme: s}
	for _, c := range t.cells {
		v := t.values[c.Y]
		p := s.Pad(v)
		r.Original += uint64(c.N) * v
		r.Added += uint64(c.N) * (p - v)
	}
	if r.Original > 0 {
		r.Overhead = 100 * float64(r.Added) / float64(r.Original)
	}
	pt := t.Map(s.Pad)
	if base != nil && r.Added == 0 {
		r.MI = *base // nothing padded: the table is t
	} else {
		r.MI = pt.MutualInformation(opt.MI)
	}
	r.Bayes = pt.Bayes()
	r.Anonymity = pt.Anonymity()
	hi := r.MI.Bits
	if r.MI.CI.Valid() {
		hi = r.MI.CI.Hi
	}
	r.Removes = hi <= opt.TolBits && r.Bayes.V <= r.Bayes.V0+opt.TolV
	return r
}

// Leak returns the result as a padding record: the value is the overhead
// in percent. Extra keys: scheme, desc, added_bytes, original_bytes,
// mi_bits, mi_ci_lo, mi_ci_hi (when there is an interval), bayes_v,
// bayes_baseline, min_entropy_leakage_bits, unique_share, values,
// removes, recommended.
func (r PaddingResult) Leak(scope string) Leak {
	x := map[string]any{
		"scheme":                   r.Scheme.Name,
		"desc":                     r.Scheme.Desc,
		"added_bytes":              r.Added,
		"original_bytes":           r.Original,
		"mi_bits":                  r.MI.Bits,
		"bayes_v":                  r.Bayes.V,
		"bayes_baseline":           r.Bayes.V0,
		"min_entropy_leakage_bits": r.Bayes.LeakageBits,
		"unique_share":             r.Anonymity.UniqueShare,
		"values":                   r.MI.KY,
		"removes":                  r.Removes,
		"recommended":              r.Recommended,
	}
	if r.MI.CI.Valid() {
		x["mi_ci_lo"] = r.MI.CI.Lo
		x["mi_ci_hi"] = r.MI.CI.Hi
	}
	return Leak{
		Metric:  MetricPadding,
		Scope:   scope,
		Value:   r.Overhead,
		Unit:    UnitPercent,
		N:       r.MI.N,
		Extra:   x,
		Padding: &r,
	}
}
