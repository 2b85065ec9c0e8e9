package capture

import (
	"encoding/binary"
	"errors"
	"net/netip"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"
)

// decoder turns a frame into a Datagram. Link-layer headers are fixed-size
// and share one EtherType dispatch, so they are decoded by hand (gopacket
// has no SLL2 layer, and its LinuxSLL layer trusts the address length), as
// are IEEE 802.15.4 and 6LoWPAN (lowpan.go);
// IPv4, IPv6 with its extension headers, UDP and TCP go through gopacket
// DecodingLayerParsers over preallocated layers. Nothing is allocated for an
// unfragmented UDP datagram or a TCP segment.
type decoder struct {
	ip4   layers.IPv4
	ip6   layers.IPv6
	ext   layers.IPv6ExtensionSkipper
	frag  ipv6Fragment
	udp   layers.UDP
	tcp   layers.TCP
	p4    *gopacket.DecodingLayerParser // starts at IPv4
	p6    *gopacket.DecodingLayerParser // starts at IPv6
	types []gopacket.LayerType

	defrag  reassembler
	lowpan6 lowpanDecompressor
	reasons reasonCache
	stats   *Stats
}

func (dc *decoder) init(stats *Stats) {
	dc.stats = stats
	dc.types = make([]gopacket.LayerType, 0, 16)
	dlc := gopacket.DecodingLayerContainer(gopacket.DecodingLayerSparse(nil))
	// The fragment layer is put after the extension skipper so that it,
	// not the skipper, handles the Fragment header.
	for _, l := range []gopacket.DecodingLayer{&dc.ip4, &dc.ip6, &dc.ext, &dc.frag, &dc.udp, &dc.tcp} {
		dlc = dlc.Put(l)
	}
	dc.p4 = gopacket.NewDecodingLayerParser(layers.LayerTypeIPv4)
	dc.p6 = gopacket.NewDecodingLayerParser(layers.LayerTypeIPv6)
	for _, p := range []*gopacket.DecodingLayerParser{dc.p4, dc.p6} {
		p.SetDecodingLayerContainer(dlc)
		p.IgnoreUnsupported = true
	}
	dc.defrag.init(stats)
	dc.lowpan6.init()
	dc.reasons = make(reasonCache)
}

func be16(b []byte) uint16 { return binary.BigEndian.Uint16(b) }

// offsetIn returns the offset of inner in outer, a slice it was cut from by
// reslicing. Reslicing keeps the end of the backing array, so the difference
// of the capacities is the offset.
func offsetIn(outer, inner []byte) int { return cap(outer) - cap(inner) }

func (dc *decoder) other(d *Datagram, reason string) {
	d.Kind = KindOther
	d.Reason = reason
}

// decode fills d from d.Frame.
func (dc *decoder) decode(d *Datagram) {
	dc.defrag.expire(d.Time)
	b := d.Data
	switch d.LinkType {
	case LinkTypeEthernet:
		if len(b) < 14 {
			dc.other(d, "ethernet truncated")
			return
		}
		if et := be16(b[12:]); et >= 0x0600 {
			dc.etherType(d, et, 14)
		} else {
			dc.other(d, "llc") // an 802.3 length field
		}
	case LinkTypeLinuxSLL:
		// packet type, ARPHRD type, address length, address[8], protocol
		if len(b) < 16 {
			dc.other(d, "linux-sll truncated")
			return
		}
		dc.sllProtocol(d, be16(b[2:]), be16(b[14:]), 16)
	case LinkTypeLinuxSLL2:
		// protocol, reserved, interface index, ARPHRD type, packet type,
		// address length, address[8]
		if len(b) < 20 {
			dc.other(d, "linux-sll2 truncated")
			return
		}
		dc.sllProtocol(d, be16(b[8:]), be16(b[0:]), 20)
	case LinkTypeNull, LinkTypeLoop:
		if len(b) < 4 {
			dc.other(d, "loopback truncated")
			return
		}
		// DLT_NULL holds the address family in the writer's byte order,
		// DLT_LOOP in network byte order. Families are small numbers.
		fam := binary.BigEndian.Uint32(b)
		if d.LinkType == LinkTypeNull && (b[0] != 0 || b[1] != 0) {
			fam = binary.LittleEndian.Uint32(b)
		}
		switch fam {
		case 2: // AF_INET
			dc.ip(d, 4, false)
		case 24, 28, 30: // AF_INET6 on NetBSD/OpenBSD, FreeBSD, Darwin
			dc.ip(d, 4, true)
		default:
			if fam >= 0x0600 && fam <= 0xffff { // an EtherType, as some systems write
				dc.etherType(d, uint16(fam), 4)
			} else {
				dc.other(d, dc.reasons.get(classFamily, fam))
			}
		}
	case LinkTypeRaw, LinkTypeRawDLT12, LinkTypeRawDLT14:
		switch {
		case len(b) == 0:
			dc.other(d, "ip truncated")
		case b[0]>>4 == 4:
			dc.ip(d, 0, false)
		case b[0]>>4 == 6:
			dc.ip(d, 0, true)
		default:
			dc.other(d, dc.reasons.get(classIPVersion, uint32(b[0]>>4)))
		}
	case LinkTypeIPv4:
		dc.ip(d, 0, false)
	case LinkTypeIPv6:
		dc.ip(d, 0, true)
	case LinkTypeIEEE802154WithFCS, LinkTypeIEEE802154NonaskPHY, LinkTypeIEEE802154NoFCS, LinkTypeIEEE802154TAP:
		dc.wpan(d)
	default:
		dc.other(d, dc.reasons.get(classLinkType, uint32(d.LinkType)))
	}
}

// sllProtocol dispatches on the protocol field of a Linux cooked header.
func (dc *decoder) sllProtocol(d *Datagram, hatype, proto uint16, off int) {
	switch {
	case hatype == 824: // ARPHRD_NETLINK: the protocol is a netlink family
		dc.other(d, "netlink")
	case proto >= 0x0600:
		dc.etherType(d, proto, off)
	case proto == 0x0004: // ETH_P_802_2
		dc.other(d, "llc")
	default:
		dc.other(d, dc.reasons.get(classSLLProtocol, uint32(proto)))
	}
}

// etherType dispatches on an EtherType whose payload starts at off,
// skipping 802.1Q and 802.1ad tags.
func (dc *decoder) etherType(d *Datagram, et uint16, off int) {
	for {
		switch et {
		case 0x0800:
			dc.ip(d, off, false)
			return
		case 0x86dd:
			dc.ip(d, off, true)
			return
		case 0x8100, 0x88a8, 0x9100:
			if len(d.Data) < off+4 {
				dc.other(d, "vlan truncated")
				return
			}
			et = be16(d.Data[off+2:])
			off += 4
		default:
			dc.other(d, dc.reasons.get(classEtherType, uint32(et)))
			return
		}
	}
}

// ip decodes the IP packet at off and what it carries.
func (dc *decoder) ip(d *Datagram, off int, v6 bool) {
	p, first := dc.p4, "ipv4"
	if v6 {
		p, first = dc.p6, "ipv6"
	}
	// A decoding error needs no handling of its own: the layers decoded
	// before it, and the Truncated flag, say what went wrong.
	_ = p.DecodeLayers(d.Data[off:], &dc.types)
	trunc := p.Truncated || d.CapLen < d.OrigLen
	if len(dc.types) == 0 {
		dc.other(d, failReason(first, trunc))
		return
	}
	// The innermost IP header decides the addresses; tunnelled IP decodes
	// into the same layers as the outer header.
	v := 0
	for _, t := range dc.types {
		switch t {
		case layers.LayerTypeIPv4:
			v = 4
		case layers.LayerTypeIPv6:
			v = 6
		}
	}
	var src, dst netip.Addr
	switch v {
	case 4:
		if dc.ip4.Version != 4 {
			dc.other(d, "ipv4 malformed")
			return
		}
		src, dst = netip.AddrFrom4([4]byte(dc.ip4.SrcIP)), netip.AddrFrom4([4]byte(dc.ip4.DstIP))
	case 6:
		if dc.ip6.Version != 6 {
			dc.other(d, "ipv6 malformed")
			return
		}
		src, dst = netip.AddrFrom16([16]byte(dc.ip6.SrcIP)), netip.AddrFrom16([16]byte(dc.ip6.DstIP))
	}
	d.Src, d.Dst = netip.AddrPortFrom(src, 0), netip.AddrPortFrom(dst, 0)

	var next layers.IPProtocol
	switch dc.types[len(dc.types)-1] {
	case layers.LayerTypeUDP:
		u := &dc.udp
		d.Kind = KindUDP
		d.Src, d.Dst = netip.AddrPortFrom(src, uint16(u.SrcPort)), netip.AddrPortFrom(dst, uint16(u.DstPort))
		d.UDPLength = int(u.Length)
		d.Payload = u.Payload
		d.PayloadOff = offsetIn(d.Data, u.Payload)
		d.Truncated = int(u.Length)-8 > len(u.Payload)
		return
	case layers.LayerTypeTCP:
		dc.tcpSegment(d, src, dst)
		return
	case layers.LayerTypeIPv4:
		ip := &dc.ip4
		if ip.Flags&layers.IPv4MoreFragments != 0 || ip.FragOffset != 0 {
			start := offsetIn(d.Data, ip.Payload)
			end := offsetIn(d.Data, ip.Contents) + int(ip.Length)
			key := fragKey{src: src, dst: dst, id: uint32(ip.Id), proto: uint8(ip.Protocol)}
			dc.fragment(d, key, int(ip.FragOffset)*8, ip.Flags&layers.IPv4MoreFragments != 0, start, end, ip.Protocol)
			return
		}
		next = ip.Protocol
	case layers.LayerTypeIPv6:
		next = dc.ip6.NextHeader
		if dc.ip6.HopByHop != nil {
			next = dc.ip6.HopByHop.NextHeader
		}
	case layers.LayerTypeIPv6Fragment:
		f := &dc.frag
		if f.Offset != 0 || f.More {
			start := offsetIn(d.Data, f.Payload)
			end := offsetIn(d.Data, dc.ip6.Contents) + 40 + int(dc.ip6.Length)
			key := fragKey{src: src, dst: dst, id: f.ID}
			dc.fragment(d, key, f.Offset, f.More, start, end, f.NextHeader)
			return
		}
		next = f.NextHeader
	default: // another IPv6 extension header
		next = dc.ext.NextHeader
	}
	switch {
	case !decodable(next):
		dc.other(d, dc.reasons.protocol(next))
	case next == layers.IPProtocolUDP:
		dc.other(d, failReason("udp", trunc))
	case next == layers.IPProtocolIPv4:
		dc.other(d, failReason("ipv4", trunc))
	default: // IPv6 or one of its extension headers
		dc.other(d, failReason("ipv6", trunc))
	}
}

// decodable reports whether the parsers decode protocol p themselves.
func decodable(p layers.IPProtocol) bool {
	switch p {
	case layers.IPProtocolUDP, layers.IPProtocolIPv4, layers.IPProtocolIPv6,
		layers.IPProtocolIPv6HopByHop, layers.IPProtocolIPv6Routing,
		layers.IPProtocolIPv6Fragment, layers.IPProtocolIPv6Destination:
		return true
	}
	return false
}

// reassemblable reports whether fragments whose first header is p are
// collected: UDP, possibly after IPv6 extension headers.
func reassemblable(p layers.IPProtocol) bool {
	switch p {
	case layers.IPProtocolUDP, layers.IPProtocolIPv6Routing, layers.IPProtocolIPv6Destination:
		return true
	}
	return false
}

func failReason(layer string, trunc bool) string {
	switch {
	case layer == "ipv4" && trunc:
		return "ipv4 truncated"
	case layer == "ipv4":
		return "ipv4 malformed"
	case layer == "ipv6" && trunc:
		return "ipv6 truncated"
	case layer == "ipv6":
		return "ipv6 malformed"
	case trunc:
		return "udp truncated"
	}
	return "udp malformed"
}

// fragment handles a frame carrying bytes [start, end) of d.Data (end as the
// IP header declares it, perhaps beyond what was captured) at offset off of
// the fragmented datagram.
func (dc *decoder) fragment(d *Datagram, key fragKey, off int, more bool, start, end int, next layers.IPProtocol) {
	if !reassemblable(next) {
		dc.other(d, dc.reasons.protocol(next))
		return
	}
	if end < start {
		dc.other(d, failReason(ipName(key.src), false))
		return
	}
	dc.stats.Fragments++
	data := d.Data[start:min(end, len(d.Data))]
	e, res := dc.defrag.add(key, d.Time, d.Number, off, more, data, end-start, uint8(next))
	switch res {
	case fragInvalid:
		d.Kind, d.Reason = KindFragment, "ip-fragment invalid"
	case fragPending:
		d.Kind, d.Reason = KindFragment, "ip-fragment"
	case fragDone:
		dc.reassembled(d, e)
	}
}

func ipName(a netip.Addr) string {
	if a.Is4() {
		return "ipv4"
	}
	return "ipv6"
}

// reassembled fills d from the datagram that its frame completed.
func (dc *decoder) reassembled(d *Datagram, e *pending) {
	d.Fragments = e.frames
	b := e.bytes()
	next := layers.IPProtocol(e.nextHdr)
	for next != layers.IPProtocolUDP {
		if next != layers.IPProtocolIPv6Routing && next != layers.IPProtocolIPv6Destination {
			dc.other(d, dc.reasons.protocol(next))
			return
		}
		if len(b) < 2 || len(b) < int(b[1])*8+8 {
			dc.other(d, failReason("ipv6", e.incomplete()))
			return
		}
		next, b = layers.IPProtocol(b[0]), b[int(b[1])*8+8:]
	}
	if len(b) < 8 {
		dc.other(d, failReason("udp", e.incomplete()))
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
	d.Src = netip.AddrPortFrom(e.key.src, be16(b[0:]))
	d.Dst = netip.AddrPortFrom(e.key.dst, be16(b[2:]))
	d.UDPLength = ulen
	d.Payload = payload
	d.PayloadOff = -1
	d.Truncated = ulen-8 > len(payload)
	if e.overlap {
		d.Reason = "ip-fragment overlap"
	}
}

// ipv6Fragment is a gopacket.DecodingLayer for the IPv6 Fragment header,
// which gopacket only decodes into a freshly allocated layer. An atomic
// fragment (offset 0, no more fragments; RFC 6946) leads straight on to the
// next header.
type ipv6Fragment struct {
	layers.BaseLayer
	NextHeader layers.IPProtocol
	Offset     int // in bytes
	More       bool
	ID         uint32
}

var errShortFragment = errors.New("IPv6 fragment header shorter than 8 bytes")

func (f *ipv6Fragment) DecodeFromBytes(data []byte, df gopacket.DecodeFeedback) error {
	if len(data) < 8 {
		df.SetTruncated()
		return errShortFragment
	}
	f.NextHeader = layers.IPProtocol(data[0])
	fo := be16(data[2:])
	f.Offset = int(fo &^ 7) // the 13-bit offset in 8-byte units, in place
	f.More = fo&1 != 0
	f.ID = binary.BigEndian.Uint32(data[4:])
	f.BaseLayer = layers.BaseLayer{Contents: data[:8], Payload: data[8:]}
	return nil
}

func (f *ipv6Fragment) CanDecode() gopacket.LayerClass { return layers.LayerTypeIPv6Fragment }

func (f *ipv6Fragment) NextLayerType() gopacket.LayerType {
	if f.Offset != 0 || f.More {
		return gopacket.LayerTypeFragment
	}
	return f.NextHeader.LayerType()
}

var _ gopacket.DecodingLayer = (*ipv6Fragment)(nil)

// tcpSegment fills d from the TCP layer that the parser decoded whole.
func (dc *decoder) tcpSegment(d *Datagram, src, dst netip.Addr) {
	t := &dc.tcp
	d.Kind, d.Reason = KindTCP, "tcp"
	d.Src, d.Dst = netip.AddrPortFrom(src, uint16(t.SrcPort)), netip.AddrPortFrom(dst, uint16(t.DstPort))
	d.Payload = t.Payload
	d.PayloadOff = offsetIn(d.Data, t.Payload)
	hdr := t.Contents
	d.TCP = TCPHeader{Seq: t.Seq, Ack: t.Ack, Flags: TCPFlags(hdr[13]), Window: t.Window}
	// The IP header's length says how long the segment is; the capture
	// may hold less.
	want := -1
	switch dc.types[len(dc.types)-2] {
	case layers.LayerTypeIPv4:
		want = int(dc.ip4.Length) - int(dc.ip4.IHL)*4
	case layers.LayerTypeIPv6:
		want = len(dc.ip6.Contents) + int(dc.ip6.Length) - 40
	}
	if want >= 0 {
		if m := want - len(t.Contents) - len(t.Payload); m > 0 {
			d.TCP.Missing = m
			d.Truncated = true
		}
	}
}
