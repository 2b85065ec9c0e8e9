package leaks

import (
	"math"
	"math/rand/v2"
	"strconv"
	"testing"
)

func TestDelayStatsHand(t *testing.T) {
	r := DelayStats([]string{"a", "b", "c", "d", "e"}, []float64{3, 1, 100, 2, 4})
	// Median 3, deviations 0 2 97 1 1 -> MAD 1; z(100) = 0.6745 * 97.
	if r.Median != 3 || r.MAD != 1 || r.Fallback || r.N != 5 || r.Sampled != 5 {
		t.Fatalf("%+v", r)
	}
	if len(r.Outliers) != 1 || r.Outliers[0].ID != "c" || !near(r.Outliers[0].Z, 0.6745*97, 1e-12) {
		t.Errorf("outliers %+v", r.Outliers)
	}
	if z := r.Z(1); !near(z, -2*0.6745, 1e-15) {
		t.Errorf("z(1) = %v", z)
	}
	// Even count: median between the middle two.
	r = DelayStats(nil, []float64{4, 1, 3, 2})
	if r.Median != 2.5 || r.MAD != 1 || len(r.Outliers) != 0 {
		t.Errorf("%+v", r)
	}
	// Around the threshold: median 6 and MAD 3, so 21.5 scores
	// 0.6745*15.5/3 = 3.485 (kept) and 21.7 scores 3.530 (flagged).
	r = DelayStats([]string{"0", "1", "2", "3", "4", "5", "6", "7", "8", "9", "10", "in", "out"},
		[]float64{0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 21.5, 21.7})
	if r.Median != 6 || r.MAD != 3 {
		t.Fatalf("%+v", r)
	}
	if len(r.Outliers) != 1 || r.Outliers[0].ID != "out" || !near(r.Outliers[0].Z, 0.6745*15.7/3, 1e-12) {
		t.Errorf("%+v", r.Outliers)
	}
}

// TestDelayStatsZeroMAD: when more than half the values equal the median
// the MAD is 0; the scale falls back to the mean absolute deviation.
func TestDelayStatsZeroMAD(t *testing.T) {
	r := DelayStats([]string{"1", "2", "3", "4", "slow"}, []float64{5, 5, 5, 5, 9})
	if r.MAD != 0 || !r.Fallback || !near(r.MeanAD, 0.8, 1e-15) {
		t.Fatalf("%+v", r)
	}
	want := 4 / (1.253314 * 0.8) // 3.989
	if len(r.Outliers) != 1 || r.Outliers[0].ID != "slow" || !near(r.Outliers[0].Z, want, 1e-12) {
		t.Errorf("outliers %+v, want z %v", r.Outliers, want)
	}
	if r.Z(5) != 0 {
		t.Errorf("z(median) = %v", r.Z(5))
	}
	// All equal: no scale, no outliers.
	r = DelayStats(nil, []float64{2, 2, 2})
	if r.Z(2) != 0 || r.Z(3) != 0 || len(r.Outliers) != 0 {
		t.Errorf("%+v", r)
	}
	// NaN is ignored; nothing at all is fine.
	if r = DelayStats(nil, []float64{math.NaN()}); r.N != 0 || r.Median != 0 {
		t.Errorf("%+v", r)
	}
}

func TestDelaysMatchesExact(t *testing.T) {
	rng := rand.New(rand.NewPCG(51, 51))
	d := NewDelays(Limits{}, 1)
	var ids []string
	var vals []float64
	for i := range 500 {
		v := 0.010 + 0.002*rng.NormFloat64()
		if i == 123 {
			v = 2.5
		}
		id := "X" + strconv.Itoa(i)
		d.Add(id, v)
		ids = append(ids, id)
		vals = append(vals, v)
	}
	got, want := d.Result(), DelayStats(ids, vals)
	if got.Median != want.Median || got.MAD != want.MAD || len(got.Outliers) != len(want.Outliers) {
		t.Fatalf("accumulator %+v\nexact %+v", got, want)
	}
	for i := range got.Outliers {
		if got.Outliers[i] != want.Outliers[i] {
			t.Errorf("outlier %d: %+v vs %+v", i, got.Outliers[i], want.Outliers[i])
		}
	}
	if got.Outliers[0].ID != "X123" {
		t.Errorf("top outlier %+v", got.Outliers[0])
	}
}

// TestDelaysSampledKeepsOutliers: with far more values than the
// reservoir, the median is estimated from the sample and the delayed
// exchange is still found among the extremes.
func TestDelaysSampledKeepsOutliers(t *testing.T) {
	rng := rand.New(rand.NewPCG(52, 52))
	d := NewDelays(Limits{MaxPoints: 256, MaxExtremes: 4}, 1)
	for i := range 100_000 {
		v := 0.010 + 0.001*rng.NormFloat64()
		id := ""
		if i == 54321 {
			v, id = 5, "held"
		}
		d.Add(id, v)
	}
	d.Add("nan", math.NaN())
	r := d.Result()
	if r.N != 100_000 || r.Sampled != 256 || d.Dropped() != 1 {
		t.Errorf("N %d sampled %d dropped %d", r.N, r.Sampled, d.Dropped())
	}
	if math.Abs(r.Median-0.010) > 0.0003 || math.Abs(r.MAD-0.000674) > 0.0002 {
		t.Errorf("median %v MAD %v", r.Median, r.MAD)
	}
	if len(r.Outliers) == 0 || r.Outliers[0].ID != "held" {
		t.Errorf("outliers %+v", r.Outliers)
	}
	l := r.Leak("proxy 127.0.0.22")
	if l.Metric != "proxy_delay" || l.Unit != "seconds" || l.Value != r.Median {
		t.Errorf("%+v", l)
	}
}
