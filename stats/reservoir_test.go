package stats

import (
	"math/rand/v2"
	"testing"
)

// Every item of the stream has the same chance to be in the sample:
// items fall into ten equal ranges of the stream about equally often.
func TestSampleUniform(t *testing.T) {
	const n, size, runs = 1000, 10, 2000
	var buckets [10]int
	for run := range runs {
		s := NewSample[int](size, rand.New(rand.NewPCG(uint64(run), 7)))
		for i := range n {
			s.Add(i)
		}
		if len(s.Values) != size || s.Seen() != n {
			t.Fatalf("run %d: %d kept, %d seen", run, len(s.Values), s.Seen())
		}
		seen := map[int]bool{}
		for _, v := range s.Values {
			if seen[v] {
				t.Fatalf("run %d: %d kept twice", run, v)
			}
			seen[v] = true
			buckets[v*len(buckets)/n]++
		}
	}
	want := runs * size / len(buckets)
	for i, c := range buckets {
		if c < want*85/100 || c > want*115/100 {
			t.Errorf("range %d of the stream: %d picks, want about %d (%v)", i, c, want, buckets)
		}
	}
}

// A stream shorter than the reservoir is kept whole, in order.
func TestSampleShortStream(t *testing.T) {
	s := NewSample[int](8, rand.New(rand.NewPCG(1, 2)))
	for i := range 5 {
		s.Add(i)
	}
	for i, v := range s.Values {
		if v != i {
			t.Fatalf("values %v", s.Values)
		}
	}
	if len(s.Values) != 5 || s.Seen() != 5 {
		t.Fatalf("%d kept of %d", len(s.Values), s.Seen())
	}
}
