package analysis

import (
	"bytes"
	"cmp"
	"encoding/binary"
	"fmt"
	"net/netip"
	"slices"
	"time"

	"github.com/coapaudit/coapaudit/capture"
	"github.com/coapaudit/coapaudit/decode"
	"github.com/coapaudit/coapaudit/dissect"
)

// Captures taken on two machines, such as on each side of a proxy, carry
// the timestamps of two clocks. EstimateOffsets reads the files once
// before the analysis and finds messages that are one event seen in both:
// the same datagram captured twice, an OSCORE message relayed unchanged
// (its option and ciphertext), a payload relayed with its code, a token
// and Message ID a proxy kept. Each file's clock offset against the first
// file follows from the time differences of those pairs, NTP-style: a
// forwarded request reaches the far side of a proxy after the near side,
// its response the other way round, so the offset lies between the two
// directions' delays.

// SkewConfig tunes EstimateOffsets.
type SkewConfig struct {
	Dissect dissect.Config
	// MaxSkew bounds the offsets applied (default 5 s): an estimate beyond
	// it is reported and not applied. A negative MaxSkew applies none.
	MaxSkew time.Duration
	// MaxSamples bounds the fingerprints kept per file (default 1<<15)
	// and MaxBytes their bytes (default 16 MiB): past either, the sample
	// keeps a consistent half of the fingerprints (those whose hash is
	// lower), in every file alike.
	MaxSamples, MaxBytes int
	// MinPairs is the least number of pairs an estimate rests on
	// (default 3).
	MinPairs int
}

func (c *SkewConfig) defaults() {
	if c.MaxSkew == 0 {
		c.MaxSkew = 5 * time.Second
	}
	if c.MaxSamples <= 0 {
		c.MaxSamples = 1 << 15
	}
	if c.MaxBytes <= 0 {
		c.MaxBytes = 16 << 20
	}
	if c.MinPairs <= 0 {
		c.MinPairs = 3
	}
}

// SkewInput is one capture file of EstimateOffsets.
type SkewInput struct {
	// Name is the file's name as records show it; Path is what to open
	// ("-", standard input, cannot be read twice and gets no estimate).
	Name, Path string
	// Manual, when set, gives the file's offset by hand: it is not read.
	Manual bool
	Offset time.Duration
}

// EstimateOffsets returns the clock offset of every file after the first,
// relative to the first: what to add to its frame times. An offset is
// Applied only when the evidence suffices and it is within MaxSkew (a
// Manual one always); otherwise Note says why. The error reports a file
// that could not be opened.
func EstimateOffsets(in []SkewInput, cfg SkewConfig) ([]ClockOffset, error) {
	cfg.defaults()
	if len(in) < 2 {
		return nil, nil
	}
	out := make([]ClockOffset, len(in)-1)
	need := false
	for i, f := range in[1:] {
		o := &out[i]
		o.File = f.Name
		switch {
		case f.Manual:
			o.Offset, o.Applied, o.Source = f.Offset.Seconds(), true, "manual"
		case f.Path == "-":
			o.Source, o.Note = "estimate", "standard input cannot be read twice: no estimate"
		default:
			o.Source = "estimate"
			need = true
		}
	}
	if !need {
		return out, nil
	}
	if in[0].Path == "-" {
		for i := range out {
			if out[i].Source == "estimate" && out[i].Note == "" {
				out[i].Note = "the first file is standard input, which cannot be read twice: no estimate"
			}
		}
		return out, nil
	}
	ref, err := sampleFile(in[0].Path, &cfg)
	if err != nil {
		return nil, err
	}
	for i, f := range in[1:] {
		o := &out[i]
		if o.Source != "estimate" || o.Note != "" {
			continue
		}
		s, err := sampleFile(f.Path, &cfg)
		if err != nil {
			return nil, err
		}
		offsetFrom(estimateSkew(matchSamples(ref, s), cfg.MinPairs), &cfg, o)
	}
	return out, nil
}

// offsetFrom fills o from an estimate.
func offsetFrom(e skewEstimate, cfg *SkewConfig, o *ClockOffset) {
	o.Pairs, o.Note = e.pairs, e.note
	if !e.ok {
		return
	}
	o.Offset = -time.Duration(e.theta).Seconds()
	o.Uncertainty = time.Duration(e.unc).Seconds()
	if cfg.MaxSkew < 0 {
		o.Note = "estimates are not applied (--max-skew 0)"
		return
	}
	if d := time.Duration(e.theta); d > cfg.MaxSkew || d < -cfg.MaxSkew {
		o.Note = fmt.Sprintf("estimate %v is beyond --max-skew %v: not applied", -d, cfg.MaxSkew)
		return
	}
	o.Applied = true
}

// SkewSample gathers the fingerprints of one capture's CoAP messages as
// they come, for captures that are not files to read twice (the records
// of a stream's sensors).
type SkewSample struct {
	cfg SkewConfig
	s   *fileSample
	buf []byte
}

// NewSkewSample returns an empty sample.
func NewSkewSample(cfg SkewConfig) *SkewSample {
	cfg.defaults()
	x := &SkewSample{cfg: cfg}
	x.s = newFileSample(&x.cfg)
	return x
}

// Add takes a CoAP message that was the UDP payload between src and dst,
// captured at t in frame number frame.
func (x *SkewSample) Add(src, dst netip.AddrPort, payload []byte, t time.Time, frame int, m *decode.Message) {
	d := capture.Datagram{Src: src, Dst: dst, Payload: payload}
	d.Time, d.Number = t, frame
	x.buf = x.s.addMessage(x.buf[:0], &d, m)
}

// EstimateOffset estimates the clock offset of sample b against sample a
// (what to add to b's times), as EstimateOffsets does for files; File is
// left empty.
func EstimateOffset(a, b *SkewSample) ClockOffset {
	o := ClockOffset{Source: "estimate"}
	offsetFrom(estimateSkew(matchSamples(a.s, b.s), a.cfg.MinPairs), &a.cfg, &o)
	return o
}

// Fingerprint kinds, strongest evidence first.
const (
	fpDatagram uint8 = iota // the same datagram: endpoints and bytes
	fpOSCORE                // code, OSCORE option and ciphertext
	fpPayload               // code and payload
	fpTokenMID              // code, token and Message ID
)

// Directions of a fingerprint: the same datagram has no residence; a
// request and a response cross a proxy in opposite directions.
const (
	dirSame uint8 = iota
	dirRequest
	dirResponse
)

type fpKey struct {
	kind uint8
	h    uint64
}

type fpEntry struct {
	data  []byte // the bytes hashed, to compare candidates on
	ns    int64  // capture time of the first occurrence
	frame int
	n     int // occurrences (a hash collision counts as one more)
	dir   uint8
}

// fileSample holds the fingerprints of one file whose hash is at most
// limit: a sample that is the same subset in every file.
type fileSample struct {
	limit uint64
	m     map[fpKey]*fpEntry
	bytes int
	cfg   *SkewConfig
}

func sampleFile(path string, cfg *SkewConfig) (*fileSample, error) {
	r, err := capture.Open(path)
	if err != nil {
		return nil, err
	}
	defer r.Close()
	s := newFileSample(cfg)
	ds := dissect.New(cfg.Dissect)
	var (
		d   capture.Datagram
		f   dissect.Frame
		buf []byte
	)
	for {
		if err := r.Next(&d); err != nil {
			// The end, or a truncated or corrupt capture: what came before
			// is evidence, and the analysis proper reports the error.
			break
		}
		ds.Dissect(&d, &f)
		if f.Proto != dissect.ProtoCoAP || f.Err != nil || f.CoAP.Version != 1 {
			continue
		}
		buf = s.addMessage(buf[:0], &d, &f.CoAP)
	}
	return s, nil
}

// addMessage puts the fingerprints of one CoAP message in the sample; buf
// is scratch space, returned for reuse.
func (s *fileSample) addMessage(buf []byte, d *capture.Datagram, m *decode.Message) []byte {
	ns := d.Time.UnixNano()
	buf = append(buf, fpDatagram)
	buf = appendEndpoint(buf, d.Src)
	buf = appendEndpoint(buf, d.Dst)
	buf = append(buf, d.Payload...)
	s.add(fpDatagram, dirSame, buf, ns, d.Number)
	dir := dirRequest
	switch {
	case m.Code.IsRequest():
	case m.Code.IsResponse():
		dir = dirResponse
	default:
		return buf // empty messages are not relayed
	}
	var osc []byte
	hasOSC := false
	for i := range m.Options {
		if m.Options[i].ID == decode.OptOSCORE {
			osc, hasOSC = m.Options[i].Value, true
			break
		}
	}
	switch {
	case hasOSC:
		buf = append(append(buf[:0], fpOSCORE, byte(m.Code), byte(len(osc))), osc...)
		buf = append(buf, m.Payload...)
		s.add(fpOSCORE, dir, buf, ns, d.Number)
	case len(m.Payload) > 0:
		buf = append(append(buf[:0], fpPayload, byte(m.Code)), m.Payload...)
		s.add(fpPayload, dir, buf, ns, d.Number)
	}
	buf = append(buf[:0], fpTokenMID, byte(m.Code), byte(m.MessageID>>8), byte(m.MessageID))
	buf = append(buf, m.Token...)
	s.add(fpTokenMID, dir, buf, ns, d.Number)
	return buf
}

func appendEndpoint(b []byte, a netip.AddrPort) []byte {
	ip := a.Addr().As16()
	b = append(b, ip[:]...)
	return binary.BigEndian.AppendUint16(b, a.Port())
}

// add counts one fingerprint: data starts with its kind.
func (s *fileSample) add(kind, dir uint8, data []byte, ns int64, frame int) {
	h := fingerprintHash(data)
	if h > s.limit {
		return
	}
	k := fpKey{kind, h}
	if e := s.m[k]; e != nil {
		e.n++ // a repeat, or another message with the same hash: no longer unique either way
		return
	}
	s.m[k] = &fpEntry{data: bytes.Clone(data), ns: ns, frame: frame, n: 1, dir: dir}
	s.bytes += len(data)
	for len(s.m) > s.cfg.MaxSamples || s.bytes > s.cfg.MaxBytes {
		s.limit >>= 1
		for k, e := range s.m {
			if k.h > s.limit {
				s.bytes -= len(e.data)
				delete(s.m, k)
			}
		}
	}
}

// fingerprintHash hashes a fingerprint alike in every run (FNV-1a with
// a final mix, so that the top bits the sample keeps are uniform): the
// same captures give the same sample, pairs and estimate.
func fingerprintHash(data []byte) uint64 {
	x := uint64(14695981039346656037)
	for _, c := range data {
		x ^= uint64(c)
		x *= 1099511628211
	}
	x ^= x >> 31
	x *= 0x9e3779b97f4a7c15
	return x ^ x>>29
}

func newFileSample(cfg *SkewConfig) *fileSample {
	return &fileSample{limit: ^uint64(0), m: map[fpKey]*fpEntry{}, cfg: cfg}
}

// skewPair is one event seen in both files: d is its time in the second
// file minus its time in the first.
type skewPair struct {
	kind, dir uint8
	f0, f1    int
	d         int64
}

// matchSamples pairs the fingerprints that occur once in each sample with
// equal bytes. A frame takes part in one pair at most, its strongest.
func matchSamples(a, b *fileSample) []skewPair {
	limit := min(a.limit, b.limit)
	var pairs []skewPair
	for k, ea := range a.m {
		if k.h > limit || ea.n != 1 {
			continue
		}
		eb := b.m[k]
		if eb == nil || eb.n != 1 || !bytes.Equal(ea.data, eb.data) {
			continue
		}
		pairs = append(pairs, skewPair{kind: k.kind, dir: ea.dir, f0: ea.frame, f1: eb.frame, d: eb.ns - ea.ns})
	}
	slices.SortFunc(pairs, func(x, y skewPair) int {
		return cmp.Or(cmp.Compare(x.kind, y.kind), cmp.Compare(x.f0, y.f0), cmp.Compare(x.f1, y.f1))
	})
	used0, used1 := map[int]bool{}, map[int]bool{}
	out := pairs[:0]
	for _, p := range pairs {
		if used0[p.f0] || used1[p.f1] {
			continue
		}
		used0[p.f0], used1[p.f1] = true, true
		out = append(out, p)
	}
	return out
}

// skewEstimate is the second file's clock minus the first's (theta, in
// nanoseconds), with a bound on its error.
type skewEstimate struct {
	theta, unc int64
	pairs      int
	ok         bool
	note       string
}

// outlierFloor is the least tolerance around the median delay within
// which pairs are kept: residence times in a proxy are well below it.
const outlierFloor = int64(50 * time.Millisecond)

func estimateSkew(pairs []skewPair, minPairs int) skewEstimate {
	if len(pairs) < minPairs {
		return skewEstimate{pairs: len(pairs), note: fmt.Sprintf("too little evidence (%d messages seen in both files, %d needed): not applied", len(pairs), minPairs)}
	}
	// Drop pairs far from the bulk: a payload that happens to repeat
	// across files, a message a proxy held back.
	all := make([]int64, len(pairs))
	for i, p := range pairs {
		all[i] = p.d
	}
	med := median(all)
	dev := make([]int64, len(all))
	for i, d := range all {
		dev[i] = abs64(d - med)
	}
	tol := max(10*median(dev), outlierFloor)
	var same, req, resp []int64
	for _, p := range pairs {
		if abs64(p.d-med) > tol {
			continue
		}
		switch p.dir {
		case dirSame:
			same = append(same, p.d)
		case dirRequest:
			req = append(req, p.d)
		default:
			resp = append(resp, p.d)
		}
	}
	n := len(same) + len(req) + len(resp)
	switch {
	case n < minPairs:
		return skewEstimate{pairs: n, note: fmt.Sprintf("too little consistent evidence (%d of %d pairs agree): not applied", n, len(pairs))}
	case len(same) >= minPairs:
		lo, hi := slices.Min(same), slices.Max(same)
		return skewEstimate{theta: median(same), unc: (hi - lo) / 2, pairs: len(same), ok: true, note: "from datagrams captured in both files"}
	case len(req) > 0 && len(resp) > 0:
		up, low := req, resp
		if median(up) < median(low) {
			up, low = low, up
		}
		// The offset is below every delay of the direction that goes
		// away from the first file and above every delay of the other.
		u, l := slices.Min(up), slices.Max(low)
		for _, d := range same {
			u, l = min(u, d), max(l, d)
		}
		if l <= u {
			return skewEstimate{theta: (u + l) / 2, unc: (u - l) / 2, pairs: n, ok: true, note: "from messages relayed in both directions"}
		}
		mu, ml := median(up), median(low)
		return skewEstimate{theta: (mu + ml) / 2, unc: (mu - ml) / 2, pairs: n, ok: true,
			note: "from messages relayed in both directions (medians: the extremes disagree)"}
	}
	one := append(append(same, req...), resp...)
	lo, hi := slices.Min(one), slices.Max(one)
	return skewEstimate{theta: median(one), unc: max((hi-lo)/2, 0), pairs: n, ok: true,
		note: "from messages relayed in one direction only: a proxy's residence time is not cancelled"}
}

func median(v []int64) int64 {
	s := slices.Clone(v)
	slices.Sort(s)
	n := len(s)
	if n%2 == 1 {
		return s[n/2]
	}
	return s[n/2-1] + (s[n/2]-s[n/2-1])/2
}

func abs64(x int64) int64 {
	if x < 0 {
		return -x
	}
	return x
}
