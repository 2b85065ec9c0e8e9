package capture

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"io"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

// Builders for IEEE 802.15.4 frames and 6LoWPAN headers. They are written
// from the standards independently of the decoder (they share no code with
// it), and the tests check what they build against tshark where it is
// installed.

// wpanHdr describes an IEEE 802.15.4 MAC header. PAN identifiers are
// written when their flags say so, whatever the addressing modes.
type wpanHdr struct {
	ftype       uint8 // frame type
	version     uint8 // 0: 2003, 1: 2006, 2: 2015
	secure      bool
	comp        bool // PAN ID compression
	noSeq       bool // sequence number suppression (2015)
	ie          bool // IE present (2015)
	seq         uint8
	dst, src    macAddr
	dpan, span  bool
	ies         []byte // information elements, after the addresses
	auxSecurity []byte // auxiliary security header, after the addresses
}

func (h wpanHdr) bytes() []byte {
	fcf := uint16(h.ftype) | uint16(h.dst.mode)<<10 | uint16(h.version)<<12 | uint16(h.src.mode)<<14
	for bit, on := range map[uint16]bool{0x08: h.secure, 0x40: h.comp, 0x100: h.noSeq, 0x200: h.ie} {
		if on {
			fcf |= bit
		}
	}
	b := binary.LittleEndian.AppendUint16(nil, fcf)
	if !h.noSeq {
		b = append(b, h.seq)
	}
	if h.dpan {
		b = binary.LittleEndian.AppendUint16(b, h.dst.pan)
	}
	b = appendMAC(b, h.dst)
	if h.span {
		b = binary.LittleEndian.AppendUint16(b, h.src.pan)
	}
	b = appendMAC(b, h.src)
	b = append(b, h.auxSecurity...)
	return append(b, h.ies...)
}

func appendMAC(b []byte, a macAddr) []byte {
	switch a.mode {
	case addrShort:
		return binary.LittleEndian.AppendUint16(b, uint16(a.a))
	case addrLong:
		return binary.LittleEndian.AppendUint64(b, a.a)
	}
	return b
}

// The nodes of the test network: a PAN with two extended and two short
// addresses.
const testPAN = 0xabcd

var (
	longA  = macAddr{mode: addrLong, pan: testPAN, a: 0x0012_4b00_0102_0304}
	longB  = macAddr{mode: addrLong, pan: testPAN, a: 0x6e95_c0cd_7940_1680}
	shortA = macAddr{mode: addrShort, pan: testPAN, a: 0x0001}
	shortB = macAddr{mode: addrShort, pan: testPAN, a: 0x8a2f}
)

// dataHdr is a 2006 data frame header from src to dst in testPAN.
func dataHdr(src, dst macAddr) wpanHdr {
	return wpanHdr{ftype: wpanData, version: 1, comp: true, seq: 7, dst: dst, src: src, dpan: true}
}

// linkLocal is the link-local address RFC 4944 and RFC 6282 derive from a.
// Without an address Wireshark derives it from short address 0.
func linkLocal(a macAddr) netip.Addr {
	var b [16]byte
	b[0], b[1] = 0xfe, 0x80
	switch a.mode {
	case addrLong:
		binary.BigEndian.PutUint64(b[8:], a.a^0x0200_0000_0000_0000)
	default:
		b[11], b[12] = 0xff, 0xfe
		binary.BigEndian.PutUint16(b[14:], uint16(a.a))
	}
	return netip.AddrFrom16(b)
}

// iphcSpec describes an IPHC header (RFC 6282 section 3.1) and what it
// compresses; the inline fields are taken from the addresses and values.
type iphcSpec struct {
	tf       uint8 // 0: all inline, 1: ECN and flow label, 2: traffic class, 3: elided
	tc       uint8
	flow     uint32
	next     int // inline next header, or -1 for NHC
	hlimMode uint8
	hlim     uint8 // inline with hlimMode 0
	cid      int   // context identifier byte, or -1
	sac      bool
	sam      uint8
	src      netip.Addr
	m, dac   bool
	dam      uint8
	dst      netip.Addr
}

func (s iphcSpec) bytes() []byte {
	h0 := 0x60 | s.tf<<3 | s.hlimMode
	if s.next < 0 {
		h0 |= 0x04
	}
	h1 := s.sam<<4 | s.dam
	for bit, on := range map[uint8]bool{0x80: s.cid >= 0, 0x40: s.sac, 0x08: s.m, 0x04: s.dac} {
		if on {
			h1 |= bit
		}
	}
	b := []byte{h0, h1}
	if s.cid >= 0 {
		b = append(b, byte(s.cid))
	}
	ecn, dscp := s.tc&3, s.tc>>2
	switch s.tf {
	case 0:
		b = append(b, ecn<<6|dscp, byte(s.flow>>16)&0x0f, byte(s.flow>>8), byte(s.flow))
	case 1:
		b = append(b, ecn<<6|byte(s.flow>>16)&0x0f, byte(s.flow>>8), byte(s.flow))
	case 2:
		b = append(b, ecn<<6|dscp)
	}
	if s.next >= 0 {
		b = append(b, byte(s.next))
	}
	if s.hlimMode == 0 {
		b = append(b, s.hlim)
	}
	src, dst := s.src.As16(), s.dst.As16()
	switch {
	case s.sac && s.sam == 0:
	case s.sam == 0:
		b = append(b, src[:]...)
	case s.sam == 1:
		b = append(b, src[8:]...)
	case s.sam == 2:
		b = append(b, src[14:]...)
	}
	switch {
	case s.m && s.dac: // ffXX:XXLL:PPPP:PPPP:PPPP:PPPP:XXXX:XXXX
		b = append(append(b, dst[1], dst[2]), dst[12:]...)
	case s.m && s.dam == 0:
		b = append(b, dst[:]...)
	case s.m && s.dam == 1:
		b = append(append(b, dst[1]), dst[11:]...)
	case s.m && s.dam == 2:
		b = append(append(b, dst[1]), dst[13:]...)
	case s.m && s.dam == 3:
		b = append(b, dst[15])
	case s.dam == 0:
		b = append(b, dst[:]...)
	case s.dam == 1:
		b = append(b, dst[8:]...)
	case s.dam == 2:
		b = append(b, dst[14:]...)
	}
	return b
}

// nhcUDP returns a compressed UDP header (RFC 6282 section 4.3.3) with the
// port compression pp (0 to 3) and the checksum inline unless elided.
func nhcUDP(pp uint8, elide bool, sport, dport, sum uint16) []byte {
	c := 0xf0 | pp
	if elide {
		c |= 0x04
	}
	b := []byte{c}
	switch pp {
	case 0:
		b = binary.BigEndian.AppendUint16(binary.BigEndian.AppendUint16(b, sport), dport)
	case 1:
		b = append(binary.BigEndian.AppendUint16(b, sport), byte(dport))
	case 2:
		b = binary.BigEndian.AppendUint16(append(b, byte(sport)), dport)
	case 3:
		b = append(b, byte(sport&0xf)<<4|byte(dport&0xf))
	}
	if !elide {
		b = binary.BigEndian.AppendUint16(b, sum)
	}
	return b
}

// udpHeader is an uncompressed UDP header for a payload of n bytes.
func udpHeader(sport, dport uint16, n int) []byte {
	b := binary.BigEndian.AppendUint16(nil, sport)
	b = binary.BigEndian.AppendUint16(b, dport)
	b = binary.BigEndian.AppendUint16(b, uint16(8+n))
	return append(b, 0, 0)
}

// frag1 and fragN build RFC 4944 fragment headers.
func frag1(size int, tag uint16) []byte {
	return binary.BigEndian.AppendUint16(binary.BigEndian.AppendUint16(nil, 0xc000|uint16(size)), tag)
}

func fragN(size int, tag uint16, off int) []byte {
	return append(binary.BigEndian.AppendUint16(binary.BigEndian.AppendUint16(nil, 0xe000|uint16(size)), tag), byte(off/8))
}

// withFCS appends the 16-bit FCS (CRC-16/KERMIT, computed bit by bit here).
func withFCS(frame []byte) []byte {
	var crc uint16
	for _, c := range frame {
		for i := range 8 {
			bit := uint16(c>>i&1) ^ crc&1
			crc >>= 1
			if bit != 0 {
				crc ^= 0x8408
			}
		}
	}
	return binary.LittleEndian.AppendUint16(bytes.Clone(frame), crc)
}

func withFCS32(frame []byte) []byte {
	return binary.LittleEndian.AppendUint32(bytes.Clone(frame), crc32.ChecksumIEEE(frame))
}

// nonaskPHY prefixes the PHY header of LINKTYPE_IEEE802_15_4_NONASK_PHY to
// a frame that ends in its FCS.
func nonaskPHY(frame []byte) []byte {
	return append([]byte{0, 0, 0, 0, 0xa7, byte(len(frame))}, frame...)
}

// tap prefixes a LINKTYPE_IEEE802_15_4_TAP header with the given TLVs.
func tap(frame []byte, tlvs ...[]byte) []byte {
	var body []byte
	for _, t := range tlvs {
		body = append(body, t...)
	}
	h := []byte{0, 0}
	h = binary.LittleEndian.AppendUint16(h, uint16(4+len(body)))
	return append(append(h, body...), frame...)
}

func tapTLV(typ uint16, v ...byte) []byte {
	b := binary.LittleEndian.AppendUint16(nil, typ)
	b = binary.LittleEndian.AppendUint16(b, uint16(len(v)))
	b = append(b, v...)
	for len(b)%4 != 0 {
		b = append(b, 0)
	}
	return b
}

// tsharkRow is what tshark shows of one frame.
type tsharkRow struct {
	protocols                string
	src, dst                 string // innermost IPv6 addresses
	sport, dport, ulen       string
	reassembledIn, fcsStatus string
}

// tsharkRows runs tshark on a pcap file and returns its rows, or skips
// (fails with COAPAUDIT_REQUIRE_TOOLS=1) without tshark.
func tsharkRows(t *testing.T, pcap []byte, opts ...string) []tsharkRow {
	t.Helper()
	tshark := tool(t, "tshark")
	name := filepath.Join(t.TempDir(), "wpan.pcap")
	if err := os.WriteFile(name, pcap, 0o644); err != nil {
		t.Fatal(err)
	}
	args := append([]string{"-n", "-r", name}, opts...)
	args = append(args, "-T", "fields", "-E", "separator=/t", "-E", "occurrence=l",
		"-e", "frame.number", "-e", "frame.protocols", "-e", "ipv6.src", "-e", "ipv6.dst",
		"-e", "udp.srcport", "-e", "udp.dstport", "-e", "udp.length", "-e", "6lowpan.reassembled.in",
		"-e", "wpan.fcs_ok")
	cmd := exec.Command(tshark, args...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("tshark: %v\n%s", err, stderr.Bytes())
	}
	var rows []tsharkRow
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		f := strings.Split(sc.Text(), "\t")
		if len(f) != 9 || f[0] != strconv.Itoa(len(rows)+1) {
			t.Fatalf("tshark line %d: %q", len(rows)+1, sc.Text())
		}
		rows = append(rows, tsharkRow{f[1], f[2], f[3], f[4], f[5], f[6], f[7], f[8]})
	}
	return rows
}

// readPcap decodes a pcap held in memory.
func readPcap(t *testing.T, pcap []byte) []rec {
	t.Helper()
	recs, err := readAll(t, mustReader(t, pcap))
	if err != io.EOF {
		t.Fatal(err)
	}
	return recs
}

// lowpanCase is a frame and what it must decode to.
type lowpanCase struct {
	name      string
	frame     []byte
	kind      Kind
	reason    string
	src, dst  netip.AddrPort // for KindOther frames with IP, port 0
	payload   []byte         // the UDP payload
	udpLength int            // when not 8+len(payload)
	truncated bool
	origLen   int // when longer than the frame
	noTshark  bool
}

var coapGet = []byte{0x42, 0x01, 0xbe, 0xef, 0xca, 0xfe, 0xb4, 't', 'e', 'm', 'p'}

func mustAddr(s string) netip.Addr { return netip.MustParseAddr(s) }

func addrPort(a netip.Addr, port uint16) netip.AddrPort { return netip.AddrPortFrom(a, port) }

// iphcCases covers every IPHC field encoding, the NHC UDP port and
// checksum encodings, NHC extension headers and the 6LoWPAN headers before
// IPHC, in 2006 data frames with extended or short addresses.
func iphcCases() []lowpanCase {
	la, lb := linkLocal(longA), linkLocal(longB)
	sa, sb := linkLocal(shortA), linkLocal(shortB)
	long, short := dataHdr(longA, longB).bytes(), dataHdr(shortA, shortB).bytes()
	// base compresses everything it can between longA and longB.
	base := iphcSpec{tf: 3, next: -1, hlimMode: 2, cid: -1, sam: 3, dam: 3, src: la, dst: lb}
	with := func(f func(*iphcSpec)) []byte {
		s := base
		f(&s)
		return s.bytes()
	}
	udp := nhcUDP(0, false, 5683, 5683, 0x1d2c)
	p := coapGet
	c := func(name string, mac, lowpan []byte, src, dst netip.AddrPort) lowpanCase {
		return lowpanCase{name: name, frame: concat(mac, lowpan, p), kind: KindUDP, src: src, dst: dst, payload: p}
	}
	ctxCase := func(lc lowpanCase) lowpanCase { lc.reason = reasonLowpanContext; return lc }
	g1, g2 := mustAddr("2001:db8::1"), mustAddr("2001:db8:0:1::2")
	iid := mustAddr("fe80::1234:5678:9abc:def0")
	mac16 := mustAddr("fe80::ff:fe00:4321")
	return []lowpanCase{
		c("fully compressed long", long, concat(base.bytes(), udp), addrPort(la, 5683), addrPort(lb, 5683)),
		c("fully compressed short", short, concat(with(func(s *iphcSpec) { s.src, s.dst = sa, sb }), udp), addrPort(sa, 5683), addrPort(sb, 5683)),
		c("tf 0", long, concat(with(func(s *iphcSpec) { s.tf, s.tc, s.flow = 0, 0xb9, 0xabcde }), udp), addrPort(la, 5683), addrPort(lb, 5683)),
		c("tf 1", long, concat(with(func(s *iphcSpec) { s.tf, s.tc, s.flow = 1, 0x02, 0x12345 }), udp), addrPort(la, 5683), addrPort(lb, 5683)),
		c("tf 2", long, concat(with(func(s *iphcSpec) { s.tf, s.tc = 2, 0xb8 }), udp), addrPort(la, 5683), addrPort(lb, 5683)),
		c("hlim inline", long, concat(with(func(s *iphcSpec) { s.hlimMode, s.hlim = 0, 17 }), udp), addrPort(la, 5683), addrPort(lb, 5683)),
		c("hlim 1", long, concat(with(func(s *iphcSpec) { s.hlimMode = 1 }), udp), addrPort(la, 5683), addrPort(lb, 5683)),
		c("hlim 255", long, concat(with(func(s *iphcSpec) { s.hlimMode = 3 }), udp), addrPort(la, 5683), addrPort(lb, 5683)),
		c("sam 0 dam 0", long, concat(with(func(s *iphcSpec) { s.sam, s.dam, s.src, s.dst = 0, 0, g1, g2 }), udp), addrPort(g1, 5683), addrPort(g2, 5683)),
		c("sam 1 dam 1", long, concat(with(func(s *iphcSpec) { s.sam, s.dam, s.src, s.dst = 1, 1, iid, iid }), udp), addrPort(iid, 5683), addrPort(iid, 5683)),
		c("sam 2 dam 2", long, concat(with(func(s *iphcSpec) { s.sam, s.dam, s.src, s.dst = 2, 2, mac16, mac16 }), udp), addrPort(mac16, 5683), addrPort(mac16, 5683)),
		c("sac unspecified", long, concat(with(func(s *iphcSpec) { s.sac, s.sam = true, 0 }), udp), addrPort(mustAddr("::"), 5683), addrPort(lb, 5683)),
		ctxCase(c("sac sam 1", long, concat(with(func(s *iphcSpec) { s.sac, s.sam, s.src = true, 1, iid }), udp),
			addrPort(mustAddr("::1234:5678:9abc:def0"), 5683), addrPort(lb, 5683))),
		ctxCase(c("sac sam 2 cid", long, concat(with(func(s *iphcSpec) { s.sac, s.sam, s.src, s.cid = true, 2, mac16, 0x10 }), udp),
			addrPort(mustAddr("::ff:fe00:4321"), 5683), addrPort(lb, 5683))),
		ctxCase(c("sac sam 3", long, concat(with(func(s *iphcSpec) { s.sac = true }), udp),
			addrPort(mustAddr("::212:4b00:102:304"), 5683), addrPort(lb, 5683))),
		ctxCase(c("dac dam 1", long, concat(with(func(s *iphcSpec) { s.dac, s.dam, s.dst = true, 1, iid }), udp),
			addrPort(la, 5683), addrPort(mustAddr("::1234:5678:9abc:def0"), 5683))),
		ctxCase(c("dac dam 2", long, concat(with(func(s *iphcSpec) { s.dac, s.dam, s.dst = true, 2, mac16 }), udp),
			addrPort(la, 5683), addrPort(mustAddr("::ff:fe00:4321"), 5683))),
		ctxCase(c("dac dam 3 short", short, concat(with(func(s *iphcSpec) { s.src, s.dac = sa, true }), udp),
			addrPort(sa, 5683), addrPort(mustAddr("::ff:fe00:8a2f"), 5683))),
		c("multicast 128", long, concat(with(func(s *iphcSpec) { s.m, s.dam, s.dst = true, 0, mustAddr("ff0e::1:2:3") }), udp),
			addrPort(la, 5683), addrPort(mustAddr("ff0e::1:2:3"), 5683)),
		c("multicast 48", long, concat(with(func(s *iphcSpec) { s.m, s.dam, s.dst = true, 1, mustAddr("ff05::ab:cdef:1234") }), udp),
			addrPort(la, 5683), addrPort(mustAddr("ff05::ab:cdef:1234"), 5683)),
		c("multicast 32", long, concat(with(func(s *iphcSpec) { s.m, s.dam, s.dst = true, 2, mustAddr("ff02::ab:cdef") }), udp),
			addrPort(la, 5683), addrPort(mustAddr("ff02::ab:cdef"), 5683)),
		c("multicast 8", long, concat(with(func(s *iphcSpec) { s.m, s.dam, s.dst = true, 3, mustAddr("ff02::fd") }), udp),
			addrPort(la, 5683), addrPort(mustAddr("ff02::fd"), 5683)),
		// The prefix length (here 0x30) and the prefix come from the context.
		ctxCase(c("multicast context", long, concat(with(func(s *iphcSpec) { s.m, s.dac, s.dam, s.dst = true, true, 0, mustAddr("ff3e:30::cafe:f00d") }), udp),
			addrPort(la, 5683), addrPort(mustAddr("ff3e::cafe:f00d"), 5683))),
		c("udp ports 8 bit dst", long, concat(base.bytes(), nhcUDP(1, false, 5683, 0xf012, 0x1111)), addrPort(la, 5683), addrPort(lb, 0xf012)),
		c("udp ports 8 bit src", long, concat(base.bytes(), nhcUDP(2, false, 0xf0ab, 5684, 0x1111)), addrPort(la, 0xf0ab), addrPort(lb, 5684)),
		c("udp ports 4 bit", long, concat(base.bytes(), nhcUDP(3, false, 0xf0b3, 0xf0bc, 0x1111)), addrPort(la, 0xf0b3), addrPort(lb, 0xf0bc)),
		c("udp checksum elided", long, concat(base.bytes(), nhcUDP(3, true, 0xf0b1, 0xf0b2, 0)), addrPort(la, 0xf0b1), addrPort(lb, 0xf0b2)),
		c("udp inline", long, concat(with(func(s *iphcSpec) { s.next = 17 }), udpHeader(40000, 5683, len(p))), addrPort(la, 40000), addrPort(lb, 5683)),
		c("nhc hop-by-hop", long, concat(base.bytes(), []byte{0xe1, 4, 0x05, 0x02, 0x00, 0x00}, udp), addrPort(la, 5683), addrPort(lb, 5683)),
		c("nhc destination options inline next", long,
			concat(base.bytes(), []byte{0xe6, 17, 6, 0x1e, 0x04, 1, 2, 3, 4}, udpHeader(5683, 40001, len(p))), addrPort(la, 5683), addrPort(lb, 40001)),
		c("nhc routing then hop-by-hop", long, concat(base.bytes(), []byte{0xe3, 6, 3, 0, 0, 0, 0, 0, 0xe1, 0}, udp), addrPort(la, 5683), addrPort(lb, 5683)),
		c("nhc ipv6 in ipv6", long,
			concat(base.bytes(), []byte{0xee}, with(func(s *iphcSpec) { s.sam, s.dam, s.src, s.dst = 0, 1, g1, iid }), udp),
			addrPort(g1, 5683), addrPort(iid, 5683)),
		c("nhc ipv6 in ipv6 derived", long,
			concat(with(func(s *iphcSpec) { s.sam, s.dam, s.src, s.dst = 0, 0, g1, g2 }), []byte{0xee}, base.bytes(), udp),
			addrPort(mustAddr("fe80::1"), 5683), addrPort(mustAddr("fe80::2"), 5683)),
		c("uncompressed ipv6 in iphc", long,
			concat(with(func(s *iphcSpec) { s.next = 41 }), ipUDPBytes(g1, g2, 1000, 5683, p)[:48]), addrPort(g1, 1000), addrPort(g2, 5683)),
		c("uncompressed ipv6", long, concat([]byte{0x41}, ipUDPBytes(g1, g2, 1000, 5683, p)[:48]), addrPort(g1, 1000), addrPort(g2, 5683)),
		c("mesh header", long, concat([]byte{0xb5, 0x00, 0x01, 0x8a, 0x2f}, base.bytes(), udp), addrPort(sa, 5683), addrPort(sb, 5683)),
		c("mesh header long deep hops", short,
			concat([]byte{0x8f, 40}, binary.BigEndian.AppendUint64(nil, longA.a), binary.BigEndian.AppendUint64(nil, longB.a), base.bytes(), udp),
			addrPort(la, 5683), addrPort(lb, 5683)),
		c("broadcast header", short, concat([]byte{0x50, 9}, with(func(s *iphcSpec) { s.m, s.dam, s.dst = true, 3, mustAddr("ff02::1") }), udp),
			addrPort(sa, 5683), addrPort(mustAddr("ff02::1"), 5683)),
		{name: "icmpv6", frame: concat(long, with(func(s *iphcSpec) { s.next = 58 }), []byte{0x80, 0, 0, 0, 0, 1, 0, 1}),
			kind: KindOther, reason: "icmpv6", src: addrPort(la, 0), dst: addrPort(lb, 0)},
		{name: "nhc fragment header", frame: concat(long, base.bytes(), []byte{0xe4, 6, 0, 0, 0, 0, 0, 0}),
			kind: KindOther, reason: "ipv6 fragment", src: addrPort(la, 0), dst: addrPort(lb, 0), noTshark: true},
		{name: "nhc unknown", frame: concat(long, base.bytes(), []byte{0xd0, 1, 2}), kind: KindOther, reason: "6lowpan nhc unknown"},
		{name: "dam reserved", frame: concat(long, with(func(s *iphcSpec) { s.dac, s.dam = true, 0 }), udp), kind: KindOther, reason: reasonLowpanMalformed},
		{name: "iphc cut", frame: concat(long, with(func(s *iphcSpec) { s.sam, s.src = 0, g1 })[:10]), kind: KindOther, reason: reasonLowpanMalformed},
		{name: "udp cut", frame: concat(long, base.bytes(), udp[:4]), kind: KindOther, reason: reasonLowpanMalformed},
		{name: "inline udp cut", frame: concat(long, with(func(s *iphcSpec) { s.next = 17 }), []byte{1, 2, 3}), kind: KindOther, reason: "udp malformed",
			src: addrPort(la, 0), dst: addrPort(lb, 0)},
		{name: "snap length", frame: concat(long, base.bytes(), udp, p[:3]), origLen: len(long) + len(base.bytes()) + len(udp) + len(p),
			kind: KindUDP, src: addrPort(la, 5683), dst: addrPort(lb, 5683), payload: p[:3], udpLength: 8 + len(p), truncated: true},
		{name: "hc1", frame: concat(long, []byte{0x42, 0xfb, 0x40}), kind: KindOther, reason: "6lowpan hc1"},
		{name: "zigbee", frame: concat(short, []byte{0x08, 0x00, 0xfc, 0xff, 0x00, 0x00, 0x1e, 0x3c}), kind: KindOther, reason: "802.15.4 not 6lowpan"},
		{name: "dispatch unknown", frame: concat(long, []byte{0x44, 0, 0}), kind: KindOther, reason: "6lowpan dispatch unknown"},
	}
}

// ipUDPBytes is an uncompressed IPv6 packet carrying a UDP datagram.
func ipUDPBytes(src, dst netip.Addr, sport, dport uint16, payload []byte) []byte {
	b := []byte{0x60, 0, 0, 0}
	b = binary.BigEndian.AppendUint16(b, uint16(8+len(payload)))
	b = append(b, 17, 64)
	b = append(b, src.AsSlice()...)
	b = append(b, dst.AsSlice()...)
	return append(b, udpHeader(sport, dport, len(payload))...)
}

// checkCases decodes the cases as frames of one capture of the given link
// type and checks each against its expectations, then against tshark.
func checkCases(t *testing.T, link LinkType, cases []lowpanCase) {
	t.Helper()
	p := pcapFile{link: uint32(link)}
	file := p.header()
	for i, c := range cases {
		file = append(file, p.record(t0.Add(time.Duration(i)*time.Second), c.frame, max(c.origLen, len(c.frame)))...)
	}
	recs := readPcap(t, file)
	if len(recs) != len(cases) {
		t.Fatalf("%d frames, want %d", len(recs), len(cases))
	}
	for i, c := range cases {
		r := recs[i]
		ulen := c.udpLength
		if ulen == 0 && c.kind == KindUDP {
			ulen = 8 + len(c.payload)
		}
		if r.Kind != c.kind || r.Reason != c.reason || r.Src != c.src || r.Dst != c.dst ||
			!bytes.Equal(r.Payload, c.payload) || r.UDPLength != ulen || r.Truncated != c.truncated || r.Link != link {
			t.Errorf("%s: got %v %q %v -> %v, %d payload bytes, udp length %d, truncated %v\n\twant %v %q %v -> %v, %d payload bytes, udp length %d, truncated %v",
				c.name, r.Kind, r.Reason, r.Src, r.Dst, len(r.Payload), r.UDPLength, r.Truncated,
				c.kind, c.reason, c.src, c.dst, len(c.payload), ulen, c.truncated)
		}
		if c.kind == KindUDP && (r.PayloadOff < 0 || r.PayloadOff+len(r.Payload) > len(c.frame)) {
			t.Errorf("%s: payload offset %d", c.name, r.PayloadOff)
		}
	}
	t.Run("tshark", func(t *testing.T) {
		rows := tsharkRows(t, file)
		if len(rows) != len(cases) {
			t.Fatalf("tshark shows %d frames, want %d", len(rows), len(cases))
		}
		for i, c := range cases {
			if c.noTshark {
				continue
			}
			compareTshark(t, c.name, recs[i], rows[i])
		}
	})
}

// compareTshark checks a frame decoded alone (not a fragment) against
// tshark: UDP in both or in neither, and then the same addresses, ports
// and length.
func compareTshark(t *testing.T, name string, r rec, w tsharkRow) {
	t.Helper()
	protos := strings.Split(w.protocols, ":")
	isUDP := slices.Contains(protos, "udp") && !slices.Contains(protos, "icmpv6")
	switch {
	case isUDP && w.ulen == "" && (r.Reason == "udp malformed" || r.Reason == "udp truncated"):
		// tshark shows a UDP header cut short with its ports but no length.
	case isUDP != (r.Kind == KindUDP):
		t.Errorf("%s: %v (%s), tshark: %s", name, r.Kind, r.Reason, w.protocols)
	case !isUDP:
		if strings.HasPrefix(r.Reason, "802.15.4") && slices.Contains(protos, "6lowpan") {
			t.Errorf("%s: %q, tshark decodes 6LoWPAN: %s", name, r.Reason, w.protocols)
		}
	default:
		got := []string{r.Src.Addr().String(), r.Dst.Addr().String(), strconv.Itoa(int(r.Src.Port())), strconv.Itoa(int(r.Dst.Port())), strconv.Itoa(r.UDPLength)}
		want := []string{w.src, w.dst, w.sport, w.dport, w.ulen}
		if !slices.Equal(got, want) {
			t.Errorf("%s: src, dst, ports, length %q, tshark %q", name, got, want)
		}
	}
}

func TestLowpanIPHC(t *testing.T) {
	checkCases(t, LinkTypeIEEE802154NoFCS, iphcCases())
}

// macCases covers the MAC header: frame versions, addressing modes, the
// PAN ID presence rules, sequence number suppression, information
// elements, and the frames that carry no 6LoWPAN datagram.
func macCases() []lowpanCase {
	base := iphcSpec{tf: 3, next: -1, hlimMode: 2, cid: -1, sam: 3, dam: 3}
	lowpan := concat(base.bytes(), nhcUDP(3, true, 0xf0b1, 0xf0b2, 0), coapGet)
	udp := func(name string, h wpanHdr) lowpanCase {
		return lowpanCase{name: name, frame: concat(h.bytes(), lowpan), kind: KindUDP, payload: coapGet,
			src: addrPort(linkLocal(h.src), 0xf0b1), dst: addrPort(linkLocal(h.dst), 0xf0b2)}
	}
	other := func(name string, frame []byte, reason string) lowpanCase {
		return lowpanCase{name: name, frame: frame, kind: KindOther, reason: reason}
	}
	v15 := func(dst, src macAddr, comp, dpan, span bool) wpanHdr {
		return wpanHdr{ftype: wpanData, version: 2, comp: comp, dst: dst, src: src, dpan: dpan, span: span, seq: 1}
	}
	none := macAddr{pan: testPAN}
	ie := func(id, n int) []byte { // a header IE with n bytes of content
		return append(binary.LittleEndian.AppendUint16(nil, uint16(id<<7|n)), make([]byte, n)...)
	}
	pie := func(group, n int) []byte { // a payload IE
		return append(binary.LittleEndian.AppendUint16(nil, uint16(0x8000|group<<11|n)), make([]byte, n)...)
	}
	withIEs := func(h wpanHdr, ies ...[]byte) wpanHdr {
		h.ie, h.ies = true, concat(ies...)
		return h
	}
	noSeq := v15(longB, longA, false, true, false)
	noSeq.noSeq = true
	short06 := dataHdr(shortA, shortB)
	short06.comp, short06.span = false, true
	mixed := dataHdr(shortA, longB)
	mixed.version = 0
	return []lowpanCase{
		udp("2003 short", wpanHdr{ftype: wpanData, version: 0, comp: true, dst: shortB, src: shortA, dpan: true}),
		udp("2006 both pans", short06),
		udp("2003 long to short", mixed),
		udp("2006 no destination", wpanHdr{ftype: wpanData, version: 1, src: longA, span: true}),
		udp("2015 long long", v15(longB, longA, false, true, false)),
		udp("2015 long long compressed", v15(longB, longA, true, false, false)),
		udp("2015 short short", v15(shortB, shortA, false, true, true)),
		udp("2015 short short compressed", v15(shortB, shortA, true, true, false)),
		udp("2015 short long compressed", v15(shortB, longA, true, true, false)),
		udp("2015 long short", v15(longB, shortA, false, true, true)),
		udp("2015 source only", v15(none, longA, false, false, true)),
		udp("2015 source only compressed", v15(none, longA, true, false, false)),
		udp("2015 destination only compressed", v15(longB, none, true, false, false)),
		udp("2015 sequence number suppressed", noSeq),
		udp("2015 header ie", withIEs(v15(longB, longA, false, true, false), ie(0x1d, 3), ie(0x7f, 0))),
		udp("2015 payload ie", withIEs(v15(longB, longA, false, true, false), ie(0x1a, 4), ie(0x7e, 0), pie(1, 6), pie(0xf, 0))),
		other("2015 ie only", concat(withIEs(v15(longB, longA, false, true, false), ie(0x1a, 4)).bytes()), "802.15.4 ie"),
		other("2015 payload ie only", concat(withIEs(v15(longB, longA, false, true, false), ie(0x7e, 0), pie(1, 6)).bytes()), "802.15.4 ie"),
		other("2015 ie too long", concat(withIEs(v15(longB, longA, false, true, false), ie(0x1a, 4)).bytes())[:30], "802.15.4 malformed"),
		other("ack", []byte{0x02, 0x00, 0x41}, "802.15.4 ack"),
		other("enhanced ack", wpanHdr{ftype: wpanAck, version: 2, dst: longB, dpan: true}.bytes(), "802.15.4 ack"),
		other("beacon", concat(wpanHdr{ftype: wpanBeacon, src: shortA, span: true}.bytes(), []byte{0xff, 0xcf, 0, 0}), "802.15.4 beacon"),
		other("command", concat(wpanHdr{ftype: wpanCommand, version: 1, dst: longB, src: longA, dpan: true, comp: true}.bytes(), []byte{0x04}), "802.15.4 command"),
		other("secured", concat(wpanHdr{ftype: wpanData, version: 1, secure: true, comp: true, dst: longB, src: longA, dpan: true,
			auxSecurity: []byte{0x0d, 1, 0, 0, 0, 1}}.bytes(), []byte{0xde, 0xad, 0xbe, 0xef, 1, 2, 3, 4}), "802.15.4 secured"),
		other("addressing mode 1", concat(wpanHdr{ftype: wpanData, version: 1, dst: macAddr{mode: 1}, src: longA, span: true}.bytes(), lowpan), "802.15.4 malformed"),
		other("frame version 3", concat(wpanHdr{ftype: wpanData, version: 3, dst: longB, src: longA, dpan: true, comp: true}.bytes(), lowpan), "802.15.4 malformed"),
		other("2006 compression with one address", concat(wpanHdr{ftype: wpanData, version: 1, comp: true, src: longA}.bytes(), lowpan), "802.15.4 malformed"),
		other("empty", dataHdr(longA, longB).bytes(), "802.15.4 empty"),
		other("header cut", dataHdr(longA, longB).bytes()[:9], "802.15.4 malformed"),
		other("two bytes", []byte{0x41, 0xcc}, "802.15.4 malformed"),
		{name: "header cut by snap length", frame: dataHdr(longA, longB).bytes()[:9], origLen: 60, kind: KindOther, reason: "802.15.4 truncated"},
	}
}

func TestWPANMAC(t *testing.T) {
	checkCases(t, LinkTypeIEEE802154NoFCS, macCases())
}

// TestWPANLinkTypes checks the link types that add a PHY or TAP header or
// the FCS.
func TestWPANLinkTypes(t *testing.T) {
	h := dataHdr(longA, longB)
	frame := concat(h.bytes(), iphcSpec{tf: 3, next: -1, hlimMode: 2, cid: -1, sam: 3, dam: 3}.bytes(), nhcUDP(0, false, 5683, 5683, 0x1d2c), coapGet)
	udp := func(name string, b []byte) lowpanCase {
		return lowpanCase{name: name, frame: b, kind: KindUDP, payload: coapGet,
			src: addrPort(linkLocal(longA), 5683), dst: addrPort(linkLocal(longB), 5683)}
	}
	bad := withFCS(frame)
	bad[len(bad)-1] ^= 0x40
	bad32 := withFCS32(frame)
	bad32[len(bad32)-1] ^= 0x01
	cut := udp("snap length", withFCS(frame)[:len(frame)-5])
	cut.origLen, cut.payload, cut.udpLength, cut.truncated = len(frame)+2, coapGet[:len(coapGet)-5], 8+len(coapGet), true
	fcsCut := udp("snap length in the fcs", withFCS(frame)[:len(frame)+1])
	fcsCut.origLen = len(frame) + 2
	t.Run("fcs", func(t *testing.T) {
		checkCases(t, LinkTypeIEEE802154WithFCS, []lowpanCase{
			udp("good", withFCS(frame)),
			{name: "bad", frame: bad, kind: KindOther, reason: "802.15.4 bad fcs"},
			cut,
			fcsCut,
			{name: "fcs only", frame: []byte{0x00, 0x00}, kind: KindOther, reason: "802.15.4 malformed"},
		})
	})
	t.Run("nonask-phy", func(t *testing.T) {
		padded := append(nonaskPHY(withFCS(frame)), 0xee, 0xee)
		long := nonaskPHY(withFCS(frame))
		long[5] += 10
		checkCases(t, LinkTypeIEEE802154NonaskPHY, []lowpanCase{
			udp("good", nonaskPHY(withFCS(frame))),
			udp("bytes after the frame", padded),
			{name: "bad", frame: nonaskPHY(bad), kind: KindOther, reason: "802.15.4 bad fcs"},
			// The FCS is read as payload: the frame goes on beyond it.
			{name: "length beyond the capture", frame: long, kind: KindUDP, payload: long[len(long)-len(coapGet)-2:], truncated: true, noTshark: true,
				src: addrPort(linkLocal(longA), 5683), dst: addrPort(linkLocal(longB), 5683), udpLength: 18 + len(coapGet)},
			{name: "phy header cut", frame: []byte{0, 0, 0, 0, 0xa7}, kind: KindOther, reason: "802.15.4 truncated", noTshark: true},
		})
	})
	t.Run("tap", func(t *testing.T) {
		checkCases(t, LinkTypeIEEE802154TAP, []lowpanCase{
			udp("no fcs tlv", tap(frame)),
			udp("fcs none", tap(frame, tapTLV(0, 0))),
			udp("fcs 16", tap(withFCS(frame), tapTLV(1, 0xc4, 0xff, 0xff, 0xff), tapTLV(0, 1), tapTLV(3, 11, 0, 0))),
			udp("fcs 32", tap(withFCS32(frame), tapTLV(0, 2))),
			{name: "fcs 32 bad", frame: tap(bad32, tapTLV(0, 2)), kind: KindOther, reason: "802.15.4 bad fcs"},
			{name: "fcs type 3", frame: tap(frame, tapTLV(0, 3)), kind: KindOther, reason: "802.15.4 tap malformed", noTshark: true},
			{name: "tlv too long", frame: concat([]byte{0, 0, 8, 0, 0, 0, 9, 0}, frame), kind: KindOther, reason: "802.15.4 tap malformed", noTshark: true},
			{name: "header too long", frame: []byte{0, 0, 200, 0, 0, 0}, kind: KindOther, reason: "802.15.4 truncated", noTshark: true},
			{name: "version 1", frame: concat([]byte{1, 0, 4, 0}, frame), kind: KindOther, reason: "802.15.4 tap version unknown", noTshark: true},
		})
	})
}

// lowpanDatagram is a UDP datagram sent in 6LoWPAN fragments: a FRAG1
// with the compressed headers and the first 48 payload bytes (96 bytes of
// the uncompressed datagram), then FRAGNs of 64 bytes.
type lowpanDatagram struct {
	mac     wpanHdr
	tag     uint16
	first   []byte // the 6LoWPAN headers in the FRAG1, after the fragment header
	payload []byte
}

func (g lowpanDatagram) size() int { return 48 + len(g.payload) }

// frag returns the fragment at offset off of the uncompressed datagram.
func (g lowpanDatagram) frag(off int) []byte {
	if off == 0 {
		return concat(g.mac.bytes(), frag1(g.size(), g.tag), g.first, g.payload[:48])
	}
	return concat(g.mac.bytes(), fragN(g.size(), g.tag, off), g.payload[off-48:min(off+16, len(g.payload))])
}

// offsets returns the fragment offsets of the datagram.
func (g lowpanDatagram) offsets() []int {
	offs := []int{0}
	for off := 96; off < g.size(); off += 64 {
		offs = append(offs, off)
	}
	return offs
}

func patterned(n int, seed byte) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = seed + byte(i*7)
	}
	return b
}

func TestLowpanFragments(t *testing.T) {
	la, lb := linkLocal(longA), linkLocal(longB)
	compressed := iphcSpec{tf: 3, next: -1, hlimMode: 2, cid: -1, sam: 3, dam: 3}
	payload := patterned(200, 1)
	g := lowpanDatagram{mac: dataHdr(longA, longB), tag: 0x1234, payload: payload,
		first: concat(compressed.bytes(), nhcUDP(0, false, 5683, 40000, 0xabcd))}
	uncompressed := g
	uncompressed.first = concat([]byte{0x41}, ipUDPBytes(la, lb, 5683, 40000, payload))
	inlineUDP := g
	ctx := compressed
	ctx.next, ctx.sac = 17, true
	inlineUDP.first = concat(ctx.bytes(), udpHeader(5683, 40000, len(payload)))
	other := lowpanDatagram{mac: dataHdr(shortB, shortA), tag: 0x1234, payload: patterned(150, 9),
		first: concat(compressed.bytes(), nhcUDP(3, true, 0xf0b1, 0xf0b2, 0))}

	type want struct {
		kind      Kind
		reason    string
		fragments []int // of the completing frame
	}
	frag := want{KindFragment, reasonLowpanFragment, nil}
	dgram := func(g lowpanDatagram, offs ...int) [][]byte {
		var frames [][]byte
		for _, off := range offs {
			frames = append(frames, g.frag(off))
		}
		return frames
	}
	overlapping := g.frag(96)
	overlapping[len(overlapping)-1] ^= 0xff
	for _, c := range []struct {
		name   string
		frames [][]byte
		want   []want
		src    netip.AddrPort
		dst    netip.AddrPort
		data   []byte // the payload of the completed datagram
	}{
		{"in order", dgram(g, 0, 96, 160, 224), []want{frag, frag, frag, {KindUDP, "", []int{1, 2, 3, 4}}},
			addrPort(la, 5683), addrPort(lb, 40000), payload},
		{"out of order", dgram(g, 160, 224, 0, 96), []want{frag, frag, frag, {KindUDP, "", []int{1, 2, 3, 4}}},
			addrPort(la, 5683), addrPort(lb, 40000), payload},
		{"first fragment last", dgram(g, 224, 96, 160, 0), []want{frag, frag, frag, {KindUDP, "", []int{1, 2, 3, 4}}},
			addrPort(la, 5683), addrPort(lb, 40000), payload},
		{"uncompressed", dgram(uncompressed, 96, 0, 224, 160), []want{frag, frag, frag, {KindUDP, "", []int{1, 2, 3, 4}}},
			addrPort(la, 5683), addrPort(lb, 40000), payload},
		{"inline udp, unknown context", dgram(inlineUDP, 0, 96, 160, 224), []want{frag, frag, frag, {KindUDP, reasonLowpanContext, []int{1, 2, 3, 4}}},
			addrPort(mustAddr("::212:4b00:102:304"), 5683), addrPort(lb, 40000), payload},
		{"interleaved", [][]byte{other.frag(0), g.frag(160), g.frag(0), other.frag(96), g.frag(96), other.frag(160), g.frag(224)},
			[]want{frag, frag, frag, frag, frag, {KindUDP, "", []int{1, 4, 6}}, {KindUDP, "", []int{2, 3, 5, 7}}},
			addrPort(la, 5683), addrPort(lb, 40000), payload},
		{"duplicate", dgram(g, 0, 96, 96, 160, 224), []want{frag, frag, frag, frag, {KindUDP, "6lowpan-fragment overlap", []int{1, 2, 3, 4, 5}}},
			addrPort(la, 5683), addrPort(lb, 40000), payload},
		{"overlap keeps the first bytes", [][]byte{g.frag(0), g.frag(96), overlapping, g.frag(160), g.frag(224)},
			[]want{frag, frag, frag, frag, {KindUDP, "6lowpan-fragment overlap", []int{1, 2, 3, 4, 5}}},
			addrPort(la, 5683), addrPort(lb, 40000), payload},
		{"beyond the datagram", [][]byte{concat(g.mac.bytes(), fragN(g.size(), 1, 240), payload[:16])},
			[]want{{KindFragment, "6lowpan-fragment invalid", nil}}, netip.AddrPort{}, netip.AddrPort{}, nil},
		{"incomplete", dgram(g, 0, 96, 224), []want{frag, frag, frag}, netip.AddrPort{}, netip.AddrPort{}, nil},
	} {
		t.Run(c.name, func(t *testing.T) {
			file := pcapFile{link: uint32(LinkTypeIEEE802154NoFCS)}.file(c.frames...)
			r := mustReader(t, file)
			recs, err := readAll(t, r)
			if err != io.EOF || len(recs) != len(c.want) {
				t.Fatalf("%d frames, %v", len(recs), err)
			}
			completed := 0
			for i, w := range c.want {
				got := recs[i]
				if got.Kind != w.kind || got.Reason != w.reason || !slices.Equal(got.Fragments, w.fragments) {
					t.Errorf("frame %d: %v %q fragments %v, want %v %q %v", i+1, got.Kind, got.Reason, got.Fragments, w.kind, w.reason, w.fragments)
				}
				if got.Kind != KindUDP {
					continue
				}
				completed++
				if got.PayloadOff != -1 || got.Truncated || got.UDPLength != 8+len(got.Payload) {
					t.Errorf("frame %d: payload offset %d, truncated %v, udp length %d for %d bytes", i+1, got.PayloadOff, got.Truncated, got.UDPLength, len(got.Payload))
				}
				if i == len(c.want)-1 && (got.Src != c.src || got.Dst != c.dst || !bytes.Equal(got.Payload, c.data)) {
					t.Errorf("frame %d: %v -> %v, %d bytes; want %v -> %v, %d bytes", i+1, got.Src, got.Dst, len(got.Payload), c.src, c.dst, len(c.data))
				}
			}
			if c.name == "in order" || c.name == "out of order" {
				// Fragments show the datagram's addresses once the first
				// fragment is in.
				first := slices.IndexFunc(c.frames, func(f []byte) bool { return f[len(g.mac.bytes())]&0xf8 == 0xc0 })
				for i, got := range recs[:len(recs)-1] {
					if want := i >= first; got.Src.IsValid() != want || want && (got.Src.Addr() != la || got.Dst.Addr() != lb) {
						t.Errorf("frame %d: fragment from %v to %v", i+1, got.Src, got.Dst)
					}
				}
			}
			s := r.Stats()
			if s.Reassembled != completed || s.Fragments != len(c.frames) || s.UDP != completed {
				t.Errorf("stats: %d reassembled, %d fragments, %d udp", s.Reassembled, s.Fragments, s.UDP)
			}
			if c.name == "incomplete" && (s.DatagramsEvicted != 1 || s.FragmentsEvicted != 3) {
				t.Errorf("stats: %d datagrams, %d fragments evicted", s.DatagramsEvicted, s.FragmentsEvicted)
			}
			t.Run("tshark", func(t *testing.T) {
				// tshark shows the datagram in the frame that completes it
				// and points there from the other fragments.
				rows := tsharkRows(t, file, "-2")
				for i, row := range rows {
					got := recs[i]
					if got.Kind == KindUDP {
						compareTshark(t, fmt.Sprintf("frame %d", i+1), got, row)
						for _, n := range got.Fragments[:len(got.Fragments)-1] {
							if rows[n-1].reassembledIn != strconv.Itoa(i+1) {
								t.Errorf("frame %d: tshark reassembles it in %q, not %d", n, rows[n-1].reassembledIn, i+1)
							}
						}
					} else if slices.Contains(strings.Split(row.protocols, ":"), "udp") {
						t.Errorf("frame %d: %v %q, tshark: %s", i+1, got.Kind, got.Reason, row.protocols)
					}
				}
			})
		})
	}
}

// TestLowpanSharedCapture reads the shared 802.15.4 capture: CoAP (EDHOC)
// over 6LoWPAN with IPHC and NHC UDP, link-local addresses elided in favour
// of the extended MAC addresses.
func TestLowpanSharedCapture(t *testing.T) {
	name := filepath.Join(capturesDir(t), "public", "edhoc-dtls-comparison-edhoc.pcap")
	recs, err := readFile(t, name)
	if err != io.EOF || len(recs) != 4 {
		t.Fatalf("%d frames, %v", len(recs), err)
	}
	raw, err := os.ReadFile(name)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range recs {
		// The UDP length is elided: the payload runs to the end of the
		// frame, which has no FCS, and starts with a CoAP version 1 header.
		if r.Kind != KindUDP || r.Reason != "" || r.Link != LinkTypeIEEE802154NoFCS || r.Truncated ||
			r.Src.Port() != 5683 || r.Dst.Port() != 5683 || !r.Src.Addr().IsLinkLocalUnicast() || !r.Dst.Addr().IsLinkLocalUnicast() ||
			len(r.Payload) != r.UDPLength-8 || len(r.Payload) < 4 || r.Payload[0]>>6 != 1 {
			t.Errorf("frame %d: %+v", r.Number, r)
		}
	}
	rows := tsharkRows(t, raw)
	if len(rows) != len(recs) {
		t.Fatalf("tshark shows %d frames", len(rows))
	}
	for i, r := range recs {
		compareTshark(t, fmt.Sprintf("frame %d", r.Number), r, rows[i])
	}
}

// lowpanTraffic returns the frames of every IPHC and MAC case, and 20
// fragmented datagrams, each sent last fragment first.
func lowpanTraffic() (frames [][]byte) {
	for _, c := range iphcCases() {
		frames = append(frames, c.frame)
	}
	for _, c := range macCases() {
		frames = append(frames, c.frame)
	}
	compressed := iphcSpec{tf: 3, next: -1, hlimMode: 2, cid: -1, sam: 3, dam: 3}
	for i := range 20 {
		g := lowpanDatagram{mac: dataHdr(longA, longB), tag: uint16(i), payload: patterned(150+i, byte(i)),
			first: concat(compressed.bytes(), nhcUDP(0, false, 5683, 40000, 0xabcd))}
		for _, off := range slices.Backward(g.offsets()) {
			frames = append(frames, g.frag(off))
		}
	}
	return frames
}

// TestLowpanAllocs checks that decoding 802.15.4 frames allocates nothing,
// fragments included once the reassembler's buffers are warm.
func TestLowpanAllocs(t *testing.T) {
	frames := lowpanTraffic()
	p := pcapFile{link: uint32(LinkTypeIEEE802154NoFCS)}
	var body []byte
	for i, f := range frames {
		body = append(body, p.record(t0.Add(time.Duration(i)*time.Microsecond), f, len(f))...)
	}
	r, err := NewReader(&loopReader{head: p.header(), body: body})
	if err != nil {
		t.Fatal(err)
	}
	var d Datagram
	kinds := map[Kind]int{}
	next := func() {
		if err := r.Next(&d); err != nil {
			t.Fatal(err)
		}
		kinds[d.Kind]++
	}
	for range 3 * len(frames) {
		next()
	}
	if n := testing.AllocsPerRun(5000, next); n != 0 {
		t.Errorf("%v allocations per frame", n)
	}
	if kinds[KindUDP] == 0 || kinds[KindFragment] == 0 || kinds[KindOther] == 0 {
		t.Errorf("kinds decoded: %v", kinds)
	}
}

func BenchmarkLowpan(b *testing.B) {
	h := dataHdr(longA, longB)
	frame := concat(h.bytes(), iphcSpec{tf: 3, next: -1, hlimMode: 2, cid: -1, sam: 3, dam: 3}.bytes(), nhcUDP(0, false, 5683, 5683, 0x1d2c), coapGet)
	var st Stats
	var dc decoder
	dc.init(&st)
	d := Datagram{Frame: Frame{Number: 1, Time: t0, CapLen: len(frame), OrigLen: len(frame), LinkType: LinkTypeIEEE802154NoFCS, Data: frame}}
	b.ReportAllocs()
	b.SetBytes(int64(len(frame)))
	for b.Loop() {
		d = Datagram{Frame: d.Frame, PayloadOff: -1}
		dc.decode(&d)
	}
	if d.Kind != KindUDP {
		b.Fatal(d.Kind, d.Reason)
	}
}

var wpanLinks = [...]LinkType{LinkTypeIEEE802154NoFCS, LinkTypeIEEE802154WithFCS, LinkTypeIEEE802154NonaskPHY, LinkTypeIEEE802154TAP}

// lowpanFuzzInput encodes frames for FuzzLowpan: the link type index, then
// each frame after its length.
func lowpanFuzzInput(link int, frames ...[]byte) []byte {
	b := []byte{byte(link)}
	for _, f := range frames {
		b = binary.BigEndian.AppendUint16(b, uint16(len(f)))
		b = append(b, f...)
	}
	return b
}

// FuzzLowpan decodes a sequence of 802.15.4 frames with one decoder, so
// that fragments meet in the reassembler: no panic, payloads inside their
// frames or borrowed from a completed datagram, and reasons for what is not
// UDP.
func FuzzLowpan(f *testing.F) {
	for _, c := range iphcCases() {
		f.Add(lowpanFuzzInput(0, c.frame))
	}
	for _, c := range macCases() {
		f.Add(lowpanFuzzInput(0, c.frame))
	}
	frame := iphcCases()[0].frame
	f.Add(lowpanFuzzInput(1, withFCS(frame)))
	f.Add(lowpanFuzzInput(2, nonaskPHY(withFCS(frame))))
	f.Add(lowpanFuzzInput(3, tap(withFCS32(frame), tapTLV(0, 2))))
	traffic := lowpanTraffic()
	f.Add(lowpanFuzzInput(0, traffic[len(traffic)-12:]...))
	f.Fuzz(func(t *testing.T, in []byte) {
		if len(in) == 0 {
			return
		}
		var st Stats
		var dc decoder
		dc.init(&st)
		link := wpanLinks[int(in[0])%len(wpanLinks)]
		in = in[1:]
		for n := 1; len(in) >= 2; n++ {
			l := min(int(be16(in)), len(in)-2)
			data := in[2 : 2+l]
			in = in[2+l:]
			dc.defrag.release()
			d := Datagram{Frame: Frame{Number: n, Time: t0.Add(time.Duration(n) * time.Second), CapLen: len(data), OrigLen: len(data) + n%3, LinkType: link, Data: data}, PayloadOff: -1}
			dc.decode(&d)
			switch {
			case d.Kind > KindOther:
				t.Fatalf("frame %d: kind %v", n, d.Kind)
			case d.Kind != KindUDP && d.Reason == "":
				t.Fatalf("frame %d: %v without a reason", n, d.Kind)
			case d.Kind != KindUDP && (d.Payload != nil || d.PayloadOff != -1):
				t.Fatalf("frame %d: %v with a payload", n, d.Kind)
			case d.PayloadOff >= 0 && (d.PayloadOff+len(d.Payload) > len(d.Data) || len(d.Payload) > 0 && &d.Data[d.PayloadOff] != &d.Payload[0]):
				t.Fatalf("frame %d: payload at %d (%d bytes) not inside the %d-byte frame", n, d.PayloadOff, len(d.Payload), len(d.Data))
			case d.Kind == KindUDP && d.PayloadOff < 0 && (len(d.Fragments) == 0 || d.Fragments[len(d.Fragments)-1] != n):
				t.Fatalf("frame %d: payload neither in the frame nor reassembled (fragments %v)", n, d.Fragments)
			case d.Kind == KindUDP && (len(d.Payload) > maxDatagram || d.UDPLength < 8 && d.UDPLength != 0):
				t.Fatalf("frame %d: %d payload bytes, udp length %d", n, len(d.Payload), d.UDPLength)
			case len(d.Data) != d.CapLen:
				t.Fatalf("frame %d: data changed to %d bytes", n, len(d.Data))
			}
		}
	})
}
