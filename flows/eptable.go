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
	// last remembers ids found lately, by a hash of the endpoint, so
	// that the endpoints of a busy conversation skip the map; an entry
	// counts only while its id still names that endpoint.
	last [epCache]uint32
}

const epCache = 256

// cached returns the id last found for e, if it still names e.
func (t *epTable) cached(e endpoint) (uint32, int, bool) {
	i := int((uint32(e.port)*0x9e3779b1 ^ uint32(e.ip[15])*0x85ebca6b ^ uint32(e.ip[14])<<8 ^ uint32(e.ip[13])<<16) >> 24)
	id := t.last[i]
	if int(id) < len(t.eps) && t.eps[id].refs > 0 && t.eps[id].ep == e {
		return id, i, true
	}
	return 0, i, false
}

type epSlot struct {
	ep   endpoint
	refs uint32
}

func newEPTable() epTable { return epTable{ids: make(map[endpoint]uint32)} }

// lookup returns the id of e, if some entry uses it.
func (t *epTable) lookup(e endpoint) (uint32, bool) {
	id, i, ok := t.cached(e)
	if ok {
		return id, true
	}
	if id, ok = t.ids[e]; ok {
		t.last[i] = id
	}
	return id, ok
}

// acquire returns the id of e, numbering it if it has none, and counts
// one more use.
func (t *epTable) acquire(e endpoint) uint32 {
	id, i, ok := t.cached(e)
	if !ok {
		id, ok = t.ids[e]
	}
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
	t.last[i] = id
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
