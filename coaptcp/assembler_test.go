package coaptcp

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/coapaudit/coapaudit/capture"
	"github.com/coapaudit/coapaudit/decode"
)

var t0 = time.Date(2026, 12, 3, 12, 0, 0, 0, time.UTC)

// synth builds TCP segments of made-up connections, numbered as frames of
// one capture.
type synth struct {
	frame int
	now   time.Time
}

type synthConn struct {
	s              *synth
	client, server netip.AddrPort
	cseq, sseq     uint32
}

func (s *synth) conn(client, server string) *synthConn {
	return &synthConn{s: s, client: netip.MustParseAddrPort(client), server: netip.MustParseAddrPort(server), cseq: 1000, sseq: 900000}
}

// seg returns the next segment one way, advancing the sequence number.
func (c *synthConn) seg(fromClient bool, flags capture.TCPFlags, payload []byte) *capture.Datagram {
	s := c.s
	s.frame++
	s.now = s.now.Add(time.Millisecond)
	if s.now.IsZero() || s.now.Before(t0) {
		s.now = t0
	}
	d := &capture.Datagram{Frame: capture.Frame{Number: s.frame, Time: s.now}, Kind: capture.KindTCP, Reason: "tcp", Payload: payload}
	seq, ack := &c.cseq, c.sseq
	d.Src, d.Dst = c.client, c.server
	if !fromClient {
		seq, ack = &c.sseq, c.cseq
		d.Src, d.Dst = c.server, c.client
	}
	d.TCP = capture.TCPHeader{Seq: *seq, Ack: ack, Flags: flags | capture.TCPAck, Window: 1000}
	*seq += uint32(len(payload))
	if flags&(capture.TCPSyn|capture.TCPFin) != 0 {
		*seq++
	}
	return d
}

// open returns the three segments of a handshake.
func (c *synthConn) open() []*capture.Datagram {
	syn := c.seg(true, capture.TCPSyn, nil)
	syn.TCP.Flags &^= capture.TCPAck
	return []*capture.Datagram{syn, c.seg(false, capture.TCPSyn, nil), c.seg(true, 0, nil)}
}

func tcpMsg(code decode.Code, token []byte, payload []byte, opts ...decode.Option) []byte {
	m := decode.Message{Code: code, Token: token, Options: opts, Payload: payload}
	return m.AppendTCP(nil)
}

var csmBytes = tcpMsg(decode.CodeCSM, nil, nil, decode.Option{ID: decode.OptMaxMessageSize, Value: []byte{4, 0}})

// collector keeps copies of the emitted messages.
type collector struct{ msgs []msgRec }

func (c *collector) emit(m *Message) { c.msgs = append(c.msgs, record(m)) }

func feed(a *Assembler, segs ...*capture.Datagram) {
	for _, d := range segs {
		a.Segment(d)
	}
}

// Several messages in one segment, a message over three segments, and a
// large one with the 32-bit length form: all framed, each with its
// frames.
func TestFraming(t *testing.T) {
	var s synth
	c := s.conn("10.0.0.1:40000", "10.0.0.2:5683")
	var col collector
	a := New(Config{}, col.emit)
	feed(a, c.open()...)
	get := tcpMsg(decode.CodeGET, []byte{1}, nil, decode.Option{ID: decode.OptURIPath, Value: []byte("a")})
	feed(a, c.seg(true, capture.TCPPsh, append(slices.Clone(csmBytes), get...))) // frame 4
	feed(a, c.seg(false, capture.TCPPsh, csmBytes))                              // frame 5
	big := tcpMsg(decode.CodeContent, []byte{1}, bytes.Repeat([]byte{'z'}, 70000))
	if big[0]>>4 != 15 {
		t.Fatalf("length form %x", big[0]>>4)
	}
	feed(a, c.seg(false, 0, big[:3]), c.seg(false, 0, big[3:40000]), c.seg(false, capture.TCPPsh, big[40000:])) // 6, 7, 8
	if len(col.msgs) != 4 {
		t.Fatalf("%d messages: %+v", len(col.msgs), col.msgs)
	}
	want := []struct {
		frame  int
		frames []int
		code   decode.Code
	}{{4, []int{4}, decode.CodeCSM}, {4, []int{4}, decode.CodeGET}, {5, []int{5}, decode.CodeCSM}, {8, []int{6, 7, 8}, decode.CodeContent}}
	for i, w := range want {
		m := col.msgs[i]
		if m.Frame != w.frame || !slices.Equal(m.Frames, w.frames) || m.Code != int(w.code) || m.Transport != TransportTCP || m.Err != "" || m.Midstream {
			t.Errorf("message %d: %+v, want %+v", i, m, w)
		}
	}
	if len(col.msgs[3].Payload) != 140000 {
		t.Errorf("payload %d hex digits", len(col.msgs[3].Payload))
	}
	st := a.Stats()
	if st.Buffered != 0 || st.TCPStreams != 1 || st.Messages != 4 {
		t.Errorf("stats %+v", st)
	}
	// FIN both ways ends the connection.
	feed(a, c.seg(true, capture.TCPFin, nil), c.seg(false, capture.TCPFin, nil))
	if st := a.Stats(); st.Streams != 0 {
		t.Errorf("after FIN: %+v", st)
	}
}

// A malformed message (option delta 15) is reported with its error and
// framing goes on; TKL 15 loses the framing, which is found again at the
// next segment (whose first byte, like the last byte of the junk, could
// start a message).
func TestMalformed(t *testing.T) {
	var s synth
	c := s.conn("10.0.0.1:40000", "10.0.0.2:5683")
	var col collector
	a := New(Config{}, col.emit)
	feed(a, c.open()...)
	bad := []byte{0x20, 0x01, 0xf0, 0x00} // GET, options "f0 00": reserved delta
	get := tcpMsg(decode.CodeGET, []byte{7}, nil)
	tkl15 := []byte{0x0f, 0x01}
	feed(a, c.seg(true, capture.TCPPsh, append(append(slices.Clone(csmBytes), bad...), get...)))
	feed(a, c.seg(true, capture.TCPPsh, tkl15), c.seg(true, capture.TCPPsh, get))
	var codes []int
	errs := 0
	for _, m := range col.msgs {
		codes = append(codes, m.Code)
		if m.Err != "" {
			errs++
		}
	}
	if !slices.Equal(codes, []int{int(decode.CodeCSM), int(decode.CodeGET), int(decode.CodeGET), int(decode.CodeGET)}) || errs != 1 {
		t.Errorf("codes %v, %d errors: %+v", codes, errs, col.msgs)
	}
	if st := a.Stats(); st.Malformed != 1 || st.Resyncs != 1 || st.SkippedBytes != 2 {
		t.Errorf("stats %+v", st)
	}
}

// A capture that starts in the middle of a connection: the messages from
// the first whole one on are found, on a CoAP port and not elsewhere
// without heuristics (they need the connection's first CSM).
func TestMidConnection(t *testing.T) {
	var s synth
	c := s.conn("10.0.0.1:40000", "10.0.0.2:5683")
	get := tcpMsg(decode.CodeGET, []byte{1}, nil)
	resp := tcpMsg(decode.CodeContent, []byte{1}, []byte("x"))
	var col collector
	a := New(Config{}, col.emit)
	// The capture starts with the tail of a message, then whole ones.
	feed(a, c.seg(true, 0, resp[2:]), c.seg(true, 0, get), c.seg(false, 0, resp))
	if len(col.msgs) != 2 || col.msgs[0].Frame != 2 || col.msgs[1].Frame != 3 || !col.msgs[0].Midstream || !col.msgs[1].Midstream {
		t.Errorf("%+v", col.msgs)
	}
	if st := a.Stats(); st.Resyncs != 2 || st.SkippedBytes != int64(len(resp)-2) {
		t.Errorf("stats %+v", st)
	}

	// The first segment seen comes from the server's port: the ends are
	// still told apart.
	var srv collector
	b := New(Config{}, func(m *Message) {
		srv.emit(m)
		if m.Client != c.client || m.Server != c.server {
			t.Errorf("client %v server %v", m.Client, m.Server)
		}
	})
	feed(b, c.seg(false, 0, resp), c.seg(true, 0, get))
	if len(srv.msgs) != 2 {
		t.Errorf("%+v", srv.msgs)
	}
}

// Lost bytes inside a message being skipped for its size do not cost a
// resync; a message over MaxStreamBuffer is counted and passed over.
func TestOversized(t *testing.T) {
	var s synth
	c := s.conn("10.0.0.1:40000", "10.0.0.2:5683")
	var col collector
	a := New(Config{MaxStreamBuffer: 1000}, col.emit)
	feed(a, c.open()...)
	big := tcpMsg(decode.CodePUT, []byte{1}, bytes.Repeat([]byte{'z'}, 5000))
	get := tcpMsg(decode.CodeGET, []byte{2}, nil)
	feed(a, c.seg(true, 0, big[:800]))
	lost := c.seg(true, 0, big[800:2000])
	_ = lost
	feed(a, c.seg(true, 0, big[2000:]), c.seg(true, 0, get))
	a.Flush(s.now.Add(time.Second))
	if len(col.msgs) != 1 || col.msgs[0].Code != int(decode.CodeGET) {
		t.Errorf("%+v", col.msgs)
	}
	if st := a.Stats(); st.Oversized != 1 || st.Gaps != 1 || st.Resyncs != 0 || st.Buffered != 0 {
		t.Errorf("stats %+v", st)
	}
}

// Many connections stay within MaxStreams: the oldest are closed and
// counted, and memory does not grow with the number of connections.
func TestMaxStreams(t *testing.T) {
	var s synth
	var col collector
	const limit = 200
	a := New(Config{MaxStreams: limit, MaxTotalBuffer: 1 << 20}, col.emit)
	partial := tcpMsg(decode.CodeGET, []byte{1}, bytes.Repeat([]byte{'p'}, 100))[:50]
	peak := 0
	for i := range 20000 {
		c := s.conn(netip.AddrPortFrom(netip.AddrFrom4([4]byte{10, 1, byte(i >> 8), byte(i)}), 40000).String(), "10.0.0.2:5683")
		feed(a, c.open()...)
		feed(a, c.seg(true, 0, csmBytes), c.seg(true, 0, partial))
		peak = max(peak, a.Stats().Streams)
	}
	st := a.Stats()
	if peak > limit+1 || st.Streams > limit || st.Evicted < 20000-limit-1 || st.StreamsSeen != 20000 {
		t.Errorf("peak %d streams, stats %+v", peak, st)
	}
	if st.Buffered > 50*(limit+1) || st.Incomplete < st.Evicted {
		t.Errorf("buffered %d, stats %+v", st.Buffered, st)
	}
	if len(col.msgs) != 20000 {
		t.Errorf("%d CSMs", len(col.msgs))
	}
	a.Close()
	if st := a.Stats(); st.Streams != 0 || st.Buffered != 0 {
		t.Errorf("after Close: %+v", st)
	}
}

// The bytes held over all connections stay within MaxTotalBuffer.
func TestMaxTotalBuffer(t *testing.T) {
	var s synth
	a := New(Config{MaxTotalBuffer: 4096}, func(*Message) {})
	head := tcpMsg(decode.CodePUT, []byte{1}, bytes.Repeat([]byte{'p'}, 3000))
	for i := range 50 {
		c := s.conn(netip.AddrPortFrom(netip.AddrFrom4([4]byte{10, 1, 0, byte(i)}), 40000).String(), "10.0.0.2:5683")
		feed(a, c.open()...)
		feed(a, c.seg(true, 0, head[:500]), c.seg(true, 0, head[500:1000]))
		if b := a.Stats().Buffered; b > 4096 {
			t.Fatalf("connection %d: %d bytes buffered", i, b)
		}
	}
	if st := a.Stats(); st.BufferDrops == 0 || st.DroppedBytes == 0 {
		t.Errorf("stats %+v", st)
	}
}

// wsFrame encodes one WebSocket frame (RFC 6455 section 5.2).
func wsFrame(fin bool, op byte, masked bool, payload []byte) []byte {
	b0 := op
	if fin {
		b0 |= 0x80
	}
	var b []byte
	m := byte(0)
	if masked {
		m = 0x80
	}
	switch n := len(payload); {
	case n < 126:
		b = []byte{b0, m | byte(n)}
	case n < 1<<16:
		b = []byte{b0, m | 126, byte(n >> 8), byte(n)}
	default:
		b = binary.BigEndian.AppendUint64([]byte{b0, m | 127}, uint64(n))
	}
	if !masked {
		return append(b, payload...)
	}
	key := [4]byte{0x12, 0x34, 0x56, 0x78}
	b = append(b, key[:]...)
	for i, c := range payload {
		b = append(b, c^key[i&3])
	}
	return b
}

func wsMsg(code decode.Code, token []byte, payload []byte) []byte {
	m := decode.Message{Code: code, Token: token, Payload: payload}
	return m.AppendWS(nil)
}

const upgradeReq = "GET /.well-known/coap HTTP/1.1\r\nHost: h\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
	"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Protocol: coap\r\nSec-WebSocket-Version: 13\r\n\r\n"
const upgradeResp = "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
	"Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\nSec-WebSocket-Protocol: coap\r\n\r\n"

// WebSockets: the Upgrade split over segments, masked and fragmented
// frames, a control frame between fragments, a text frame (reported with
// ErrTextFrame), and an HTTP connection without the coap subprotocol left
// alone.
func TestWebSocketFrames(t *testing.T) {
	var s synth
	c := s.conn("10.0.0.1:40000", "10.0.0.2:80")
	var col collector
	a := New(Config{}, col.emit)
	feed(a, c.open()...)
	if a.Segment(c.seg(true, 0, []byte(upgradeReq[:20]))) {
		t.Error("half an HTTP request claimed")
	}
	if !a.Segment(c.seg(true, 0, []byte(upgradeReq[20:]))) {
		t.Error("the Upgrade to coap not claimed")
	}
	get := wsMsg(decode.CodeGET, []byte{9}, nil)
	frag := append(append(wsFrame(false, 2, true, get[:1]), wsFrame(true, 9, true, []byte("hi"))...), wsFrame(true, 0, true, get[1:])...)
	feed(a, c.seg(false, 0, []byte(upgradeResp)), c.seg(true, 0, frag))
	feed(a, c.seg(false, 0, wsFrame(true, 2, false, wsMsg(decode.CodeContent, []byte{9}, []byte("v")))))
	feed(a, c.seg(true, 0, wsFrame(true, 1, true, get)))
	if len(col.msgs) != 3 {
		t.Fatalf("%+v", col.msgs)
	}
	if m := col.msgs[0]; m.Code != int(decode.CodeGET) || m.Token != "09" || m.Frame != 7 || m.Err != "" {
		t.Errorf("fragmented GET %+v", m)
	}
	if m := col.msgs[1]; m.Code != int(decode.CodeContent) || m.Payload != "76" || m.Frame != 8 {
		t.Errorf("response %+v", m)
	}
	if m := col.msgs[2]; m.Err != ErrTextFrame.Error() || m.Code != int(decode.CodeGET) {
		t.Errorf("text frame %+v", m)
	}
	if st := a.Stats(); st.WSStreams != 1 || st.WSControl != 1 || st.Malformed != 1 || st.Buffered != 0 {
		t.Errorf("stats %+v", st)
	}

	plain := s.conn("10.0.0.1:40001", "10.0.0.2:80")
	feed(a, plain.open()...)
	if a.Segment(plain.seg(true, 0, []byte("GET / HTTP/1.1\r\nHost: h\r\n\r\n"))) {
		t.Error("plain HTTP claimed")
	}
	if a.Segment(plain.seg(false, 0, append([]byte("HTTP/1.1 200 OK\r\n\r\n"), get...))) || len(col.msgs) != 3 {
		t.Errorf("plain HTTP gave messages: %+v", col.msgs[3:])
	}
}

// fakeTLS stands for package tlsdec: its "records" are a type byte 23, a
// 2-byte length and the plaintext XORed with 0x5a.
// It gives record extents unless noExtent is set.
type fakeTLS struct {
	buf      [2][]byte
	off      [2]int64
	gaps     int
	noExtent bool
}

func (f *fakeTLS) Feed(fromClient bool, b []byte, emit func(TLSRecord)) {
	i := 0
	if !fromClient {
		i = 1
	}
	f.buf[i] = append(f.buf[i], b...)
	for len(f.buf[i]) >= 3 {
		n := int(binary.BigEndian.Uint16(f.buf[i][1:]))
		if len(f.buf[i]) < 3+n {
			return
		}
		p := slices.Clone(f.buf[i][3 : 3+n])
		for j := range p {
			p[j] ^= 0x5a
		}
		f.buf[i] = f.buf[i][3+n:]
		r := TLSRecord{Plaintext: p, Off: f.off[i], Len: 3 + n}
		if f.noExtent {
			r.Off, r.Len = 0, 0
		}
		f.off[i] += int64(3 + n)
		if len(p) > 0 {
			emit(r)
		}
	}
}

func (f *fakeTLS) Gap(bool, int) { f.gaps++ }

func fakeRecord(p []byte) []byte {
	b := []byte{23, byte(len(p) >> 8), byte(len(p))}
	for _, c := range p {
		b = append(b, c^0x5a)
	}
	return b
}

// The TLS hook: plaintext is framed like TCP (coaps+tcp) or as
// WebSockets (coaps+ws), and messages get the frames of the records that
// carried them.
func TestTLSHook(t *testing.T) {
	for _, noExtent := range []bool{false, true} {
		testTLSHook(t, noExtent)
	}
}

func testTLSHook(t *testing.T, noExtent bool) {
	var s synth
	var col collector
	var conns []*fakeTLS
	a := New(Config{TLS: func(client, server netip.AddrPort) TLSConn {
		f := &fakeTLS{noExtent: noExtent}
		conns = append(conns, f)
		return f
	}}, col.emit)
	c := s.conn("10.0.0.1:40000", "10.0.0.2:5684")
	feed(a, c.open()...)
	get := tcpMsg(decode.CodeGET, []byte{1}, nil, decode.Option{ID: decode.OptURIPath, Value: []byte("x")})
	// A CSM in one record; a GET over two records, the second with its
	// last byte in the next segment.
	r2 := fakeRecord(get[:2])
	r3 := fakeRecord(get[2:])
	if !a.Segment(c.seg(true, 0, append(fakeRecord(csmBytes), r2...))) { // frame 4
		t.Error("TLS on 5684 not claimed")
	}
	feed(a, c.seg(true, 0, r3[:len(r3)-1]), c.seg(true, 0, r3[len(r3)-1:])) // frames 5, 6
	if len(col.msgs) != 2 {
		t.Fatalf("%+v", col.msgs)
	}
	if m := col.msgs[0]; m.Code != int(decode.CodeCSM) || m.Frame != 4 || !slices.Equal(m.Frames, []int{4}) {
		t.Errorf("extent %v: CSM %+v", !noExtent, m)
	}
	if m := col.msgs[1]; m.Code != int(decode.CodeGET) || m.Transport != TransportTLS || m.Frame != 6 || !slices.Equal(m.Frames, []int{4, 5, 6}) {
		t.Errorf("extent %v: GET %+v", !noExtent, m)
	}
	// A lost segment: the decrypter hears of it.
	lost := c.seg(false, 0, fakeRecord(csmBytes))
	_ = lost
	feed(a, c.seg(false, 0, fakeRecord(csmBytes)))
	a.Flush(s.now.Add(time.Hour))
	if len(conns) != 1 || conns[0].gaps != 1 {
		t.Errorf("gaps told: %+v", conns)
	}
	// coaps+ws on another port, recognised by its ClientHello's ALPN?
	// No: the ALPN of coaps+ws is http/1.1; it is on a TLS port here.
	a2 := New(Config{TLSPorts: []uint16{443}, TLS: func(netip.AddrPort, netip.AddrPort) TLSConn { return &fakeTLS{} }}, col.emit)
	w := s.conn("10.0.0.1:40001", "10.0.0.2:443")
	feed(a2, w.open()...)
	feed(a2, w.seg(true, 0, fakeRecord([]byte(upgradeReq))), w.seg(false, 0, fakeRecord([]byte(upgradeResp))))
	feed(a2, w.seg(true, 0, fakeRecord(wsFrame(true, 2, true, wsMsg(decode.CodeGET, []byte{2}, nil)))))
	if m := col.msgs[len(col.msgs)-1]; m.Transport != TransportWSS || m.Code != int(decode.CodeGET) || m.Token != "02" {
		t.Errorf("wss: %+v", m)
	}
	if st := a2.Stats(); st.WSSStreams != 1 || st.TLSStreams != 0 {
		t.Errorf("stats %+v", st)
	}
}

// Without a hook, TLS connections are claimed and counted, their bytes
// not framed.
func TestTLSWithoutHook(t *testing.T) {
	var s synth
	a := New(Config{}, func(m *Message) { t.Errorf("message from TLS: %+v", m) })
	c := s.conn("10.0.0.1:40000", "10.0.0.2:5684")
	feed(a, c.open()...)
	if !a.Segment(c.seg(true, 0, fakeRecord(csmBytes))) {
		t.Error("not claimed")
	}
	if st := a.Stats(); st.TLSStreams != 1 || st.TLSBytes != int64(len(csmBytes)+3) {
		t.Errorf("stats %+v", st)
	}
}

// With heuristics, a ClientHello offering ALPN "coap" claims a TLS
// connection on any port; one offering only h2 does not.
func TestClientHelloALPN(t *testing.T) {
	hello := func(protos ...string) []byte {
		var alpn []byte
		for _, p := range protos {
			alpn = append(alpn, byte(len(p)))
			alpn = append(alpn, p...)
		}
		ext := binary.BigEndian.AppendUint16(nil, 16)
		ext = binary.BigEndian.AppendUint16(ext, uint16(len(alpn)+2))
		ext = binary.BigEndian.AppendUint16(ext, uint16(len(alpn)))
		ext = append(ext, alpn...)
		body := append([]byte{3, 3}, make([]byte, 32)...)
		body = append(body, 0)             // session id
		body = append(body, 0, 2, 0x13, 1) // one cipher suite
		body = append(body, 1, 0)          // null compression
		body = binary.BigEndian.AppendUint16(body, uint16(len(ext)))
		body = append(body, ext...)
		hs := append([]byte{1, 0, byte(len(body) >> 8), byte(len(body))}, body...)
		return append([]byte{22, 3, 1, byte(len(hs) >> 8), byte(len(hs))}, hs...)
	}
	for _, c := range []struct {
		protos []string
		want   bool
	}{{[]string{"h2", "coap"}, true}, {[]string{"h2"}, false}} {
		var s synth
		a := New(Config{Heuristics: true}, func(*Message) {})
		conn := s.conn("10.0.0.1:40000", "10.0.0.2:9999")
		feed(a, conn.open()...)
		b := hello(c.protos...)
		if got := a.Segment(conn.seg(true, 0, b)); got != c.want {
			t.Errorf("ALPN %v: claimed %v", c.protos, got)
		}
		if v, _ := clientHelloALPN(b[:len(b)-1], "coap"); v != wait {
			t.Errorf("cut ClientHello: %v", v)
		}
	}
}

// A fragmented WebSocket message cut by lost bytes, and one cut by the
// end of the connection, leave nothing held.
func TestWebSocketFragmentsDropped(t *testing.T) {
	var s synth
	c := s.conn("10.0.0.1:40000", "10.0.0.2:80")
	var col collector
	a := New(Config{}, col.emit)
	feed(a, c.open()...)
	get := wsMsg(decode.CodeGET, []byte{9}, []byte("0123456789"))
	feed(a, c.seg(true, 0, []byte(upgradeReq)), c.seg(false, 0, []byte(upgradeResp)))
	feed(a, c.seg(true, 0, wsFrame(false, 2, true, get[:5])))
	_ = c.seg(true, 0, wsFrame(false, 0, true, get[5:8])) // lost
	feed(a, c.seg(true, 0, wsFrame(true, 0, true, get[8:])), c.seg(true, 0, wsFrame(true, 2, true, get)))
	a.Flush(s.now.Add(time.Hour))
	if st := a.Stats(); st.Buffered != 0 || st.Gaps != 1 || st.DroppedBytes != 5 {
		t.Errorf("after the gap: %+v", st)
	}
	if len(col.msgs) != 1 || col.msgs[0].Payload != "30313233343536373839" {
		t.Errorf("%+v", col.msgs)
	}

	d := s.conn("10.0.0.1:40001", "10.0.0.2:80")
	feed(a, d.open()...)
	feed(a, d.seg(true, 0, []byte(upgradeReq)), d.seg(false, 0, []byte(upgradeResp)))
	feed(a, d.seg(true, 0, wsFrame(false, 2, true, get[:5])))
	feed(a, d.seg(true, capture.TCPFin, nil), d.seg(false, capture.TCPFin, nil))
	if st := a.Stats(); st.Buffered != 0 || st.Incomplete != 1 {
		t.Errorf("after FIN: %+v", st)
	}
}

// Each message says what both ends had announced in their CSMs.
func TestCSMState(t *testing.T) {
	var s synth
	c := s.conn("10.0.0.1:40000", "10.0.0.2:5683")
	var msgs []Message
	a := New(Config{}, func(m *Message) {
		msgs = append(msgs, Message{Sender: m.Sender, Receiver: m.Receiver, Midstream: m.Midstream})
	})
	feed(a, c.open()...)
	get := tcpMsg(decode.CodeGET, []byte{1}, nil)
	bwt := tcpMsg(decode.CodeCSM, nil, nil, decode.Option{ID: decode.OptMaxMessageSize, Value: []byte{0x10, 0}}, decode.Option{ID: decode.OptBlockWiseTransfer})
	feed(a, c.seg(true, 0, get), c.seg(true, 0, csmBytes), c.seg(false, 0, bwt), c.seg(true, 0, get))
	def := CSM{MaxMessageSize: DefaultMaxMessageSize}
	want := []Message{
		{Sender: def, Receiver: def},
		{Sender: CSM{Seen: true, MaxMessageSize: 1024}, Receiver: def},
		{Sender: CSM{Seen: true, MaxMessageSize: 4096, BlockWiseTransfer: true}, Receiver: CSM{Seen: true, MaxMessageSize: 1024}},
		{Sender: CSM{Seen: true, MaxMessageSize: 1024}, Receiver: CSM{Seen: true, MaxMessageSize: 4096, BlockWiseTransfer: true}},
	}
	if len(msgs) != len(want) {
		t.Fatalf("%d messages", len(msgs))
	}
	for i := range want {
		if msgs[i].Sender != want[i].Sender || msgs[i].Receiver != want[i].Receiver || msgs[i].Midstream {
			t.Errorf("message %d: sender %+v receiver %+v midstream %v", i, msgs[i].Sender, msgs[i].Receiver, msgs[i].Midstream)
		}
	}
}

// TestHeldBytesBounded: connections whose first bytes do not yet say
// what they carry (an HTTP request still in its headers) are held within
// MaxTotalBuffer, and those that find no room are dropped and counted.
func TestHeldBytesBounded(t *testing.T) {
	var s synth
	a := New(Config{MaxStreamBuffer: 2048, MaxTotalBuffer: 4096}, func(*Message) {})
	head := []byte("GET /.well-known/coap HTTP/1.1\r\nHost: x\r\nX-Padding: " + strings.Repeat("p", 1000))
	for i := range 10 {
		c := s.conn(fmt.Sprintf("10.0.0.1:%d", 40000+i), "10.0.0.2:80")
		for _, d := range c.open() {
			a.Segment(d)
		}
		a.Segment(c.seg(true, 0, head))
		if st := a.Stats(); st.Buffered > 4096 {
			t.Fatalf("after %d connections: %d bytes held, bound 4096", i+1, st.Buffered)
		}
	}
	st := a.Stats()
	if st.Buffered < 3*len(head) || st.BufferDrops != 10-st.Buffered/len(head) || st.DroppedBytes != int64(st.BufferDrops*len(head)) {
		t.Errorf("held %d bytes (%d each), %d connections dropped with %d bytes", st.Buffered, len(head), st.BufferDrops, st.DroppedBytes)
	}
}
