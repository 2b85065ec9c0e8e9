package flows

import "github.com/coapaudit/coapaudit/decode"

// Responses: matching by token and endpoints (RFC 7252 section 5.3.2),
// separate responses and notifications (RFC 7641), their copies.

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
	h := t.newResponse(p, v, now)
	t.putMsg(k, msgEntry{t: now, last: now, hash: sum, hop: h.ref(), file: int32(p.File), typ: m.Type, role: roleResponse, frame: uint32(p.Frame)})
	t.touch(h.x)
}

// newResponse takes a response message that is not a copy, matched by
// token and endpoints, or an orphan.
func (t *Tracker) newResponse(p *Packet, v *view, now int64) *hop {
	t.stats.Responses++
	h := t.findResponseHop(v.dst, v.src, p.Msg.Token, v)
	if h != nil {
		t.addResponse(h, p, v, now, false)
	} else {
		h = t.orphan(p, v, now)
	}
	return h
}

func (t *Tracker) responseCopy(e *msgEntry, p *Packet, now int64) {
	h, gap, merged := t.copyOf(e, p, now, t.respFrame)
	if merged {
		return
	}
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
			if regWait == nil && h.rd().obs.registered {
				regWait = h
			}
		}
		if obs == nil && h.rd().obs.established {
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
	case obs != nil && obs.rd().obs.ended == endNone:
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
	t.carry(h, p)
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
	case h.rd().obs.established || h.rd().obs.registered && v.hasObserve || h.kind == kindOrphan && v.hasObserve:
		notif = t.observeResponse(h, p, v, now)
		if notif && !p.Reliable && p.Msg.Type == decode.Confirmable {
			t.noteConNotification(h, p.Frame)
		}
	case !piggy && h.waiting == 0 && h.hasResp && !h.rdMore().b1.open() && !h.rdMore().b2.open():
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
		h.respSize = int32(p.Size)
		if h.inFwd && !h.oscore && h.waiting == 0 && !h.rdMore().b1.open() {
			// Answered before it was forwarded: a proxy does not forward
			// it any more.
			t.unindexFwd(h)
		}
		if o := p.OSCORE; o != nil {
			e := t.more(h)
			e.respTried, e.respVerified = o.Tried, o.Verified
		}
	}
	h.lastResp = now
	if v.block2.present && !extra {
		b := t.more(h.blocks())
		if notif && v.block2.num == 0 {
			b.b2 = blockTrack{}
		}
		b.b2.add(v.block2, bodyLen(p))
		if b.b2.total == 0 {
			b.b2.total = v.size2
		}
		if !h.rdMore().inBlk && h.main == nil && h.kind == kindRequest && v.block2.more {
			t.more(h).bk = blkKey{mkPair(h.from, h.to), h.method, h.pathHash, 0}
			t.indexBlk(h)
		}
	}
	t.relayLinks(h, p, v, now, notif)
}

// observeResponse follows an observation (RFC 7641). It reports whether
// the response is a notification, that is, not the first response.
func (t *Tracker) observeResponse(h *hop, p *Packet, v *view, now int64) bool {
	if !v.hasObserve || v.code.Class() != 2 {
		// A response without Observe, or an error, ends the observation
		// (RFC 7641 sections 3.2 and 4.2).
		if !h.rd().obs.established {
			return false
		}
	}
	o := &t.ext(h).obs
	if !v.hasObserve || v.code.Class() != 2 {
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
