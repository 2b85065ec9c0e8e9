package flows

import (
	"net/netip"

	"github.com/coapaudit/coapaudit/decode"
)

// Requests: new requests, their copies, and the legs they continue
// (Observe reregistrations, block-wise transfers).

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
	h := t.newRequest(p, v, now)
	t.putMsg(k, msgEntry{t: now, last: now, hash: sum, tok: t.tokHash(m.Token), hop: h.ref(), file: int32(p.File), typ: m.Type, role: roleRequest})
	t.touch(h.x)
}

// newRequest takes a request message that is not a copy: it continues a
// leg (Observe, block-wise) or starts one.
func (t *Tracker) newRequest(p *Packet, v *view, now int64) *hop {
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
	return h
}

// tokHash identifies a token in a message entry.
func (t *Tracker) tokHash(tok []byte) uint64 { return t.h.bytes(tok) }

// requestCopy classifies a request sent again with the same Message ID
// and content (RFC 7252 section 4.5).
func (t *Tracker) requestCopy(e *msgEntry, p *Packet, now int64) {
	h, gap, merged := t.copyOf(e, p, now, t.reqFrame)
	if merged {
		return
	}
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
			case v.hasObserve && v.observe == 0 && h.rd().obs.registered && h.rd().obs.ended == endNone:
				o := &t.ext(h).obs
				o.rereg++
				o.resetBase = true
				t.addRequestMsg(h, p, v, now)
				return h
			case v.hasObserve && v.observe == 1 && h.rd().obs.registered && h.rd().obs.ended == endNone:
				o := &t.ext(h).obs
				o.ended, o.endFrame, o.endTime = endDeregistered, uint32(p.Frame), now
				t.deregOf = h.ref()
				t.touch(h.x)
				return nil
			case v.block1.present && v.block1.num > 0 && h.blocks().rdMore().b1.used,
				v.block2.present && v.block2.num > 0 && h.blocks().rdMore().b2.used:
				if h.rd().obs.established {
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
			if h.rd().obs.established {
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
	t.carry(h, p)
	h.oscore = v.hasOSCORE
	h.uri = append(h.uri[:0], main.uri...)
	h.pathHash = v.pathHash
	h.firstReq, h.lastReq, h.lastAct = now, now, now
	h.reqSize = int32(p.Size)
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
		e := t.more(h)
		e.b1.add(v.block1, bodyLen(p))
		if e.b1.total == 0 {
			e.b1.total = v.size1
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
	t.carry(h, p)
	h.oscore = v.hasOSCORE
	h.proxyHint = v.hasProxy
	h.target = parseTarget(v, m)
	h.uri = appendURI(h.uri[:0], v, m, p.Dst, t.carrierOf(h).scheme(p.Secure))
	h.pathHash = v.pathHash
	h.path = append(h.path[:0], v.path...)
	h.reqRaw = append(h.reqRaw[:0], m.Raw...)
	h.mid = m.MessageID
	h.linkKey = lk
	h.firstReq, h.lastReq, h.lastAct = now, now, now
	h.reqSize = int32(p.Size)
	h.requests = 1
	if v.hasObserve && (v.observe == 0 || v.observe == 1 && (v.code == decode.CodeGET || v.code == decode.CodeFETCH)) {
		o := &t.ext(h).obs
		o.registered = v.observe == 0
		o.dereg = v.observe == 1
	}
	t.noteDelete(h, now)
	t.reqFrame(h, p)
	if v.hasOSCORE {
		t.noteOSCORE(h, p, v)
	}
	if v.block1.present {
		e := t.more(h)
		e.b1.add(v.block1, bodyLen(p))
		e.b1.total = v.size1
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
		t.more(h).bk = blkKey{ps.key, v.code, v.pathHash, t.tagHash(v)}
		t.indexBlk(h)
	}
	t.attachPair(h, ps)
	t.setWaiting(h, 1)
	t.notePublication(h, v, now)
	return h
}

func (t *Tracker) noteOSCORE(h *hop, p *Packet, v *view) {
	if o := p.OSCORE; o != nil {
		e := t.more(h)
		e.kid = append(e.kid[:0], o.KID...)
		e.kidContext = append(e.kidContext[:0], o.KIDContext...)
		e.piv = append(e.piv[:0], o.PIV...)
		e.reqTried, e.reqVerified = o.Tried, o.Verified
		return
	}
	if o, err := decode.ParseOSCORE(v.oscore); err == nil {
		e := t.more(h)
		e.kid = append(e.kid[:0], o.KID...)
		e.kidContext = append(e.kidContext[:0], o.KIDContext...)
		e.piv = append(e.piv[:0], o.PIV...)
	}
}

func (t *Tracker) tagHash(v *view) uint64 {
	if !v.hasReqTag {
		return 0
	}
	return t.h.bytes(v.reqTag) | 1
}
