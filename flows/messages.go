package flows

import "github.com/coapaudit/coapaudit/decode"

// The Message ID table: deduplication of copies per endpoint pair (RFC 7252
// section 4.5) in a ring with expiry.

// The Message IDs are remembered in a ring in arrival order, which makes
// expiry and the MaxMessages cap first-in first-out; the index (msgIndex)
// points into the ring.

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
	i, ok := t.slotOf(k)
	if !ok {
		return nil
	}
	e := &t.ring[i]
	if !t.liveMsg(e, now) {
		return nil
	}
	return e
}

// putMsg remembers a message; the oldest is forgotten when the table is
// full.
func (t *Tracker) putMsg(k midKey, e msgEntry) {
	if t.ringLen == t.cfg.MaxMessages {
		live := t.liveMsg(&t.ring[t.ringHead], t.now)
		if t.popRing() && live {
			t.stats.EvictedMessages++
		}
	}
	if t.ringLen == len(t.ring) {
		t.growRing()
	}
	slot := (t.ringHead + t.ringLen) % len(t.ring)
	e.key = msgKey{t.eps.acquire(k.src), t.eps.acquire(k.dst), k.mid}
	t.ring[slot] = e
	t.ringLen++
	t.msgs.put(t.ring, &e.key, slot)
	if n := t.msgs.n; n > t.stats.PeakMessages {
		t.stats.PeakMessages = n
	}
}

// popRing forgets the oldest message; it reports whether the index still
// pointed at it (a newer message with the same key replaces it there).
func (t *Tracker) popRing() bool {
	k := &t.ring[t.ringHead].key
	ok := t.msgs.del(t.ring, k, t.ringHead)
	t.eps.release(k.src)
	t.eps.release(k.dst)
	t.ringHead = (t.ringHead + 1) % len(t.ring)
	t.ringLen--
	return ok
}

func (t *Tracker) growRing() {
	n := min(max(2*len(t.ring), 1024), t.cfg.MaxMessages)
	r := make([]msgEntry, n)
	for i := range t.ringLen {
		r[i] = t.ring[(t.ringHead+i)%len(t.ring)]
	}
	if len(t.ring) > 0 {
		head, size := t.ringHead, len(t.ring)
		t.msgs.renumber(func(s int) int { return (s - head + size) % size })
	}
	t.ring, t.ringHead = r, 0
}

// slotOf returns the ring slot that holds k.
func (t *Tracker) slotOf(k midKey) (int, bool) {
	src, ok := t.eps.lookup(k.src)
	if !ok {
		return 0, false
	}
	dst, ok := t.eps.lookup(k.dst)
	if !ok {
		return 0, false
	}
	return t.msgs.get(t.ring, &msgKey{src, dst, k.mid})
}

// keyAt returns the key of the message in ring slot s.
func (t *Tracker) keyAt(s int) midKey {
	k := t.ring[s].key
	return midKey{t.eps.eps[k.src].ep, t.eps.eps[k.dst].ep, k.mid}
}

// copyOf counts a copy of the message of e and returns its leg (nil when
// the leg is gone) and the time since the last copy. A copy from another
// capture file within MergeWindow is the same transmission seen twice:
// its frame is added with frame and merged is true, and there is nothing
// more to classify.
func (t *Tracker) copyOf(e *msgEntry, p *Packet, now int64, frame func(*hop, *Packet)) (h *hop, gap int64, merged bool) {
	e.copies++
	gap = now - e.last
	h = t.hop(e.hop)
	if h == nil {
		t.stats.Detached++
	}
	if int32(p.File) != e.file && gap <= t.mergeWin {
		t.stats.CaptureDuplicates++
		if h != nil {
			frame(h, p)
		}
		return h, gap, true
	}
	e.last = now
	return h, gap, false
}
