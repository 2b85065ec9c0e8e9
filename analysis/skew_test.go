package analysis

import (
	"encoding/binary"
	"testing"
	"time"
)

const ms = int64(time.Millisecond)

// relayed returns the pairs of requests and responses relayed by a proxy
// between the two capture points, the second clock theta ahead: a
// request reaches the second file after res, a response before.
func relayed(theta int64, residences ...int64) []skewPair {
	var out []skewPair
	for i, r := range residences {
		out = append(out,
			skewPair{kind: fpPayload, dir: dirRequest, f0: 2 * i, f1: 2 * i, d: theta + r},
			skewPair{kind: fpPayload, dir: dirResponse, f0: 2*i + 1, f1: 2*i + 1, d: theta - r/2})
	}
	return out
}

func TestEstimateSkewBothDirections(t *testing.T) {
	theta := 50 * ms
	e := estimateSkew(relayed(theta, 3*ms, 1*ms, 7*ms, 2*ms), 3)
	if !e.ok || e.pairs != 8 {
		t.Fatalf("estimate %+v", e)
	}
	// The bounds are the least residence each way: 1 ms and 0.5 ms.
	if e.theta < theta-ms/2 || e.theta > theta+ms || abs64(e.theta-theta) > e.unc {
		t.Errorf("theta %v ± %v, want %v within", time.Duration(e.theta), time.Duration(e.unc), time.Duration(theta))
	}
	// Requests going the other way (the first file is the far side) give
	// the same bounds.
	rev := relayed(-theta, 3*ms, 1*ms)
	for i := range rev {
		rev[i].dir = dirRequest + dirResponse - rev[i].dir
	}
	if e := estimateSkew(rev, 3); !e.ok || abs64(e.theta+theta) > e.unc || e.unc > ms {
		t.Errorf("reversed: %+v", e)
	}
}

func TestEstimateSkewRejectsOutliers(t *testing.T) {
	theta := -2 * int64(time.Second)
	p := relayed(theta, 1*ms, 2*ms, 1*ms, 3*ms)
	// A payload that happens to repeat in unrelated traffic 40 s later.
	p = append(p, skewPair{kind: fpPayload, dir: dirRequest, f0: 100, f1: 100, d: theta + 40*int64(time.Second)})
	e := estimateSkew(p, 3)
	if !e.ok || e.pairs != 8 || abs64(e.theta-theta) > ms {
		t.Errorf("estimate %+v, want %v from 8 pairs", e, time.Duration(theta))
	}
}

func TestEstimateSkewSameDatagrams(t *testing.T) {
	var p []skewPair
	for i, d := range []int64{10 * ms, 10*ms + 20, 10*ms - 30, 10 * ms} {
		p = append(p, skewPair{kind: fpDatagram, dir: dirSame, f0: i, f1: i, d: d})
	}
	if e := estimateSkew(p, 3); !e.ok || abs64(e.theta-10*ms) > 20 || e.unc > 30 {
		t.Errorf("estimate %+v", e)
	}
}

func TestEstimateSkewTooLittleEvidence(t *testing.T) {
	if e := estimateSkew(relayed(ms, ms), 3); e.ok || e.pairs != 2 || e.note == "" {
		t.Errorf("two pairs: %+v, want no estimate", e)
	}
}

func TestSampleBoundedAndConsistent(t *testing.T) {
	cfg := SkewConfig{MaxSamples: 64}
	cfg.defaults()
	a, b := newFileSample(&cfg), newFileSample(&cfg)
	data := func(i int) []byte { return binary.BigEndian.AppendUint32([]byte{fpPayload, 0x45}, uint32(i)) }
	for i := range 10000 {
		a.add(fpPayload, dirResponse, data(i), int64(i)*ms, i+1)
	}
	for i := 9999; i >= 0; i-- { // another order, another clock
		b.add(fpPayload, dirResponse, data(i), int64(i)*ms+5*ms, 20000-i)
	}
	if len(a.m) > 64 || len(b.m) > 64 || len(a.m) < 16 {
		t.Fatalf("samples of %d and %d fingerprints, want at most 64", len(a.m), len(b.m))
	}
	pairs := matchSamples(a, b)
	if len(pairs) < min(len(a.m), len(b.m))/2 {
		t.Fatalf("%d pairs from samples of %d and %d: the samples must hold the same fingerprints", len(pairs), len(a.m), len(b.m))
	}
	for _, p := range pairs {
		if p.d != 5*ms || p.f1 != 20000-(p.f0-1) {
			t.Fatalf("pair %+v is not one message", p)
		}
	}
}

func TestMatchSamplesComparesBytes(t *testing.T) {
	cfg := SkewConfig{}
	cfg.defaults()
	a, b := newFileSample(&cfg), newFileSample(&cfg)
	a.add(fpPayload, dirRequest, []byte{fpPayload, 1, 'x'}, 0, 1)
	b.add(fpPayload, dirRequest, []byte{fpPayload, 1, 'x'}, ms, 1)
	// Forge a hash collision: same key, other bytes.
	a.add(fpPayload, dirRequest, []byte{fpPayload, 1, 'y'}, 0, 2)
	for k, e := range a.m {
		if e.frame == 2 {
			delete(a.m, k)
			k.h = fingerprintHash([]byte{fpPayload, 1, 'z'})
			a.m[k] = e
		}
	}
	b.add(fpPayload, dirRequest, []byte{fpPayload, 1, 'z'}, ms, 2)
	// A message seen twice in one file is not evidence.
	a.add(fpPayload, dirResponse, []byte{fpPayload, 2, 'w'}, 0, 3)
	a.add(fpPayload, dirResponse, []byte{fpPayload, 2, 'w'}, 0, 4)
	b.add(fpPayload, dirResponse, []byte{fpPayload, 2, 'w'}, ms, 3)
	pairs := matchSamples(a, b)
	if len(pairs) != 1 || pairs[0].f0 != 1 {
		t.Errorf("pairs %+v, want only the message with equal bytes seen once in each", pairs)
	}
}
