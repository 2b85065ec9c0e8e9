package stats

import (
	"math"
	"math/rand/v2"
)

// Reservoir picks a uniform random sample of fixed size from a stream of
// unknown length with Li's Algorithm L ("Reservoir-sampling algorithms of
// time complexity O(n(1 + log(N/n)))", ACM TOMS 1994): after the
// reservoir fills, it draws the gap to the next kept item instead of a
// random number per item, so skipped items cost a comparison. It holds
// no items: Offer says where the caller stores each one.
type Reservoir struct {
	size int
	seen int // items offered so far
	next int // index of the next item to keep once full
	w    float64
	rng  *rand.Rand
}

// NewReservoir returns a reservoir of size items drawing from rng (a
// seeded generator makes the sample repeatable).
func NewReservoir(size int, rng *rand.Rand) Reservoir {
	return Reservoir{size: size, rng: rng}
}

// Seen returns the number of items offered so far.
func (r *Reservoir) Seen() int { return r.seen }

// Offer returns the slot in which to store the next item of the stream
// (slot == the number stored so far means append), or -1 when the item
// is not kept.
func (r *Reservoir) Offer() int {
	i := r.seen
	r.seen++
	if i < r.size {
		if i == r.size-1 {
			r.w = math.Exp(math.Log(UniformOpen(r.rng)) / float64(r.size))
			r.skip(i)
		}
		return i
	}
	if i < r.next {
		return -1
	}
	slot := r.rng.IntN(r.size)
	r.w *= math.Exp(math.Log(UniformOpen(r.rng)) / float64(r.size))
	r.skip(i)
	return slot
}

func (r *Reservoir) skip(i int) {
	const maxGap = 1 << 52
	g := math.Floor(math.Log(UniformOpen(r.rng)) / math.Log1p(-r.w))
	if !(g < maxGap) { // also catches NaN
		g = maxGap
	}
	r.next = i + int(g) + 1
}

// Sample keeps a uniform random sample of at most its reservoir's size
// of the values added.
type Sample[T any] struct {
	Values []T
	r      Reservoir
}

// NewSample returns a sample of at most size values drawing from rng.
func NewSample[T any](size int, rng *rand.Rand) Sample[T] {
	return Sample[T]{r: NewReservoir(size, rng)}
}

// Add offers v.
func (s *Sample[T]) Add(v T) {
	switch slot := s.r.Offer(); {
	case slot < 0:
	case slot == len(s.Values):
		s.Values = append(s.Values, v)
	default:
		s.Values[slot] = v
	}
}

// Seen returns the number of values added.
func (s *Sample[T]) Seen() int { return s.r.Seen() }

// uniformOpen returns a uniform variate in the open interval (0, 1).
func UniformOpen(r *rand.Rand) float64 {
	for {
		if u := r.Float64(); u > 0 {
			return u
		}
	}
}
