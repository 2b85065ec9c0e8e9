package flows

import (
	"hash/maphash"
	"math/bits"
)

// msgIndex finds the ring slot of a remembered Message ID: a flat
// open-addressing table (linear probing, deletion by backward shift, no
// tombstones) of ring slots, placed by a keyed hash of the key and
// confirmed on the key stored in the ring. It replaces a Go map, which
// costs three times the memory at the cap, never shrinks and grows under
// churn. The hash is keyed with a random seed, so that no sender can pick
// Message IDs and ports that pile up in one run of the table; which
// entries exist never depends on it (the ring decides what is
// forgotten), so the output does not either.
type msgIndex struct {
	seed maphash.Seed
	tab  []msgSlot
	n    int
	max  int // the largest table needed: twice MaxMessages, a power of two
}

// msgSlot is one entry: the ring slot plus one (0: empty), and the key's
// hash, which places the entry (its low bits) and skips most other keys
// without reading the ring.
type msgSlot struct {
	slot uint32
	h    uint32
}

func newMsgIndex(maxMessages int) msgIndex {
	return msgIndex{seed: maphash.MakeSeed(), max: 1 << bits.Len(uint(2*maxMessages-1))}
}

func (x *msgIndex) hash(k *msgKey) uint32 { return uint32(maphash.Comparable(x.seed, *k)) }

// find returns the position in tab of k's entry, or -1.
func (x *msgIndex) find(ring []msgEntry, k *msgKey, h uint32) int {
	if len(x.tab) == 0 {
		return -1
	}
	mask := len(x.tab) - 1
	for i := int(h) & mask; ; i = (i + 1) & mask {
		e := x.tab[i]
		if e.slot == 0 {
			return -1
		}
		if e.h == h && ring[e.slot-1].key == *k {
			return i
		}
	}
}

// get returns the ring slot of k.
func (x *msgIndex) get(ring []msgEntry, k *msgKey) (int, bool) {
	i := x.find(ring, k, x.hash(k))
	if i < 0 {
		return 0, false
	}
	return int(x.tab[i].slot - 1), true
}

// put points k at ring slot s, replacing its entry if it has one. The
// ring must already hold k at s.
func (x *msgIndex) put(ring []msgEntry, k *msgKey, s int) {
	h := x.hash(k)
	if i := x.find(ring, k, h); i >= 0 {
		x.tab[i].slot = uint32(s + 1)
		return
	}
	if 2*(x.n+1) > len(x.tab) && len(x.tab) < x.max {
		x.resize(min(max(2*len(x.tab), 1024), x.max))
	}
	x.insert(msgSlot{uint32(s + 1), h})
	x.n++
}

func (x *msgIndex) insert(e msgSlot) {
	mask := len(x.tab) - 1
	i := int(e.h) & mask
	for x.tab[i].slot != 0 {
		i = (i + 1) & mask
	}
	x.tab[i] = e
}

// del removes k's entry if it points at ring slot s.
func (x *msgIndex) del(ring []msgEntry, k *msgKey, s int) bool {
	i := x.find(ring, k, x.hash(k))
	if i < 0 || int(x.tab[i].slot-1) != s {
		return false
	}
	// Backward shift: move later entries of the run into the hole when
	// their home position allows it.
	mask := len(x.tab) - 1
	for j := (i + 1) & mask; x.tab[j].slot != 0; j = (j + 1) & mask {
		home := int(x.tab[j].h) & mask
		if (j-home)&mask >= (j-i)&mask {
			x.tab[i] = x.tab[j]
			i = j
		}
	}
	x.tab[i] = msgSlot{}
	x.n--
	return true
}

// resize rebuilds the table with n positions from its entries.
func (x *msgIndex) resize(n int) {
	old := x.tab
	x.tab = make([]msgSlot, n)
	for _, e := range old {
		if e.slot != 0 {
			x.insert(e)
		}
	}
}

// renumber points every entry at the slot moved(slot) gives, after the
// ring was reallocated.
func (x *msgIndex) renumber(moved func(int) int) {
	for i := range x.tab {
		if e := &x.tab[i]; e.slot != 0 {
			e.slot = uint32(moved(int(e.slot-1)) + 1)
		}
	}
}

func (x *msgIndex) reset() {
	clear(x.tab)
	x.n = 0
}
