package rules

import "iter"

// keyQueue is a first-in first-out queue of map keys, the order in which
// a rule's table forgets them. It is a ring, allocated as it grows up to
// its bound and then reused; a slice that drops its first element on
// every push would be reallocated, and the old arrays collected, again
// and again.
type keyQueue[K comparable] struct {
	ring    []K
	head, n int
}

// push appends k. With bound > 0 and bound keys queued, the oldest makes
// room: it is returned, with full true.
func (q *keyQueue[K]) push(k K, bound int) (old K, full bool) {
	if bound > 0 && q.n >= bound {
		old = q.ring[q.head]
		q.ring[q.head] = k
		q.head = (q.head + 1) % len(q.ring)
		return old, true
	}
	if q.n == len(q.ring) {
		size := max(2*len(q.ring), 16)
		if bound > 0 {
			size = min(size, bound)
		}
		r := make([]K, size)
		for i := range q.n {
			r[i] = q.ring[(q.head+i)%len(q.ring)]
		}
		q.ring, q.head = r, 0
	}
	q.ring[(q.head+q.n)%len(q.ring)] = k
	q.n++
	return old, false
}

// all yields the queued keys, oldest first.
func (q *keyQueue[K]) all() iter.Seq[K] {
	return func(yield func(K) bool) {
		for i := range q.n {
			if !yield(q.ring[(q.head+i)%len(q.ring)]) {
				return
			}
		}
	}
}
