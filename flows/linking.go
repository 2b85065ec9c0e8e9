package flows

import (
	"cmp"
	"encoding/binary"
	"net/netip"
	"slices"

	"github.com/coapaudit/coapaudit/decode"
)

// Proxy linking: finding the leg a proxy received a request on, learning
// proxies, relayed and cached responses, publications.

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
		if reassembled && !(u.rdMore().b1.used && u.rdMore().b1.complete) {
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
		if h.recent == nil {
			h.recent = t.newRecent()
		}
		r := &h.recent[h.recentNext%uint8(len(h.recent))]
		*r = recentResp{t: now, key: key, hop: h.ref(), frame: uint32(p.Frame), raw: append(r.raw[:0], p.Msg.Raw...),
			code: p.Msg.Code, payOff: int32(p.Msg.PayloadOff)}
		for _, o := range p.Msg.Options {
			if o.ID == decode.OptOSCORE { // the first, as Message.Option finds it
				r.oscOff, r.oscLen = int32(o.Span.Off+o.Span.Len-len(o.Value)), int32(len(o.Value))
				break
			}
		}
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
		if h.rd().obs.established && !h.shared.ok() {
			h.shared = s.ref()
			if len(s.rd().sharers) < maxSharers {
				e := t.ext(s)
				e.sharers = append(e.sharers, xref{h.x, h.x.gen})
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
