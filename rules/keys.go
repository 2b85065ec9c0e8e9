package rules

import (
	"net/netip"
	"strconv"
	"time"
)

// KeysMismatch reports a security context that verifies none, or nearly
// none, of the OSCORE messages it applies to: the key supplied is not the
// one the endpoints use.
var KeysMismatch = &Rule{
	ID: "keys-mismatch",
	Doc: `an OSCORE security context does not match the traffic it applies to

A key that is wrong (one bit of the master secret, a salt or a sender ID
mixed up) makes every message it is tried on fail verification, which
looks like a proxy forging everything. A context is judged as a whole:
once it has verified 3 messages, and at least a tenth of those it was
tried on, it matches; at the end of the capture, a context tried on at
least 4 messages that verified fewer than a tenth of them does not
match. Such a context gets this one finding, with its counts per
direction, and none of its verification failures is reported as a
forgery. A verification failure proves a forgery only when the same
context verified other messages between the same two endpoints. A
failure counts against the context that verified the endpoints' other
messages, or else against the first context the kid leads to: with
several contexts for one kid, an unused one is not blamed for the
forgeries of the others' traffic.`,
	Threat:   Usage,
	Severity: Low,
	Seed:     "2.1.1.1",
	Requires: RequiresKeys,
	Run: func(p *Pass) error {
		p.OnClose(func() {
			for _, c := range p.r.keys.ctxs {
				if !c.mismatch() {
					continue
				}
				p.Report(Finding{Certainty: Did, Frames: c.evidence, Message: c.verdict(), Time: c.last})
			}
		})
		return nil
	},
}

// A context's thresholds: it is judged a mismatch only after keysMinTried
// messages, and settled as matching once keysSettle verified (and at
// least keysMinShare percent of those tried).
const (
	keysMinTried  = 4
	keysSettle    = 3
	keysMinShare  = 10
	keysEvidence  = 8
	keysMaxHeld   = 4096
	keysMaxScan   = 64 // contexts searched for the one of an endpoint pair
	dirRequest    = 0
	dirResponse   = 1
	noKeyContext  = 0
	maxKeyContext = 1<<16 - 1
)

// keyContext is what the runner knows of one security context (by the
// name the OSCORE layer gives it): how many messages it was tried on and
// verified, per direction. It never holds key material.
type keyContext struct {
	name             string
	kid, kidCtx      []byte
	hasKIDCtx, named bool
	tried, verified  [2]int
	good             bool  // settled: the key matches the traffic
	evidence         []int // the first frames that failed
	last             time.Time
	withheld         int // forgery claims not made on its account
}

func (c *keyContext) totals() (tried, verified int) {
	return c.tried[0] + c.tried[1], c.verified[0] + c.verified[1]
}

// mismatch reports whether the context, as far as the capture went, does
// not match the traffic.
func (c *keyContext) mismatch() bool {
	t, v := c.totals()
	return !c.good && t >= keysMinTried && v*100 < t*keysMinShare
}

// describe names the context for messages: its name in the keys, kid and
// kid context; never a secret.
func (c *keyContext) describe() string {
	s := "security context " + c.name + " (kid " + hexOrEmpty(c.kid)
	if c.hasKIDCtx {
		s += ", kid context " + hexOrEmpty(c.kidCtx)
	}
	return s + ")"
}

// verdict is the keys-mismatch message.
func (c *keyContext) verdict() string {
	t, v := c.totals()
	s := "The " + c.describe() + " did not match this traffic: it verified " + strconv.Itoa(v) + " of " +
		plural(t, "OSCORE message") + " it was tried on (" + strconv.Itoa(c.verified[dirRequest]) + " of " +
		plural(c.tried[dirRequest], "request") + ", " + strconv.Itoa(c.verified[dirResponse]) + " of " +
		plural(c.tried[dirResponse], "response") + "), so the key is wrong and its verification failures prove no forgery"
	if c.withheld > 0 {
		s += " (" + plural(c.withheld, "forgery claim") + " withheld)"
	}
	return s + "."
}

// keyPair is a security context and the two endpoints of a message, in
// either order.
type keyPair struct {
	ctx  uint16
	a, b netip.AddrPort
}

func newKeyPair(ctx uint16, x, y netip.AddrPort) keyPair {
	if y.Compare(x) < 0 {
		x, y = y, x
	}
	return keyPair{ctx, x, y}
}

// heldForgery is a finding that rests on a verification failure, waiting
// until its context is known to match the traffic.
type heldForgery struct {
	p      *Pass
	f      Finding
	pair   keyPair
	weaken func(*Finding)
}

// keyTable follows, per security context, whether the keys match the
// traffic, and holds the findings that depend on it. It is bounded: at
// most maxKeyContext contexts, MaxState endpoint pairs and MaxState held
// findings.
type keyTable struct {
	ids   map[string]uint16
	ctxs  []*keyContext // ids count from 1
	pairs *boundedSet[keyPair]
	// held[start:] are the findings held, oldest first.
	held  []heldForgery
	start int
	max   int
}

func newKeyTable(max int) *keyTable {
	return &keyTable{ids: map[string]uint16{}, pairs: newBoundedSet[keyPair](max), max: max}
}

func (k *keyTable) get(id uint16) *keyContext {
	if id == noKeyContext || int(id) > len(k.ctxs) {
		return nil
	}
	return k.ctxs[id-1]
}

// observe counts pk, an OSCORE message a key was tried on, against its
// context and returns the context's id (noKeyContext when there is none
// or it does not count). Held findings that the message proves are
// reported.
func (k *keyTable) observe(pk *Packet) uint16 {
	r := pk.OSCORE
	if r == nil || !r.Tried || r.Context == "" || !r.IsRequest && r.RequestFrame == 0 {
		return noKeyContext // a guessed response is no evidence about a context
	}
	id, ok := k.ids[r.Context]
	if !ok {
		if len(k.ctxs) >= min(k.max, maxKeyContext) {
			return noKeyContext
		}
		k.ctxs = append(k.ctxs, &keyContext{name: r.Context})
		id = uint16(len(k.ctxs))
		k.ids[r.Context] = id
	}
	if !r.Verified {
		id = k.pairContext(id, pk.Src, pk.Dst)
	}
	c := k.ctxs[id-1]
	dir := dirResponse
	if r.IsRequest {
		dir = dirRequest
		if !c.named {
			c.named, c.hasKIDCtx = true, r.Option.HasKIDContext
			c.kid, c.kidCtx = clone(r.Option.KID), clone(r.Option.KIDContext)
		}
	} else if !c.named && c.kid == nil {
		c.kid = clone(r.RequestKID)
	}
	c.tried[dir]++
	c.last = pk.Time
	if !r.Verified {
		if len(c.evidence) < keysEvidence {
			c.evidence = append(c.evidence, pk.Frame)
		}
		return id
	}
	c.verified[dir]++
	newPair := k.pairs.add(newKeyPair(id, pk.Src, pk.Dst))
	settled := false
	if t, v := c.totals(); !c.good && v >= keysSettle && v*100 >= t*keysMinShare {
		c.good, settled = true, true
	}
	if c.good && (settled || newPair) && len(k.held) > k.start {
		k.release(func(h *heldForgery) bool { return k.proven(h.pair.ctx, h.pair.a, h.pair.b, false) })
	}
	return id
}

// pairContext returns the context a failure between a and b is
// attributed to: id, the first context the OSCORE layer tried, unless
// another one verified messages between the two endpoints (with several
// contexts for one kid, each failed on a forgery, and the endpoints' own
// is the one that failed). With many contexts id is kept.
func (k *keyTable) pairContext(id uint16, a, b netip.AddrPort) uint16 {
	if len(k.ctxs) == 1 || len(k.ctxs) > keysMaxScan || k.pairs.has(newKeyPair(id, a, b)) {
		return id
	}
	for i := range k.ctxs {
		if other := uint16(i + 1); k.pairs.has(newKeyPair(other, a, b)) {
			return other
		}
	}
	return id
}

// proven reports whether a verification failure of context id between a
// and b proves a forgery: the context matches the traffic (settled, or at
// the end not a mismatch) and verified another message between the two.
func (k *keyTable) proven(id uint16, a, b netip.AddrPort, final bool) bool {
	id = k.pairContext(id, a, b)
	c := k.get(id)
	if c == nil || !c.good && (!final || c.mismatch()) {
		return false
	}
	return k.pairs.has(newKeyPair(id, a, b))
}

// hold keeps f until the context of pk is known; when it already is, f is
// decided at once.
func (k *keyTable) hold(p *Pass, f Finding, id uint16, pk *Packet, weaken func(*Finding)) {
	h := heldForgery{p: p, f: f, pair: newKeyPair(id, pk.Src, pk.Dst), weaken: weaken}
	if k.proven(id, pk.Src, pk.Dst, false) {
		p.Report(f)
		return
	}
	if len(k.held)-k.start >= min(k.max, keysMaxHeld) {
		old := k.held[k.start]
		k.held[k.start] = heldForgery{}
		k.start++
		if k.start >= len(k.held)/2 {
			n := copy(k.held, k.held[k.start:])
			clear(k.held[n:])
			k.held, k.start = k.held[:n], 0
		}
		k.decide(&old, false)
	}
	h.f.Frames = append([]int(nil), f.Frames...)
	k.held = append(k.held, h)
}

// decide reports h as a forgery when its context proves it, drops it when
// the context does not match the traffic, and otherwise reports it
// weakened: its context verified no other message between its endpoints.
func (k *keyTable) decide(h *heldForgery, final bool) {
	c := k.get(k.pairContext(h.pair.ctx, h.pair.a, h.pair.b))
	switch {
	case k.proven(h.pair.ctx, h.pair.a, h.pair.b, final):
		h.p.Report(h.f)
	case c != nil && c.mismatch():
		c.withheld++
	default:
		h.weaken(&h.f)
		h.p.Report(h.f)
	}
}

// release reports the held findings that match, in the order they were
// held.
func (k *keyTable) release(match func(*heldForgery) bool) {
	keep := k.held[:0]
	var out []heldForgery
	for _, h := range k.held[k.start:] {
		if match(&h) {
			out = append(out, h)
			continue
		}
		keep = append(keep, h)
	}
	clear(k.held[len(keep):])
	k.held, k.start = keep, 0
	for i := range out {
		out[i].p.Report(out[i].f)
	}
}

// finish decides every held finding at the end of the capture.
func (k *keyTable) finish() {
	held := k.held[k.start:]
	k.held, k.start = nil, 0
	for i := range held {
		k.decide(&held[i], true)
	}
}

// reportForgery reports f, a finding that rests on the verification
// failure of pk alone, once pk's security context proves it (see
// keyTable.proven). A context that does not match the traffic drops f;
// one that verified nothing else between pk's endpoints gets f reported
// after weaken has made it a claim of what could have happened.
func (p *Pass) reportForgery(f Finding, pk *Packet, weaken func(*Finding)) {
	id := p.r.pktKey
	if id == noKeyContext {
		weaken(&f)
		p.Report(f)
		return
	}
	p.r.keys.hold(p, f, id, pk, weaken)
}

// verifyFailed reports whether f failed OSCORE verification under a
// context that proves it, between endpoints a and b, as far as the
// capture has gone: a claim that the message was forged may then rest on
// the failure.
func (p *Pass) verifyFailed(f *FrameInfo, a, b netip.AddrPort) bool {
	return f.Has(FrameTried) && !f.Has(FrameVerified) && p.r.keys.proven(f.keyCtx, a, b, p.r.closed)
}

func clone(b []byte) []byte {
	if b == nil {
		return nil
	}
	return append([]byte{}, b...)
}
