package capture

import (
	"encoding/binary"
	"hash/crc32"
	"net/netip"
)

// IEEE 802.15.4 frames carrying 6LoWPAN (RFC 4944, RFC 6282).
//
// The MAC header is decoded by hand for the 2003, 2006 and 2015 frame
// versions, information elements included. The 6LoWPAN payload is
// decompressed into its uncompressed IPv6 form: the compressed headers
// (IPHC, NHC extension headers, NHC UDP) are rebuilt in a buffer owned by the
// decoder, while the bytes after them (the UDP payload, or headers sent
// uncompressed) stay in the frame, so that an unfragmented datagram's
// Payload is borrowed from Frame.Data like any other.
//
// Stateful (context-based) address compression refers to prefixes that are
// configured in the network, not carried in the frames. The decoder knows
// none: such an address gets the all-zero prefix with the interface
// identifier the frame gives, and the datagram is returned with Reason
// "6lowpan context unknown".
//
// Fragmented datagrams (FRAG1/FRAGN) go through the same reassembler as IP
// fragments, keyed by link-layer source and destination, datagram size and
// tag (RFC 4944 section 5.3). A first fragment is stored decompressed, since
// fragment offsets count bytes of the uncompressed datagram.

// Frame types and addressing modes of the frame control field.
const (
	wpanBeacon    = 0
	wpanData      = 1
	wpanAck       = 2
	wpanCommand   = 3
	wpanMultipurp = 5
	wpanFrak      = 6
	wpanExtended  = 7

	wpanVersion2015 = 2

	addrNone  = 0
	addrShort = 2
	addrLong  = 3
)

var wpanTypeReasons = [8]string{
	wpanBeacon:    "802.15.4 beacon",
	wpanAck:       "802.15.4 ack",
	wpanCommand:   "802.15.4 command",
	4:             "802.15.4 reserved frame type",
	wpanMultipurp: "802.15.4 multipurpose",
	wpanFrak:      "802.15.4 fragment",
	wpanExtended:  "802.15.4 extended",
}

// Reasons for 6LoWPAN frames.
const (
	reasonLowpanShort     = "6lowpan truncated"
	reasonLowpanMalformed = "6lowpan malformed"
	reasonLowpanFragment  = "6lowpan-fragment"
	reasonLowpanContext   = "6lowpan context unknown"
)

// lowpanFragProto marks 6LoWPAN datagrams in the reassembly table. Their
// keys hold link-layer addresses in IPv6 form; IP fragments never have such
// a key, as IPv6 keys leave proto zero and IPv4 keys have IPv4 addresses.
const lowpanFragProto = 0xff

// lowpanNesting bounds IPv6-in-IPv6 headers compressed with NHC (EID 7).
const lowpanNesting = 4

// macAddr is an IEEE 802.15.4 address.
type macAddr struct {
	mode uint8  // addrNone, addrShort or addrLong
	pan  uint16 // PAN identifier
	a    uint64 // the address, most significant byte first as it is written
}

// iid returns the IPv6 interface identifier that RFC 6282 section 3.2.2
// derives from m: the EUI-64 with the Universal/Local bit inverted, or
// 0000:00ff:fe00:XXXX from a short address. A frame without the address
// leaves nothing to derive from; as Wireshark does, the short address 0
// stands in for it.
func (m macAddr) iid() (id [8]byte) {
	if m.mode == addrLong {
		binary.BigEndian.PutUint64(id[:], m.a)
		id[0] ^= 0x02
		return id
	}
	return [8]byte{3: 0xff, 4: 0xfe, 6: byte(m.a >> 8), 7: byte(m.a)}
}

// key returns m in the form of a reassembly key address. A short address
// is only unique within its PAN, so the PAN is part of it.
func (m macAddr) key() netip.Addr {
	var b [16]byte
	b[0] = m.mode
	if m.mode == addrShort {
		binary.BigEndian.PutUint16(b[2:], m.pan)
	}
	binary.BigEndian.PutUint64(b[8:], m.a)
	return netip.AddrFrom16(b)
}

// wpan decodes a frame of one of the IEEE 802.15.4 link types: it finds the
// MAC frame behind the link header, strips and checks the FCS, and hands
// the MAC frame on.
func (dc *decoder) wpan(d *Datagram) {
	b := d.Data
	off, fcs := 0, 0
	wire := max(d.OrigLen, len(b)) // end of the MAC frame on the wire, FCS included
	switch d.LinkType {
	case LinkTypeIEEE802154WithFCS:
		fcs = 2
	case LinkTypeIEEE802154NonaskPHY:
		// A 4-byte preamble, the start-of-frame delimiter, and the PHY
		// header: the length of the MAC frame (7 bits) and a reserved bit.
		if len(b) < 6 {
			dc.other(d, "802.15.4 truncated")
			return
		}
		off, fcs = 6, 2
		wire = 6 + int(b[5]&0x7f)
	case LinkTypeIEEE802154TAP:
		var reason string
		off, fcs, reason = tapHeader(b)
		if reason != "" {
			dc.other(d, reason)
			return
		}
	}
	end := wire - fcs // end of the MAC header and payload on the wire
	if end-off > maxDatagram {
		dc.other(d, "802.15.4 malformed")
		return
	}
	if end < off+3 { // frame control and sequence number at the least
		if len(b) < end || end < off {
			dc.other(d, "802.15.4 truncated")
		} else {
			dc.other(d, "802.15.4 malformed")
		}
		return
	}
	if fcs > 0 && len(b) >= wire && !fcsOK(b[off:end], b[end:wire]) {
		// As Wireshark does by default: a frame damaged on the air is not
		// dissected further.
		dc.other(d, "802.15.4 bad fcs")
		return
	}
	// Decode without the FCS and whatever follows the MAC frame; offsets
	// into the shortened slice are offsets into the frame.
	full := d.Data
	d.Data = full[:min(len(full), end)]
	dc.mac(d, off, end)
	d.Data = full
}

// tapHeader decodes the header of LINKTYPE_IEEE802_15_4_TAP: version,
// reserved byte, header length (little-endian, TLVs included), then TLVs
// padded to 4 bytes. It returns the offset of the MAC frame and the length
// of its FCS, which the FCS type TLV gives (none when it is absent, as
// Wireshark reads it).
func tapHeader(b []byte) (off, fcs int, reason string) {
	if len(b) < 4 {
		return 0, 0, "802.15.4 truncated"
	}
	if b[0] != 0 {
		return 0, 0, "802.15.4 tap version unknown"
	}
	n := int(binary.LittleEndian.Uint16(b[2:]))
	switch {
	case n < 4:
		return 0, 0, "802.15.4 tap malformed"
	case n > len(b):
		return 0, 0, "802.15.4 truncated"
	}
	for p := 4; p+4 <= n; {
		typ := binary.LittleEndian.Uint16(b[p:])
		l := int(binary.LittleEndian.Uint16(b[p+2:]))
		if p+4+l > n {
			return 0, 0, "802.15.4 tap malformed"
		}
		if typ == 0 { // FCS type: 0 none, 1 16-bit CRC, 2 32-bit CRC
			if l != 1 || b[p+4] > 2 {
				return 0, 0, "802.15.4 tap malformed"
			}
			fcs = [3]int{0, 2, 4}[b[p+4]]
		}
		p += 4 + (l+3)&^3
	}
	return n, fcs, ""
}

// crc16Table drives the ITU-T CRC-16 of IEEE 802.15.4 (polynomial
// x^16+x^12+x^5+1, bits reflected, initial value 0; CRC-16/KERMIT).
var crc16Table = func() (t [256]uint16) {
	for i := range t {
		c := uint16(i)
		for range 8 {
			if c&1 != 0 {
				c = c>>1 ^ 0x8408
			} else {
				c >>= 1
			}
		}
		t[i] = c
	}
	return t
}()

func crc16(b []byte) uint16 {
	var c uint16
	for _, x := range b {
		c = c>>8 ^ crc16Table[byte(c)^x]
	}
	return c
}

// fcsOK checks the FCS, sent least significant byte first, of a MAC frame.
func fcsOK(frame, fcs []byte) bool {
	switch len(fcs) {
	case 2:
		return crc16(frame) == binary.LittleEndian.Uint16(fcs)
	case 4:
		return crc32.ChecksumIEEE(frame) == binary.LittleEndian.Uint32(fcs)
	}
	return true
}

// mac decodes the MAC frame at d.Data[off:], whose header and payload end
// at end on the wire.
func (dc *decoder) mac(d *Datagram, off, end int) {
	b := d.Data
	trunc := len(b) < end
	fail := "802.15.4 malformed"
	if trunc {
		fail = "802.15.4 truncated"
	}
	if len(b) < off+3 {
		dc.other(d, fail)
		return
	}
	fcf := binary.LittleEndian.Uint16(b[off:])
	if t := fcf & 7; t != wpanData {
		dc.other(d, wpanTypeReasons[t])
		return
	}
	version := fcf >> 12 & 3
	dm, sm := uint8(fcf>>10&3), uint8(fcf>>14&3)
	if version == 3 || dm == 1 || sm == 1 { // reserved values
		dc.other(d, "802.15.4 malformed")
		return
	}
	if fcf&0x08 != 0 {
		dc.other(d, "802.15.4 secured")
		return
	}
	dpan, span, ok := panPresence(version, dm, sm, fcf&0x40 != 0)
	if !ok {
		dc.other(d, "802.15.4 malformed")
		return
	}
	p := off + 2
	if version != wpanVersion2015 || fcf&0x100 == 0 {
		p++ // sequence number, unless suppressed
	}
	need := p + addrLen(dm) + addrLen(sm)
	if dpan {
		need += 2
	}
	if span {
		need += 2
	}
	if need > len(b) {
		dc.other(d, fail)
		return
	}
	var src, dst macAddr
	if dpan {
		dst.pan = binary.LittleEndian.Uint16(b[p:])
		p += 2
	}
	dst.mode, p = dm, readAddr(b, p, dm, &dst.a)
	src.pan = dst.pan
	if span {
		src.pan = binary.LittleEndian.Uint16(b[p:])
		p += 2
	}
	src.mode, p = sm, readAddr(b, p, sm, &src.a)
	if version == wpanVersion2015 && fcf&0x200 != 0 {
		var reason string
		if p, reason = skipIEs(b, p, trunc); reason != "" {
			dc.other(d, reason)
			return
		}
	}
	if p == end {
		dc.other(d, "802.15.4 empty")
		return
	}
	if p == len(b) {
		dc.other(d, fail)
		return
	}
	dc.lowpan(d, p, end, src, dst)
}

func addrLen(mode uint8) int {
	switch mode {
	case addrShort:
		return 2
	case addrLong:
		return 8
	}
	return 0
}

// readAddr reads an address of the given mode, sent least significant byte
// first, at b[p:] into a, and returns the offset after it.
func readAddr(b []byte, p int, mode uint8, a *uint64) int {
	switch mode {
	case addrShort:
		*a = uint64(binary.LittleEndian.Uint16(b[p:]))
	case addrLong:
		*a = binary.LittleEndian.Uint64(b[p:])
	}
	return p + addrLen(mode)
}

// panPresence tells which PAN identifiers a data frame carries: in frame
// versions 2003 and 2006 the source PAN is left out when PAN ID compression
// is set, which requires both addresses; version 2015 follows table 7-2 of
// IEEE 802.15.4-2015.
func panPresence(version uint16, dm, sm uint8, comp bool) (dpan, span, ok bool) {
	if version != wpanVersion2015 {
		if comp && (dm == addrNone || sm == addrNone) {
			return false, false, false
		}
		return dm != addrNone, sm != addrNone && !comp, true
	}
	switch {
	case dm == addrNone && sm == addrNone:
		return comp, false, true
	case sm == addrNone:
		return !comp, false, true
	case dm == addrNone:
		return false, !comp, true
	case dm == addrLong && sm == addrLong:
		return !comp, false, true
	}
	return true, !comp, true
}

// skipIEs skips the header information elements at b[p:], and the payload
// information elements when a Header Termination 1 IE announces them, and
// returns the offset of the MAC payload.
func skipIEs(b []byte, p int, trunc bool) (int, string) {
	fail := "802.15.4 malformed"
	if trunc {
		fail = "802.15.4 truncated"
	}
	payloadIEs := false
	for done := false; !done; {
		if p == len(b) && !trunc {
			return 0, "802.15.4 ie" // information elements and no payload
		}
		if p+2 > len(b) {
			return 0, fail
		}
		ie := binary.LittleEndian.Uint16(b[p:])
		p += 2 + int(ie&0x7f)
		switch ie >> 7 & 0xff {
		case 0x7e: // Header Termination 1: payload IEs follow
			payloadIEs, done = true, true
		case 0x7f: // Header Termination 2: the payload follows
			done = true
		}
	}
	for payloadIEs {
		if p == len(b) && !trunc {
			return 0, "802.15.4 ie"
		}
		if p+2 > len(b) {
			return 0, fail
		}
		ie := binary.LittleEndian.Uint16(b[p:])
		p += 2 + int(ie&0x7ff)
		payloadIEs = ie>>11&0xf != 0xf // Payload Termination IE
	}
	if p > len(b) {
		return 0, fail
	}
	return p, ""
}

// lowpan decodes the 6LoWPAN frame at d.Data[p:], which ends at end on the
// wire, sent from src to dst.
func (dc *decoder) lowpan(d *Datagram, p, end int, src, dst macAddr) {
	b := d.Data
	short := lowpanShort(len(b) < end)
	// Mesh and broadcast headers come first (RFC 4944 sections 5.2, 11.1).
	for p < len(b) {
		c := b[p]
		if c&0xc0 == 0x80 { // mesh: 10 V F HopsLeft, originator, final destination
			n := 1
			if c&0x0f == 0x0f {
				n++ // Deep Hops Left
			}
			o, f := 8, 8
			if c&0x20 != 0 {
				o = 2
			}
			if c&0x10 != 0 {
				f = 2
			}
			if p+n+o+f > len(b) {
				dc.other(d, short)
				return
			}
			src = meshAddr(b[p+n:p+n+o], src.pan)
			dst = meshAddr(b[p+n+o:p+n+o+f], dst.pan)
			p += n + o + f
			continue
		}
		if c == 0x50 { // LOWPAN_BC0 and its sequence number
			p += 2
			continue
		}
		break
	}
	if p >= len(b) {
		dc.other(d, short)
		return
	}
	switch c := b[p]; {
	case c&0xf8 == 0xc0, c&0xf8 == 0xe0:
		dc.lowpanFragment(d, p, end, src, dst)
	case c == 0x41: // uncompressed IPv6
		dc.ip(d, p+1, true)
	case c&0xe0 == 0x60: // IPHC
		lp := &dc.lowpan6
		lp.reset()
		q, reason := lp.decompress(b, p, src.iid(), dst.iid(), -1)
		if reason != "" {
			dc.other(d, lowpanReason(reason, len(b) < end))
			return
		}
		d.Src, d.Dst = netip.AddrPortFrom(lp.src, 0), netip.AddrPortFrom(lp.dst, 0)
		if !lp.udp {
			dc.uncompressed(d, b[q:], lp.next, len(b) < end, true)
		} else {
			u := lp.hdr[len(lp.hdr)-8:]
			d.Kind = KindUDP
			d.Src = netip.AddrPortFrom(lp.src, be16(u[0:]))
			d.Dst = netip.AddrPortFrom(lp.dst, be16(u[2:]))
			d.UDPLength = 8 + end - q
			d.Payload = b[q:]
			d.PayloadOff = q
			d.Truncated = len(b) < end
		}
		if d.Kind == KindUDP && d.Reason == "" && lp.ctxUnknown {
			d.Reason = reasonLowpanContext
		}
	case c&0xc0 == 0: // NALP: not a LoWPAN frame (ZigBee, for one)
		dc.other(d, "802.15.4 not 6lowpan")
	case c == 0x42:
		dc.other(d, "6lowpan hc1")
	default:
		dc.other(d, "6lowpan dispatch unknown")
	}
}

func lowpanShort(trunc bool) string {
	if trunc {
		return reasonLowpanShort
	}
	return reasonLowpanMalformed
}

// lowpanReason turns the decompressor's reasonLowpanShort into
// "6lowpan malformed" when the frame was captured whole.
func lowpanReason(reason string, trunc bool) string {
	if reason == reasonLowpanShort {
		return lowpanShort(trunc)
	}
	return reason
}

// meshAddr reads an originator or final address of a mesh header: 2 or 8
// bytes, most significant first.
func meshAddr(b []byte, pan uint16) macAddr {
	if len(b) == 2 {
		return macAddr{mode: addrShort, pan: pan, a: uint64(be16(b))}
	}
	return macAddr{mode: addrLong, pan: pan, a: binary.BigEndian.Uint64(b)}
}

// lowpanFragment handles a FRAG1 or FRAGN header at d.Data[p:].
func (dc *decoder) lowpanFragment(d *Datagram, p, end int, src, dst macAddr) {
	b := d.Data
	trunc := len(b) < end
	first := b[p]&0xf8 == 0xc0
	hl := 4 // dispatch and datagram size, datagram tag
	if !first {
		hl = 5 // and the datagram offset
	}
	if p+hl > len(b) {
		dc.other(d, lowpanShort(trunc))
		return
	}
	size := int(be16(b[p:]) & 0x7ff)
	key := fragKey{src: src.key(), dst: dst.key(), id: uint32(size)<<16 | uint32(be16(b[p+2:])), proto: lowpanFragProto}
	var (
		off, n int    // offset and length of the fragment in the datagram
		data   []byte // its captured bytes
		ctx    uint8  // recorded as the datagram's nextHdr: 1 when a context was unknown
	)
	if first {
		p += hl
		switch {
		case p >= len(b):
			dc.other(d, lowpanShort(trunc))
			return
		case b[p] == 0x41:
			data, n = b[p+1:], end-p-1
		case b[p]&0xe0 == 0x60:
			lp := &dc.lowpan6
			lp.reset()
			q, reason := lp.decompress(b, p, src.iid(), dst.iid(), size)
			if reason != "" {
				dc.other(d, lowpanReason(reason, trunc))
				return
			}
			lp.frag = append(append(lp.frag[:0], lp.hdr...), b[q:]...)
			data, n = lp.frag, len(lp.hdr)+end-q
			if lp.ctxUnknown {
				ctx = 1
			}
		default:
			dc.other(d, reasonLowpanMalformed)
			return
		}
	} else {
		off = int(b[p+4]) * 8
		p += hl
		data, n = b[p:], end-p
	}
	dc.stats.Fragments++
	if n <= 0 || off+n > size {
		dc.stats.FragmentsInvalid++
		d.Kind, d.Reason = KindFragment, "6lowpan-fragment invalid"
		return
	}
	e, res := dc.defrag.add(key, d.Time, d.Number, off, off+n < size, data, n, ctx)
	switch res {
	case fragInvalid:
		d.Kind, d.Reason = KindFragment, "6lowpan-fragment invalid"
	case fragPending:
		d.Kind, d.Reason = KindFragment, reasonLowpanFragment
		// The addresses are known once the first fragment is in.
		if len(e.have) > 0 && e.have[0].lo == 0 && min(e.have[0].hi, e.hole, len(e.buf)) >= 40 && e.buf[0]>>4 == 6 {
			d.Src = netip.AddrPortFrom(netip.AddrFrom16([16]byte(e.buf[8:24])), 0)
			d.Dst = netip.AddrPortFrom(netip.AddrFrom16([16]byte(e.buf[24:40])), 0)
		}
	case fragDone:
		dc.lowpanReassembled(d, e)
	}
}

// lowpanReassembled fills d from the uncompressed IPv6 datagram its frame
// completed.
func (dc *decoder) lowpanReassembled(d *Datagram, e *pending) {
	d.Fragments = e.frames
	b := e.bytes()
	if len(b) < 40 || b[0]>>4 != 6 {
		dc.other(d, failReason("ipv6", e.incomplete() && len(b) < 40))
		return
	}
	d.Src = netip.AddrPortFrom(netip.AddrFrom16([16]byte(b[8:24])), 0)
	d.Dst = netip.AddrPortFrom(netip.AddrFrom16([16]byte(b[24:40])), 0)
	dc.uncompressed(d, b[40:], b[6], e.incomplete(), false)
	if d.Kind == KindUDP {
		switch {
		case e.overlap:
			d.Reason = "6lowpan-fragment overlap"
		case e.nextHdr == 1:
			d.Reason = reasonLowpanContext
		}
	}
}

// uncompressed decodes b, uncompressed IPv6 payload whose first header is
// of protocol next, with d.Src and d.Dst holding the addresses of the IPv6
// header before it. trunc reports that bytes are missing after b. When
// inFrame, b is part of d.Data and the payload is borrowed from it.
func (dc *decoder) uncompressed(d *Datagram, b []byte, next uint8, trunc, inFrame bool) {
	for {
		switch next {
		case 0, 43, 60: // hop-by-hop options, routing, destination options
			if len(b) < 2 || len(b) < int(b[1])*8+8 {
				dc.other(d, failReason("ipv6", trunc))
				return
			}
			next, b = b[0], b[int(b[1])*8+8:]
		case 4, 41: // tunnelled IP
			switch {
			case inFrame:
				dc.ip(d, offsetIn(d.Data, b), next == 41)
				return
			case next == 4:
				dc.other(d, dc.reasons.get(classIPProtocol, 4))
				return
			case len(b) < 40:
				dc.other(d, failReason("ipv6", trunc))
				return
			case b[0]>>4 != 6:
				dc.other(d, "ipv6 malformed")
				return
			}
			d.Src = netip.AddrPortFrom(netip.AddrFrom16([16]byte(b[8:24])), 0)
			d.Dst = netip.AddrPortFrom(netip.AddrFrom16([16]byte(b[24:40])), 0)
			next, b = b[6], b[40:]
		case 17:
			if len(b) < 8 {
				dc.other(d, failReason("udp", trunc))
				return
			}
			ulen := int(be16(b[4:]))
			var payload []byte
			switch {
			case ulen == 0: // as gopacket does: the length is in a jumbo payload option
				payload = b[8:]
			case ulen < 8:
				dc.other(d, "udp malformed")
				return
			default:
				payload = b[8:min(ulen, len(b))]
			}
			d.Kind = KindUDP
			d.Src = netip.AddrPortFrom(d.Src.Addr(), be16(b[0:]))
			d.Dst = netip.AddrPortFrom(d.Dst.Addr(), be16(b[2:]))
			d.UDPLength = ulen
			d.Payload = payload
			d.PayloadOff = -1
			if inFrame {
				d.PayloadOff = offsetIn(d.Data, payload)
			}
			d.Truncated = ulen-8 > len(payload)
			return
		default:
			dc.other(d, dc.reasons.get(classIPProtocol, uint32(next)))
			return
		}
	}
}

// lowpanDecompressor rebuilds the headers that IPHC and NHC compress.
type lowpanDecompressor struct {
	hdr  []byte // the uncompressed headers: IPv6, extension headers, UDP
	frag []byte // a first fragment, decompressed
	// src and dst are the addresses of the innermost IPv6 header.
	src, dst netip.Addr
	// udp reports that hdr ends with a UDP header from NHC; otherwise the
	// bytes after the compressed headers are uncompressed and start with a
	// header of protocol next.
	udp  bool
	next uint8
	// ctxUnknown reports that an address was compressed against a context.
	ctxUnknown bool
}

func (lp *lowpanDecompressor) init() {
	lp.hdr = make([]byte, 0, 256)
}

func (lp *lowpanDecompressor) reset() {
	lp.hdr = lp.hdr[:0]
	lp.udp, lp.next, lp.ctxUnknown = false, 0, false
}

var zeroIPv6Header [40]byte

// decompress decodes the IPHC header at b[p:] and the NHC headers after it,
// appending their uncompressed form to lp.hdr. siid and diid are the
// interface identifiers the link layer gives the source and destination.
// size is the length of the uncompressed datagram when a fragment header
// tells it, else -1; it fills the length fields. It returns the offset in b
// of what follows the compressed headers, or a reason: reasonLowpanShort
// when b ends too soon, or why the headers cannot be decompressed.
func (lp *lowpanDecompressor) decompress(b []byte, p int, siid, diid [8]byte, size int) (int, string) {
iphc:
	for level := 0; ; level++ {
		if level == lowpanNesting {
			return 0, reasonLowpanMalformed
		}
		if p+2 > len(b) {
			return 0, reasonLowpanShort
		}
		h0, h1 := b[p], b[p+1]
		p += 2
		if h1&0x80 != 0 {
			p++ // context identifiers: none is known, so which one does not matter
		}
		ipOff := len(lp.hdr)
		lp.hdr = append(lp.hdr, zeroIPv6Header[:]...)
		h := lp.hdr[ipOff:]
		// Traffic class (DSCP and ECN, sent as ECN then DSCP) and flow label.
		var tc uint8
		var fl uint32
		tf := h0 >> 3 & 3
		if n := [4]int{4, 3, 1, 0}[tf]; p+n > len(b) {
			return 0, reasonLowpanShort
		}
		switch tf {
		case 0:
			tc = b[p]<<2 | b[p]>>6
			fl = uint32(b[p+1]&0x0f)<<16 | uint32(be16(b[p+2:]))
			p += 4
		case 1:
			tc = b[p] >> 6
			fl = uint32(b[p]&0x0f)<<16 | uint32(be16(b[p+1:]))
			p += 3
		case 2:
			tc = b[p]<<2 | b[p]>>6
			p++
		}
		binary.BigEndian.PutUint32(h, 6<<28|uint32(tc)<<20|fl)
		inline := h0&0x04 == 0
		if inline {
			if p >= len(b) {
				return 0, reasonLowpanShort
			}
			h[6] = b[p]
			p++
		}
		if h0&3 == 0 {
			if p >= len(b) {
				return 0, reasonLowpanShort
			}
			h[7] = b[p]
			p++
		} else {
			h[7] = [4]uint8{0, 1, 64, 255}[h0&3]
		}
		var ok bool
		if p, ok = lp.unicast(h[8:24], b, p, h1&0x40 != 0, h1>>4&3, siid, true); !ok {
			return 0, reasonLowpanShort
		}
		if h1&0x08 != 0 {
			p, ok = lp.multicast(h[24:40], b, p, h1&0x04 != 0, h1&3)
		} else {
			p, ok = lp.unicast(h[24:40], b, p, h1&0x04 != 0, h1&3, diid, false)
		}
		if !ok {
			if p < 0 {
				return 0, reasonLowpanMalformed
			}
			return 0, reasonLowpanShort
		}
		if size >= 0 {
			binary.BigEndian.PutUint16(h[4:], uint16(max(size-ipOff-40, 0)))
		}
		lp.src = netip.AddrFrom16([16]byte(h[8:24]))
		lp.dst = netip.AddrFrom16([16]byte(h[24:40]))
		if inline {
			lp.next = h[6]
			return p, ""
		}
		// NHC: extension headers, then UDP or an encapsulated IPv6 header.
		nextAt := ipOff + 6
		for {
			if p >= len(b) {
				return 0, reasonLowpanShort
			}
			c := b[p]
			if c&0xf8 == 0xf0 { // UDP: 11110 C PP
				return lp.udp6(b, p, nextAt, size)
			}
			if c&0xf0 != 0xe0 { // not an extension header: 1110 EID NH
				return 0, "6lowpan nhc unknown"
			}
			proto := [8]uint8{0, 43, 44, 60, 135, 0, 0, 41}[c>>1&7]
			switch c >> 1 & 7 {
			case 5, 6:
				return 0, reasonLowpanMalformed
			case 2, 4:
				// A fragment or mobility header: not followed to UDP.
				lp.hdr[nextAt] = proto
				lp.next = proto
				return p, ""
			}
			lp.hdr[nextAt] = proto
			p++
			if proto == 41 {
				// An IPHC-compressed IPv6 header follows, whose elided
				// addresses derive from this header's (RFC 6282 section 3.1.1).
				siid, diid = [8]byte(lp.hdr[ipOff+16:ipOff+24]), [8]byte(lp.hdr[ipOff+32:ipOff+40])
				continue iphc
			}
			var next uint8
			if c&1 == 0 {
				if p >= len(b) {
					return 0, reasonLowpanShort
				}
				next = b[p]
				p++
			}
			if p >= len(b) || p+1+int(b[p]) > len(b) {
				return 0, reasonLowpanShort
			}
			// The length counts the bytes after the next header and length
			// fields; the uncompressed header is padded to 8 bytes.
			l := int(b[p])
			p++
			n := (2 + l + 7) &^ 7
			o := len(lp.hdr)
			lp.hdr = append(lp.hdr, next, uint8(n/8-1))
			lp.hdr = append(lp.hdr, b[p:p+l]...)
			switch pad := n - 2 - l; {
			case pad == 1:
				lp.hdr = append(lp.hdr, 0) // Pad1
			case pad > 1:
				lp.hdr = append(lp.hdr, 1, uint8(pad-2)) // PadN
				lp.hdr = append(lp.hdr, zeroIPv6Header[:pad-2]...)
			}
			p += l
			nextAt = o
			if c&1 == 0 {
				lp.next = next
				return p, ""
			}
		}
	}
}

// udp6 decodes the NHC UDP header at b[p:] (RFC 6282 section 4.3.3) and
// appends the UDP header it stands for. The length is always elided: it is
// the rest of the datagram.
func (lp *lowpanDecompressor) udp6(b []byte, p, nextAt, size int) (int, string) {
	c := b[p]
	p++
	n := [4]int{4, 3, 3, 1}[c&3]
	if c&0x04 == 0 {
		n += 2 // checksum inline
	}
	if p+n > len(b) {
		return 0, reasonLowpanShort
	}
	var sp, dp uint16
	switch c & 3 {
	case 0:
		sp, dp = be16(b[p:]), be16(b[p+2:])
		p += 4
	case 1:
		sp, dp = be16(b[p:]), 0xf000|uint16(b[p+2])
		p += 3
	case 2:
		sp, dp = 0xf000|uint16(b[p]), be16(b[p+1:])
		p += 3
	case 3:
		sp, dp = 0xf0b0|uint16(b[p]>>4), 0xf0b0|uint16(b[p]&0x0f)
		p++
	}
	var sum uint16
	if c&0x04 == 0 {
		sum = be16(b[p:])
		p += 2
	}
	lp.hdr[nextAt] = 17
	o := len(lp.hdr)
	var ulen uint16
	if size >= 0 {
		ulen = uint16(max(size-o, 0))
	}
	lp.hdr = binary.BigEndian.AppendUint16(lp.hdr, sp)
	lp.hdr = binary.BigEndian.AppendUint16(lp.hdr, dp)
	lp.hdr = binary.BigEndian.AppendUint16(lp.hdr, ulen)
	lp.hdr = binary.BigEndian.AppendUint16(lp.hdr, sum)
	lp.udp = true
	return p, ""
}

// unicast decodes a source address, or a destination address that is not
// multicast, into a (RFC 6282 section 3.1.1, SAC/SAM and DAC/DAM). It
// returns the offset after the inline bytes and false if b is too short,
// or -1 and false for a reserved mode.
func (lp *lowpanDecompressor) unicast(a, b []byte, p int, stateful bool, mode uint8, iid [8]byte, source bool) (int, bool) {
	n := [4]int{16, 8, 2, 0}[mode]
	if stateful && mode == 0 {
		if !source {
			return -1, false // reserved
		}
		return p, true // the unspecified address ::
	}
	if p+n > len(b) {
		return p, false
	}
	if stateful {
		lp.ctxUnknown = true // the prefix stays zero
	} else if mode != 0 {
		a[0], a[1] = 0xfe, 0x80
	}
	switch mode {
	case 0:
		copy(a, b[p:p+16])
	case 1:
		copy(a[8:], b[p:p+8])
	case 2:
		a[11], a[12] = 0xff, 0xfe
		copy(a[14:], b[p:p+2])
	case 3:
		copy(a[8:], iid[:])
	}
	return p + n, true
}

// multicast decodes a multicast destination address (RFC 6282 section
// 3.1.1, M=1 with DAC/DAM).
func (lp *lowpanDecompressor) multicast(a, b []byte, p int, stateful bool, mode uint8) (int, bool) {
	if stateful {
		if mode != 0 {
			return -1, false // reserved
		}
		// ffXX:XXLL:PPPP:PPPP:PPPP:PPPP:XXXX:XXXX, the prefix length and
		// prefix (RFC 3306) from the context.
		if p+6 > len(b) {
			return p, false
		}
		a[0], a[1], a[2] = 0xff, b[p], b[p+1]
		copy(a[12:], b[p+2:p+6])
		lp.ctxUnknown = true
		return p + 6, true
	}
	n := [4]int{16, 6, 4, 1}[mode]
	if p+n > len(b) {
		return p, false
	}
	switch mode {
	case 0:
		copy(a, b[p:p+16])
	case 1: // ffXX::00XX:XXXX:XXXX
		a[0], a[1] = 0xff, b[p]
		copy(a[11:], b[p+1:p+6])
	case 2: // ffXX::00XX:XXXX
		a[0], a[1] = 0xff, b[p]
		copy(a[13:], b[p+1:p+4])
	case 3: // ff02::00XX
		a[0], a[1], a[15] = 0xff, 0x02, b[p]
	}
	return p + n, true
}
