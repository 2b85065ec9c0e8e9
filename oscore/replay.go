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
// An absent and an empty kid context are the same.
type ReplayKey struct {
	Receiver   netip.AddrPort
	KIDContext string
	KID        string
	Response   bool
}

// seenSpan is how far below the highest Partial IV of a window the tracker
// remembers which Partial IVs it saw: wider than ReplayWindow, so that a
// copy of a Partial IV somewhat below the window is still a Duplicate, not
// merely Old, after its record left the recent set.
const seenSpan = 256

// window is the replay state of one sender at one receiver (RFC 8613
// section 7.4, as the anti-replay window of RFC 4303 section 3.4.3 and
// RFC 9147 section 4.5.1): the highest Partial IV seen and a bitmap of
// the seenSpan Partial IVs up to it. A Partial IV p is bit p%seenSpan, so
// that moving the highest one up only clears the bits it passes.
type window struct {
	kid, kidCtx string // the sender, copied once per window
	response    bool
	rcv         netip.AddrPort
	sender      uint64 // hash of the sender
	h           uint64 // hash of the window (sender and receiver)
	gen         uint32 // counts the window's uses of this slot
	live        bool
	used        bool // touched since the eviction hand last passed
	max         uint64
	seen        [seenSpan / 64]uint64
}

func (w *window) isSeen(piv uint64) bool {
	return w.max-piv < seenSpan && w.seen[piv/64%(seenSpan/64)]&(1<<(piv%64)) != 0
}

func (w *window) setSeen(piv uint64) {
	w.seen[piv/64%(seenSpan/64)] |= 1 << (piv % 64)
}

// advance makes piv (above max) the highest Partial IV, clearing the bits
// of the Partial IVs between.
func (w *window) advance(piv uint64) {
	if piv-w.max >= seenSpan {
		w.seen = [seenSpan / 64]uint64{}
	} else {
		for p := w.max + 1; p < piv; p++ {
			w.seen[p/64%(seenSpan/64)] &^= 1 << (p % 64)
		}
	}
	w.max = piv
	w.setSeen(piv)
}

// sameSender reports whether w's sender is (kidCtx, kid, response).
func (w *window) sameSender(kidCtx, kid []byte, response bool) bool {
	return w.response == response && w.kid == string(kid) && w.kidCtx == string(kidCtx)
}

// winRef names a window in the tracker; it goes stale when the window is
// evicted and its slot reused.
type winRef struct {
	i   int32 // -1: none
	gen uint32
}

var noWindow = winRef{i: -1}

// pivRecord is what the tracker remembers of one Partial IV at one
// receiver, while it is in the recent set.
type pivRecord struct {
	win      winRef
	h        uint64 // hash of the sender and the Partial IV
	piv      uint64
	first    int // frame
	src      netip.AddrPort
	mid      uint16
	answered bool
	copies   int32
}

// maxHops bounds the receivers whose records one Partial IV of one sender
// may have in the recent set: a Partial IV crosses few hops.
const maxHops = 8

// ReplayTracker follows Partial IVs per ReplayKey and classifies each new
// one. It needs no keys: Partial IVs are visible in the OSCORE option.
// With keys, the caller records only messages that verified (or could not
// be checked), so that forgeries do not move the window.
//
// Its state is sized by what is live, and bounded: a window per sender and
// receiver (the highest Partial IV and a bitmap below it), and a recent set
// of Partial IV records that hold the frame each was first seen in, its
// sender and Message ID, and how often it arrived. A Partial IV whose
// record is in the recent set is classified in full (Duplicate or
// Retransmission with its first frame). One whose record left the recent
// set is still classified by its window: a Duplicate without first frame
// when the window remembers seeing it (up to 256 below the highest), Old
// below the window otherwise, Fresh inside it. When the windows reach
// their bound, the least recently used one goes first (a later Partial IV
// of its sender then counts as Fresh); the recent set drops its oldest
// record. Both evictions are counted.
//
// A ReplayTracker is not safe for concurrent use.
type ReplayTracker struct {
	maxWindows, maxRecords int

	wins    []window
	winIdx  flatIndex
	hand    int // eviction hand over wins
	recs    []pivRecord
	recIdx  flatIndex
	recNext int // the oldest record once recs is full
	kh      keyHasher

	windowsEvicted, recordsEvicted int
}

// NewReplayTracker returns a tracker whose recent set holds up to
// maxRecords Partial IVs (0 means 65536), and that keeps half as many
// windows. Full, a record takes some 90 bytes and a window some 170.
func NewReplayTracker(maxRecords int) *ReplayTracker {
	if maxRecords <= 0 {
		maxRecords = 1 << 16
	}
	return &ReplayTracker{maxWindows: max(maxRecords/2, 1), maxRecords: maxRecords, kh: newKeyHasher()}
}

// Evictions returns the windows and the Partial IV records dropped so far
// to stay within the bounds.
func (t *ReplayTracker) Evictions() (windows, records int) {
	return t.windowsEvicted, t.recordsEvicted
}

// windowKey is a window's key with its hashes, computed once per message.
// The slices are borrowed.
type windowKey struct {
	kidCtx, kid []byte
	response    bool
	rcv         netip.AddrPort
	sender, h   uint64
}

func (t *ReplayTracker) key(kidCtx, kid []byte, response bool, rcv netip.AddrPort) windowKey {
	k := windowKey{kidCtx: kidCtx, kid: kid, response: response, rcv: rcv}
	k.sender = t.kh.sender(kidCtx, kid, response)
	k.h = t.kh.window(k.sender, rcv)
	return k
}

// find returns k's window, or noWindow.
func (t *ReplayTracker) find(k *windowKey) winRef {
	for pos, e := t.winIdx.first(k.h); e >= 0; pos, e = t.winIdx.next(pos, k.h) {
		w := &t.wins[e]
		if w.rcv == k.rcv && w.sameSender(k.kidCtx, k.kid, k.response) {
			return winRef{e, w.gen}
		}
	}
	return noWindow
}

// win returns the window ref names, or nil when it went stale.
func (t *ReplayTracker) win(ref winRef) *window {
	if ref.i < 0 || int(ref.i) >= len(t.wins) {
		return nil
	}
	w := &t.wins[ref.i]
	if !w.live || w.gen != ref.gen {
		return nil
	}
	return w
}

// create adds k's window, seeded with piv, evicting the least recently
// used one at the bound.
func (t *ReplayTracker) create(k *windowKey, piv uint64) winRef {
	var i int
	if len(t.wins) < t.maxWindows {
		t.wins = append(t.wins, window{})
		i = len(t.wins) - 1
	} else {
		for t.wins[t.hand].used {
			t.wins[t.hand].used = false
			t.hand = (t.hand + 1) % len(t.wins)
		}
		i = t.hand
		t.hand = (t.hand + 1) % len(t.wins)
		old := &t.wins[i]
		t.winIdx.remove(old.h, int32(i))
		t.windowsEvicted++
	}
	w := &t.wins[i]
	*w = window{
		kid: string(k.kid), kidCtx: string(k.kidCtx), response: k.response, rcv: k.rcv,
		sender: k.sender, h: k.h, gen: w.gen + 1, live: true, used: true, max: piv,
	}
	w.setSeen(piv)
	t.winIdx.insert(k.h, int32(i))
	return winRef{int32(i), w.gen}
}

// check classifies piv arriving in window ref from src with Message ID
// mid, without changing any state.
func (t *ReplayTracker) check(ref winRef, piv uint64, src netip.AddrPort, mid uint16) (ReplayStatus, int) {
	w := t.win(ref)
	if w == nil {
		return Fresh, 0
	}
	if rec, _, most := t.scan(ref, w, t.kh.piv(w.sender, piv), piv); rec != nil {
		if rec.src == src && rec.mid == mid && (!rec.answered || most > rec.copies) {
			return Retransmission, rec.first
		}
		return Duplicate, rec.first
	}
	switch {
	case piv > w.max:
		return Fresh, 0
	case w.isSeen(piv):
		return Duplicate, 0 // seen, but its record left the recent set
	case w.max-piv < ReplayWindow:
		return Fresh, 0
	}
	return Old, 0
}

// scan looks through the recent records of w's sender's Partial IV piv
// (h hashes both): mine is the one at w's receiver (ref), hops counts them
// at any receiver, and most is the most copies another receiver saw.
func (t *ReplayTracker) scan(ref winRef, w *window, h, piv uint64) (mine *pivRecord, hops int, most int32) {
	for pos, e := t.recIdx.first(h); e >= 0; pos, e = t.recIdx.next(pos, h) {
		r := &t.recs[e]
		if r.piv != piv {
			continue
		}
		if r.win == ref {
			mine = r
			hops++
			continue
		}
		if o := t.win(r.win); o != nil && o.sender == w.sender && o.response == w.response && o.kid == w.kid && o.kidCtx == w.kidCtx {
			hops++
			most = max(most, r.copies)
		}
	}
	return mine, hops, most
}

// add records a sighting of piv in window ref (created for k when stale),
// in frame, from src with Message ID mid. It returns the window.
func (t *ReplayTracker) add(k *windowKey, ref winRef, piv uint64, frame int, src netip.AddrPort, mid uint16) winRef {
	w := t.win(ref)
	// A Partial IV the window remembers, whose record left the recent
	// set, gets a record without first frame: that is unknown.
	if w != nil && piv <= w.max && w.isSeen(piv) {
		frame = 0
	}
	if w == nil {
		ref = t.create(k, piv)
		w = &t.wins[ref.i]
	} else if piv > w.max {
		w.advance(piv)
	} else if w.max-piv < seenSpan {
		w.setSeen(piv)
	}
	w.used = true
	h := t.kh.piv(w.sender, piv)
	rec, hops, _ := t.scan(ref, w, h, piv)
	if rec != nil {
		rec.copies++
		return ref
	}
	if hops >= maxHops {
		return ref
	}
	var i int
	if len(t.recs) < t.maxRecords {
		t.recs = append(t.recs, pivRecord{})
		i = len(t.recs) - 1
	} else {
		i = t.recNext
		t.recNext = (t.recNext + 1) % len(t.recs)
		t.recIdx.remove(t.recs[i].h, int32(i))
		t.recordsEvicted++
	}
	t.recs[i] = pivRecord{win: ref, h: h, piv: piv, first: frame, src: src, mid: mid, copies: 1}
	t.recIdx.insert(h, int32(i))
	return ref
}

// answered notes that the receiver of window ref answered the message
// that carried piv.
func (t *ReplayTracker) answered(ref winRef, piv uint64) {
	if w := t.win(ref); w != nil {
		if rec, _, _ := t.scan(ref, w, t.kh.piv(w.sender, piv), piv); rec != nil {
			rec.answered = true
		}
	}
}

func (t *ReplayTracker) publicKey(k ReplayKey) windowKey {
	return t.key([]byte(k.KIDContext), []byte(k.KID), k.Response, k.Receiver)
}

// Check classifies Partial IV piv arriving at k.Receiver from src in a
// message with Message ID mid, without changing any state. first is the
// frame where the receiver first saw piv when its record is in the recent
// set, else 0.
func (t *ReplayTracker) Check(k ReplayKey, piv uint64, src netip.AddrPort, mid uint16) (s ReplayStatus, first int) {
	wk := t.publicKey(k)
	return t.check(t.find(&wk), piv, src, mid)
}

// Record adds a sighting of piv at k.Receiver, in frame, from src with
// Message ID mid.
func (t *ReplayTracker) Record(k ReplayKey, piv uint64, frame int, src netip.AddrPort, mid uint16) {
	wk := t.publicKey(k)
	t.add(&wk, t.find(&wk), piv, frame, src, mid)
}

// Answered notes that k.Receiver answered the message that carried piv.
// A later copy from the same sender with the same Message ID is then no
// longer an ordinary retransmission.
func (t *ReplayTracker) Answered(k ReplayKey, piv uint64) {
	wk := t.publicKey(k)
	t.answered(t.find(&wk), piv)
}

// Highest returns the highest Partial IV recorded for k.
func (t *ReplayTracker) Highest(k ReplayKey) (uint64, bool) {
	wk := t.publicKey(k)
	if w := t.win(t.find(&wk)); w != nil {
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
