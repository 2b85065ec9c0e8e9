package leaks

import (
	"math"
	"math/rand/v2"
)

// reservoir picks a uniform random sample of fixed size from a stream of
// unknown length with Li's Algorithm L ("Reservoir-sampling algorithms of
// time complexity O(n(1 + log(N/n)))", ACM TOMS 1994): after the
// reservoir fills, it draws the gap to the next kept item instead of a
// random number per item, so skipped items cost a comparison.
type reservoir struct {
	size int
	seen int // items offered so far
	next int // index of the next item to keep once full
	w    float64
	rng  *rand.Rand
}

func newReservoir(size int, seed uint64) reservoir {
	return reservoir{size: size, rng: newRand(seed, streamReservoir)}
}

// offer returns the slot in which to store the next item of the stream,
// or -1 when the item is not kept.
func (r *reservoir) offer() int {
	i := r.seen
	r.seen++
	if i < r.size {
		if i == r.size-1 {
			r.w = math.Exp(math.Log(uniformOpen(r.rng)) / float64(r.size))
			r.skip(i)
		}
		return i
	}
	if i < r.next {
		return -1
	}
	slot := r.rng.IntN(r.size)
	r.w *= math.Exp(math.Log(uniformOpen(r.rng)) / float64(r.size))
	r.skip(i)
	return slot
}

func (r *reservoir) skip(i int) {
	const maxGap = 1 << 52
	g := math.Floor(math.Log(uniformOpen(r.rng)) / math.Log1p(-r.w))
	if !(g < maxGap) { // also catches NaN
		g = maxGap
	}
	r.next = i + int(g) + 1
}
