package leaks

import (
	"math"
	"math/rand/v2"

	"github.com/coapaudit/coapaudit/stats"
)

// Independent PCG streams, one per purpose, so that a result does not
// depend on the order in which the estimators run.
const (
	streamBootstrap   = 0x626f6f7473747270 // "bootstrp"
	streamPermutation = 0x7065726d75746174 // "permutat"
	streamReservoir   = 0x7265736572766f69 // "reservoi"
)

func newRand(seed, stream uint64) *rand.Rand {
	return rand.New(rand.NewPCG(seed, stream))
}

// logFactSmall holds ln(k!) for small k; larger k use Stirling's series.
var logFactSmall = func() *[4096]float64 {
	var t [4096]float64
	for k := 2; k < len(t); k++ {
		t[k], _ = math.Lgamma(float64(k) + 1)
	}
	return &t
}()

// halfLog2Pi is ln(2*pi)/2.
const halfLog2Pi = 0.91893853320467274178

// logFactorial returns ln(k!) for k >= 0.
func logFactorial(k int) float64 {
	if k < len(logFactSmall) {
		return logFactSmall[k]
	}
	// Stirling's series for ln(k!) = (k+1/2) ln k - k + ln(2 pi)/2 +
	// 1/(12k) - 1/(360k^3) + ...; the first omitted term, 1/(1260 k^5), is
	// below 1e-20 for k >= 4096.
	x := float64(k)
	r := 1 / x
	return (x+0.5)*math.Log(x) - x + halfLog2Pi + r*(1.0/12-r*r/360)
}

// nLogN caches k*ln(k) for the small counts that dominate contingency
// tables; see nlogn.
var nLogNSmall = func() *[1 << 14]float64 {
	var t [1 << 14]float64
	for k := 2; k < len(t); k++ {
		t[k] = float64(k) * math.Log(float64(k))
	}
	return &t
}()

// nlogn returns k*ln(k), with 0*ln(0) = 0.
func nlogn(k int) float64 {
	if k < len(nLogNSmall) {
		return nLogNSmall[k]
	}
	x := float64(k)
	return x * math.Log(x)
}

// binomial draws from Binomial(n, p): inversion when n*min(p, 1-p) is
// small, otherwise Hörmann's transformed rejection with squeeze (BTRS,
// "The generation of binomial random variates", J. Stat. Comput. Simul.
// 46, 1993).
func binomial(r *rand.Rand, n int, p float64) int {
	switch {
	case n <= 0 || p <= 0:
		return 0
	case p >= 1:
		return n
	case p > 0.5:
		return n - binomial(r, n, 1-p)
	}
	if float64(n)*p < 10 {
		return binomialInversion(r, n, p)
	}
	return binomialBTRS(r, n, p)
}

// binomialInversion searches the cumulative distribution from 0, using the
// recurrence P(k+1) = P(k) * (n-k)/(k+1) * p/q. Expected cost O(n*p).
func binomialInversion(r *rand.Rand, n int, p float64) int {
	q := 1 - p
	s := p / q
	a := float64(n+1) * s
	p0 := math.Exp(float64(n) * math.Log1p(-p))
	for {
		u := r.Float64()
		pk := p0
		for k := 0; k <= n; k++ {
			if u < pk {
				return k
			}
			u -= pk
			pk *= a/float64(k+1) - s
		}
		// Rounding left u above the total mass: draw again.
	}
}

func binomialBTRS(r *rand.Rand, n int, p float64) int {
	q := 1 - p
	nf := float64(n)
	spq := math.Sqrt(nf * p * q)
	b := 1.15 + 2.53*spq
	a := -0.0873 + 0.0248*b + 0.01*p
	c := nf*p + 0.5
	vr := 0.92 - 4.2/b
	alpha := (2.83 + 5.1/b) * spq
	m := int(math.Floor(float64(n+1) * p))
	// ln(m! (n-m)!) and ln(p/q), computed when the squeeze fails.
	h, lpq := math.NaN(), 0.0
	for {
		u := r.Float64() - 0.5
		v := r.Float64()
		us := 0.5 - math.Abs(u)
		kf := math.Floor((2*a/us+b)*u + c)
		if kf < 0 || kf > nf {
			continue
		}
		k := int(kf)
		if us >= 0.07 && v <= vr {
			return k
		}
		if v == 0 {
			continue
		}
		if math.IsNaN(h) {
			h = logFactorial(m) + logFactorial(n-m)
			lpq = math.Log(p / q)
		}
		v = math.Log(v * alpha / (a/(us*us) + b))
		if v <= h-logFactorial(k)-logFactorial(n-k)+float64(k-m)*lpq {
			return k
		}
	}
}

// hypergeometric draws the number of marked items in a sample of size
// draws taken without replacement from total items of which good are
// marked. It reduces to good, draws <= total/2 by symmetry, then uses
// inversion for small means and Stadlober's ratio-of-uniforms method
// (HRUA, "Sampling from Poisson, binomial and hypergeometric
// distributions: ratio of uniforms as a simple and fast alternative",
// 1989) otherwise.
func hypergeometric(r *rand.Rand, total, good, draws int) int {
	switch {
	case draws <= 0 || good <= 0:
		return 0
	case good >= total:
		return draws
	case draws >= total:
		return good
	}
	goodIn := good
	swapDraws := draws > total-draws
	if swapDraws {
		draws = total - draws
	}
	swapGood := good > total-good
	if swapGood {
		good = total - good
	}
	var x int
	if float64(draws)*float64(good)/float64(total) < 10 {
		x = hyperInversion(r, total, good, draws)
	} else {
		x = hyperHRUA(r, total, good, draws)
	}
	if swapGood {
		x = draws - x
	}
	if swapDraws {
		x = goodIn - x
	}
	return x
}

// hyperInversion needs good, draws <= total/2.
func hyperInversion(r *rand.Rand, total, good, draws int) int {
	bad := total - good
	// P(0) = C(bad, draws) / C(total, draws).
	p0 := math.Exp(logFactorial(bad) + logFactorial(total-draws) -
		logFactorial(bad-draws) - logFactorial(total))
	hi := min(good, draws)
	for {
		u := r.Float64()
		pk := p0
		for k := 0; k <= hi; k++ {
			if u < pk {
				return k
			}
			u -= pk
			pk *= float64(good-k) * float64(draws-k) /
				(float64(k+1) * float64(bad-draws+k+1))
		}
	}
}

// Constants of HRUA: 2*sqrt(2/e) and 3 - 2*sqrt(3/e).
const (
	hruaD1 = 1.7155277699214135
	hruaD2 = 0.8989161620588988
)

// hyperHRUA needs good, draws <= total/2.
func hyperHRUA(r *rand.Rand, total, good, draws int) int {
	bad := total - good
	nf, gf, tf := float64(draws), float64(good), float64(total)
	p := gf / tf
	q := 1 - p
	a := nf*p + 0.5
	variance := (tf - nf) * nf * p * q / (tf - 1)
	c := math.Sqrt(variance + 0.5)
	h := hruaD1*c + hruaD2
	mode := int(math.Floor((nf + 1) * (gf + 1) / (tf + 2)))
	logf := func(k int) float64 {
		return logFactorial(k) + logFactorial(good-k) + logFactorial(draws-k) + logFactorial(bad-draws+k)
	}
	g := logf(mode)
	// The hat is cut 16 standard deviations above the mean, where the
	// remaining mass is far below double precision.
	bound := math.Min(float64(min(draws, good)+1), math.Floor(a+16*c))
	for {
		u := stats.UniformOpen(r)
		v := r.Float64()
		x := a + h*(v-0.5)/u
		if x < 0 || x >= bound {
			continue
		}
		k := int(x)
		t := g - logf(k)
		if u*(4-u)-3 <= t {
			return k
		}
		if u*(u-t) >= 1 {
			continue
		}
		if 2*math.Log(u) <= t {
			return k
		}
	}
}

// digammaTable returns psi(0..n), with psi(0) unused (set to -Inf):
// psi(1) = -gamma and psi(k+1) = psi(k) + 1/k.
func digammaTable(n int) []float64 {
	t := make([]float64, n+1)
	t[0] = math.Inf(-1)
	if n >= 1 {
		t[1] = -0.5772156649015329
	}
	for k := 2; k <= n; k++ {
		t[k] = t[k-1] + 1/float64(k-1)
	}
	return t
}

// gammaQ returns the regularised upper incomplete gamma function
// Q(a, x) = Gamma(a, x) / Gamma(a) for a > 0, x >= 0, by its series for
// x < a+1 and its continued fraction (modified Lentz) otherwise. The
// chi-square survival function with k degrees of freedom is
// gammaQ(k/2, x/2).
func gammaQ(a, x float64) float64 {
	switch {
	case x <= 0:
		return 1
	case math.IsInf(x, 1):
		return 0
	}
	lg, _ := math.Lgamma(a)
	front := -x + a*math.Log(x) - lg
	const (
		eps     = 1e-15
		tiny    = 1e-300
		maxIter = 100000
	)
	if x < a+1 {
		sum, del := 1/a, 1/a
		for n := 1; n < maxIter; n++ {
			del *= x / (a + float64(n))
			sum += del
			if math.Abs(del) < math.Abs(sum)*eps {
				break
			}
		}
		return max(0, 1-sum*math.Exp(front))
	}
	b := x + 1 - a
	c := 1 / tiny
	d := 1 / b
	h := d
	for i := 1; i < maxIter; i++ {
		an := -float64(i) * (float64(i) - a)
		b += 2
		d = an*d + b
		if math.Abs(d) < tiny {
			d = tiny
		}
		c = b + an/c
		if math.Abs(c) < tiny {
			c = tiny
		}
		d = 1 / d
		del := d * c
		h *= del
		if math.Abs(del-1) < eps {
			break
		}
	}
	return min(1, math.Exp(front)*h)
}
