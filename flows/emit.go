package flows

import (
	"bytes"
	"math"
	"net/netip"
	"slices"
	"strconv"
	"time"

	"github.com/coapaudit/coapaudit/decode"
)

func exchangeID(id uint64) string { return "X" + strconv.FormatUint(id, 10) }

// chain appends the legs of x along the path to c: the client leg, then
// for each leg the first one linked after it that is no replay.
func (t *Tracker) chain(x *xstate, c []*hop) []*hop {
	c = append(c, x.hops[0])
	for cur := x.hops[0]; len(c) < len(x.hops); {
		var next *hop
		for _, h := range x.hops {
			if h.up == cur.ref() && !h.replay {
				next = h
				break
			}
		}
		if next == nil {
			break
		}
		c = append(c, next)
		cur = next
	}
	return c
}

// exchangeBlock is the storage of an emitted Exchange with the legs,
// residence and proxy of a common proxied exchange: one allocation. The
// slices handed out have no spare capacity, so that appending to one never
// writes into another.
type exchangeBlock struct {
	x       Exchange
	legs    [2]Leg
	res     [1]Residence
	proxies [1]netip.AddrPort
}

// maxURIs bounds the URI strings shared among emitted exchanges.
const maxURIs = 4096

// uriString returns b as a string, shared with earlier exchanges of the
// same URI.
func (t *Tracker) uriString(b []byte) string {
	if s, ok := t.uris[string(b)]; ok {
		return s
	}
	if len(t.uris) >= maxURIs {
		clear(t.uris)
	}
	s := string(b)
	t.uris[s] = s
	return s
}

// build turns x into the Exchange handed out, copying everything.
func (t *Tracker) build(x *xstate, evicted bool) *Exchange {
	root := x.hops[0]
	var buf [8]*hop
	ch := t.chain(x, buf[:0])
	last := ch[len(ch)-1]
	blk := new(exchangeBlock)
	e := &blk.x
	*e = Exchange{
		ID:            exchangeID(x.id),
		Client:        root.from,
		Server:        last.to,
		URI:           t.uriString(root.uri),
		Protected:     "none",
		Notifications: int(root.notifications),
		FramesOmitted: x.omitted,
	}
	switch {
	case len(ch) > 1:
		e.Proxy = root.to
		if len(ch)-1 <= len(blk.proxies) {
			e.Proxies = blk.proxies[: 0 : len(ch)-1]
		}
		for _, h := range ch[:len(ch)-1] {
			e.Proxies = append(e.Proxies, h.to)
		}
	case root.kind == kindRequest && (root.proxyHint || t.isProxy(root.to)):
		e.Proxy = root.to
		blk.proxies[0] = root.to
		e.Proxies = blk.proxies[:1:1]
		e.Server = root.target
	}
	switch root.kind {
	case kindPing:
		e.Method = "PING"
	case kindRequest:
		e.Method = methodName(root.method)
	}
	if root.hasResp && root.kind != kindPing {
		e.Code = root.code.String()
		if root.rd().obs.established {
			e.Code = root.firstCode.String()
		}
	}
	switch {
	case root.oscore:
		e.Protected = "oscore"
	case root.secure:
		e.Protected = t.carrierOf(root).security
	}

	// Legs: the path first, then any other leg (retries, replays), then a
	// leg shared with the exchange that owns it. The frame lists of the
	// legs and of the exchange share one allocation, and so do the tokens.
	n, ntok := 0, 0
	for _, h := range x.hops {
		n += len(h.reqFrames) + len(h.respFrames) + len(h.otherFrames)
		ntok += len(h.token)
	}
	s := t.hop(root.shared)
	if s != nil && s.x != x {
		n += len(s.reqFrames) + len(s.respFrames) + len(s.otherFrames)
		ntok += len(s.token)
	}
	a := &legAlloc{ints: make([]int, 0, 2*n), bytes: make([]byte, 0, ntok)}
	nl := len(x.hops)
	if s != nil && s.x != x || x.sharedSnap != nil {
		nl++ // the leg that fed x
	}
	if nl <= len(blk.legs) {
		e.Legs = blk.legs[:0:nl]
	} else {
		e.Legs = make([]Leg, 0, nl)
	}
	for _, h := range ch {
		e.Legs = append(e.Legs, t.leg(h, a))
	}
	for _, h := range x.hops {
		if !slices.Contains(ch, h) {
			e.Legs = append(e.Legs, t.leg(h, a))
		}
	}
	if s != nil && s.x != x {
		l := t.leg(s, a)
		l.Shared = exchangeID(s.x.id)
		e.Legs = append(e.Legs, l)
	} else if x.sharedSnap != nil {
		e.Legs = append(e.Legs, *x.sharedSnap)
	}

	frames := a.ints[len(a.ints):len(a.ints)]
	start, end := int64(math.MaxInt64), int64(math.MinInt64)
	for _, h := range x.hops {
		frames = appendInts(frames, h.reqFrames)
		frames = appendInts(frames, h.respFrames)
		frames = appendInts(frames, h.otherFrames)
		for _, ts := range [...]int64{h.firstReq, h.firstResp} {
			if ts != 0 && ts < start {
				start = ts
			}
		}
		end = max(end, h.lastAct)
	}
	slices.Sort(frames)
	e.Frames = slices.Compact(frames)
	if start != math.MaxInt64 {
		e.Start = time.Unix(0, start).UTC()
	}
	if end != math.MinInt64 {
		e.End = time.Unix(0, end).UTC()
	}
	if root.hasResp && root.kind != kindOrphan {
		e.RTT = someDuration(time.Duration(root.firstResp - root.firstReq))
	}

	if len(ch) > 1 && len(ch)-1 <= len(blk.res) {
		e.Residence = blk.res[: 0 : len(ch)-1]
	}
	for i := 0; i+1 < len(ch); i++ {
		up, down := ch[i], ch[i+1]
		r := Residence{Proxy: up.to, Relayed: up.relayed}
		r.Request = someDuration(time.Duration(down.reqResidence))
		if up.hasRespRes {
			r.Response = someDuration(time.Duration(up.respResidence))
		}
		if up.maxNotifRes > 0 {
			r.MaxNotification = someDuration(time.Duration(up.maxNotifRes))
		}
		e.Residence = append(e.Residence, r)
	}

	if o := &root.rd().obs; o.registered || o.established || o.dereg {
		e.Observe = &ObserveInfo{
			Established:     o.established,
			FirstSeq:        o.firstSeq,
			LastSeq:         o.lastSeq,
			Reregistrations: o.rereg,
			Stale:           o.stale,
			Ended:           endNames[o.ended],
			EndFrame:        int(o.endFrame),
			Late:            o.late,
			Deregistration:  o.dereg,
		}
		if o.established {
			e.Observe.LastCode = root.code.String()
			e.Observe.Unacknowledged = appendInts(nil, o.unacked)
			e.Observe.UnacknowledgedMore = o.unackedMore
			e.Observe.Vanished = o.lastCon != 0 && !o.lastConAcked && (o.ended == endNone || o.ended == endFinal)
		}
	}
	if b := &root.rdMore().b1; b.blocks+root.rdMore().b2.blocks > 1 || b.open() || root.rdMore().b2.open() {
		e.Block = blockInfo(root, x.hops)
	}
	if root.oscore {
		e.OSCORE = &OSCORESummary{
			KID:              HexBytes(slices.Clone(root.rdMore().kid)),
			KIDContext:       HexBytes(slices.Clone(root.rdMore().kidContext)),
			PIV:              HexBytes(slices.Clone(root.rdMore().piv)),
			RequestVerified:  verdict(root.rdMore().reqTried, root.rdMore().reqVerified),
			ResponseVerified: verdict(root.rdMore().respTried, root.rdMore().respVerified),
		}
		if len(e.OSCORE.KID) == 0 {
			e.OSCORE.KID = HexBytes{}
		}
	}
	if len(x.links) > 0 {
		e.Links = slices.Clone(x.links)
	}
	for _, h := range x.hops {
		if h.unconfirmed && !t.confirmed(h) {
			// Never confirmed as sent by the proxy: it may be another
			// client's request; nothing is said about what differs.
			h.ambiguous, h.diffs = true, h.diffs[:0]
		}
		e.Ambiguous = e.Ambiguous || h.contested || h.ambiguous
	}
	e.LinksOmitted = x.linksOmitted
	tr := t.role(topicKey{last.to, last.pathHash})
	if tr.role == "" && root.kind == kindRequest && t.isBroker(last.to) {
		tr = topicRole{RoleOther, ""}
		if bytes.Equal(last.path, wellKnownCore) {
			tr = topicRole{RoleDiscovery, EvidenceLinkFormat}
		}
	}
	e.Role, e.RoleEvidence = tr.role, tr.evidence
	e.Publication = e.Role == RoleData && (root.method == decode.CodePUT || root.method == decode.CodePOST) && root.reqSize > 0 && pubPayload(t, root)
	for _, h := range ch {
		e.Diff = append(e.Diff, h.diffs...)
	}
	for _, h := range x.hops {
		if !slices.Contains(ch, h) {
			e.Diff = append(e.Diff, h.diffs...)
		}
	}
	e.Status = t.status(x, ch, evicted)
	e.Evicted = evicted && !t.finished(x)
	return e
}

// status decides Exchange.Status; see the Status constants.
func (t *Tracker) status(x *xstate, ch []*hop, evicted bool) Status {
	root, last := ch[0], ch[len(ch)-1]
	if evicted && !t.finished(x) && !root.rd().obs.established {
		return Evicted
	}
	switch {
	case root.kind == kindPing:
		if root.hasResp {
			return Complete
		}
		return Unanswered
	case root.kind == kindOrphan:
		return Unmatched
	case root.reset:
		return Reset
	case root.rd().obs.established:
		return Observing
	case root.hasResp:
		served := false
		if len(ch) > 1 {
			// The client's last response must follow the server's.
			served = !last.hasResp || last.firstResp > root.lastResp
		} else {
			served = root.proxyHint || t.isProxy(root.to)
		}
		switch {
		case served:
			return ServedByIntermediary
		case root.rdMore().b1.open() || root.rdMore().b2.open():
			return Incomplete
		}
		return Complete
	}
	for _, h := range x.hops[1:] {
		if h.hasResp {
			return Withheld
		}
	}
	return Unanswered
}

// legAlloc hands out the slices of one Exchange's legs from shared
// backing arrays.
type legAlloc struct {
	ints  []int
	bytes []byte
}

func (a *legAlloc) frames(src []uint32) []int {
	if a == nil {
		return appendInts(make([]int, 0, len(src)), src)
	}
	i := len(a.ints)
	a.ints = appendInts(a.ints, src)
	return a.ints[i:len(a.ints):len(a.ints)]
}

func (a *legAlloc) token(src []byte) []byte {
	if a == nil {
		return slices.Clone(src)
	}
	i := len(a.bytes)
	a.bytes = append(a.bytes, src...)
	return a.bytes[i:len(a.bytes):len(a.bytes)]
}

// leg builds the Leg of h; a may be nil.
func (t *Tracker) leg(h *hop, a *legAlloc) Leg {
	l := Leg{
		From:                    h.from,
		To:                      h.to,
		Token:                   HexBytes(a.token(h.token)),
		RequestFrames:           a.frames(h.reqFrames),
		ResponseFrames:          a.frames(h.respFrames),
		OtherFrames:             a.frames(h.otherFrames),
		RequestSize:             int(h.reqSize),
		ResponseSize:            int(h.respSize),
		RequestBytes:            h.reqBytes,
		ResponseBytes:           h.respBytes,
		Requests:                int(h.requests),
		Responses:               int(h.responses),
		Retransmissions:         int(h.retrans),
		Duplicates:              int(h.dups),
		Replays:                 int(h.replays),
		ResponseRetransmissions: int(h.respRetrans),
		ResponseDuplicates:      int(h.respDups),
		Rejected:                int(h.rejected),
		Notifications:           int(h.notifications),
		BlockSize:               max(h.rdMore().b1.maxSize, h.rdMore().b2.maxSize),
		Replay:                  h.replay,
		LinkEvidence:            t.evidenceNames(h.linkEv),
	}
	if len(l.OtherFrames) == 0 {
		l.OtherFrames = nil
	}
	c := t.carrierOf(h)
	l.Transport = c.transport
	if c.security != "" {
		l.Protection = c.security
	}
	if h.kind != kindOrphan {
		if !c.reliable { // reliable transports have no message types
			l.Type = h.typ.String()
		}
		l.RequestTime = time.Unix(0, h.firstReq).UTC()
	}
	if h.hasResp {
		l.ResponseTime = time.Unix(0, h.firstResp).UTC()
		if h.kind != kindPing {
			l.Code = h.code.String()
		}
	}
	return l
}

func blockInfo(root *hop, hops []*hop) *BlockInfo {
	b := &BlockInfo{
		Blocks:   root.rdMore().b1.blocks + root.rdMore().b2.blocks,
		Repeated: root.rdMore().b1.repeated + root.rdMore().b2.repeated,
		Missing:  root.rdMore().b1.missing + root.rdMore().b2.missing,
		Complete: !root.rdMore().b1.open() && !root.rdMore().b2.open(),
		Bytes:    int(root.rdMore().b1.bytes + root.rdMore().b2.bytes),
		Size1:    root.rdMore().b1.total,
		Size2:    root.rdMore().b2.total,
	}
	switch {
	case root.rdMore().b1.used && root.rdMore().b2.used:
		b.Option = "block1+block2"
	case root.rdMore().b1.used:
		b.Option = "block1"
	default:
		b.Option = "block2"
	}
	size := 0
	for _, h := range hops {
		s := max(h.rdMore().b1.maxSize, h.rdMore().b2.maxSize)
		if s == 0 {
			continue
		}
		if size != 0 && s != size {
			b.SizeChanged = true
		}
		size = s
	}
	return b
}

func verdict(tried, ok bool) string {
	switch {
	case !tried:
		return ""
	case ok:
		return "yes"
	}
	return "no"
}

func methodName(c decode.Code) string {
	if n := c.Name(); n != "" {
		return n
	}
	return c.String()
}

func appendInts(dst []int, src []uint32) []int {
	if len(src) == 0 {
		return dst
	}
	dst = slices.Grow(dst, len(src))
	for _, v := range src {
		dst = append(dst, int(v))
	}
	return dst
}

// confirmed reports whether h's sender is now known as an address its
// proxy sends from.
func (t *Tracker) confirmed(h *hop) bool {
	up := t.hop(h.up)
	return up != nil && (h.from.Addr() == up.to.Addr() || containsAddr(t.outs[up.to], h.from.Addr()))
}
