package flows

import (
	"cmp"
	"math"
	"net/netip"
	"slices"
	"time"

	"github.com/coapaudit/coapaudit/decode"
)

// Tracker reassembles exchanges from packets fed in capture-time order.
// A Tracker is not safe for concurrent use, and the emit callback must not
// call back into it.
type Tracker struct {
	cfg  Config
	emit func(*Exchange)
	// carriers are the transports and protections seen, which hops
	// name by index (0 is UDP in clear).
	carriers []carrier
	// canon, canonBuf and canonPkt hold a reliable transport's message
	// in UDP framing (canonical).
	canon    decode.Message
	canonBuf []byte
	canonPkt Packet
	h        hasher
	now      int64 // the latest capture time seen (Unix ns)

	// Durations of cfg in nanoseconds.
	life, nonLife, linger, obsLife, maxRes, minGap, mergeWin int64

	hops    []*hop
	hopFree []uint32
	// recentFree pools the response sets of legs (hop.recent).
	recentFree []*recentSet
	// extFree pools the out-of-line parts of legs (hop.ext).
	extFree  []*hopExt
	moreFree []*hopMore
	xs       []*xstate
	xFree    []uint32
	heap     []*xstate
	live     int
	nextID   uint64

	msgs     msgIndex // slot in ring
	ring     []msgEntry
	eps      epTable // the endpoints of ring's keys
	ringHead int
	ringLen  int

	toks map[tokKey]ref
	// tokDeletes counts deletions from toks since it was last rebuilt.
	tokDeletes int
	blks       map[blkKey]ref
	fwd        map[uint64]fwdList
	pairs      map[pairKey]*pairState
	spare      []*pairState

	proxies    map[netip.AddrPort]struct{}
	proxyAddrs []netip.Addr // configured with port 0
	// outs are the addresses each proxy was seen sending on from, and
	// residence the longest time it held a request, on confirmed links.
	outs      map[netip.AddrPort][]netip.Addr
	residence map[netip.AddrPort]int64

	respTab [respSlots][respWays]respRec
	pubTab  [pubSlots]pubRec

	// What the traffic shows of pub-sub brokers (pubsub.go).
	topics  map[topicKey]topicRole
	brokers map[netip.AddrPort]struct{}
	deletes [deleteWays]recentDelete
	delNext int
	deregOf ref // set by joinRequest for the deregistration it saw

	stats   Stats
	closing bool // Close is emitting what is left

	// dstTab remembers recent requests by their destination address,
	// for links on evidence (bestUpstream); outOf maps an address a
	// proxy sends from to the proxies seen sending from it.
	dstTab  [dstSlots][dstWays]ref
	dstNext [dstSlots]uint8
	outOf   map[netip.Addr][]netip.Addr
	// outEPs are the endpoints proxies were confirmed sending from.
	outEPs map[netip.AddrPort]struct{}

	// uris and evNames hold strings shared among emitted exchanges.
	uris    map[string]string
	evNames map[evidence][]string

	pathBuf []byte         // scratch for view.path
	scratch decode.Message // scratch for decoding remembered messages
}

// maxLearntProxies bounds the proxies learnt from the traffic.
const maxLearntProxies = 4096

// freshResidence bounds how long a proxy is assumed to hold a request
// before it forwards it; see scanFwd and freshWindow.
const freshResidence = int64(time.Second)

// freshWindow is how old a request may be and still count as one the
// proxy a is about to forward: twice the longest residence confirmed for
// it so far (at least 2 ms), or freshResidence before any was confirmed.
func (t *Tracker) freshWindow(a netip.AddrPort) int64 {
	r, ok := t.residence[a]
	if !ok {
		return freshResidence
	}
	return min(max(2*r, int64(2*time.Millisecond)), freshResidence)
}

// maxProxyOuts bounds the addresses a proxy is learnt to send from.
const maxProxyOuts = 8

// maxSharers bounds the exchanges one server-leg observation is linked to
// as feeding them.
const maxSharers = 64

// maxFwdPerKey bounds the requests remembered as candidates for a proxy
// link under one link key.
const maxFwdPerKey = 16

// maxLinks bounds Exchange.Links.
const maxLinks = 32

// NewTracker returns a Tracker that hands every finished exchange to emit.
func NewTracker(cfg Config, emit func(*Exchange)) *Tracker {
	cfg = cfg.withDefaults()
	t := &Tracker{
		cfg:       cfg,
		emit:      emit,
		h:         newHasher(),
		now:       math.MinInt64,
		life:      int64(cfg.ExchangeLifetime),
		nonLife:   int64(cfg.NonLifetime),
		linger:    int64(cfg.Linger),
		obsLife:   int64(cfg.ObserveLifetime),
		maxRes:    int64(cfg.MaxResidence),
		minGap:    int64(cfg.MinRetransmitGap),
		mergeWin:  int64(cfg.MergeWindow),
		msgs:      newMsgIndex(cfg.MaxMessages),
		eps:       newEPTable(),
		toks:      make(map[tokKey]ref),
		blks:      make(map[blkKey]ref),
		fwd:       make(map[uint64]fwdList),
		pairs:     make(map[pairKey]*pairState),
		proxies:   make(map[netip.AddrPort]struct{}),
		brokers:   make(map[netip.AddrPort]struct{}),
		outs:      make(map[netip.AddrPort][]netip.Addr),
		residence: make(map[netip.AddrPort]int64),
		outOf:     make(map[netip.Addr][]netip.Addr),
		outEPs:    make(map[netip.AddrPort]struct{}),
		uris:      make(map[string]string),
		evNames:   make(map[evidence][]string),
	}
	for _, p := range cfg.Proxies {
		if p.Port() == 0 {
			t.proxyAddrs = append(t.proxyAddrs, p.Addr().Unmap())
		} else {
			t.proxies[netip.AddrPortFrom(p.Addr().Unmap(), p.Port())] = struct{}{}
		}
	}
	return t
}

// Stats returns the counters so far.
func (t *Tracker) Stats() Stats {
	s := t.stats
	s.LiveExchanges = t.live
	s.LiveMessages = t.msgs.n
	return s
}

// Add feeds one message. Packets must come in capture-time order; small
// steps back in time (merged captures) are tolerated. Add expires the state
// whose lifetime ended before p.Time.
func (t *Tracker) Add(p *Packet) {
	m := p.Msg
	if m == nil {
		return
	}
	if m.Framing != decode.FramingUDP {
		p, m = t.canonical(p), &t.canon
	}
	now := p.Time.UnixNano()
	if now > t.now {
		t.now = now
		t.expire(now)
	}
	t.stats.Packets++
	var v view
	v.src, v.dst = ep(p.Src), ep(p.Dst)
	v.fill(p, t.h, t.pathBuf[:0])
	t.pathBuf = v.path[:0]
	switch {
	case p.Reliable:
		t.reliable(p, &v, now)
	case m.Type == decode.Acknowledgement || m.Type == decode.Reset:
		t.ackOrReset(p, &v, now)
	case m.Code == decode.CodeEmpty:
		if m.Type == decode.Confirmable {
			t.ping(p, &v, now)
		} else {
			t.stats.Other++
		}
	case m.Code.IsRequest():
		t.request(p, &v, now)
	case m.Code.IsResponse():
		t.response(p, &v, now)
	default:
		t.stats.Other++
	}
}

// Flush emits every exchange whose lifetime ended before the given capture
// time and forgets the Message IDs that expired.
func (t *Tracker) Flush(before time.Time) {
	n := before.UnixNano()
	if n > t.now {
		t.now = n
	}
	t.expire(n)
}

// Close emits every exchange still held, in the order they started, and
// empties the Tracker. The Tracker can be used again afterwards.
func (t *Tracker) Close() {
	xs := slices.Clone(t.heap)
	slices.SortFunc(xs, func(a, b *xstate) int { return cmp.Compare(a.id, b.id) })
	t.closing = true
	for _, x := range xs {
		t.finish(x, false)
	}
	t.closing = false
	t.msgs.reset()
	t.eps.reset()
	t.ringHead, t.ringLen = 0, 0
	t.now = math.MinInt64
}

func (t *Tracker) expire(now int64) {
	for len(t.heap) > 0 {
		x := t.heap[0]
		if x.hkey >= now {
			break
		}
		if x.deadline > x.hkey {
			// Activity moved the deadline on since x was placed.
			x.hkey = x.deadline
			t.heapDown(0)
			continue
		}
		t.finish(x, false)
	}
	for t.ringLen > 0 {
		e := &t.ring[t.ringHead]
		if e.t+t.life >= now {
			break
		}
		t.popRing()
	}
}
