package flows

import (
	"cmp"
	"encoding/binary"
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
	h    hasher
	now  int64 // the latest capture time seen (Unix ns)

	// Durations of cfg in nanoseconds.
	life, nonLife, linger, obsLife, maxRes, minGap, mergeWin int64

	hops    []*hop
	hopFree []uint32
	xs      []*xstate
	xFree   []uint32
	heap    []*xstate
	live    int
	nextID  uint64

	msgs map[midKey]uint32 // slot in ring
	// msgDeletes counts deletions from msgs since it was last rebuilt: Go
	// maps do not shrink, and steady churn at the cap makes them grow, so
	// the map is rebuilt after rebuildDeletes times its cap in deletions.
	msgDeletes int
	ring       []ringEntry
	ringHead   int
	ringLen    int

	toks  map[tokKey]ref
	blks  map[blkKey]ref
	fwd   map[uint64]fwdList
	pairs map[pairKey]*pairState
	spare []*pairState

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
		msgs:      make(map[midKey]uint32),
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
	s.LiveMessages = len(t.msgs)
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
	clear(t.msgs)
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
		if e.e.t+t.life >= now {
			break
		}
		t.popRing()
	}
}

// ---- message table ----

// The Message IDs are remembered in a ring in arrival order, which makes
// expiry and the MaxMessages cap first-in first-out; the map points into
// the ring.

func (t *Tracker) liveMsg(e *msgEntry, now int64) bool {
	life := t.life
	if e.typ == decode.NonConfirmable {
		life = t.nonLife
	}
	return e.t+life >= now
}

// getMsg returns the live entry for k, or nil. The pointer is valid until
// the next putMsg.
func (t *Tracker) getMsg(k midKey, now int64) *msgEntry {
	i, ok := t.msgs[k]
	if !ok {
		return nil
	}
	e := &t.ring[i].e
	if !t.liveMsg(e, now) {
		return nil
	}
	return e
}

// putMsg remembers a message; the oldest is forgotten when the table is
// full.
func (t *Tracker) putMsg(k midKey, e msgEntry) {
	if t.ringLen == t.cfg.MaxMessages {
		r := &t.ring[t.ringHead]
		if i, ok := t.msgs[r.k]; ok && int(i) == t.ringHead && t.liveMsg(&r.e, t.now) {
			t.stats.EvictedMessages++
		}
		t.popRing()
	}
	if t.ringLen == len(t.ring) {
		t.growRing()
	}
	slot := (t.ringHead + t.ringLen) % len(t.ring)
	t.ring[slot] = ringEntry{k: k, e: e}
	t.ringLen++
	t.msgs[k] = uint32(slot)
	if n := len(t.msgs); n > t.stats.PeakMessages {
		t.stats.PeakMessages = n
	}
}

func (t *Tracker) popRing() {
	r := &t.ring[t.ringHead]
	if i, ok := t.msgs[r.k]; ok && int(i) == t.ringHead {
		delete(t.msgs, r.k)
		if t.msgDeletes++; t.msgDeletes >= rebuildDeletes*t.cfg.MaxMessages {
			t.rebuildMsgs()
		}
	}
	t.ringHead = (t.ringHead + 1) % len(t.ring)
	t.ringLen--
}

// rebuildDeletes is how many times MaxMessages deletions the message map
// takes before it is copied into a fresh one: the copy costs O(MaxMessages)
// and so adds a constant per message.
const rebuildDeletes = 4

// rebuildMsgs copies the live entries of msgs into a new map, dropping the
// space that deletions left behind.
func (t *Tracker) rebuildMsgs() {
	m := make(map[midKey]uint32, len(t.msgs))
	for k, v := range t.msgs {
		m[k] = v
	}
	t.msgs = m
	t.msgDeletes = 0
}

func (t *Tracker) growRing() {
	n := min(max(2*len(t.ring), 1024), t.cfg.MaxMessages)
	r := make([]ringEntry, n)
	for i := range t.ringLen {
		old := (t.ringHead + i) % len(t.ring)
		r[i] = t.ring[old]
		if s, ok := t.msgs[r[i].k]; ok && int(s) == old {
			t.msgs[r[i].k] = uint32(i)
		}
	}
	t.ring, t.ringHead = r, 0
}

// ---- requests ----

func (t *Tracker) request(p *Packet, v *view, now int64) {
	m := p.Msg
	k := midKey{v.src, v.dst, m.MessageID}
	sum := t.h.digest(m.Raw)
	if e := t.getMsg(k, now); e != nil {
		if e.hash == sum {
			t.requestCopy(e, p, now)
			return
		}
		t.stats.MessageIDReuse++
	}
	t.stats.Requests++
	t.deregOf = ref{}
	h := t.joinRequest(p, v, now)
	if h == nil {
		h = t.newRequestHop(p, v, now)
		if o := t.hop(t.deregOf); o != nil && o.x != h.x {
			t.addLinkPeer(h.x, LinkDeregisters, o.x.id, p.Frame, netip.AddrPort{})
			t.addLinkPeer(o.x, LinkDeregisteredBy, h.x.id, p.Frame, netip.AddrPort{})
		}
	}
	t.putMsg(k, msgEntry{t: now, last: now, hash: sum, tok: t.tokHash(m.Token), hop: h.ref(), file: int32(p.File), typ: m.Type, role: roleRequest})
	t.touch(h.x)
}

// tokHash identifies a token in a message entry.
func (t *Tracker) tokHash(tok []byte) uint64 { return t.h.bytes(tok) }

// requestCopy classifies a request sent again with the same Message ID
// and content (RFC 7252 section 4.5).
func (t *Tracker) requestCopy(e *msgEntry, p *Packet, now int64) {
	e.copies++
	gap := now - e.last
	h := t.hop(e.hop)
	if h == nil {
		t.stats.Detached++
	}
	if int32(p.File) != e.file && gap <= t.mergeWin {
		t.stats.CaptureDuplicates++
		if h != nil {
			t.reqFrame(h, p)
		}
		return
	}
	e.last = now
	if h == nil {
		if e.acks > 0 {
			t.stats.Replays++
		} else {
			t.stats.Retransmissions++
		}
		return
	}
	t.reqFrame(h, p)
	h.lastAct = now
	answered := e.acks > 0 || h.hasResp && h.lastResp >= e.t
	switch u := t.hop(h.up); {
	case u != nil && u.pendingRetrans > 0:
		// The proxy forwards a retransmission it got from its client.
		u.pendingRetrans--
		h.retrans++
		t.stats.Retransmissions++
	case answered && u != nil:
		// A proxy sent the request again after it was answered, with no
		// retransmission from its client to explain it.
		h.replays++
		t.stats.Replays++
	case answered:
		// The client's copy of the response may have been lost after
		// the capture point.
		h.retrans++
		t.stats.Retransmissions++
		t.stats.LateRetransmissions++
	case e.typ == decode.NonConfirmable || gap < t.minGap:
		h.dups++
		t.stats.Duplicates++
	default:
		h.retrans++
		t.stats.Retransmissions++
		if h.downs > 0 || h.proxyHint || t.isProxy(h.to) {
			h.pendingRetrans++
			if !h.inFwd {
				t.indexFwd(h)
			}
		}
	}
	h.lastReq = now
	t.touch(h.x)
}

// joinRequest finds the leg a new request message continues: an Observe
// reregistration, or the next block of a block-wise transfer. A
// deregistration ends the observation it names and starts an exchange of
// its own.
func (t *Tracker) joinRequest(p *Packet, v *view, now int64) *hop {
	m := p.Msg
	tk := t.tokKey(v.src, v.dst, m.Token)
	if r, ok := t.toks[tk]; ok {
		for h := t.hop(r); h != nil; h = t.hop(h.tokOlder) {
			if h.kind != kindRequest || h.method != v.code || h.pathHash != v.pathHash {
				continue
			}
			switch {
			case v.hasObserve && v.observe == 0 && h.obs.registered && h.obs.ended == endNone:
				h.obs.rereg++
				h.obs.resetBase = true
				t.addRequestMsg(h, p, v, now)
				return h
			case v.hasObserve && v.observe == 1 && h.obs.registered && h.obs.ended == endNone:
				h.obs.ended = endDeregistered
				h.obs.endFrame = uint32(p.Frame)
				h.obs.endTime = now
				t.deregOf = h.ref()
				t.touch(h.x)
				return nil
			case v.block1.present && v.block1.num > 0 && h.blocks().b1.used,
				v.block2.present && v.block2.num > 0 && h.blocks().b2.used:
				if h.obs.established {
					return t.subHop(h, p, v, tk, now)
				}
				t.addRequestMsg(h, p, v, now)
				return h
			}
			break
		}
	}
	if v.block1.present && v.block1.num > 0 || v.block2.present && v.block2.num > 0 {
		bk := blkKey{pairKey{v.src, v.dst}, v.code, v.pathHash, t.tagHash(v)}
		if h := t.blockHop(bk, v); h != nil && h.kind == kindRequest {
			if h.obs.established {
				// The rest of a notification's representation, fetched
				// without Observe (RFC 7959 section 2.6): a leg of its own
				// within the observation's exchange, so that its responses
				// do not end the observation.
				return t.subHop(h, p, v, tk, now)
			}
			if h.tk != tk {
				t.unindexTok(h)
				h.tk = tk
				h.token = append(h.token[:0], m.Token...)
				t.indexTok(h)
			}
			t.addRequestMsg(h, p, v, now)
			return h
		}
	}
	return nil
}

// subHop starts a leg in main's exchange for the block-wise continuation
// of a notification. Beyond MaxLegs the newest such leg is reused.
func (t *Tracker) subHop(main *hop, p *Packet, v *view, tk tokKey, now int64) *hop {
	m := p.Msg
	x := main.x
	if len(x.hops) >= t.cfg.MaxLegs {
		for i := len(x.hops) - 1; i >= 0; i-- {
			if h := x.hops[i]; h.main == main {
				t.unindexTok(h)
				h.tk = tk
				h.token = append(h.token[:0], m.Token...)
				t.indexTok(h)
				t.addRequestMsg(h, p, v, now)
				return h
			}
		}
		t.addRequestMsg(main, p, v, now)
		return main
	}
	h := t.newHop(x)
	h.kind = kindRequest
	h.main = main
	h.from, h.to = p.Src, p.Dst
	h.tk = tk
	h.token = append(h.token[:0], m.Token...)
	h.method = v.code
	h.typ = m.Type
	h.secure = p.Secure
	h.oscore = v.hasOSCORE
	h.uri = append(h.uri[:0], main.uri...)
	h.pathHash = v.pathHash
	h.firstReq, h.lastReq, h.lastAct = now, now, now
	h.reqSize = p.Size
	h.requests = 1
	t.reqFrame(h, p)
	t.indexTok(h)
	if main.pair != nil {
		t.attachPair(h, main.pair)
	}
	t.setWaiting(h, 1)
	return h
}

// addRequestMsg adds a new request message to an existing leg.
func (t *Tracker) addRequestMsg(h *hop, p *Packet, v *view, now int64) {
	h.requests++
	t.setWaiting(h, h.waiting+1)
	h.lastReq, h.lastAct = now, now
	t.reqFrame(h, p)
	if v.block1.present {
		h.b1.add(v.block1, bodyLen(p))
		if h.b1.total == 0 {
			h.b1.total = v.size1
		}
	}
	t.notePublication(h, v, now)
}

func bodyLen(p *Packet) int {
	if p.OSCORE != nil && p.OSCORE.Inner != nil {
		return len(p.OSCORE.Inner.Payload)
	}
	return len(p.Msg.Payload)
}

// newRequestHop starts a leg for a request that continues none: linked to
// the leg a proxy received it on, or as a new exchange.
func (t *Tracker) newRequestHop(p *Packet, v *view, now int64) *hop {
	m := p.Msg
	lk := t.h.linkKey(v, m.Code, v.block1.present)
	u, exact, ambiguous := t.findUpstream(p, v, lk, now)
	var ev evidence
	if u != nil {
		ev = t.linkEvidence(u, p, v, exact, now)
	} else if u, ev = t.bestUpstream(p, v, now); u != nil {
		t.stats.EvidenceLinks++
		ambiguous = u.contested
	} else if u, ev = t.prefixUpstream(p, v, now); u != nil {
		t.stats.EvidenceLinks++
		ambiguous = u.contested
	}
	var x *xstate
	if u != nil {
		x = u.x
	}
	if x == nil {
		x = t.newX()
	}
	ps := t.pairFor(pairKey{v.src, v.dst}, x)
	h := t.newHop(x)
	h.kind = kindRequest
	h.from, h.to = p.Src, p.Dst
	h.tk = t.tokKey(v.src, v.dst, m.Token)
	h.token = append(h.token[:0], m.Token...)
	h.method = v.code
	h.multicast = p.Dst.Addr().IsMulticast()
	if h.multicast {
		// Responses come from the members, not from the group address.
		h.tk.server = endpoint{}
	}
	h.typ = m.Type
	h.secure = p.Secure
	h.oscore = v.hasOSCORE
	h.proxyHint = v.hasProxy
	h.target = parseTarget(v, m)
	h.uri = appendURI(h.uri[:0], v, m, p.Dst, p.Secure)
	h.pathHash = v.pathHash
	h.path = append(h.path[:0], v.path...)
	h.reqRaw = append(h.reqRaw[:0], m.Raw...)
	h.mid = m.MessageID
	h.linkKey = lk
	h.firstReq, h.lastReq, h.lastAct = now, now, now
	h.reqSize = p.Size
	h.requests = 1
	h.obs.registered = v.hasObserve && v.observe == 0
	h.obs.dereg = v.hasObserve && v.observe == 1 && (v.code == decode.CodeGET || v.code == decode.CodeFETCH)
	t.noteDelete(h, now)
	t.reqFrame(h, p)
	if v.hasOSCORE {
		t.noteOSCORE(h, p, v)
	}
	if v.block1.present {
		h.b1.add(v.block1, bodyLen(p))
		h.b1.total = v.size1
	}
	if u != nil {
		t.link(u, h, exact)
		h.linkEv = ev
		// A difference is only claimed across a link that nothing else
		// could explain: not chosen by order among equal candidates, and
		// sent from the proxy's own address or one it was confirmed to
		// send from (else it may be another client's own request).
		sure := exact || p.Src.Addr() == u.to.Addr() || containsAddr(t.outs[u.to], p.Src.Addr())
		if ambiguous {
			h.linkEv |= evOrder
			t.stats.AmbiguousLinks++
		}
		if ambiguous {
			h.ambiguous = true
		} else if um := t.decodeRaw(u.reqRaw); um != nil {
			// From an address not (yet) confirmed as the proxy's: what
			// differs is kept only if the proxy is confirmed sending from
			// it by the time the exchange is emitted.
			h.unconfirmed = !sure
			t.diffRequest(u, h, um, m, p.Frame)
		}
	}
	t.indexTok(h)
	t.indexFwd(h)
	if !h.multicast {
		t.noteDst(h)
	}
	if v.block1.present || v.block2.present {
		h.bk = blkKey{ps.key, v.code, v.pathHash, t.tagHash(v)}
		t.indexBlk(h)
	}
	t.attachPair(h, ps)
	t.setWaiting(h, 1)
	t.notePublication(h, v, now)
	return h
}

func (t *Tracker) noteOSCORE(h *hop, p *Packet, v *view) {
	if o := p.OSCORE; o != nil {
		h.kid = append(h.kid[:0], o.KID...)
		h.kidContext = append(h.kidContext[:0], o.KIDContext...)
		h.piv = append(h.piv[:0], o.PIV...)
		h.reqTried, h.reqVerified = o.Tried, o.Verified
		return
	}
	if o, err := decode.ParseOSCORE(v.oscore); err == nil {
		h.kid = append(h.kid[:0], o.KID...)
		h.kidContext = append(h.kidContext[:0], o.KIDContext...)
		h.piv = append(h.piv[:0], o.PIV...)
	}
}

func (t *Tracker) tagHash(v *view) uint64 {
	if !v.hasReqTag {
		return 0
	}
	return t.h.bytes(v.reqTag) | 1
}

// ---- CoAP ping ----

func (t *Tracker) ping(p *Packet, v *view, now int64) {
	m := p.Msg
	k := midKey{v.src, v.dst, m.MessageID}
	sum := t.h.digest(m.Raw)
	if e := t.getMsg(k, now); e != nil && e.hash == sum {
		t.requestCopy(e, p, now)
		return
	}
	t.stats.Pings++
	x := t.newX()
	ps := t.pairFor(pairKey{v.src, v.dst}, x)
	h := t.newHop(x)
	h.kind = kindPing
	h.from, h.to = p.Src, p.Dst
	h.typ = m.Type
	h.secure = p.Secure
	h.firstReq, h.lastReq, h.lastAct = now, now, now
	h.reqSize = p.Size
	h.requests = 1
	t.reqFrame(h, p)
	t.attachPair(h, ps)
	t.setWaiting(h, 1)
	t.putMsg(k, msgEntry{t: now, last: now, hash: sum, hop: h.ref(), file: int32(p.File), typ: m.Type, role: rolePing})
	t.touch(h.x)
}

// ---- responses ----

// response handles a separate response or notification (CON or NON).
func (t *Tracker) response(p *Packet, v *view, now int64) {
	m := p.Msg
	k := midKey{v.src, v.dst, m.MessageID}
	sum := t.h.digest(m.Raw)
	if e := t.getMsg(k, now); e != nil {
		if e.hash == sum {
			t.responseCopy(e, p, now)
			return
		}
		t.stats.MessageIDReuse++
	}
	t.stats.Responses++
	h := t.findResponseHop(v.dst, v.src, m.Token, v)
	if h != nil {
		t.addResponse(h, p, v, now, false)
	} else {
		h = t.orphan(p, v, now)
	}
	t.putMsg(k, msgEntry{t: now, last: now, hash: sum, hop: h.ref(), file: int32(p.File), typ: m.Type, role: roleResponse, frame: uint32(p.Frame)})
	t.touch(h.x)
}

func (t *Tracker) responseCopy(e *msgEntry, p *Packet, now int64) {
	e.copies++
	gap := now - e.last
	h := t.hop(e.hop)
	if h == nil {
		t.stats.Detached++
	}
	if int32(p.File) != e.file && gap <= t.mergeWin {
		t.stats.CaptureDuplicates++
		if h != nil {
			t.respFrame(h, p)
		}
		return
	}
	e.last = now
	retrans := e.typ == decode.Confirmable && e.acks == 0 && gap >= t.minGap
	if retrans {
		t.stats.ResponseRetransmissions++
	} else {
		t.stats.ResponseDuplicates++
	}
	if h == nil {
		return
	}
	t.respFrame(h, p)
	h.lastAct = now
	if retrans {
		h.respRetrans++
	} else {
		h.respDups++
	}
	t.touch(h.x)
}

// findResponseHop matches a response to a leg by endpoints and token
// (RFC 7252 section 5.3.2). Among legs that share a token, a response
// with Observe goes to a pending registration or an observation, one
// without to a pending request or as the final notification of a live
// observation; failing that, to the newest leg, where it counts as an
// extra response.
func (t *Tracker) findResponseHop(client, server endpoint, token []byte, v *view) *hop {
	r, ok := t.toks[t.tokKey(client, server, token)]
	if !ok {
		// A response from one member to a multicast request.
		if r, ok = t.toks[t.tokKey(client, endpoint{}, token)]; !ok {
			return nil
		}
	}
	var wait, regWait, obs, newest *hop
	for h := t.hop(r); h != nil; h = t.hop(h.tokOlder) {
		if h.kind == kindPing {
			continue
		}
		if newest == nil {
			newest = h
		}
		if h.waiting > 0 {
			if wait == nil {
				wait = h
			}
			if regWait == nil && h.obs.registered {
				regWait = h
			}
		}
		if obs == nil && h.obs.established {
			obs = h
		}
	}
	if v.hasObserve {
		switch {
		case regWait != nil:
			return regWait
		case obs != nil:
			return obs
		case wait != nil:
			return wait
		}
		return newest
	}
	switch {
	case wait != nil:
		return wait
	case obs != nil && obs.obs.ended == endNone:
		return obs
	}
	return newest
}

// orphan starts an exchange for a response that matches no request.
func (t *Tracker) orphan(p *Packet, v *view, now int64) *hop {
	m := p.Msg
	t.stats.UnmatchedResponses++
	h := t.newHop(t.newX())
	h.kind = kindOrphan
	h.from, h.to = p.Dst, p.Src
	h.tk = t.tokKey(v.dst, v.src, m.Token)
	h.token = append(h.token[:0], m.Token...)
	h.typ = m.Type
	h.secure = p.Secure
	h.oscore = v.hasOSCORE
	h.lastAct = now
	t.indexTok(h)
	t.addResponse(h, p, v, now, false)
	return h
}

// addResponse adds a new response message to h.
func (t *Tracker) addResponse(h *hop, p *Packet, v *view, now int64, piggy bool) {
	t.respFrame(h, p)
	h.lastAct = now
	t.learnTopics(h, p, v)
	notif, extra := false, false
	switch {
	case h.obs.established || h.obs.registered && v.hasObserve || h.kind == kindOrphan && v.hasObserve:
		notif = t.observeResponse(h, p, v, now)
		if notif && p.Msg.Type == decode.Confirmable {
			h.noteConNotification(p.Frame)
		}
	case !piggy && h.waiting == 0 && h.hasResp && !h.b1.open() && !h.b2.open():
		extra = true
	}
	if h.waiting > 0 {
		t.setWaiting(h, h.waiting-1)
	}
	if extra {
		h.respDups++
		t.stats.ResponseDuplicates++
	} else {
		h.responses++
		h.code = v.code
	}
	if !h.hasResp {
		h.hasResp = true
		h.firstResp = now
		h.firstCode = v.code
		h.respSize = p.Size
		if h.inFwd && !h.oscore && h.waiting == 0 && !h.b1.open() {
			// Answered before it was forwarded: a proxy does not forward
			// it any more.
			t.unindexFwd(h)
		}
		if o := p.OSCORE; o != nil {
			h.respTried, h.respVerified = o.Tried, o.Verified
		}
	}
	h.lastResp = now
	if v.block2.present && !extra {
		b := h.blocks()
		if notif && v.block2.num == 0 {
			b.b2 = blockTrack{}
		}
		b.b2.add(v.block2, bodyLen(p))
		if b.b2.total == 0 {
			b.b2.total = v.size2
		}
		if !h.inBlk && h.main == nil && h.kind == kindRequest && v.block2.more {
			h.bk = blkKey{mkPair(h.from, h.to), h.method, h.pathHash, 0}
			t.indexBlk(h)
		}
	}
	t.relayLinks(h, p, v, now, notif)
}

// observeResponse follows an observation (RFC 7641). It reports whether
// the response is a notification, that is, not the first response.
func (t *Tracker) observeResponse(h *hop, p *Packet, v *view, now int64) bool {
	o := &h.obs
	if !v.hasObserve || v.code.Class() != 2 {
		// A response without Observe, or an error, ends the observation
		// (RFC 7641 sections 3.2 and 4.2).
		if !o.established {
			return false
		}
		if o.ended == endNone {
			o.ended, o.endFrame, o.endTime = endFinal, uint32(p.Frame), now
			t.endedByDelete(h, p.Frame, now)
		} else {
			o.late++
		}
		h.notifications++
		return true
	}
	o.maxAge = 60
	if v.hasMaxAge {
		o.maxAge = v.maxAge
	}
	if !o.established {
		o.established = true
		o.firstSeq, o.lastSeq, o.lastSeqTime = v.observe, v.observe, now
		o.resetBase = false
		return false
	}
	h.notifications++
	if o.ended != endNone {
		o.late++
	}
	switch {
	case o.resetBase:
		o.resetBase = false
		o.lastSeq, o.lastSeqTime = v.observe, now
	case fresher(o.lastSeq, v.observe, o.lastSeqTime, now):
		o.lastSeq, o.lastSeqTime = v.observe, now
	default:
		o.stale++
	}
	return true
}

// ---- ACK and RST ----

func (t *Tracker) ackOrReset(p *Packet, v *view, now int64) {
	m := p.Msg
	k := midKey{v.dst, v.src, m.MessageID}
	e := t.getMsg(k, now)
	ok := e != nil
	if m.Type == decode.Reset {
		t.stats.Resets++
		if !ok {
			t.stats.UnmatchedResets++
			return
		}
		e.acks++
		h := t.hop(e.hop)
		if h == nil {
			t.stats.Detached++
			return
		}
		h.lastAct = now
		switch e.role {
		case rolePing:
			t.respFrame(h, p)
			t.answerPing(h, now)
		case roleRequest:
			t.addFrame(h, &h.otherFrames, p.Frame)
			if !h.reset {
				h.reset = true
				if h.waiting > 0 {
					t.setWaiting(h, h.waiting-1)
				}
			}
		case roleResponse:
			t.addFrame(h, &h.otherFrames, p.Frame)
			h.rejected++
			if e.acks == 1 {
				h.ackedNotification(e.frame)
			}
			if h.obs.established && h.obs.ended == endNone {
				h.obs.ended, h.obs.endFrame, h.obs.endTime = endReset, uint32(p.Frame), now
			}
		}
		t.touch(h.x)
		return
	}
	if m.Code == decode.CodeEmpty {
		t.stats.EmptyACKs++
		if !ok {
			t.stats.UnmatchedACKs++
			return
		}
		e.acks++
		h := t.hop(e.hop)
		if h == nil {
			t.stats.Detached++
			return
		}
		h.lastAct = now
		if e.acks > e.copies+1 {
			t.stats.DuplicateACKs++
		}
		if e.role == rolePing {
			t.respFrame(h, p)
			t.answerPing(h, now)
		} else {
			t.addFrame(h, &h.otherFrames, p.Frame)
			if e.role == roleResponse && e.acks == 1 {
				h.ackedNotification(e.frame)
			}
		}
		t.touch(h.x)
		return
	}
	if !m.Code.IsResponse() {
		t.stats.Other++
		return
	}
	// A piggybacked response.
	t.stats.Responses++
	if ok && e.role == roleRequest {
		e.acks++
		h := t.hop(e.hop)
		if h != nil && e.acks > 1 {
			// The same ACK again: one per copy of the request is a
			// retransmission, more is a flood.
			t.stats.Responses--
			t.respFrame(h, p)
			h.lastAct = now
			if int(e.acks) <= int(e.copies)+1 {
				h.respRetrans++
				t.stats.ResponseRetransmissions++
			} else {
				h.respDups++
				t.stats.ResponseDuplicates++
			}
			t.touch(h.x)
			return
		}
		if h != nil && e.tok == t.tokHash(m.Token) {
			// Matched by Message ID and the token of that request
			// (RFC 7252 section 5.3.2), even if the leg has moved on
			// to another token since.
			t.addResponse(h, p, v, now, true)
			t.touch(h.x)
			return
		}
	}
	if h := t.findResponseHop(v.dst, v.src, m.Token, v); h != nil {
		t.addResponse(h, p, v, now, false)
		t.touch(h.x)
		return
	}
	h := t.orphan(p, v, now)
	t.touch(h.x)
}

func (t *Tracker) answerPing(h *hop, now int64) {
	if !h.hasResp {
		h.hasResp = true
		h.firstResp, h.lastResp = now, now
		t.setWaiting(h, 0)
		h.responses = 1
	}
}

// ---- proxy linking ----

// findUpstream looks for the leg a proxy received the request on. The
// candidates are earlier requests with the same link key; the oldest one
// that passes canLink wins. exact reports an OSCORE match.
func (t *Tracker) findUpstream(p *Packet, v *view, lk uint64, now int64) (u *hop, exact, ambiguous bool) {
	if u, exact, ambiguous = t.scanFwd(p, v, lk, now, false); u != nil {
		return u, exact, ambiguous
	}
	if len(v.payload) > 0 && !v.hasOSCORE && !v.block1.present {
		// A proxy that reassembled a Block1 upload sends the whole body.
		return t.scanFwd(p, v, t.h.linkKey(v, p.Msg.Code, true), now, true)
	}
	return nil, false, false
}

func (t *Tracker) scanFwd(p *Packet, v *view, lk uint64, now int64, reassembled bool) (*hop, bool, bool) {
	l, ok := t.fwd[lk]
	if !ok {
		return nil, false, false
	}
	// Proxies forward in order, and quickly: the oldest candidate that
	// arrived within the proxy's usual residence wins. Older candidates
	// (requests the proxy may never forward) only count when there is no
	// fresh one, the newest of them first. When another candidate would
	// do as well, the link rests on that order alone: it is ambiguous,
	// and so is any later link to one of those candidates.
	var fresh, stale *hop
	staleExact := false
	n := 0
	for r := l.oldest; r.ok(); {
		u := t.hop(r)
		if u == nil {
			break
		}
		r = u.fwdNewer
		if now-u.firstReq > t.maxRes {
			t.unindexFwd(u)
			continue
		}
		if reassembled && !(u.b1.used && u.b1.complete) {
			continue
		}
		ok, exact := t.canLink(u, p, v, now)
		if ok && !t.confirmLink(u, p, v, reassembled) {
			ok = false // the link keys collide, the bytes differ
		}
		switch {
		case !ok:
			continue
		case exact:
			return u, true, false
		case now-u.firstReq <= t.freshWindow(u.to):
			if fresh == nil {
				fresh = u
			}
		default:
			stale, staleExact = u, exact
		}
		n++
	}
	if n > 1 {
		for r := l.oldest; r.ok(); {
			u := t.hop(r)
			if u == nil {
				break
			}
			r = u.fwdNewer
			u.contested = true
		}
	}
	if fresh != nil {
		return fresh, false, n > 1 || fresh.contested
	}
	if stale != nil {
		return stale, staleExact, n > 1 || stale.contested
	}
	return nil, false, false
}

// canLink decides whether the request in p is the one u's receiver sends
// on. An OSCORE match is exact: the option and ciphertext are the same.
// Otherwise u must have gone to a proxy (Proxy-Uri or Proxy-Scheme, a
// configured or learnt proxy), or p must come from u's receiver's address
// while u is still unanswered.
func (t *Tracker) canLink(u *hop, p *Packet, v *view, now int64) (ok, exact bool) {
	if u.kind != kindRequest || u.from == p.Src || u.to == p.Dst || now < u.firstReq {
		return false, false
	}
	if len(u.x.hops) >= t.cfg.MaxLegs {
		return false, false
	}
	if u.oscore && v.hasOSCORE {
		return true, true
	}
	if u.downs > 0 && u.pendingRetrans == 0 {
		return false, false
	}
	if u.target.IsValid() && !v.hasProxy && u.target != p.Dst {
		return false, false
	}
	if outs := t.outs[u.to]; len(outs) > 0 && !slices.Contains(outs, p.Src.Addr()) {
		// The proxy was seen sending on from other addresses.
		return false, false
	}
	if u.proxyHint || t.isProxy(u.to) {
		return true, false
	}
	if p.Src.Addr() == u.to.Addr() && !u.hasResp {
		return true, false
	}
	return false, false
}

func (t *Tracker) link(u, h *hop, exact bool) {
	h.up = u.ref()
	u.downs++
	if !u.oscore {
		// Forwarded: no longer a candidate, unless a retransmission is
		// forwarded as a new request (requestCopy puts it back).
		t.unindexFwd(u)
	}
	if u.downs > 1 {
		switch {
		case u.pendingRetrans > 0:
			u.pendingRetrans--
		case exact:
			h.replay = true
		}
	}
	h.reqResidence = h.firstReq - u.firstReq
	t.learnProxy(u.to)
	if exact {
		t.learnOut(u.to, h.from, h.reqResidence)
	}
	t.stats.ProxyLinks++
}

// learnProxy remembers that a is a proxy.
func (t *Tracker) learnProxy(a netip.AddrPort) {
	if _, ok := t.proxies[a]; ok || len(t.proxies) >= maxLearntProxies+len(t.cfg.Proxies) {
		return
	}
	t.proxies[a] = struct{}{}
}

// learnOut remembers that proxy a sends on from address out, and held a
// request for res, once a link through it is certain: exact, or confirmed
// by a relayed response.
func (t *Tracker) learnOut(a netip.AddrPort, outEP netip.AddrPort, res int64) {
	if _, ok := t.proxies[a]; !ok {
		return
	}
	out := outEP.Addr()
	if _, ok := t.outEPs[outEP]; !ok && len(t.outEPs) < maxLearntProxies {
		t.outEPs[outEP] = struct{}{}
	}
	if r, ok := t.residence[a]; !ok || res > r {
		t.residence[a] = min(res, freshResidence)
	}
	if outs := t.outs[a]; len(outs) < maxProxyOuts && !slices.Contains(outs, out) {
		t.outs[a] = append(outs, out)
		if o := t.outOf[out]; len(o) < maxOutsPerOut && len(t.outOf) < maxLearntProxies && !slices.Contains(o, a.Addr()) {
			t.outOf[out] = append(o, a.Addr())
		}
	}
}

func (t *Tracker) isProxy(a netip.AddrPort) bool {
	if _, ok := t.proxies[a]; ok {
		return true
	}
	for _, p := range t.proxyAddrs {
		if p == a.Addr() {
			return true
		}
	}
	return false
}

// relayLinks measures proxy residence on the way back, tells relayed
// responses from ones a proxy made up, and links notifications to the
// server leg or publication that fed them.
func (t *Tracker) relayLinks(h *hop, p *Packet, v *view, now int64, notif bool) {
	if h.kind == kindPing {
		return
	}
	key := t.h.contentKey(p.Msg, v)
	slot := contentSlot(p.Msg, v)
	if h.up.ok() {
		r := &h.recent[h.recentNext%uint8(len(h.recent))]
		*r = recentResp{t: now, key: key, hop: h.ref(), frame: uint32(p.Frame), raw: append(r.raw[:0], p.Msg.Raw...)}
		h.recentNext++
		t.putResp(slot, respRec{key: key, t: now, hop: h.ref(), frame: uint32(p.Frame)})
	}
	if h.kind != kindRequest || h.downs == 0 && !h.proxyHint && !t.isProxy(h.to) {
		t.deliverPublication(h, p, v, now, notif)
		return
	}
	var best *recentResp
	if h.downs > 0 {
		best = t.relayed(h, key, p.Msg, now)
	}
	var cands [respWays]respRec
	n := t.respCands(slot, key, p.Msg, now, &cands)
	if best == nil && !h.relayed && !notif {
		// No leg of this exchange got that response. When several
		// clients ask a proxy for the same resource at once, the
		// forwarded requests were told apart only by their order; the
		// response shows which one was really this client's.
		for _, r := range cands[:n] {
			if d := t.hop(r.hop); d != nil && d.x != h.x && t.swapDown(h, d) {
				best = t.relayed(h, key, p.Msg, now)
				break
			}
		}
	}
	var altered *recentResp
	if best == nil && h.downs > 0 {
		altered = t.unrelayed(h, now)
	}
	switch {
	case altered != nil:
		// The proxy sent the client something else than what the server
		// leg received: paired, and the difference recorded.
		altered.used = true
		h.altered++
		t.stats.AlteredResponses++
		if d := t.hop(altered.hop); d != nil {
			raw := altered.raw
			if sm := t.decodeRaw(raw); sm != nil {
				t.diffResponse(h, d, sm, p.Msg, int(altered.frame), p.Frame)
			}
		}
		if !h.hasRespRes {
			h.respResidence, h.hasRespRes = now-altered.t, true
		}
	case best != nil:
		best.used = true
		if d := t.hop(best.hop); d != nil && !d.ambiguous && !sameAfterToken(best.raw, p.Msg.Raw) {
			// Same code and payload: the options may still differ.
			if sm := t.decodeRaw(best.raw); sm != nil {
				t.diffResponse(h, d, sm, p.Msg, int(best.frame), p.Frame)
			}
		}
		if !h.relayed {
			h.relayed = true
			if d := t.hop(best.hop); d != nil {
				t.learnOut(h.to, d.from, d.reqResidence)
			}
		}
		res := now - best.t
		if !h.hasRespRes {
			h.respResidence, h.hasRespRes = res, true
		}
		if notif && res > h.maxNotifRes {
			h.maxNotifRes = res
		}
	case h.downs == 0 && n > 0:
		// Answered by the proxy with no leg of its own: a notification
		// fed by another exchange's server leg, or a cached response.
		s := t.hop(cands[n-1].hop)
		if s == nil || s.x == h.x {
			break
		}
		kind := "cached-from"
		if notif {
			kind = "fed-by"
		}
		if h.obs.established && !h.shared.ok() {
			h.shared = s.ref()
			if len(s.sharers) < maxSharers {
				s.sharers = append(s.sharers, xref{h.x, h.x.gen})
			}
		}
		t.addLink(h.x, kind, s.x.id, p.Frame)
	}
	t.deliverPublication(h, p, v, now, notif)
}

// putResp remembers a response received on a downstream leg, replacing
// the oldest entry of its set.
func (t *Tracker) putResp(slot uint64, r respRec) {
	set := &t.respTab[slot&(respSlots-1)]
	i := 0
	for j := range set {
		if set[j].t < set[i].t {
			i = j
		}
	}
	set[i] = r
}

// respCands fills out with the remembered downstream responses with
// content key, oldest first, and returns how many there are.
func (t *Tracker) respCands(slot, key uint64, m *decode.Message, now int64, out *[respWays]respRec) int {
	n := 0
	for _, r := range t.respTab[slot&(respSlots-1)] {
		if r.key == key && r.hop.ok() && r.t <= now && now-r.t <= t.maxRes && t.sameResp(r, m) {
			out[n] = r
			n++
		}
	}
	c := out[:n]
	slices.SortFunc(c, func(a, b respRec) int { return cmp.Compare(a.t, b.t) })
	return n
}

// relayed returns the earliest unrelayed response with the content of
// m (content key key, confirmed on the bytes) that a leg after h
// received, or nil.
func (t *Tracker) relayed(h *hop, key uint64, m *decode.Message, now int64) *recentResp {
	return t.downResp(h, now, func(r *recentResp) bool {
		if r.key != key {
			return false
		}
		rm := t.decodeRaw(r.raw)
		return rm != nil && sameContent(rm, m)
	})
}

// swapDown corrects a heuristic link: u's response shows that leg d,
// linked to another client's request u2 with the same link key through
// the same proxy, is the one u was forwarded on. d moves under u; u's own
// downstream leg, if it has one, moves under u2. Both exchanges must be a
// plain client leg and server leg, nothing may have been relayed to u2
// yet, and the times must stay possible.
func (t *Tracker) swapDown(u, d *hop) bool {
	u2 := t.hop(d.up)
	if u2 == nil || u2 == u || u.oscore || u2.oscore || u2.downs != 1 || u2.relayed || u2.to != u.to ||
		u2.linkKey != u.linkKey || len(u2.x.hops) != 2 || d != u2.x.hops[1] || d.downs != 0 || d.firstReq < u.firstReq {
		return false
	}
	x1, x2 := u.x, u2.x
	nd := len(d.reqFrames) + len(d.respFrames) + len(d.otherFrames)
	switch {
	case u.downs == 0 && len(x1.hops) == 1:
		// u was answered without a leg of its own: take d from u2,
		// which becomes a request the proxy has not forwarded.
		x2.hops = x2.hops[:1]
		x1.hops = append(x1.hops, d)
		u.downs, u2.downs = 1, 0
		if !u2.inFwd && !u2.hasResp {
			t.indexFwd(u2)
		}
	case u.downs == 1 && len(x1.hops) == 2:
		cur := x1.hops[1]
		if cur.up != u.ref() || cur.downs != 0 || cur.linkKey != d.linkKey || cur.firstReq < u2.firstReq {
			return false
		}
		x1.hops[1], x2.hops[1] = d, cur
		cur.x, cur.up = x2, u2.ref()
		cur.reqResidence = cur.firstReq - u2.firstReq
		nd -= len(cur.reqFrames) + len(cur.respFrames) + len(cur.otherFrames)
	default:
		return false
	}
	d.x, d.up = x1, u.ref()
	d.reqResidence = d.firstReq - u.firstReq
	for _, h := range x2.hops[1:] {
		// The first link was wrong: so was what it said had changed.
		h.ambiguous, h.linkEv = true, h.linkEv|evOrder
		h.diffs = h.diffs[:0]
	}
	d.ambiguous, d.linkEv = true, d.linkEv|evOrder
	d.diffs = d.diffs[:0]
	u.contested, u2.contested = true, true
	x1.frames += nd
	x2.frames -= nd
	t.stats.Relinks++
	t.touch(x2)
	return true
}

func (t *Tracker) pubKey(to netip.AddrPort, path uint64, payload []byte) uint64 {
	a := to.Addr().As16()
	k := mix(binary.LittleEndian.Uint64(a[:8]), binary.LittleEndian.Uint64(a[8:]))
	k = mix(k, uint64(to.Port())|5<<40)
	return mix(mix(k, path), t.h.bytes(payload))
}

func (t *Tracker) addLink(x *xstate, kind string, id uint64, frame int) {
	t.addLinkPeer(x, kind, id, frame, netip.AddrPort{})
}

// addLinkPeer adds a link naming the other exchange's client.
func (t *Tracker) addLinkPeer(x *xstate, kind string, id uint64, frame int, peer netip.AddrPort) {
	ex := exchangeID(id)
	for _, l := range x.links {
		if l.Kind == kind && l.Exchange == ex {
			return
		}
	}
	if len(x.links) < maxLinks {
		x.links = append(x.links, Link{Kind: kind, Exchange: ex, Frame: frame, Peer: peer})
	} else {
		x.linksOmitted++
	}
}

// ---- keys and indexes ----

func (t *Tracker) tokKey(client, server endpoint, token []byte) tokKey {
	k := tokKey{client: client, server: server, n: uint16(min(len(token), math.MaxUint16))}
	if len(token) <= len(k.b) {
		copy(k.b[:], token)
	} else {
		binary.LittleEndian.PutUint64(k.b[:], t.h.bytes(token))
	}
	return k
}

func (t *Tracker) indexTok(h *hop) {
	r := t.toks[h.tk]
	h.tokOlder = r
	if o := t.hop(r); o != nil {
		o.tokNewer = h.ref()
	}
	t.toks[h.tk] = h.ref()
	h.inTok = true
}

func (t *Tracker) unindexTok(h *hop) {
	if !h.inTok {
		return
	}
	older, newer := t.hop(h.tokOlder), t.hop(h.tokNewer)
	if newer != nil {
		newer.tokOlder = h.tokOlder
	} else if older != nil {
		t.toks[h.tk] = h.tokOlder
	} else {
		delete(t.toks, h.tk)
	}
	if older != nil {
		older.tokNewer = h.tokNewer
	}
	h.inTok, h.tokOlder, h.tokNewer = false, ref{}, ref{}
}

func (t *Tracker) indexFwd(h *hop) {
	l := t.fwd[h.linkKey]
	if l.n >= maxFwdPerKey {
		if o := t.hop(l.oldest); o != nil {
			t.unindexFwd(o)
			l = t.fwd[h.linkKey]
		}
	}
	h.fwdOlder = l.newest
	if o := t.hop(l.newest); o != nil {
		o.fwdNewer = h.ref()
	} else {
		l.oldest = h.ref()
	}
	l.newest = h.ref()
	l.n++
	t.fwd[h.linkKey] = l
	h.inFwd = true
}

func (t *Tracker) unindexFwd(h *hop) {
	if !h.inFwd {
		return
	}
	l := t.fwd[h.linkKey]
	older, newer := t.hop(h.fwdOlder), t.hop(h.fwdNewer)
	if older != nil {
		older.fwdNewer = h.fwdNewer
	} else {
		l.oldest = h.fwdNewer
	}
	if newer != nil {
		newer.fwdOlder = h.fwdOlder
	} else {
		l.newest = h.fwdOlder
	}
	l.n--
	if l.n <= 0 {
		delete(t.fwd, h.linkKey)
	} else {
		t.fwd[h.linkKey] = l
	}
	h.inFwd, h.fwdOlder, h.fwdNewer = false, ref{}, ref{}
}

// blockHop finds the transfer a block-wise continuation with a new token
// continues: among the transfers of the same endpoints, method, resource
// and Request-Tag, the one that expects the requested block's offset, or
// else the newest.
func (t *Tracker) blockHop(bk blkKey, v *view) *hop {
	var newest, busy *hop
	for h := t.hop(t.blks[bk]); h != nil; h = t.hop(h.blkOlder) {
		if newest == nil {
			newest = h
		}
		b := h.blocks()
		switch {
		case v.block2.present && b.b2.used && b.b2.next == v.block2.offset(),
			v.block1.present && !v.block2.present && b.b1.used && b.b1.next == v.block1.offset():
			// A transfer asks for the next block once the last one
			// was answered.
			if h.waiting == 0 {
				return h
			}
			if busy == nil {
				busy = h
			}
		}
	}
	if busy != nil {
		return busy
	}
	return newest
}

func (t *Tracker) indexBlk(h *hop) {
	r := t.blks[h.bk]
	h.blkOlder = r
	if o := t.hop(r); o != nil {
		o.blkNewer = h.ref()
	}
	t.blks[h.bk] = h.ref()
	h.inBlk = true
}

func (t *Tracker) unindexBlk(h *hop) {
	if !h.inBlk {
		return
	}
	older, newer := t.hop(h.blkOlder), t.hop(h.blkNewer)
	if newer != nil {
		newer.blkOlder = h.blkOlder
	} else if older != nil {
		t.blks[h.bk] = h.blkOlder
	} else {
		delete(t.blks, h.bk)
	}
	if older != nil {
		older.blkNewer = h.blkNewer
	}
	h.inBlk, h.blkOlder, h.blkNewer = false, ref{}, ref{}
}

// pairFor returns the state of pair k, creating it, after enforcing
// MaxPendingPerPair for a new request: the exchanges of the oldest
// unanswered requests are emitted as evicted. keep is the exchange the new
// leg joins; it is never evicted.
func (t *Tracker) pairFor(k pairKey, keep *xstate) *pairState {
	ps := t.pairs[k]
	for ps != nil && ps.n >= t.cfg.MaxPendingPerPair {
		h := t.hop(ps.oldest)
		if h == nil || h.x == keep {
			break
		}
		t.stats.EvictedPerPair++
		t.finish(h.x, true)
		if ps.refs == 0 {
			ps = nil // released with its last leg
		}
	}
	if ps == nil {
		if n := len(t.spare); n > 0 {
			ps, t.spare = t.spare[n-1], t.spare[:n-1]
		} else {
			ps = new(pairState)
		}
		*ps = pairState{key: k}
		t.pairs[k] = ps
	}
	return ps
}

// attachPair makes h a leg of pair ps.
func (t *Tracker) attachPair(h *hop, ps *pairState) {
	h.pair = ps
	ps.refs++
}

func (t *Tracker) detachPair(h *hop) {
	t.unpend(h)
	if ps := h.pair; ps != nil {
		h.pair = nil
		if ps.refs--; ps.refs == 0 {
			delete(t.pairs, ps.key)
			t.spare = append(t.spare, ps)
		}
	}
}

// pend and unpend keep the list of h's pair's unanswered requests, oldest
// first, as h starts and stops waiting for a response.
func (t *Tracker) pend(h *hop) {
	ps := h.pair
	if h.pending || ps == nil {
		return
	}
	h.pending = true
	h.pairOlder = ps.newest
	if o := t.hop(ps.newest); o != nil {
		o.pairNewer = h.ref()
	} else {
		ps.oldest = h.ref()
	}
	ps.newest = h.ref()
	ps.n++
}

func (t *Tracker) unpend(h *hop) {
	if !h.pending {
		return
	}
	ps := h.pair
	older, newer := t.hop(h.pairOlder), t.hop(h.pairNewer)
	if older != nil {
		older.pairNewer = h.pairNewer
	} else {
		ps.oldest = h.pairNewer
	}
	if newer != nil {
		newer.pairOlder = h.pairOlder
	} else {
		ps.newest = h.pairOlder
	}
	ps.n--
	h.pending, h.pairOlder, h.pairNewer = false, ref{}, ref{}
}

// setWaiting sets the number of h's requests waiting for a response.
func (t *Tracker) setWaiting(h *hop, n int) {
	h.waiting = n
	if n > 0 {
		t.pend(h)
	} else {
		t.unpend(h)
	}
}

// ---- pools, deadlines, heap ----

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
		if h.waiting > 0 || h.obs.established && h.obs.ended == endNone || h.b1.open() || h.b2.open() {
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
	case h.obs.established && h.obs.ended == endNone:
		// A server should notify before the last representation's
		// Max-Age runs out (RFC 7641 section 4.3.1); real devices are
		// late, so the observation is kept for EXCHANGE_LIFETIME more.
		d := int64(h.obs.maxAge)*int64(time.Second) + t.life
		return h.lastAct + min(d, t.obsLife)
	case h.b1.open() || h.b2.open():
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
		for _, r := range h.sharers {
			if r.x.gen == r.gen && r.x.heapIdx >= 0 && r.x != x && r.x.sharedSnap == nil {
				l := t.leg(h, nil)
				l.Shared = exchangeID(x.id)
				r.x.sharedSnap = &l
			}
		}
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
