package leaks

import (
	"math/rand/v2"
	"syscall"
	"testing"
	"time"
)

func cpuNow() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func TestScratchCPU(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	const n = 1_000_000
	for _, c := range []struct {
		name      string
		tot, g, d int
	}{{"large", 1_000_000, 50_000, 5000}, {"small", 1_000_000, 500, 5000}, {"mid", 100_000, 5000, 1000}} {
		s := cpuNow()
		for range n {
			hypergeometric(r, c.tot, c.g, c.d)
		}
		t.Logf("hyper %s: %v/op", c.name, (cpuNow()-s)/n)
	}
	s := cpuNow()
	for range n {
		binomial(r, 1_000_000, 0.002)
	}
	t.Logf("binomial large: %v/op", (cpuNow()-s)/n)
	s = cpuNow()
	for range n {
		binomial(r, 1_000_000, 0.000002)
	}
	t.Logf("binomial small: %v/op", (cpuNow()-s)/n)
	tb := benchTable(1_000_000)
	for _, o := range []Options{{Seed: 1, Permutations: -1}, {Seed: 1, Resamples: -1}} {
		s = cpuNow()
		tb.MutualInformation(o)
		t.Logf("MI %+v: %v", o, cpuNow()-s)
	}
}

func TestScratchAnalyze(t *testing.T) {
	tb := benchTable(1_000_000)
	s := cpuNow()
	a := Analyze("x", tb, Options{Seed: 1}, PaddingOptions{})
	t.Logf("analyze: %v", cpuNow()-s)
	t.Logf("MI %v", a.MI)
	t.Logf("bayes %+v", a.Bayes)
	for _, p := range a.Padding {
		t.Logf("%-12s %6.2f%% MI %v V %.3f/%.3f removes %v rec %v", p.Scheme.Name, p.Overhead, p.MI, p.Bayes.V, p.Bayes.V0, p.Removes, p.Recommended)
	}
}
