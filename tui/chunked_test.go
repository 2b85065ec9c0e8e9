package tui

import "testing"

// TestChunked appends across chunk boundaries, drops from the front and
// checks every element against a slice doing the same.
func TestChunked(t *testing.T) {
	var c chunked[int]
	var want []int
	check := func(step string) {
		t.Helper()
		if c.len() != len(want) {
			t.Fatalf("%s: len %d, want %d", step, c.len(), len(want))
		}
		for i, v := range want {
			if got := *c.at(i); got != v {
				t.Fatalf("%s: element %d is %d, want %d", step, i, got, v)
			}
		}
		if held := len(c.chunks) * chunkLen; held > c.off+c.n+chunkLen-1 || c.off >= chunkLen {
			t.Fatalf("%s: %d chunks (offset %d) for %d elements", step, len(c.chunks), c.off, c.n)
		}
	}
	next := 0
	for round, drop := range []int{0, 1, chunkLen - 1, chunkLen, 3*chunkLen + 5, 0} {
		for range 2*chunkLen + 7 {
			c.append(next)
			want = append(want, next)
			next++
		}
		c.dropFront(drop)
		want = want[min(drop, len(want)):]
		check("round " + string(rune('0'+round)))
	}
	c.dropFront(c.len() + 10)
	want = nil
	check("all dropped")
	c.append(7)
	c.reset()
	check("reset")
}
