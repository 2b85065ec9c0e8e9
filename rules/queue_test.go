package rules

import (
	"slices"
	"testing"
)

// TestKeyQueue: pushes against a slice that drops its first element
// (what the queue replaces), bounded and unbounded, and the ring stops
// growing at its bound.
func TestKeyQueue(t *testing.T) {
	for _, bound := range []int{0, 1, 5, 16, 40} {
		var q keyQueue[int]
		var want []int
		for i := range 500 {
			old, full := q.push(i, bound)
			wfull := bound > 0 && len(want) >= bound
			var wold int
			if wfull {
				wold, want = want[0], want[1:]
			}
			want = append(want, i)
			if full != wfull || old != wold {
				t.Fatalf("bound %d push %d: got %d,%v want %d,%v", bound, i, old, full, wold, wfull)
			}
		}
		if got := slices.Collect(q.all()); !slices.Equal(got, want) {
			t.Errorf("bound %d: queue %v, want %v", bound, got, want)
		}
		if bound > 0 && len(q.ring) != bound {
			t.Errorf("bound %d: ring of %d", bound, len(q.ring))
		}
	}
}
