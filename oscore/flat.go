package oscore

import (
	"hash/maphash"
	"net/netip"
)

// flatIndex finds the entries of a table by a 64-bit hash of their key. It
// holds only 32 bits of each hash and the entry numbers: since different
// keys may share them (the traffic is adversarial, even if the hashes are
// seeded), the caller confirms every candidate on the key itself. Open
// addressing with linear probing in 8-byte slots, at most half full;
// removing an entry places the rest of its run again, so no tombstones
// accumulate. It grows with the table it indexes and never shrinks.
type flatIndex struct {
	slots []flatSlot
	n     int
}

type flatSlot struct {
	h uint32 // the low half of the hash: the home slot and a filter
	e int32  // entry number + 1; 0 for an empty slot
}

// first returns the probe position and the entry of the first slot
// holding hash h; the entry is -1 when there is none. Loop with next:
//
//	for pos, e := x.first(h); e >= 0; pos, e = x.next(pos, h) { ... }
func (x *flatIndex) first(h uint64) (pos int, e int32) {
	if len(x.slots) == 0 {
		return 0, -1
	}
	return x.scan(int(uint32(h))&(len(x.slots)-1), uint32(h))
}

// next returns the next slot after pos holding hash h.
func (x *flatIndex) next(pos int, h uint64) (int, int32) {
	return x.scan((pos+1)&(len(x.slots)-1), uint32(h))
}

func (x *flatIndex) scan(i int, h uint32) (int, int32) {
	mask := len(x.slots) - 1
	for {
		s := x.slots[i]
		if s.e == 0 {
			return i, -1
		}
		if s.h == h {
			return i, s.e - 1
		}
		i = (i + 1) & mask
	}
}

// insert adds entry e under hash h.
func (x *flatIndex) insert(h uint64, e int32) {
	if (x.n+1)*2 > len(x.slots) {
		x.grow()
	}
	x.place(uint32(h), e+1)
	x.n++
}

func (x *flatIndex) place(h uint32, e1 int32) {
	mask := len(x.slots) - 1
	i := int(h) & mask
	for x.slots[i].e != 0 {
		i = (i + 1) & mask
	}
	x.slots[i] = flatSlot{h, e1}
}

func (x *flatIndex) grow() {
	old := x.slots
	x.slots = make([]flatSlot, max(16, 2*len(old)))
	for _, s := range old {
		if s.e != 0 {
			x.place(s.h, s.e)
		}
	}
}

// remove drops entry e, indexed under hash h; it reports whether it was
// there.
func (x *flatIndex) remove(h uint64, e int32) bool {
	if len(x.slots) == 0 {
		return false
	}
	mask := len(x.slots) - 1
	i := int(uint32(h)) & mask
	for {
		s := x.slots[i]
		if s.e == 0 {
			return false
		}
		if s.e == e+1 {
			break
		}
		i = (i + 1) & mask
	}
	// Place again the rest of the run, which may have probed past the
	// hole (runs are short at this load).
	x.slots[i] = flatSlot{}
	for j := (i + 1) & mask; x.slots[j].e != 0; j = (j + 1) & mask {
		s := x.slots[j]
		x.slots[j] = flatSlot{}
		x.place(s.h, s.e)
	}
	x.n--
	return true
}

// keyHasher hashes the keys of the Decryptor's and the ReplayTracker's
// tables with a random seed, in a buffer it reuses.
type keyHasher struct {
	seed maphash.Seed
	buf  []byte
}

func newKeyHasher() keyHasher { return keyHasher{seed: maphash.MakeSeed()} }

// addr appends an address and port: the 16-byte form and the port (the
// zone is left out; the tables compare endpoints in full).
func appendAddrPort(b []byte, a netip.AddrPort) []byte {
	a16 := a.Addr().As16()
	p := a.Port()
	return append(append(b, a16[:]...), byte(p>>8), byte(p))
}

// appendField appends a length-prefixed byte string, so that the fields
// of a key cannot run into each other.
func appendField(b, v []byte) []byte {
	n := len(v)
	return append(append(b, byte(n>>8), byte(n)), v...)
}

func appendUint64(b []byte, v uint64) []byte {
	return append(b, byte(v>>56), byte(v>>48), byte(v>>40), byte(v>>32), byte(v>>24), byte(v>>16), byte(v>>8), byte(v))
}

func (k *keyHasher) sum() uint64 { return maphash.Bytes(k.seed, k.buf) }

// exchange hashes a request's hop and token.
func (k *keyHasher) exchange(client, server netip.AddrPort, token []byte) uint64 {
	b := appendAddrPort(k.buf[:0], client)
	b = appendAddrPort(b, server)
	k.buf = append(b, token...)
	return k.sum()
}

// sender hashes a sender of Partial IVs: kid context, kid and whether
// they are a response's.
func (k *keyHasher) sender(kidCtx, kid []byte, response bool) uint64 {
	b := appendField(k.buf[:0], kidCtx)
	b = appendField(b, kid)
	if response {
		b = append(b, 1)
	}
	k.buf = b
	return k.sum()
}

// window hashes a sender's window at one receiver.
func (k *keyHasher) window(sender uint64, rcv netip.AddrPort) uint64 {
	k.buf = appendAddrPort(appendUint64(k.buf[:0], sender), rcv)
	return k.sum()
}

// piv hashes a sender's Partial IV.
func (k *keyHasher) piv(sender, piv uint64) uint64 {
	k.buf = appendUint64(appendUint64(k.buf[:0], sender), piv)
	return k.sum()
}
