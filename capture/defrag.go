package capture

import (
	"net/netip"
	"time"
)

// Reassembly limits. A datagram is at most 65535 bytes (IPv4 total length,
// IPv6 payload length), so the byte limit also bounds the buffers.
const (
	maxDatagram    = 65535
	maxPending     = 1024             // datagrams being reassembled at once
	maxPendingSize = 32 << 20         // bytes buffered for them
	fragTimeout    = 60 * time.Second // in capture time, from the first fragment
	maxFreeEntries = 64               // recycled entries kept for reuse
)

// fragKey identifies a fragmented datagram (RFC 791 for IPv4: addresses,
// protocol and identification; RFC 8200 for IPv6: addresses and
// identification, proto left zero).
type fragKey struct {
	src, dst netip.Addr
	id       uint32
	proto    uint8
}

type span struct{ lo, hi int }

// pending is a datagram being reassembled.
type pending struct {
	key     fragKey
	start   time.Time // capture time of its first fragment
	nextHdr uint8     // the protocol of the reassembled bytes
	buf     []byte    // the datagram's bytes; holes are not yet received
	have    []span    // sorted, disjoint, non-adjacent ranges received, as declared by the IP headers
	total   int       // the datagram's length once its last fragment is in, else -1
	hole    int       // lowest offset whose bytes were declared but not captured (snap length)
	frames  []int
	// overlap is set when fragments overlapped or disagreed on the end.
	overlap    bool
	prev, next *pending
}

// bytes returns the reassembled datagram, cut where the capture is missing
// bytes.
func (e *pending) bytes() []byte { return e.buf[:min(e.total, e.hole, len(e.buf))] }

// incomplete reports whether captured bytes are missing from the datagram.
func (e *pending) incomplete() bool { return e.hole < e.total }

// reassembler collects IPv4 and IPv6 fragments of UDP datagrams. Its state
// is bounded in datagrams and bytes, expires by capture time, and recycles
// its buffers, so that steady reassembly allocates nothing.
type reassembler struct {
	table      map[fragKey]*pending
	head, tail *pending // pending datagrams, oldest first
	n, size    int      // pending datagrams and the capacity of their buffers
	free       []*pending
	done       *pending // handed out by the last call to Next
	stats      *Stats
}

type fragResult uint8

const (
	fragPending fragResult = iota // stored; the datagram is not complete
	fragDone                      // the datagram is complete
	fragInvalid                   // cannot belong to a datagram
)

func (ra *reassembler) init(stats *Stats) {
	ra.table = make(map[fragKey]*pending)
	ra.stats = stats
}

// add stores the fragment at offset off whose IP header declares n bytes, of
// which data holds what was captured.
func (ra *reassembler) add(k fragKey, now time.Time, frame, off int, more bool, data []byte, n int, next uint8) (*pending, fragResult) {
	end := off + n
	if end > maxDatagram {
		ra.stats.FragmentsInvalid++
		return nil, fragInvalid
	}
	e := ra.table[k]
	if e == nil {
		e = ra.alloc()
		e.key, e.start, e.nextHdr = k, now, next
		ra.table[k] = e
		ra.push(e)
		for ra.n > maxPending {
			ra.evict(ra.head)
		}
	}
	e.frames = append(e.frames, frame)
	if off == 0 {
		e.nextHdr = next
	}
	overlap := false
	if !more {
		if e.total >= 0 && e.total != end {
			overlap = true // two last fragments disagree; the first stands
		} else {
			e.total = end
		}
	}
	if captured := off + len(data); len(data) < n && captured < e.hole {
		e.hole = captured
	}
	if need := off + len(data); need > len(e.buf) {
		if need > cap(e.buf) {
			nb := make([]byte, need, max(need, 2*cap(e.buf), 2048))
			copy(nb, e.buf)
			ra.size += cap(nb) - cap(e.buf)
			e.buf = nb
		} else {
			e.buf = e.buf[:need]
		}
	}
	// Copy the bytes not received yet; those that arrived first win.
	pos := off
	for _, s := range e.have {
		if s.hi <= pos {
			continue
		}
		if s.lo >= end {
			break
		}
		if s.lo > pos {
			ra.copyIn(e, data, off, pos, s.lo)
		}
		overlap = true
		pos = max(pos, s.hi)
	}
	if pos < end {
		ra.copyIn(e, data, off, pos, end)
	}
	if overlap {
		ra.stats.FragmentOverlaps++
		e.overlap = true
	}
	e.have = insertSpan(e.have, span{off, end})
	if e.total >= 0 && len(e.have) == 1 && e.have[0].lo == 0 && e.have[0].hi >= e.total {
		ra.unlink(e)
		ra.stats.Reassembled++
		ra.done = e
		return e, fragDone
	}
	for ra.size > maxPendingSize && ra.head != e {
		ra.evict(ra.head)
	}
	return e, fragPending
}

// copyIn copies bytes [lo, hi) of the datagram from data, which holds the
// captured bytes from offset off on.
func (ra *reassembler) copyIn(e *pending, data []byte, off, lo, hi int) {
	hi = min(hi, off+len(data))
	if lo < hi {
		copy(e.buf[lo:hi], data[lo-off:hi-off])
	}
}

// insertSpan adds s to the sorted, disjoint spans, merging what touches.
func insertSpan(have []span, s span) []span {
	i := 0
	for i < len(have) && have[i].hi < s.lo {
		i++
	}
	j := i
	for j < len(have) && have[j].lo <= s.hi {
		s.lo, s.hi = min(s.lo, have[j].lo), max(s.hi, have[j].hi)
		j++
	}
	if i == j {
		have = append(have, span{})
		copy(have[i+1:], have[i:])
		have[i] = s
		return have
	}
	have[i] = s
	return append(have[:i+1], have[j:]...)
}

// expire evicts the datagrams whose first fragment is older than the
// timeout at capture time now.
func (ra *reassembler) expire(now time.Time) {
	for ra.head != nil && now.Sub(ra.head.start) > fragTimeout {
		ra.evict(ra.head)
	}
}

// flush evicts every pending datagram, at the end of the capture.
func (ra *reassembler) flush() {
	for ra.head != nil {
		ra.evict(ra.head)
	}
}

// release recycles the datagram handed out by the previous call to Next.
func (ra *reassembler) release() {
	if ra.done != nil {
		ra.recycle(ra.done)
		ra.done = nil
	}
}

func (ra *reassembler) evict(e *pending) {
	ra.stats.DatagramsEvicted++
	ra.stats.FragmentsEvicted += len(e.frames)
	ra.unlink(e)
	ra.recycle(e)
}

func (ra *reassembler) alloc() *pending {
	var e *pending
	if n := len(ra.free); n > 0 {
		e, ra.free = ra.free[n-1], ra.free[:n-1]
		ra.size += cap(e.buf)
	} else {
		e = new(pending)
	}
	e.total, e.hole = -1, maxDatagram+1
	return e
}

func (ra *reassembler) recycle(e *pending) {
	if len(ra.free) >= maxFreeEntries {
		return
	}
	*e = pending{buf: e.buf[:0], have: e.have[:0], frames: e.frames[:0]}
	ra.free = append(ra.free, e)
}

func (ra *reassembler) push(e *pending) {
	e.prev, e.next = ra.tail, nil
	if ra.tail != nil {
		ra.tail.next = e
	} else {
		ra.head = e
	}
	ra.tail = e
	ra.n++
}

// unlink removes e from the pending datagrams.
func (ra *reassembler) unlink(e *pending) {
	delete(ra.table, e.key)
	if e.prev != nil {
		e.prev.next = e.next
	} else {
		ra.head = e.next
	}
	if e.next != nil {
		e.next.prev = e.prev
	} else {
		ra.tail = e.prev
	}
	e.prev, e.next = nil, nil
	ra.n--
	ra.size -= cap(e.buf)
}
