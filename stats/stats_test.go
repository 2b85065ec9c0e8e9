package stats

import (
	"math"
	"slices"
	"testing"
	"time"
)

func TestQuantile(t *testing.T) {
	v := []float64{1, 2, 3, 4, 10}
	for _, c := range []struct{ q, want float64 }{{0, 1}, {0.25, 2}, {0.5, 3}, {0.9, 7.6}, {1, 10}} {
		if got := Quantile(v, c.q); math.Abs(got-c.want) > 1e-12 {
			t.Errorf("Quantile(%v) = %v, want %v", c.q, got, c.want)
		}
	}
	if !math.IsNaN(Quantile(nil, 0.5)) {
		t.Error("Quantile of nothing is a number")
	}
}

func TestNearestRank(t *testing.T) {
	d := []time.Duration{10, 20, 30, 40}
	for _, c := range []struct {
		q    float64
		want time.Duration
	}{{0, 10}, {0.25, 10}, {0.26, 20}, {0.5, 20}, {0.95, 40}, {1, 40}} {
		if got := NearestRank(d, c.q); got != c.want {
			t.Errorf("NearestRank(%v) = %v, want %v", c.q, got, c.want)
		}
	}
}

func TestMedian(t *testing.T) {
	if Median([]float64{1, 3, 8}) != 3 || Median([]float64{1, 3, 5, 8}) != 4 || !math.IsNaN(Median(nil)) {
		t.Error("median")
	}
}

// FuzzQuantiles: both definitions stay within the data, grow with q, and
// NearestRank returns a value of the data.
func FuzzQuantiles(f *testing.F) {
	f.Add([]byte{3, 1, 2}, 0.5)
	f.Fuzz(func(t *testing.T, b []byte, q float64) {
		if len(b) == 0 || math.IsNaN(q) || q < 0 || q > 1 {
			return
		}
		v := make([]float64, len(b))
		for i, c := range b {
			v[i] = float64(c)
		}
		slices.Sort(v)
		a, n := Quantile(v, q), NearestRank(v, q)
		if a < v[0] || a > v[len(v)-1] || !slices.Contains(v, n) {
			t.Fatalf("q %v of %v: %v, %v", q, v, a, n)
		}
		if q2 := math.Min(1, q+0.1); Quantile(v, q2) < a || NearestRank(v, q2) < n {
			t.Fatalf("not monotone at %v", q)
		}
	})
}
