package flows

// CoAP ping (RFC 7252 section 4.3).

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
	t.carry(h, p)
	h.firstReq, h.lastReq, h.lastAct = now, now, now
	h.reqSize = int32(p.Size)
	h.requests = 1
	t.reqFrame(h, p)
	t.attachPair(h, ps)
	t.setWaiting(h, 1)
	t.putMsg(k, msgEntry{t: now, last: now, hash: sum, hop: h.ref(), file: int32(p.File), typ: m.Type, role: rolePing})
	t.touch(h.x)
}
