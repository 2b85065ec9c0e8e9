package oscore

import (
	"net/netip"
	"strconv"
)

// ReplayWindow is the width of the replay window, in Partial IVs, that the
// tracker holds a receiver to: RFC 8613 section 7.4 and the anti-replay
// window of RFC 4303 section 3.4.3, 32 wide by default.
const ReplayWindow = 32

// ReplayStatus classifies a Partial IV arriving at a receiver.
type ReplayStatus uint8

const (
	NotChecked ReplayStatus = iota // no Partial IV, or not tracked
	// Fresh: first time this receiver sees the Partial IV, and it is
	// above the highest seen or inside the window below it.
	Fresh
	// Retransmission: the same message again (same sender, same Message
	// ID) while the receiver had not answered it yet, or relayed from an
	// upstream hop that also saw it as often. CoAP deduplication handles
	// these; they are no replay.
	Retransmission
	// Duplicate: the receiver has seen this Partial IV before and nothing
	// explains the copy: a replay (RFC 8613 section 7.4).
	Duplicate
	// Old: below the window (more than ReplayWindow under the highest
	// Partial IV seen) and not seen before; a receiver must reject it.
	Old
)

var replayNames = [...]string{"not-checked", "fresh", "retransmission", "duplicate", "old"}

// String returns the status name used in output records.
func (s ReplayStatus) String() string {
	if int(s) < len(replayNames) {
		return replayNames[s]
	}
	return "ReplayStatus(" + strconv.Itoa(int(s)) + ")"
}

// GoString returns the Go constant name.
func (s ReplayStatus) GoString() string {
	names := [...]string{"oscore.NotChecked", "oscore.Fresh", "oscore.Retransmission", "oscore.Duplicate", "oscore.Old"}
	if int(s) < len(names) {
		return names[s]
	}
	return "oscore.ReplayStatus(" + strconv.Itoa(int(s)) + ")"
}

// MarshalText returns the status name.
func (s ReplayStatus) MarshalText() ([]byte, error) { return []byte(s.String()), nil }

// IsReplay reports whether s is Duplicate or Old.
func (s ReplayStatus) IsReplay() bool { return s == Duplicate || s == Old }

// ReplayKey names one replay window: the Partial IVs that one sender (by
// kid context and kid) uses toward one receiver. Response is set for the
// Partial IVs of responses (notifications), which the server draws from its
// own sequence number space; KID is then the request's kid. Receiver
// distinguishes the hops of a proxied exchange: a proxy that forwards a
// request sends the same Partial IV on to the next hop, which is no replay.
type ReplayKey struct {
	Receiver   netip.AddrPort
	KIDContext string
	KID        string
	Response   bool
}

type copyKey struct {
	k   ReplayKey
	piv uint64
}

// copyRec is what the tracker remembers of one Partial IV at one receiver.
type copyRec struct {
	first    int // frame
	src      netip.AddrPort
	mid      uint16
	copies   int
	answered bool
}

// sigKey is a Partial IV whatever the receiver.
type sigKey struct {
	kidContext, kid string
	response        bool
	piv             uint64
}

type window struct {
	max  uint64
	bits uint64 // bit i set: max-i seen
}

// ReplayTracker follows Partial IVs per ReplayKey and classifies each new
// one. It needs no keys: Partial IVs are visible in the OSCORE option.
// With keys, the caller records only messages that verified (or could not
// be checked), so that forgeries do not move the window. State is bounded:
// the oldest windows and Partial IV records are dropped first.
//
// A ReplayTracker is not safe for concurrent use.
type ReplayTracker struct {
	maxRecords int

	windows   map[ReplayKey]*window
	winOrder  fifo[ReplayKey]
	copies    map[copyKey]*copyRec
	copyOrder fifo[copyKey]
	sigs      map[sigKey][]receiverCopies
	sigOrder  fifo[sigKey]
}

type receiverCopies struct {
	rcv    netip.AddrPort
	copies int
}

// NewReplayTracker returns a tracker that remembers up to maxRecords
// Partial IVs (and as many windows); 0 means 65536.
func NewReplayTracker(maxRecords int) *ReplayTracker {
	if maxRecords <= 0 {
		maxRecords = 1 << 16
	}
	return &ReplayTracker{
		maxRecords: maxRecords,
		windows:    make(map[ReplayKey]*window),
		copies:     make(map[copyKey]*copyRec),
		sigs:       make(map[sigKey][]receiverCopies),
	}
}

// Check classifies Partial IV piv arriving at k.Receiver from src in a
// message with Message ID mid, without changing any state. first is the
// frame where the receiver first saw piv, when known.
func (t *ReplayTracker) Check(k ReplayKey, piv uint64, src netip.AddrPort, mid uint16) (s ReplayStatus, first int) {
	if rec := t.copies[copyKey{k, piv}]; rec != nil {
		if rec.src == src && rec.mid == mid &&
			(!rec.answered || t.maxElsewhere(k, piv) > rec.copies) {
			return Retransmission, rec.first
		}
		return Duplicate, rec.first
	}
	w := t.windows[k]
	switch {
	case w == nil || piv > w.max:
		return Fresh, 0
	case w.max-piv < ReplayWindow:
		if w.bits&(1<<(w.max-piv)) != 0 {
			return Duplicate, 0 // seen, but its record was dropped
		}
		return Fresh, 0
	}
	return Old, 0
}

// maxElsewhere returns the most copies of the same Partial IV that any
// other receiver has seen.
func (t *ReplayTracker) maxElsewhere(k ReplayKey, piv uint64) int {
	n := 0
	for _, rc := range t.sigs[sigKey{k.KIDContext, k.KID, k.Response, piv}] {
		if rc.rcv != k.Receiver && rc.copies > n {
			n = rc.copies
		}
	}
	return n
}

// Record adds a sighting of piv at k.Receiver, in frame, from src with
// Message ID mid.
func (t *ReplayTracker) Record(k ReplayKey, piv uint64, frame int, src netip.AddrPort, mid uint16) {
	w := t.windows[k]
	if w == nil {
		for len(t.windows) >= t.maxRecords && t.winOrder.len() > 0 {
			delete(t.windows, t.winOrder.pop())
		}
		w = &window{max: piv, bits: 1}
		t.windows[k] = w
		t.winOrder.push(k)
	} else if piv > w.max {
		shift := piv - w.max
		if shift >= 64 {
			w.bits = 0
		} else {
			w.bits <<= shift
		}
		w.bits |= 1
		w.max = piv
	} else if w.max-piv < 64 {
		w.bits |= 1 << (w.max - piv)
	}

	ck := copyKey{k, piv}
	rec := t.copies[ck]
	if rec == nil {
		for len(t.copies) >= t.maxRecords && t.copyOrder.len() > 0 {
			delete(t.copies, t.copyOrder.pop())
		}
		rec = &copyRec{first: frame, src: src, mid: mid}
		t.copies[ck] = rec
		t.copyOrder.push(ck)
	}
	rec.copies++

	sk := sigKey{k.KIDContext, k.KID, k.Response, piv}
	rcs, ok := t.sigs[sk]
	if !ok {
		for len(t.sigs) >= t.maxRecords && t.sigOrder.len() > 0 {
			delete(t.sigs, t.sigOrder.pop())
		}
		t.sigOrder.push(sk)
	}
	for i := range rcs {
		if rcs[i].rcv == k.Receiver {
			rcs[i].copies++
			return
		}
	}
	if len(rcs) < 8 { // a Partial IV crosses few hops; bound the list anyway
		t.sigs[sk] = append(rcs, receiverCopies{k.Receiver, 1})
	}
}

// Answered notes that k.Receiver answered the message that carried piv.
// A later copy from the same sender with the same Message ID is then no
// longer an ordinary retransmission.
func (t *ReplayTracker) Answered(k ReplayKey, piv uint64) {
	if rec := t.copies[copyKey{k, piv}]; rec != nil {
		rec.answered = true
	}
}

// Highest returns the highest Partial IV recorded for k.
func (t *ReplayTracker) Highest(k ReplayKey) (uint64, bool) {
	if w := t.windows[k]; w != nil {
		return w.max, true
	}
	return 0, false
}

// fifo is a queue of map keys, for evicting the oldest entry of a bounded
// map. Keys of entries deleted otherwise may linger; popping them deletes
// nothing.
type fifo[K any] struct {
	q    []K
	head int
}

func (f *fifo[K]) push(k K) {
	if f.head > 1024 && f.head > len(f.q)/2 {
		f.q = append(f.q[:0], f.q[f.head:]...)
		f.head = 0
	}
	f.q = append(f.q, k)
}

func (f *fifo[K]) pop() K {
	var zero K
	if f.head >= len(f.q) {
		return zero
	}
	k := f.q[f.head]
	f.q[f.head] = zero
	f.head++
	return k
}

func (f *fifo[K]) len() int { return len(f.q) - f.head }
