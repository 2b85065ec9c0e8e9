package coaptcp

import (
	"net/netip"
	"time"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"
	"github.com/google/gopacket/reassembly"
)

// kind is what a connection carries, as far as it is known.
type kind uint8

const (
	kindUnknown kind = iota // nothing seen yet to tell
	kindPortTCP             // on a coap+tcp port: RFC 8323 framing unless the first bytes say TLS or HTTP
	kindTCP                 // coap+tcp
	kindTLS                 // TLS (coaps+tcp, or coaps+ws inside)
	kindWS                  // HTTP that upgraded to WebSockets with the coap subprotocol
	kindNone                // something else: its bytes are ignored
)

// stream is one TCP connection: a reassembly.Stream with its two
// directions.
type stream struct {
	a              *Assembler
	client, server netip.AddrPort
	kind           kind
	half           [2]half // 0: client to server, 1: server to client
	tls            TLSConn
	innerWS        bool // the TLS plaintext is HTTP upgraded to WebSockets
	innerKnown     bool // innerWS is settled
	tentative      bool // TLS found by a ClientHello alone: CoAP once its plaintext is
	counted        bool
	closed         bool

	lastSeen   time.Time
	prev, next *stream // the Assembler's LRU list
}

func (s *stream) carriesCoAP() bool {
	switch s.kind {
	case kindPortTCP, kindTCP, kindWS:
		return true
	case kindTLS:
		return !s.tentative
	}
	return false
}

// transport names what s carries; "" when it is not (yet) CoAP.
func (s *stream) transport() string {
	switch s.kind {
	case kindPortTCP, kindTCP:
		return TransportTCP
	case kindTLS:
		if s.innerWS {
			return TransportWSS
		}
		return TransportTLS
	case kindWS:
		return TransportWS
	}
	return ""
}

// Accept takes every segment: it records which frame carried which bytes,
// and starts a direction whose SYN was not captured at its first segment.
func (s *stream) Accept(t *layers.TCP, ci gopacket.CaptureInfo, _ reassembly.TCPFlowDirection, nextSeq reassembly.Sequence, start *bool, _ reassembly.AssemblerContext) bool {
	a := s.a
	d := a.cur
	a.curS = s
	if d.Time.After(s.lastSeen) {
		s.lastSeen = d.Time
	}
	a.lru.moveToFront(s)
	h := &s.half[1]
	if d.Src == s.client {
		h = &s.half[0]
	}
	seq := t.Seq
	if t.SYN {
		seq++
	}
	if !h.started {
		h.started = true
		h.fromStart = t.SYN
		h.base = seq
		if nextSeq == -1 && !t.SYN {
			*start = true
			h.resync = true // mid-connection: find a message boundary first
			h.mid = true
		}
	}
	if n := len(t.Payload); n > 0 {
		p := h.pos(seq)
		end := p + int64(n)
		if p > h.next {
			// Out of order: the reassembler queues it behind a hole.
			a.lastOOO = d.Time
		}
		if end > h.next {
			h.record(segRec{start: max(p, h.next), end: end, frame: d.Number, time: d.Time})
		}
	}
	return true
}

// ReassembledSG takes the next bytes of one direction, in order.
func (s *stream) ReassembledSG(sg reassembly.ScatterGather, _ reassembly.AssemblerContext) {
	dir, _, _, skip := sg.Info()
	h := &s.half[0]
	// The reassembler's client-to-server direction is that of the
	// connection's first segment.
	first := s.client
	if s.firstFromServer() {
		first = s.server
	}
	if (dir == reassembly.TCPDirClientToServer) != (first == s.client) {
		h = &s.half[1]
	}
	if skip > 0 {
		s.a.stats.Gaps++
		s.a.stats.GapBytes += int64(skip)
		h.gap(skip)
	}
	n, _ := sg.Lengths()
	if n == 0 {
		return
	}
	data := sg.Fetch(n)
	h.input(data)
}

// firstFromServer reports whether the connection's first segment came
// from the server (its SYN-ACK).
func (s *stream) firstFromServer() bool { return s.half[1].first }

// ReassemblyComplete is called once both directions have ended.
func (s *stream) ReassemblyComplete(_ reassembly.AssemblerContext) bool {
	a := s.a
	if s.closed {
		return true
	}
	s.closed = true
	for i := range s.half {
		s.half[i].end()
	}
	a.lru.remove(s)
	a.stats.Streams--
	if a.evict {
		a.stats.Evicted++
	}
	return true
}

// segRec says which frame carried the bytes [start, end) of a direction.
type segRec struct {
	start, end int64
	frame      int
	time       time.Time
}

// maxSegRecs bounds the segment records of one direction; past it the
// oldest go, and a message then lists fewer frames.
const maxSegRecs = 4096

// plainRec maps plaintext bytes [start, end) of a decrypted direction to
// the TCP bytes [outStart, outEnd) fed to the decrypter.
type plainRec struct {
	start, end, outStart, outEnd int64
}

// half is one direction of a connection, or the plaintext of one
// direction of a TLS connection (outer set).
type half struct {
	s          *stream
	fromClient bool
	first      bool // the connection's first segment came this way (unused for plaintext)
	started    bool
	fromStart  bool   // captured from its SYN, no bytes lost since (the plaintext's: its outer's)
	msgs       int    // messages delivered
	base       uint32 // sequence number of byte position 0
	next       int64  // position of the next byte the reassembler delivers
	segs       []segRec

	// buf holds bytes not yet framed: an incomplete message, an HTTP
	// header, or everything while the connection's kind is unknown;
	// bufPos is the position of buf[0].
	buf    []byte
	bufPos int64
	skip   int64 // bytes of an oversized message still to pass over
	resync bool  // message boundaries lost: look for a plausible one
	mid    bool  // the direction's SYN was not captured
	csm    CSM   // what this end announced (of the plaintext for TLS)
	dead   bool  // nothing more to frame in this direction

	ws wsState

	// TLS: inner is the plaintext direction; plain maps its bytes.
	inner   *half
	outer   *half
	plain   []plainRec
	tlsMark int64 // position of the first TCP byte not yet seen to produce plaintext
	feedEnd int64 // position after the bytes being fed to the decrypter
	emitted bool  // the current Feed produced plaintext
	tlsBase int64 // position of the first byte fed
	tlsLost int64 // bytes lost in gaps since
	plainFn func(TLSRecord)
}

// pos returns the byte position of sequence number seq.
func (h *half) pos(seq uint32) int64 {
	return h.next + int64(int32(seq-(h.base+uint32(h.next))))
}

func (h *half) record(r segRec) {
	if len(h.segs) == maxSegRecs {
		n := copy(h.segs, h.segs[1:])
		h.segs = h.segs[:n]
	}
	h.segs = append(h.segs, r)
}

// keepFrom is the position of the first byte a later message may still
// need.
func (h *half) keepFrom() int64 {
	if h.inner != nil {
		// The plaintext still held maps back to TCP bytes.
		if in := h.inner; len(in.plain) > 0 {
			return min(h.tlsMark, in.plain[0].outStart)
		}
		return h.tlsMark
	}
	if len(h.buf) > 0 {
		return h.bufPos
	}
	return h.next
}

// prune drops the records of bytes no message will need.
func (h *half) prune() {
	if in := h.inner; in != nil {
		in.plain = dropBefore(in.plain, in.keepFrom(), func(r plainRec) int64 { return r.end })
	}
	h.segs = dropBefore(h.segs, h.keepFrom(), func(r segRec) int64 { return r.end })
}

// dropBefore removes the leading records that end at or before k.
func dropBefore[T any](recs []T, k int64, end func(T) int64) []T {
	i := 0
	for i < len(recs) && end(recs[i]) <= k {
		i++
	}
	if i == 0 {
		return recs
	}
	n := copy(recs, recs[i:])
	return recs[:n]
}

// collect appends to the Assembler's frame list the frames that carried
// bytes [start, end), and sets last to the record of the highest frame.
func (h *half) collect(start, end int64, last *segRec) {
	if h.outer != nil {
		for _, r := range h.plain {
			if r.start < end && r.end > start {
				h.outer.collect(r.outStart, r.outEnd, last)
			}
		}
		return
	}
	a := h.s.a
	for _, r := range h.segs {
		if r.start < end && r.end > start {
			a.frames = append(a.frames, r.frame)
			if r.frame > last.frame {
				*last = r
			}
		}
	}
}

// gap records n bytes missing before the next delivery.
func (h *half) gap(n int) {
	h.next += int64(n)
	h.fromStart = false
	if h.dead {
		return
	}
	if h.s.kind == kindTLS {
		if g, ok := h.s.tls.(TLSGapper); ok {
			g.Gap(h.fromClient, n)
		}
		h.tlsLost += int64(n)
		if h.inner != nil {
			h.inner.lose()
		}
		h.tlsMark = h.next
		return
	}
	if h.skip >= int64(n) {
		// The gap is inside a message being passed over.
		h.skip -= int64(n)
		return
	}
	h.skip = 0
	h.lose()
}

// lose drops what is buffered and looks for a message boundary again.
func (h *half) lose() {
	a := h.s.a
	if len(h.buf) > 0 {
		a.stats.DroppedBytes += int64(len(h.buf))
		a.total -= len(h.buf)
		h.buf = h.buf[:0]
	}
	a.stats.DroppedBytes += int64(h.ws.fragLen)
	h.dropFrag()
	h.resync = true
}

// end is called when the direction (and connection) is over.
func (h *half) end() {
	a := h.s.a
	if len(h.buf) > 0 || h.ws.fragLen > 0 {
		a.stats.Incomplete++
	}
	h.dropFrag()
	a.total -= len(h.buf)
	h.buf = nil
	h.segs = nil
	if h.inner != nil {
		h.inner.end()
	}
}

// input takes the next delivered bytes of the direction.
func (h *half) input(data []byte) {
	pos := h.next
	h.next += int64(len(data))
	s := h.s
	if h.dead || s.kind == kindNone {
		h.prune()
		return
	}
	if s.kind == kindUnknown || s.kind == kindPortTCP {
		h.hold(data, pos)
		s.detect()
		return
	}
	h.push(data, pos)
}

// hold buffers data of a connection whose kind is not known yet.
func (h *half) hold(data []byte, pos int64) {
	a := h.s.a
	if len(h.buf) == 0 {
		h.bufPos = pos
	}
	if len(h.buf)+len(data) > maxHeader {
		h.s.setKind(kindNone)
		return
	}
	if len(h.buf)+len(data) > a.cfg.MaxStreamBuffer || a.total+len(data) > a.cfg.MaxTotalBuffer {
		// No room to hold the connection's first bytes until it is
		// recognised: it goes unread, and what it held is counted as
		// dropped.
		a.stats.BufferDrops++
		a.stats.DroppedBytes += int64(len(h.s.half[0].buf) + len(h.s.half[1].buf) + len(data))
		h.s.setKind(kindNone)
		return
	}
	h.buf = append(h.buf, data...)
	a.total += len(data)
}

// maxHeader bounds what is held to recognise a connection (an HTTP
// request with its headers, a ClientHello).
const maxHeader = 16 << 10

// push frames data at position pos, after what is buffered.
func (h *half) push(data []byte, pos int64) {
	a := h.s.a
	if h.s.kind == kindTLS && h.outer == nil {
		h.tlsInput(data, pos)
		h.prune()
		return
	}
	var b []byte
	var bpos int64
	if len(h.buf) == 0 {
		b, bpos = data, pos
	} else {
		if len(h.buf)+len(data) > a.cfg.MaxStreamBuffer || a.total+len(data) > a.cfg.MaxTotalBuffer {
			a.stats.BufferDrops++
			h.lose()
			b, bpos = data, pos
		} else {
			h.buf = append(h.buf, data...)
			a.total += len(data)
			b, bpos = h.buf, h.bufPos
		}
	}
	n := h.frame(b, bpos)
	rest := b[n:]
	if len(h.buf) > 0 && &b[0] == &h.buf[0] {
		a.total -= n
		k := copy(h.buf, rest)
		h.buf = h.buf[:k]
	} else if len(rest) > 0 {
		if len(rest) > a.cfg.MaxStreamBuffer || a.total+len(rest) > a.cfg.MaxTotalBuffer {
			a.stats.BufferDrops++
			a.stats.DroppedBytes += int64(len(rest))
			h.resync = true
			rest = nil
		} else {
			h.buf = append(h.buf[:0], rest...)
			a.total += len(rest)
		}
	}
	if len(rest) > 0 {
		h.bufPos = bpos + int64(n)
	}
	if len(h.buf) == 0 && cap(h.buf) > 64<<10 {
		h.buf = nil
	}
	h.prune()
}

// frame frames what it can of b (at position pos) and returns the number
// of bytes it consumed.
func (h *half) frame(b []byte, pos int64) int {
	if h.s.kind == kindWS || h.outer != nil && h.s.innerWS {
		return h.frameWS(b, pos)
	}
	return h.frameTCP(b, pos)
}

// setKind settles what the connection carries and frames what both
// directions held meanwhile.
func (s *stream) setKind(k kind) {
	s.kind = k
	s.a.count(s)
	for i := range s.half {
		h := &s.half[i]
		b, pos := h.buf, h.bufPos
		s.a.total -= len(b)
		h.buf = nil
		if k == kindNone || len(b) == 0 {
			continue
		}
		h.push(b, pos)
	}
}

// streamList is a doubly-linked list of streams, most recently active
// first.
type streamList struct{ root stream }

func (l *streamList) init() { l.root.prev, l.root.next = &l.root, &l.root }

func (l *streamList) pushFront(s *stream) {
	s.prev, s.next = &l.root, l.root.next
	l.root.next.prev = s
	l.root.next = s
}

func (l *streamList) remove(s *stream) {
	if s.prev == nil {
		return
	}
	s.prev.next, s.next.prev = s.next, s.prev
	s.prev, s.next = nil, nil
}

func (l *streamList) moveToFront(s *stream) {
	if l.root.next == s || s.prev == nil {
		return
	}
	l.remove(s)
	l.pushFront(s)
}

// oldest returns the k-th least recently active stream (or the most
// recent one when there are fewer).
func (l *streamList) oldest(k int) *stream {
	s := l.root.prev
	if s == &l.root {
		return nil
	}
	for i := 1; i < k && s.prev != &l.root; i++ {
		s = s.prev
	}
	return s
}

// peer returns the other direction of h's connection (the plaintext one
// for a plaintext direction).
func (h *half) peer() *half {
	s := h.s
	o := &s.half[0]
	if h.fromClient {
		o = &s.half[1]
	}
	if h.outer != nil {
		if o.inner == nil {
			return &half{} // nothing decrypted that way yet
		}
		return o.inner
	}
	return o
}

// midstream reports whether the capture missed the start of h's
// direction.
func (h *half) midstream() bool {
	if h.outer != nil {
		return h.outer.mid
	}
	return h.mid
}
