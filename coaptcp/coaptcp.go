// Package coaptcp finds the CoAP messages of reliable transports (RFC
// 8323) in captured TCP segments: CoAP over TCP (coap+tcp), over TLS
// (coaps+tcp, in clear only through a decryption hook), and over
// WebSockets (coap+ws, and coaps+ws through the same hook).
//
// An Assembler is fed capture.Datagram values of kind capture.KindTCP in
// capture order. It reassembles each connection's byte streams with
// gopacket's reassembly package (out-of-order, retransmitted and
// overlapping segments, capture starting mid-connection, FIN and RST),
// recognises what the connection carries, frames the messages and hands
// each one to a callback with the frames that carried its bytes. Missing
// bytes are recorded as a gap, and the stream picks up again on the next
// plausible message boundary. Memory is bounded: bytes buffered per
// stream and in total, and the number of connections; evictions are
// counted in Stats.
package coaptcp

import (
	"encoding/binary"
	"errors"
	"net/netip"
	"slices"
	"time"

	"github.com/coapaudit/coapaudit/capture"
	"github.com/coapaudit/coapaudit/decode"
	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"
	"github.com/google/gopacket/reassembly"
)

// Transport names, as Message.Transport gives them.
const (
	TransportTCP = "tcp" // coap+tcp: RFC 8323 section 3
	TransportTLS = "tls" // coaps+tcp: the same framing inside TLS
	TransportWS  = "ws"  // coap+ws: RFC 8323 section 4 over WebSocket frames
	TransportWSS = "wss" // coaps+ws: WebSockets inside TLS
)

// Defaults for the zero values of Config.
const (
	DefaultMaxStreams      = 1 << 16
	DefaultMaxStreamBuffer = 1 << 20
	DefaultMaxTotalBuffer  = 64 << 20
	DefaultGapTimeout      = time.Second
)

// Config says which connections carry CoAP and how much memory the
// Assembler may use. The zero Config is usable: ports 5683 (coap+tcp) and
// 5684 (coaps+tcp), no heuristics, the default bounds.
type Config struct {
	// CoAPPorts are TCP ports of coap+tcp (either end of a connection);
	// nil means 5683.
	CoAPPorts []uint16
	// TLSPorts are TCP ports of coaps+tcp; nil means 5684.
	TLSPorts []uint16
	// Heuristics also claims connections on other ports: one whose first
	// bytes are a whole, well-formed CSM (coap+tcp must begin with one,
	// RFC 8323 section 5.3), or a TLS ClientHello offering ALPN "coap";
	// with a TLS hook, any other TLS connection whose first plaintext is
	// a CSM or a WebSocket Upgrade to coap.
	// WebSocket connections are recognised on any port by their HTTP
	// Upgrade (Sec-WebSocket-Protocol: coap), whatever this says.
	Heuristics bool
	// MaxStreams bounds the connections followed at once; past it the
	// least recently active are closed (Stats.Evicted). 0 means
	// DefaultMaxStreams.
	MaxStreams int
	// MaxStreamBuffer bounds the bytes held for one direction of one
	// connection: an incomplete message, an HTTP header, and the
	// out-of-order segments the reassembler waits behind. A message
	// longer than this is skipped (Stats.Oversized). 0 means
	// DefaultMaxStreamBuffer.
	MaxStreamBuffer int
	// MaxTotalBuffer bounds the bytes held over all connections. 0 means
	// DefaultMaxTotalBuffer.
	MaxTotalBuffer int
	// GapTimeout is how long, in capture time, the reassembler waits for
	// missing bytes before it records a gap and goes on with the bytes
	// after it. 0 means DefaultGapTimeout.
	GapTimeout time.Duration
	// TLS, when set, is called once for each TLS connection, with its
	// client and server, to get what decrypts it; nil leaves TLS
	// connections recognised but not decrypted (Stats.TLSBytes).
	TLS func(client, server netip.AddrPort) TLSConn
}

// TLSConn decrypts the TLS records of one connection (package tlsdec's
// Conn through TLSDec). Feed gets the connection's bytes in each
// direction in order, as they were reassembled, and calls emit with the
// application data of each record it decrypts, in order.
type TLSConn interface {
	Feed(fromClient bool, b []byte, emit func(TLSRecord))
}

// TLSRecord is the decrypted application data of one TLS record.
type TLSRecord struct {
	// Plaintext is borrowed for the call to emit.
	Plaintext []byte
	// Off is the offset of the record's first byte among the bytes fed in
	// its direction (the first byte fed is 0), and Len its length on the
	// wire; a message gets the frames of the records that carried it.
	// Len 0 says the extent is not known: the message then gets the
	// frames of the bytes fed since the last plaintext.
	Off int64
	Len int
}

// TLSGapper is implemented by a TLSConn that wants to know about bytes
// missing from the capture (n bytes in one direction): records after a
// gap cannot be decrypted in step without it.
type TLSGapper interface {
	Gap(fromClient bool, n int)
}

// Message is one CoAP message found on a reliable transport. Everything
// in it is borrowed until the callback returns.
type Message struct {
	Transport string // TransportTCP, TransportTLS, TransportWS or TransportWSS
	Src, Dst  netip.AddrPort
	// Client and Server are the connection's ends: the client sent the
	// SYN. When the capture starts mid-connection, the server is the end
	// on a configured CoAP or TLS port, or else the sender of the first
	// segment seen.
	Client, Server netip.AddrPort
	// Time is the capture time of Frame.
	Time time.Time
	// Frame is the frame whose segment completed the message: the one
	// that brought its last missing byte, or that filled the last hole
	// in the stream before it (a message after reordered segments), as
	// tshark shows a reassembled message. When the message comes out of
	// Flush or Close, after bytes that never came, it is the last frame
	// that carried its bytes.
	Frame int
	// Frames lists, in increasing order, the frame numbers of the
	// segments that carried the message's bytes (for WebSockets: of its
	// frames, headers included; for TLS: of the TCP bytes fed to the
	// decrypter since the last plaintext), and Frame.
	Frames []int
	// Raw is the message as framed: the RFC 8323 message with its length
	// field for TCP and TLS, the WebSocket message's payload (unmasked)
	// for WebSockets.
	Raw []byte
	// CoAP is the decoded message (Framing FramingTCP or
	// FramingWebSocket).
	CoAP decode.Message
	// Err is the decode error of a malformed message, which is still
	// reported: a *decode.FormatError, or ErrTextFrame for CoAP sent in
	// a WebSocket text frame.
	Err error
	// Sender and Receiver are the capabilities each end had announced in
	// its CSMs before this message (RFC 8323 section 5.3), this message
	// included when it is a CSM: what the rules need for a message before
	// the CSM, one over the receiver's Max-Message-Size, or BERT without
	// Block-Wise-Transfer on both sides.
	Sender, Receiver CSM
	// Midstream says the capture did not see this direction begin (no
	// SYN): a CSM may have gone before it.
	Midstream bool
}

// CSM is what one end of a connection announced in its Capabilities and
// Settings Messages so far.
type CSM struct {
	Seen bool // a CSM came from this end
	// MaxMessageSize is the Max-Message-Size it announced, 1152 (the
	// default of RFC 8323 section 5.3.1) when it announced none.
	MaxMessageSize uint32
	// BlockWiseTransfer is set once it announced Block-Wise-Transfer.
	BlockWiseTransfer bool
}

// DefaultMaxMessageSize is the Max-Message-Size of an end that announced
// none (RFC 8323 section 5.3.1).
const DefaultMaxMessageSize = 1152

// ErrTextFrame marks a message that came in a WebSocket text frame; RFC
// 8323 section 4.2 sends CoAP in binary frames only.
var ErrTextFrame = errors.New("coaptcp: CoAP in a WebSocket text frame")

// Stats counts what an Assembler has seen.
type Stats struct {
	Segments int // segments given to Segment
	// CoAPSegments counts segments for which Segment returned true.
	CoAPSegments int
	Streams      int // connections followed now
	StreamsSeen  int // connections ever created
	// By transport: connections recognised as carrying CoAP.
	TCPStreams, TLSStreams, WSStreams, WSSStreams int
	Messages                                      int // messages emitted, malformed ones included
	Malformed                                     int // messages emitted with Err set
	// Gaps counts places where bytes were missing from a stream;
	// GapBytes the bytes missing.
	Gaps     int
	GapBytes int64
	// Resyncs counts times a stream lost its message boundaries (after a
	// gap, mid-connection start, a framing error or a dropped buffer) and
	// found them again; SkippedBytes the bytes passed over meanwhile.
	Resyncs      int
	SkippedBytes int64
	// Oversized counts messages longer than MaxStreamBuffer, skipped.
	Oversized int
	// BufferDrops counts incomplete messages dropped to stay within
	// MaxStreamBuffer or MaxTotalBuffer; DroppedBytes their bytes.
	BufferDrops  int
	DroppedBytes int64
	// Evicted counts connections closed to stay within MaxStreams.
	Evicted int
	// Incomplete counts streams that ended (FIN, RST, Close, eviction)
	// in the middle of a message.
	Incomplete int
	// TLSBytes counts TLS bytes that were not decrypted (no hook).
	TLSBytes int64
	// WSControl counts WebSocket control frames (close, ping, pong).
	WSControl int
	// Buffered is the number of bytes held now.
	Buffered int
}

// Assembler reassembles TCP connections and finds their CoAP messages.
// It is not safe for concurrent use.
type Assembler struct {
	cfg     Config
	coap    [65536 / 64]uint64
	tls     [65536 / 64]uint64
	emit    func(*Message)
	pool    *reassembly.StreamPool
	asm     *reassembly.Assembler
	tcp     layers.TCP
	hdr     [20]byte
	ctx     segContext
	cur     *capture.Datagram
	curS    *stream
	stats   Stats
	lru     streamList
	total   int       // bytes buffered in all streams
	flushed time.Time // capture time of the last gap flush
	lastOOO time.Time // capture time of the last segment that came out of order
	evict   bool      // closing streams to stay within MaxStreams

	msg    Message
	probe  decode.Message
	frames []int
	work   []byte
}

// New returns an Assembler that calls emit for every message.
func New(cfg Config, emit func(*Message)) *Assembler {
	if cfg.CoAPPorts == nil {
		cfg.CoAPPorts = []uint16{5683}
	}
	if cfg.TLSPorts == nil {
		cfg.TLSPorts = []uint16{5684}
	}
	orDefault(&cfg.MaxStreams, DefaultMaxStreams)
	orDefault(&cfg.MaxStreamBuffer, DefaultMaxStreamBuffer)
	orDefault(&cfg.MaxTotalBuffer, DefaultMaxTotalBuffer)
	orDefault(&cfg.GapTimeout, DefaultGapTimeout)
	a := &Assembler{cfg: cfg, emit: emit}
	for _, p := range cfg.CoAPPorts {
		a.coap[p>>6] |= 1 << (p & 63)
	}
	for _, p := range cfg.TLSPorts {
		a.tls[p>>6] |= 1 << (p & 63)
	}
	a.lru.init()
	a.pool = reassembly.NewStreamPool((*factory)(a))
	a.asm = reassembly.NewAssembler(a.pool)
	// The reassembler's own buffer (out-of-order segments) is bounded in
	// pages of 1900 bytes.
	a.asm.MaxBufferedPagesPerConnection = max(1, cfg.MaxStreamBuffer/1900)
	a.asm.MaxBufferedPagesTotal = max(1, cfg.MaxTotalBuffer/1900)
	return a
}

// orDefault sets *v to d when it is not positive.
func orDefault[T int | time.Duration](v *T, d T) {
	if *v <= 0 {
		*v = d
	}
}

func has(m *[1024]uint64, p uint16) bool { return m[p>>6]&(1<<(p&63)) != 0 }

// segContext is the reassembly.AssemblerContext of every segment. The
// reassembler keeps it only on the first page of a buffered segment (and
// CaptureInfo of a later page of the same segment dereferences nil), so
// frame numbers do not travel through it: each direction of a connection
// records which frame carried which byte range (half.segs), and a message
// gets the frames of the ranges its bytes span.
type segContext struct{ ci gopacket.CaptureInfo }

func (c *segContext) GetCaptureInfo() gopacket.CaptureInfo { return c.ci }

// Segment takes the next TCP segment of the capture (d.Kind must be
// capture.KindTCP; other datagrams are ignored and false returned). It
// returns true when the segment belongs to a connection known to carry
// CoAP: on a CoAP or TLS port, or recognised by its first bytes, this
// segment's included. Messages the segment completes are emitted before
// it returns.
func (a *Assembler) Segment(d *capture.Datagram) bool {
	if d.Kind != capture.KindTCP {
		return false
	}
	a.stats.Segments++
	a.gapFlush(d.Time)
	a.fillTCP(d)
	var nf gopacket.Flow
	src, dst := d.Src.Addr(), d.Dst.Addr()
	if src.Is4() && dst.Is4() {
		s4, d4 := src.As4(), dst.As4()
		nf = gopacket.NewFlow(layers.EndpointIPv4, s4[:], d4[:])
	} else {
		s16, d16 := src.As16(), dst.As16()
		nf = gopacket.NewFlow(layers.EndpointIPv6, s16[:], d16[:])
	}
	a.ctx.ci = gopacket.CaptureInfo{Timestamp: d.Time, CaptureLength: d.CapLen, Length: d.OrigLen}
	a.cur, a.curS = d, nil
	a.asm.AssembleWithContext(nf, &a.tcp, &a.ctx)
	s := a.curS
	a.cur, a.curS = nil, nil
	if a.stats.Streams > a.cfg.MaxStreams {
		a.shed()
	}
	if s != nil && s.carriesCoAP() {
		a.stats.CoAPSegments++
		return true
	}
	return false
}

// fillTCP sets the reused layers.TCP from d. The reassembler keys
// connections on TCP.TransportFlow, which reads the ports from the bytes
// DecodeFromBytes saw, so the header is rebuilt (without options) and
// decoded; the payload is d's.
func (a *Assembler) fillTCP(d *capture.Datagram) {
	h := &a.hdr
	binary.BigEndian.PutUint16(h[0:], d.Src.Port())
	binary.BigEndian.PutUint16(h[2:], d.Dst.Port())
	binary.BigEndian.PutUint32(h[4:], d.TCP.Seq)
	binary.BigEndian.PutUint32(h[8:], d.TCP.Ack)
	h[12] = 5 << 4
	h[13] = byte(d.TCP.Flags)
	binary.BigEndian.PutUint16(h[14:], d.TCP.Window)
	_ = a.tcp.DecodeFromBytes(h[:], gopacket.NilDecodeFeedback)
	// A segment cut by the snap length gives the bytes it has; those
	// missing are a gap the reassembler skips when the next segment
	// comes.
	a.tcp.Payload = d.Payload
}

// gapFlush lets the reassembler give up on missing bytes older than the
// gap timeout, at most once per timeout of capture time, and only while
// segments that came out of order may still wait behind a hole: the
// flush visits every connection.
func (a *Assembler) gapFlush(now time.Time) {
	if a.flushed.IsZero() {
		a.flushed = now
		return
	}
	if now.Sub(a.flushed) < a.cfg.GapTimeout || now.Sub(a.lastOOO) > 2*a.cfg.GapTimeout {
		return
	}
	a.flushed = now
	a.asm.FlushWithOptions(reassembly.FlushOptions{T: now.Add(-a.cfg.GapTimeout)})
}

// shed closes the least recently active connections, about a sixteenth
// of MaxStreams, to get back within it.
func (a *Assembler) shed() {
	k := max(1, a.cfg.MaxStreams/16)
	s := a.lru.oldest(k)
	if s == nil {
		return
	}
	a.evict = true
	a.asm.FlushCloseOlderThan(s.lastSeen.Add(1))
	a.evict = false
}

// Flush gives up on missing bytes and closes the connections that have
// seen no segment since before (capture time), emitting what their
// streams complete. Live captures call it as time passes.
func (a *Assembler) Flush(before time.Time) {
	a.asm.FlushCloseOlderThan(before)
}

// Close ends the capture: every connection is flushed past its gaps and
// closed, and every message that can still be framed is emitted.
func (a *Assembler) Close() {
	a.asm.FlushAll()
}

// Stats returns the counters.
func (a *Assembler) Stats() Stats {
	s := a.stats
	s.Buffered = a.total
	return s
}

// factory is the Assembler as a reassembly.StreamFactory.
type factory Assembler

func (f *factory) New(_, _ gopacket.Flow, t *layers.TCP, _ reassembly.AssemblerContext) reassembly.Stream {
	a := (*Assembler)(f)
	d := a.cur
	s := &stream{a: a, client: d.Src, server: d.Dst}
	sp, dp := d.Src.Port(), d.Dst.Port()
	if t.SYN && t.ACK || !t.SYN && a.service(sp) && !a.service(dp) {
		// A SYN-ACK, or (mid-connection) a segment from a CoAP or TLS
		// port: the first segment came from the server.
		s.client, s.server = d.Dst, d.Src
		s.half[1].first = true
	}
	s.half[0].s, s.half[1].s = s, s
	s.half[0].fromClient = true
	s.kind = a.portKind(d.Src.Port(), d.Dst.Port())
	a.stats.Streams++
	a.stats.StreamsSeen++
	s.lastSeen = d.Time
	a.lru.pushFront(s)
	a.count(s)
	return s
}

// service reports whether p is a configured CoAP or TLS port.
func (a *Assembler) service(p uint16) bool { return has(&a.coap, p) || has(&a.tls, p) }

// portKind is what the ports of a new connection say it carries.
func (a *Assembler) portKind(p, q uint16) kind {
	switch {
	case has(&a.coap, p) || has(&a.coap, q):
		return kindPortTCP
	case has(&a.tls, p) || has(&a.tls, q):
		return kindTLS
	}
	return kindUnknown
}

// count records a connection's transport once it is known.
func (a *Assembler) count(s *stream) {
	if s.counted || s.kind == kindPortTCP || s.kind == kindTLS && (s.tentative || a.cfg.TLS != nil && !s.innerKnown) {
		return
	}
	switch s.transport() {
	case TransportTCP:
		a.stats.TCPStreams++
	case TransportTLS:
		a.stats.TLSStreams++
	case TransportWS:
		a.stats.WSStreams++
	case TransportWSS:
		a.stats.WSSStreams++
	default:
		return
	}
	s.counted = true
}

// deliver emits one message of h's stream, framed as raw, whose bytes
// span [start, end) of h's byte positions.
func (a *Assembler) deliver(h *half, raw []byte, start, end int64, framing decode.Framing, err error) {
	m := &a.msg
	s := h.s
	m.Transport = s.transport()
	if h.outer != nil && m.Transport == TransportTCP {
		m.Transport = TransportTLS
	}
	if h.outer != nil && m.Transport == TransportWS {
		m.Transport = TransportWSS
	}
	m.Client, m.Server = s.client, s.server
	m.Src, m.Dst = s.client, s.server
	if !h.fromClient {
		m.Src, m.Dst = s.server, s.client
	}
	a.frames = a.frames[:0]
	var last segRec
	h.collect(start, end, &last)
	if d := a.cur; d != nil && d.Number > last.frame {
		// The segment being taken filled a hole before the message.
		last = segRec{frame: d.Number, time: d.Time}
		a.frames = append(a.frames, d.Number)
	}
	slices.Sort(a.frames)
	a.frames = slices.Compact(a.frames)
	m.Frames = a.frames
	m.Frame, m.Time = last.frame, last.time
	m.Raw = raw
	m.Err = err
	if err == nil {
		switch framing {
		case decode.FramingWebSocket:
			m.Err = m.CoAP.DecodeWS(raw)
		default:
			_, m.Err = m.CoAP.DecodeTCP(raw)
		}
	}
	if m.Err == nil && m.CoAP.Code == decode.CodeCSM {
		h.csm.Seen = true
		if v, ok := m.CoAP.UintOption(decode.OptMaxMessageSize); ok {
			h.csm.MaxMessageSize = v
		}
		if m.CoAP.HasOption(decode.OptBlockWiseTransfer) {
			h.csm.BlockWiseTransfer = true
		}
	}
	m.Sender, m.Receiver = h.csm.or(), h.peer().csm.or()
	m.Midstream = h.midstream()
	a.stats.Messages++
	if m.Err != nil {
		a.stats.Malformed++
	}
	a.emit(m)
}

// or returns c with the default Max-Message-Size when none was announced.
func (c CSM) or() CSM {
	if c.MaxMessageSize == 0 {
		c.MaxMessageSize = DefaultMaxMessageSize
	}
	return c
}
