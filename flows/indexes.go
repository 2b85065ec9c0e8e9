package flows

import (
	"encoding/binary"
	"math"
)

// Keys and the indexes of legs by token, link key, block transfer and
// endpoint pair.

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
		if t.tokDeletes++; t.tokDeletes >= rebuildDeletes*t.cfg.MaxPending {
			t.rebuildToks()
		}
	}
	if older != nil {
		older.tokNewer = h.tokNewer
	}
	h.inTok, h.tokOlder, h.tokNewer = false, ref{}, ref{}
}

// rebuildDeletes is how many times MaxPending deletions the token map
// takes before it is copied into a fresh one: Go maps do not shrink, and
// steady churn makes them grow with the capture; the copy costs
// O(entries) and so adds a constant per deletion.
const rebuildDeletes = 4

func (t *Tracker) rebuildToks() {
	m := make(map[tokKey]ref, len(t.toks))
	for k, v := range t.toks {
		m[k] = v
	}
	t.toks = m
	t.tokDeletes = 0
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
	for h := t.hop(t.blks[bk]); h != nil; h = t.hop(h.rdMore().blkOlder) {
		if newest == nil {
			newest = h
		}
		b := h.blocks()
		switch {
		case v.block2.present && b.rdMore().b2.used && b.rdMore().b2.next == v.block2.offset(),
			v.block1.present && !v.block2.present && b.rdMore().b1.used && b.rdMore().b1.next == v.block1.offset():
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
	e := t.more(h)
	r := t.blks[e.bk]
	e.blkOlder = r
	if o := t.hop(r); o != nil {
		t.more(o).blkNewer = h.ref()
	}
	t.blks[e.bk] = h.ref()
	e.inBlk = true
}

func (t *Tracker) unindexBlk(h *hop) {
	e := h.rdMore()
	if !e.inBlk {
		return
	}
	older, newer := t.hop(e.blkOlder), t.hop(e.blkNewer)
	if newer != nil {
		t.more(newer).blkOlder = e.blkOlder
	} else if older != nil {
		t.blks[e.bk] = e.blkOlder
	} else {
		delete(t.blks, e.bk)
	}
	if older != nil {
		t.more(older).blkNewer = e.blkNewer
	}
	e.inBlk, e.blkOlder, e.blkNewer = false, ref{}, ref{}
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
func (t *Tracker) setWaiting(h *hop, n int32) {
	h.waiting = n
	if n > 0 {
		t.pend(h)
	} else {
		t.unpend(h)
	}
}
