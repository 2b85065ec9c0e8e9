package main

import "encoding/binary"

// CoAP message types and codes (RFC 7252 section 12.1).
const (
	typeCON = 0
	typeNON = 1
	typeACK = 2
	typeRST = 3

	codeEmpty   = 0x00
	codeGET     = 0x01
	codePOST    = 0x02
	codePUT     = 0x03
	codeCreated = 0x41 // 2.01
	codeChanged = 0x44 // 2.04
	codeContent = 0x45 // 2.05
	codeNotFnd  = 0x84 // 4.04
)

// Option numbers (RFC 7252, RFC 7641, RFC 7959).
const (
	optObserve       = 6
	optLocationPath  = 8
	optURIPath       = 11
	optContentFormat = 12
	optBlock2        = 23
	optSize2         = 28
	optProxyURI      = 35
)

// coapWriter appends one CoAP message to buf. Options must be added in
// increasing option number order.
type coapWriter struct {
	buf  []byte
	last uint16
}

func (w *coapWriter) header(typ, code uint8, mid uint16, token []byte) {
	w.buf = append(w.buf, 0x40|typ<<4|uint8(len(token)), code, byte(mid>>8), byte(mid))
	w.buf = append(w.buf, token...)
	w.last = 0
}

// nibble splits an option delta or length into its 4-bit field and the
// extended bytes that follow the option header.
func nibble(v int) (uint8, int, int) {
	switch {
	case v < 13:
		return uint8(v), 0, 0
	case v < 269:
		return 13, v - 13, 1
	}
	return 14, v - 269, 2
}

func appendExt(b []byte, v, n int) []byte {
	switch n {
	case 1:
		return append(b, byte(v))
	case 2:
		return append(b, byte(v>>8), byte(v))
	}
	return b
}

func (w *coapWriter) optionHeader(num uint16, n int) {
	d, dv, dn := nibble(int(num - w.last))
	l, lv, ln := nibble(n)
	w.buf = append(w.buf, d<<4|l)
	w.buf = appendExt(w.buf, dv, dn)
	w.buf = appendExt(w.buf, lv, ln)
	w.last = num
}

func (w *coapWriter) bytesOption(num uint16, v []byte) {
	w.optionHeader(num, len(v))
	w.buf = append(w.buf, v...)
}

func (w *coapWriter) stringOption(num uint16, v string) {
	w.optionHeader(num, len(v))
	w.buf = append(w.buf, v...)
}

// uintOption adds an unsigned integer option in its shortest form.
func (w *coapWriter) uintOption(num uint16, v uint32) {
	n := 0
	for x := v; x != 0; x >>= 8 {
		n++
	}
	w.optionHeader(num, n)
	for i := n - 1; i >= 0; i-- {
		w.buf = append(w.buf, byte(v>>(8*i)))
	}
}

func (w *coapWriter) payload(p []byte) {
	if len(p) > 0 {
		w.buf = append(w.buf, 0xff)
		w.buf = append(w.buf, p...)
	}
}

// node is a UDP endpoint on the capture's Ethernet segment.
type node struct {
	mac  [6]byte
	ip   [4]byte
	port uint16
	ipID uint16 // IPv4 identification of the next datagram
	mid  uint16 // CoAP Message ID of the next message it originates
}

func newNode(ip [4]byte, port uint16, mid uint16) *node {
	return &node{mac: [6]byte{0x02, 0x42, ip[0], ip[1], ip[2], ip[3]}, ip: ip, port: port, ipID: mid ^ 0x5a5a, mid: mid}
}

func (n *node) nextMID() uint16 {
	n.mid++
	return n.mid
}

const headerLen = 14 + 20 + 8 // Ethernet, IPv4, UDP

// finishFrame fills in the Ethernet, IPv4 and UDP headers in front of the
// UDP payload that b holds from headerLen on.
func finishFrame(b []byte, src, dst *node) {
	copy(b[0:6], dst.mac[:])
	copy(b[6:12], src.mac[:])
	binary.BigEndian.PutUint16(b[12:], 0x0800)

	ip := b[14:34]
	ip[0], ip[1] = 0x45, 0
	binary.BigEndian.PutUint16(ip[2:], uint16(len(b)-14))
	binary.BigEndian.PutUint16(ip[4:], src.ipID)
	src.ipID++
	binary.BigEndian.PutUint16(ip[6:], 0x4000) // don't fragment
	ip[8], ip[9] = 64, 17
	binary.BigEndian.PutUint16(ip[10:], 0)
	copy(ip[12:16], src.ip[:])
	copy(ip[16:20], dst.ip[:])
	binary.BigEndian.PutUint16(ip[10:], ^fold(sum(ip, 0)))

	udp := b[34:]
	binary.BigEndian.PutUint16(udp[0:], src.port)
	binary.BigEndian.PutUint16(udp[2:], dst.port)
	binary.BigEndian.PutUint16(udp[4:], uint16(len(udp)))
	binary.BigEndian.PutUint16(udp[6:], 0)
	// The pseudo-header: addresses, protocol, UDP length.
	s := sum(ip[12:20], 17+uint32(len(udp)))
	c := ^fold(sum(udp, s))
	if c == 0 {
		c = 0xffff
	}
	binary.BigEndian.PutUint16(udp[6:], c)
}

// sum adds b as big-endian 16-bit words to s (RFC 1071).
func sum(b []byte, s uint32) uint32 {
	for len(b) >= 2 {
		s += uint32(b[0])<<8 | uint32(b[1])
		b = b[2:]
	}
	if len(b) == 1 {
		s += uint32(b[0]) << 8
	}
	return s
}

func fold(s uint32) uint16 {
	for s > 0xffff {
		s = s>>16 + s&0xffff
	}
	return uint16(s)
}
