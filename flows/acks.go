package flows

import "github.com/coapaudit/coapaudit/decode"

// Empty ACKs and RSTs, matched by Message ID.

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
		h := t.acked(e, now)
		if h == nil {
			return
		}
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
				t.ackedNotification(h, e.frame)
			}
			if h.rd().obs.established && h.rd().obs.ended == endNone {
				o := &t.ext(h).obs
				o.ended, o.endFrame, o.endTime = endReset, uint32(p.Frame), now
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
		h := t.acked(e, now)
		if h == nil {
			return
		}
		if e.acks > e.copies+1 {
			t.stats.DuplicateACKs++
		}
		if e.role == rolePing {
			t.respFrame(h, p)
			t.answerPing(h, now)
		} else {
			t.addFrame(h, &h.otherFrames, p.Frame)
			if e.role == roleResponse && e.acks == 1 {
				t.ackedNotification(h, e.frame)
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

// acked counts an ACK or RST of the message of e and returns its leg, or
// nil when the leg is gone.
func (t *Tracker) acked(e *msgEntry, now int64) *hop {
	e.acks++
	h := t.hop(e.hop)
	if h == nil {
		t.stats.Detached++
		return nil
	}
	h.lastAct = now
	return h
}
