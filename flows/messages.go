package flows

import "github.com/coapaudit/coapaudit/decode"

// The Message ID table: deduplication of copies per endpoint pair (RFC 7252
// section 4.5) in a ring with expiry.

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
