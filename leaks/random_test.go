package leaks

import (
	"math"
	"math/rand/v2"
	"testing"
)

func TestLogFactorial(t *testing.T) {
	for _, k := range []int{0, 1, 2, 10, 4095, 4096, 4097, 10000, 123456, 1 << 30} {
		want, _ := math.Lgamma(float64(k) + 1)
		if got := logFactorial(k); math.Abs(got-want) > 1e-12*math.Max(1, want) {
			t.Errorf("logFactorial(%d) = %.17g, want %.17g", k, got, want)
		}
	}
}

func TestNLogN(t *testing.T) {
	for _, k := range []int{0, 1, 2, 3, 1<<14 - 1, 1 << 14, 1 << 20} {
		want := 0.0
		if k > 0 {
			want = float64(k) * math.Log(float64(k))
		}
		if got := nlogn(k); math.Abs(got-want) > 1e-9*math.Max(1, want) {
			t.Errorf("nlogn(%d) = %g, want %g", k, got, want)
		}
	}
}

func TestDigammaTable(t *testing.T) {
	psi := digammaTable(100)
	// psi(1) = -gamma, psi(2) = 1 - gamma, psi(1/2) is not needed.
	const euler = 0.57721566490153286
	if math.Abs(psi[1]+euler) > 1e-15 || math.Abs(psi[2]-(1-euler)) > 1e-15 {
		t.Errorf("psi(1), psi(2) = %v, %v", psi[1], psi[2])
	}
	// Asymptotically psi(n) = ln n - 1/(2n) - 1/(12n^2) + 1/(120 n^4).
	n := 100.0
	want := math.Log(n) - 1/(2*n) - 1/(12*n*n) + 1/(120*n*n*n*n)
	if math.Abs(psi[100]-want) > 1e-12 {
		t.Errorf("psi(100) = %.15g, want %.15g", psi[100], want)
	}
}

// chiSquareGOF draws n variates and returns Pearson's statistic against
// pmf over the support [lo, hi], pooling cells with expected counts below
// 5 into their neighbours, and the degrees of freedom.
func chiSquareGOF(t *testing.T, n, lo, hi int, draw func() int, pmf func(k int) float64) (float64, int) {
	t.Helper()
	obs := make([]float64, hi-lo+1)
	for range n {
		k := draw()
		if k < lo || k > hi {
			t.Fatalf("draw %d outside [%d, %d]", k, lo, hi)
		}
		obs[k-lo]++
	}
	var stat float64
	var accO, accE float64
	cells := 0
	for k := lo; k <= hi; k++ {
		accO += obs[k-lo]
		accE += float64(n) * pmf(k)
		if accE >= 5 || k == hi {
			if accE > 0 {
				stat += (accO - accE) * (accO - accE) / accE
				cells++
			} else if accO > 0 {
				t.Fatalf("%v draws where the pmf is 0", accO)
			}
			accO, accE = 0, 0
		}
	}
	return stat, cells - 1
}

// checkGOF fails when the statistic is beyond the chi-square quantile
// with a p-value of about 1e-6 (Wilson-Hilferty).
func checkGOF(t *testing.T, name string, stat float64, df int) {
	t.Helper()
	if df < 1 {
		t.Fatalf("%s: no degrees of freedom", name)
	}
	p := gammaQ(float64(df)/2, stat/2)
	if p < 1e-6 {
		t.Errorf("%s: chi-square %.1f with %d df, p = %.3g", name, stat, df, p)
	}
}

func TestBinomialDistribution(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 7))
	for _, c := range []struct {
		n int
		p float64
	}{
		{0, 0.5}, {10, 0}, {10, 1}, // degenerate
		{20, 0.3},     // inversion
		{1000, 0.004}, // inversion, small mean
		{100, 0.5},    // BTRS
		{1000, 0.9},   // BTRS through the symmetry
		{1_000_000, 0.00002},
		{1_000_000, 0.3},
	} {
		pmf := func(k int) float64 {
			if c.p == 0 {
				return b2f(k == 0)
			}
			if c.p == 1 {
				return b2f(k == c.n)
			}
			lp := logFactorial(c.n) - logFactorial(k) - logFactorial(c.n-k) +
				float64(k)*math.Log(c.p) + float64(c.n-k)*math.Log1p(-c.p)
			return math.Exp(lp)
		}
		draw := func() int { return binomial(r, c.n, c.p) }
		if c.n == 0 || c.p == 0 || c.p == 1 {
			want := 0
			if c.p == 1 {
				want = c.n
			}
			for range 100 {
				if got := draw(); got != want {
					t.Fatalf("binomial(%d, %v) = %d", c.n, c.p, got)
				}
			}
			continue
		}
		stat, df := chiSquareGOF(t, 200_000, 0, c.n, draw, pmf)
		checkGOF(t, "binomial", stat, df)
	}
}

func TestHypergeometricDistribution(t *testing.T) {
	r := rand.New(rand.NewPCG(8, 8))
	for _, c := range []struct{ total, good, draws int }{
		{10, 0, 5}, {10, 10, 5}, {10, 4, 0}, {10, 4, 10}, // degenerate
		{20, 7, 5},           // inversion
		{1000, 10, 30},       // inversion, small mean
		{1000, 900, 950},     // inversion through both symmetries
		{1000, 400, 300},     // HRUA
		{100000, 5000, 2000}, // HRUA
		{1_000_000, 600_000, 700_000},
		{1_000_000, 50_000, 5000},
	} {
		pmf := func(k int) float64 {
			if k < 0 || k > c.good || c.draws-k > c.total-c.good {
				return 0
			}
			lp := logFactorial(c.good) - logFactorial(k) - logFactorial(c.good-k) +
				logFactorial(c.total-c.good) - logFactorial(c.draws-k) - logFactorial(c.total-c.good-c.draws+k) -
				(logFactorial(c.total) - logFactorial(c.draws) - logFactorial(c.total-c.draws))
			return math.Exp(lp)
		}
		draw := func() int { return hypergeometric(r, c.total, c.good, c.draws) }
		lo := max(0, c.draws-(c.total-c.good))
		hi := min(c.good, c.draws)
		if lo == hi {
			for range 100 {
				if got := draw(); got != lo {
					t.Fatalf("hypergeometric(%d, %d, %d) = %d, want %d", c.total, c.good, c.draws, got, lo)
				}
			}
			continue
		}
		stat, df := chiSquareGOF(t, 200_000, lo, hi, draw, pmf)
		checkGOF(t, "hypergeometric", stat, df)
	}
}

func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

func TestGammaQ(t *testing.T) {
	for _, x := range []float64{0, 0.1, 1, 2.5, 10, 50} {
		// Q(1, x) = exp(-x); Q(1/2, x) = erfc(sqrt(x)).
		if got, want := gammaQ(1, x), math.Exp(-x); math.Abs(got-want) > 1e-13 {
			t.Errorf("Q(1, %v) = %v, want %v", x, got, want)
		}
		if got, want := gammaQ(0.5, x), math.Erfc(math.Sqrt(x)); math.Abs(got-want) > 1e-13 {
			t.Errorf("Q(1/2, %v) = %v, want %v", x, got, want)
		}
		// Q(3, x) = exp(-x) (1 + x + x^2/2).
		if got, want := gammaQ(3, x), math.Exp(-x)*(1+x+x*x/2); math.Abs(got-want) > 1e-13 {
			t.Errorf("Q(3, %v) = %v, want %v", x, got, want)
		}
	}
	// The chi-square median is close to k(1 - 2/(9k))^3.
	for _, k := range []float64{10, 100, 4000} {
		m := k * math.Pow(1-2/(9*k), 3)
		if q := gammaQ(k/2, m/2); math.Abs(q-0.5) > 0.01 {
			t.Errorf("chi-square(%v) tail at its median = %v", k, q)
		}
	}
}
