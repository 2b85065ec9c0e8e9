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

// node is a UDP endpoint on the capture's Ethernet segment.
type node struct {
	mac  [6]byte
	ip   [4]byte
	port uint16
	ipID uint16 // IPv4 identification of the next datagram
	mid  uint16 // CoAP Message ID of the next message it originates
	// client is the client's number from 1 (0: a server or the proxy).
	client int
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
