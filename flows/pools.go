package flows

import (
	"math"
	"time"

	"github.com/coapaudit/coapaudit/decode"
)

// Pools of legs and exchanges, their deadlines, and the heap that
// expires them.

func (t *Tracker) hop(r ref) *hop {
	if !r.ok() || int(r.i) >= len(t.hops) {
		return nil
	}
	h := t.hops[r.i]
	if h.gen != r.gen || h.x == nil {
		return nil
	}
	return h
}

func (t *Tracker) newHop(x *xstate) *hop {
	var h *hop
	if n := len(t.hopFree); n > 0 {
		h = t.hops[t.hopFree[n-1]]
		t.hopFree = t.hopFree[:n-1]
	} else {
		h = &hop{idx: uint32(len(t.hops)), gen: 1}
		t.hops = append(t.hops, h)
	}
	h.x = x
	x.hops = append(x.hops, h)
	return h
}

// newX starts an exchange, making room under MaxPending first.
func (t *Tracker) newX() *xstate {
	for t.live >= t.cfg.MaxPending && len(t.heap) > 0 {
		x := t.heap[0]
		if x.deadline > x.hkey {
			x.hkey = x.deadline
			t.heapDown(0)
			continue
		}
		if t.finished(x) {
			t.stats.EarlyEmits++
			t.finish(x, false)
		} else {
			t.stats.EvictedPending++
			t.finish(x, true)
		}
	}
	var x *xstate
	if n := len(t.xFree); n > 0 {
		x = t.xs[t.xFree[n-1]]
		t.xFree = t.xFree[:n-1]
	} else {
		x = &xstate{idx: uint32(len(t.xs)), gen: 1, heapIdx: -1}
		t.xs = append(t.xs, x)
	}
	t.nextID++
	x.id = t.nextID
	x.deadline, x.hkey = math.MaxInt64, math.MaxInt64
	t.heapPush(x)
	t.live++
	if t.live > t.stats.PeakExchanges {
		t.stats.PeakExchanges = t.live
	}
	return x
}

// finished reports whether every leg of x is only lingering: answered,
// not observing, no transfer open.
func (t *Tracker) finished(x *xstate) bool {
	for _, h := range x.hops {
		if h.waiting > 0 || h.rd().obs.established && h.rd().obs.ended == endNone || h.rdMore().b1.open() || h.rdMore().b2.open() {
			return false
		}
	}
	return true
}

func (t *Tracker) hopDeadline(h *hop) int64 {
	switch {
	case h.waiting > 0:
		life := t.life
		if h.typ == decode.NonConfirmable {
			life = t.nonLife
		}
		return max(h.lastReq+life, h.lastAct+t.linger)
	case h.rd().obs.established && h.rd().obs.ended == endNone:
		// A server should notify before the last representation's
		// Max-Age runs out (RFC 7641 section 4.3.1); real devices are
		// late, so the observation is kept for EXCHANGE_LIFETIME more.
		d := int64(h.rd().obs.maxAge)*int64(time.Second) + t.life
		return h.lastAct + min(d, t.obsLife)
	case h.rdMore().b1.open() || h.rdMore().b2.open():
		return h.lastAct + t.life
	}
	return h.lastAct + t.linger
}

// touch recomputes the deadline of x after a change. The heap is only
// fixed when the deadline moves earlier; a later one is noticed when x
// comes to the top (expire, newX).
func (t *Tracker) touch(x *xstate) {
	if x == nil || x.heapIdx < 0 {
		return
	}
	d := int64(math.MinInt64)
	for _, h := range x.hops {
		d = max(d, t.hopDeadline(h))
	}
	x.deadline = d
	if d < x.hkey {
		x.hkey = d
		t.heapUp(x.heapIdx)
	}
}

// finish emits x and frees its state.
func (t *Tracker) finish(x *xstate, evicted bool) {
	t.heapRemove(x.heapIdx)
	e := t.build(x, evicted)
	e.Open = t.closing && !t.finished(x) && x.deadline >= t.now
	t.stats.Exchanges++
	if len(e.Residence) > 0 {
		t.stats.Proxied++
	}
	t.release(x)
	if t.emit != nil {
		t.emit(e)
	}
}

func (t *Tracker) release(x *xstate) {
	for _, h := range x.hops {
		t.unindexTok(h)
		t.unindexFwd(h)
		t.unindexBlk(h)
		t.detachPair(h)
	}
	for _, h := range x.hops {
		// Exchanges fed by this leg keep a copy of it.
		for _, r := range h.rd().sharers {
			if r.x.gen == r.gen && r.x.heapIdx >= 0 && r.x != x && r.x.sharedSnap == nil {
				l := t.leg(h, nil)
				l.Shared = exchangeID(x.id)
				r.x.sharedSnap = &l
			}
		}
		if h.recent != nil {
			t.freeRecent(h.recent)
		}
		t.freeExt(h)
		h.clear()
		h.gen++
		if h.gen == 0 {
			h.gen = 1
		}
		t.hopFree = append(t.hopFree, h.idx)
	}
	clear(x.hops)
	x.clear()
	x.gen++
	if x.gen == 0 {
		x.gen = 1
	}
	t.xFree = append(t.xFree, x.idx)
	t.live--
}

// newRecent returns an empty set of recent responses, from the pool when
// it has one.
func (t *Tracker) newRecent() *recentSet { return fromPool(&t.recentFree) }

// fromPool takes the last of the pooled values in free, or a new one when
// there is none.
func fromPool[T any](free *[]*T) *T {
	n := len(*free)
	if n == 0 {
		return new(T)
	}
	v := (*free)[n-1]
	*free = (*free)[:n-1]
	return v
}

// maxPooledBytes is the largest buffer a pooled leg or response set
// keeps for reuse: larger ones (block-wise bodies, long URIs) would make
// every pooled buffer grow to the largest message ever seen.
const maxPooledBytes = 512

// small returns b emptied, or nil when it is larger than maxPooledBytes.
func small(b []byte) []byte {
	if cap(b) > maxPooledBytes {
		return nil
	}
	return b[:0]
}

// freeRecent empties s, keeping the small buffers of its copies, and
// pools it.
func (t *Tracker) freeRecent(s *recentSet) {
	for i := range s {
		s[i] = recentResp{raw: small(s[i].raw)}
	}
	t.recentFree = append(t.recentFree, s)
}

func (t *Tracker) reqFrame(h *hop, p *Packet) {
	h.reqBytes += p.Size
	t.addFrame(h, &h.reqFrames, p.Frame)
}

func (t *Tracker) respFrame(h *hop, p *Packet) {
	h.respBytes += p.Size
	t.addFrame(h, &h.respFrames, p.Frame)
}

// addFrame records frame in one of h's lists, up to MaxFrames per
// exchange.
func (t *Tracker) addFrame(h *hop, list *[]uint32, frame int) {
	x := h.x
	if x.frames >= t.cfg.MaxFrames {
		x.omitted++
		return
	}
	x.frames++
	*list = append(*list, uint32(frame))
}

func less(a, b *xstate) bool {
	return a.hkey < b.hkey || a.hkey == b.hkey && a.id < b.id
}

func (t *Tracker) heapPush(x *xstate) {
	x.heapIdx = len(t.heap)
	t.heap = append(t.heap, x)
	t.heapUp(x.heapIdx)
}

func (t *Tracker) heapRemove(i int) {
	n := len(t.heap) - 1
	x := t.heap[i]
	if i != n {
		t.heapSwap(i, n)
	}
	t.heap[n] = nil
	t.heap = t.heap[:n]
	x.heapIdx = -1
	if i != n {
		t.heapFix(i)
	}
}

func (t *Tracker) heapFix(i int) {
	if !t.heapDown(i) {
		t.heapUp(i)
	}
}

func (t *Tracker) heapSwap(i, j int) {
	t.heap[i], t.heap[j] = t.heap[j], t.heap[i]
	t.heap[i].heapIdx = i
	t.heap[j].heapIdx = j
}

func (t *Tracker) heapUp(j int) {
	for j > 0 {
		i := (j - 1) / 2
		if !less(t.heap[j], t.heap[i]) {
			break
		}
		t.heapSwap(i, j)
		j = i
	}
}

func (t *Tracker) heapDown(i0 int) bool {
	i, n := i0, len(t.heap)
	for {
		j := 2*i + 1
		if j >= n || j < 0 {
			break
		}
		if j2 := j + 1; j2 < n && less(t.heap[j2], t.heap[j]) {
			j = j2
		}
		if !less(t.heap[j], t.heap[i]) {
			break
		}
		t.heapSwap(i, j)
		i = j
	}
	return i > i0
}
