package flows

// epTable numbers the endpoints of the remembered Message IDs, so that
// each of the up to MaxMessages ring entries names its sender and
// receiver by two 4-byte ids instead of two 18-byte endpoints. An id is
// counted once per ring entry that uses it and is reused when the last
// one is forgotten, so the table holds only the endpoints of the ring.
type epTable struct {
	ids  map[endpoint]uint32
	eps  []epSlot // by id
	free []uint32
}

type epSlot struct {
	ep   endpoint
	refs uint32
}

func newEPTable() epTable { return epTable{ids: make(map[endpoint]uint32)} }

// lookup returns the id of e, if some entry uses it.
func (t *epTable) lookup(e endpoint) (uint32, bool) {
	id, ok := t.ids[e]
	return id, ok
}

// acquire returns the id of e, numbering it if it has none, and counts
// one more use.
func (t *epTable) acquire(e endpoint) uint32 {
	id, ok := t.ids[e]
	if !ok {
		if n := len(t.free); n > 0 {
			id = t.free[n-1]
			t.free = t.free[:n-1]
			t.eps[id] = epSlot{ep: e}
		} else {
			id = uint32(len(t.eps))
			t.eps = append(t.eps, epSlot{ep: e})
		}
		t.ids[e] = id
	}
	t.eps[id].refs++
	return id
}

// release counts one use less of id, forgetting its endpoint after the
// last.
func (t *epTable) release(id uint32) {
	s := &t.eps[id]
	if s.refs--; s.refs == 0 {
		delete(t.ids, s.ep)
		t.free = append(t.free, id)
	}
}

func (t *epTable) reset() {
	clear(t.ids)
	t.eps = t.eps[:0]
	t.free = t.free[:0]
}
