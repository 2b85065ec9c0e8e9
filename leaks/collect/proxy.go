package collect

import (
	"math"
	"net/netip"
	"slices"
	"strconv"
	"time"

	"github.com/coapaudit/coapaudit/stats"

	"github.com/coapaudit/coapaudit/flows"
	"github.com/coapaudit/coapaudit/leaks"
)

// Directions through a proxy.
const (
	dirRequest = iota
	dirResponse
)

type proxyState struct {
	// routes are the next hops, in the order first seen; few per proxy,
	// so they are searched in order.
	routes []*routeState
	delay  [2]*leaks.Delays
	exact  [2]leaks.Links
	timing [2]timingLinks
}

// routePoints bounds the reservoir of a route's residence times (a
// proxy's own takes Limits.MaxPoints).
const routePoints = 1024

// routeState is one route through a proxy: to the next hop.
type routeState struct {
	to    netip.AddrPort
	delay [2]*leaks.Delays
}

// timingLinks collects one block of messages through a proxy and folds
// the linkability of each full block into sums.
//
// Long captures are sampled: the first fullBlocks blocks are scored, then
// one block in sampleEvery (a systematic sample of contiguous blocks, so
// that every scored message keeps its real competitors).
type timingLinks struct {
	in, out []leaks.LinkEvent
	delays  []float64
	diffs   []int
	sum     linkSum
	block   int // blocks started
	skip    int // messages left in the current skipped block
	skipped int // messages not scored
}

const (
	fullBlocks  = 4
	sampleEvery = 32
)

// linkSum merges LinkResults of disjoint item sets.
type linkSum struct {
	items, empty, certain, known int
	sumMax, sumH, sumD, top1     float64
}

func (s *linkSum) add(r leaks.LinkResult) {
	n := float64(r.Items - r.NoCandidate)
	s.items += r.Items
	s.empty += r.NoCandidate
	s.certain += r.Certain
	s.known += r.Known
	s.sumMax += r.Linkability * n
	s.sumH += r.Entropy * n
	s.sumD += r.Degree * n
	s.top1 += r.Top1 * float64(r.Known)
}

func (s *linkSum) result() leaks.LinkResult {
	r := leaks.LinkResult{Items: s.items, NoCandidate: s.empty, Certain: s.certain, Known: s.known}
	if n := float64(s.items - s.empty); n > 0 {
		r.Linkability, r.Entropy, r.Degree = s.sumMax/n, s.sumH/n, s.sumD/n
	}
	if s.known > 0 {
		r.Top1 = s.top1 / float64(s.known)
	}
	return r
}

func (c *Collector) proxy(a netip.AddrPort) *proxyState {
	if c.lastProxy != nil && a == c.lastProxyAddr {
		return c.lastProxy
	}
	if p, ok := c.proxies[a]; ok {
		c.lastProxyAddr, c.lastProxy = a, p
		return p
	}
	if len(c.proxies) >= c.cfg.MaxProxies {
		return nil
	}
	n := uint64(len(c.proxies))
	p := &proxyState{}
	for d := range p.delay {
		p.delay[d] = leaks.NewDelays(c.lim, c.cfg.Options.Seed+1000+2*n+uint64(d))
	}
	c.proxies[a] = p
	return p
}

func (c *Collector) route(ps *proxyState, to netip.AddrPort) *routeState {
	for _, r := range ps.routes {
		if r.to == to {
			return r
		}
	}
	if c.nroutes >= c.cfg.MaxRoutes {
		return nil
	}
	n := uint64(c.nroutes)
	c.nroutes++
	r := &routeState{to: to}
	lim := c.lim
	lim.MaxPoints = min(c.lim.MaxPoints, routePoints)
	for d := range r.delay {
		r.delay[d] = leaks.NewDelays(lim, c.cfg.Options.Seed+100000+2*n+uint64(d))
	}
	ps.routes = append(ps.routes, r)
	return r
}

// hops extracts what the proxies an exchange passed show: residence
// times, the OSCORE messages linked exactly, and the times and sizes of
// plaintext messages on both sides. It runs with the window.
func (c *Collector) hops(x *flows.Exchange, b *batch) {
	for k := range x.Residence {
		if k+1 >= len(x.Legs) {
			break
		}
		r := &x.Residence[k]
		in, out := &x.Legs[k], &x.Legs[k+1]
		h := hopRec{proxy: r.Proxy, to: out.To, res: [2]float64{math.NaN(), math.NaN()}}
		req := r.Request.Valid && len(in.RequestFrames) > 0 && len(out.RequestFrames) > 0
		resp := r.Response.Valid && len(out.ResponseFrames) > 0 && len(in.ResponseFrames) > 0
		if req {
			h.res[dirRequest] = r.Request.Seconds()
			h.frames[dirRequest] = [2]int{in.RequestFrames[0], out.RequestFrames[0]}
		}
		if resp {
			h.res[dirResponse] = r.Response.Seconds()
			h.frames[dirResponse] = [2]int{out.ResponseFrames[0], in.ResponseFrames[0]}
		}
		if req || resp {
			h.exchange = x.ID
		}
		if x.Protected == "oscore" {
			h.exact = true
			h.certain[dirRequest], h.none[dirRequest] = c.linkExact(in.RequestFrames, in.From, in.To, out.RequestFrames, out.From, out.To)
			h.certain[dirResponse], h.none[dirResponse] = c.linkExact(out.ResponseFrames, out.To, out.From, in.ResponseFrames, in.To, in.From)
		} else {
			h.timing[dirRequest] = c.linkEvents(&h.in[dirRequest], &h.out[dirRequest], in.RequestTime, in.RequestSize, out.RequestTime, out.RequestSize)
			if len(in.ResponseFrames) > 0 && len(out.ResponseFrames) > 0 {
				h.timing[dirResponse] = c.linkEvents(&h.in[dirResponse], &h.out[dirResponse], out.ResponseTime, out.ResponseSize, in.ResponseTime, in.ResponseSize)
			}
		}
		b.hops = append(b.hops, h)
	}
}

// linkEvents fills the events of a message that reached a proxy at inT
// and left it at outT, times in seconds since the first exchange.
func (c *Collector) linkEvents(in, out *leaks.LinkEvent, inT time.Time, inSize int, outT time.Time, outSize int) bool {
	if inT.IsZero() || outT.IsZero() {
		return false
	}
	*in = leaks.LinkEvent{Time: float64(inT.UnixNano()-c.base) / 1e9, Size: inSize}
	*out = leaks.LinkEvent{Time: float64(outT.UnixNano()-c.base) / 1e9, Size: outSize}
	return true
}

// delayID names the residence times of a hop by exchange and frames:
// "X3@7,8;9,10" for a request that reached the proxy in frame 7 and left
// it in frame 8, and a response that did so in frames 9 and 10. Both
// directions share one id; a direction without a residence time is empty.
func delayID(h *hopRec) string {
	b := make([]byte, 0, len(h.exchange)+24)
	b = append(b, h.exchange...)
	b = append(b, '@')
	for d, f := range h.frames {
		if d > 0 {
			b = append(b, ';')
		}
		if !math.IsNaN(h.res[d]) {
			b = strconv.AppendInt(b, int64(f[0]), 10)
			b = append(b, ',')
			b = strconv.AppendInt(b, int64(f[1]), 10)
		}
	}
	return string(b)
}

// addHop adds a hop's measurements to its proxy and route.
func (c *Collector) addHop(h *hopRec) {
	ps := c.proxy(h.proxy)
	if ps == nil {
		return
	}
	rs := c.route(ps, h.to)
	var id string
	for d := range 2 {
		if v := h.res[d]; !math.IsNaN(v) {
			if id == "" {
				id = delayID(h)
			}
			ps.delay[d].Add(id, v)
			if rs != nil {
				rs.delay[d].Add(id, v)
			}
		}
		for range h.certain[d] {
			ps.exact[d].Add(oneCandidate, leaks.TruthUnknown)
		}
		for range h.none[d] {
			ps.exact[d].Add(nil, leaks.TruthUnknown)
		}
		if h.timing[d] {
			ps.timing[d].add(h.in[d], h.out[d])
		}
	}
}

var oneCandidate = []float64{1}

// linkExact links the OSCORE messages of one exchange across a proxy:
// each distinct message leaving it (copies count once) is linked with
// certainty when a message with the same OSCORE option and ciphertext
// reached it (certain), and has no candidate otherwise (none). Messages
// without OSCORE (a proxy's own error response) are left out.
func (c *Collector) linkExact(inFrames []int, inSrc, inDst netip.AddrPort, outFrames []int, outSrc, outDst netip.AddrPort) (certain, none int32) {
	if len(outFrames) == 0 {
		return 0, 0
	}
	c.frames = c.frames[:0]
	for _, f := range inFrames[:min(len(inFrames), maxLinkFrames)] {
		if q := c.lookup(f, inSrc, inDst); q != nil && q.hash != 0 {
			c.frames = append(c.frames, q.hash)
		}
	}
	nIn := len(c.frames)
	for _, f := range outFrames[:min(len(outFrames), maxLinkFrames)] {
		q := c.lookup(f, outSrc, outDst)
		if q == nil || q.hash == 0 || slices.Contains(c.frames[nIn:], q.hash) {
			continue
		}
		c.frames = append(c.frames, q.hash)
		if slices.Contains(c.frames[:nIn], q.hash) {
			certain++
		} else {
			none++
		}
	}
	return certain, none
}

// add adds a message that reached a proxy (in) and left it (out). Its
// ID is its position in the block, the truth the observer's guesses are
// scored against.
func (t *timingLinks) add(in, out leaks.LinkEvent) {
	if t.skip > 0 {
		t.skip--
		t.skipped++
		return
	}
	if len(t.out) == 0 {
		t.block++
		if t.block > fullBlocks && t.block%sampleEvery != 0 {
			t.skip = linkBlock - 1
			t.skipped++
			return
		}
	}
	in.ID = uint64(len(t.out) + 1)
	out.ID = in.ID
	t.in = append(t.in, in)
	t.out = append(t.out, out)
	t.delays = append(t.delays, out.Time-in.Time)
	t.diffs = append(t.diffs, out.Size-in.Size)
	if len(t.out) >= linkBlock {
		t.flush()
	}
}

// flush scores the block for an observer who knows the proxy's usual
// residence times (the block's 1st to 99th percentile) and size changes
// (the block's range), and starts a new block.
func (t *timingLinks) flush() {
	if len(t.out) == 0 {
		return
	}
	t.sum.add(t.score())
	t.in, t.out, t.delays, t.diffs = t.in[:0], t.out[:0], t.delays[:0], t.diffs[:0]
}

// score links the messages of the current block (at least one).
func (t *timingLinks) score() leaks.LinkResult {
	// Sorting changes nothing but the order of the multisets.
	slices.Sort(t.delays)
	slices.Sort(t.diffs)
	lo, hi := t.diffs[0], t.diffs[len(t.diffs)-1]
	m := leaks.LinkModel{
		MinDelay: stats.NearestRank(t.delays, 0.01),
		MaxDelay: stats.NearestRank(t.delays, 0.99),
		SizeOK:   func(in, out int) bool { d := out - in; return d >= lo && d <= hi },
	}
	return leaks.LinkByTiming(t.in, t.out, m)
}

// result returns the linkability of the blocks so far, the current one
// included, without closing it.
func (t *timingLinks) result() leaks.LinkResult {
	sum := t.sum
	if len(t.out) > 0 {
		sum.add(t.score())
	}
	return sum.result()
}
