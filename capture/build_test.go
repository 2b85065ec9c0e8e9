package capture

import (
	"bytes"
	"encoding/binary"
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"
	"github.com/google/gopacket/pcapgo"
)

// Builders for test frames and files. Frames are serialized with gopacket;
// file headers gopacket cannot write (16-bit link types, big-endian files,
// odd pcapng blocks) are written by hand.

var t0 = time.Date(2024, 5, 1, 12, 0, 0, 123456000, time.UTC)

func serialize(t testing.TB, ls ...gopacket.SerializableLayer) []byte {
	t.Helper()
	buf := gopacket.NewSerializeBuffer()
	if err := gopacket.SerializeLayers(buf, gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true}, ls...); err != nil {
		t.Fatal(err)
	}
	return bytes.Clone(buf.Bytes())
}

// ipUDP returns an IPv4 or IPv6 packet carrying a UDP datagram.
func ipUDP(t testing.TB, src, dst netip.AddrPort, payload []byte) []byte {
	t.Helper()
	udp := &layers.UDP{SrcPort: layers.UDPPort(src.Port()), DstPort: layers.UDPPort(dst.Port())}
	if src.Addr().Is4() {
		ip := &layers.IPv4{Version: 4, IHL: 5, TTL: 64, Id: 0x1234, Protocol: layers.IPProtocolUDP,
			SrcIP: src.Addr().AsSlice(), DstIP: dst.Addr().AsSlice()}
		udp.SetNetworkLayerForChecksum(ip)
		return serialize(t, ip, udp, gopacket.Payload(payload))
	}
	ip := &layers.IPv6{Version: 6, HopLimit: 64, NextHeader: layers.IPProtocolUDP,
		SrcIP: src.Addr().AsSlice(), DstIP: dst.Addr().AsSlice()}
	udp.SetNetworkLayerForChecksum(ip)
	return serialize(t, ip, udp, gopacket.Payload(payload))
}

var (
	macA = net.HardwareAddr{0x02, 0, 0, 0, 0, 1}
	macB = net.HardwareAddr{0x02, 0, 0, 0, 0, 2}
)

// ether wraps an IP packet (or anything) in Ethernet with the given
// EtherType, after 802.1Q tags with the given tag protocol identifiers.
func ether(t testing.TB, et layers.EthernetType, payload []byte, tpids ...layers.EthernetType) []byte {
	t.Helper()
	outer := et
	if len(tpids) > 0 {
		outer = tpids[0]
	}
	var tags []byte
	for i := range tpids {
		next := et
		if i+1 < len(tpids) {
			next = tpids[i+1]
		}
		tags = binary.BigEndian.AppendUint16(tags, uint16(100+i))
		tags = binary.BigEndian.AppendUint16(tags, uint16(next))
	}
	eth := &layers.Ethernet{SrcMAC: macA, DstMAC: macB, EthernetType: outer}
	return serialize(t, eth, gopacket.Payload(append(tags, payload...)))
}

func sll(proto uint16, hatype uint16, payload []byte) []byte {
	h := make([]byte, 16)
	binary.BigEndian.PutUint16(h[0:], 0)      // to us
	binary.BigEndian.PutUint16(h[2:], hatype) // ARPHRD_
	binary.BigEndian.PutUint16(h[4:], 6)
	copy(h[6:], macA)
	binary.BigEndian.PutUint16(h[14:], proto)
	return append(h, payload...)
}

func sll2(proto uint16, hatype uint16, payload []byte) []byte {
	h := make([]byte, 20)
	binary.BigEndian.PutUint16(h[0:], proto)
	binary.BigEndian.PutUint32(h[4:], 3) // interface index
	binary.BigEndian.PutUint16(h[8:], hatype)
	h[10] = 4 // outgoing
	h[11] = 6
	copy(h[12:], macA)
	return append(h, payload...)
}

// loopback prefixes the 4-byte address family of DLT_NULL / DLT_LOOP.
func loopback(order byteOrder, family uint32, payload []byte) []byte {
	return append(order.AppendUint32(nil, family), payload...)
}

// pcapFile writes a pcap file with any 16-bit link type, either byte order,
// microsecond or nanosecond timestamps.
type pcapFile struct {
	order byteOrder
	nano  bool
	link  uint32
	snap  uint32
}

func (p pcapFile) header() []byte {
	if p.order == nil {
		p.order = binary.LittleEndian
	}
	magic := uint32(magicPcapMicro)
	if p.nano {
		magic = magicPcapNano
	}
	if p.snap == 0 {
		p.snap = 65535
	}
	b := p.order.AppendUint32(nil, magic)
	b = p.order.AppendUint16(b, 2)
	b = p.order.AppendUint16(b, 4)
	b = append(b, make([]byte, 8)...)
	b = p.order.AppendUint32(b, p.snap)
	return p.order.AppendUint32(b, p.link)
}

func (p pcapFile) record(ts time.Time, data []byte, origLen int) []byte {
	if p.order == nil {
		p.order = binary.LittleEndian
	}
	frac := ts.Nanosecond() / 1000
	if p.nano {
		frac = ts.Nanosecond()
	}
	b := p.order.AppendUint32(nil, uint32(ts.Unix()))
	b = p.order.AppendUint32(b, uint32(frac))
	b = p.order.AppendUint32(b, uint32(len(data)))
	b = p.order.AppendUint32(b, uint32(origLen))
	return append(b, data...)
}

// file returns a pcap of frames, one per millisecond from t0.
func (p pcapFile) file(frames ...[]byte) []byte {
	b := p.header()
	for i, f := range frames {
		b = append(b, p.record(t0.Add(time.Duration(i)*time.Millisecond), f, len(f))...)
	}
	return b
}

// writePcapgo writes frames with pcapgo.Writer, as most tests do.
func writePcapgo(t testing.TB, link layers.LinkType, frames ...[]byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	w := pcapgo.NewWriter(&buf)
	if err := w.WriteFileHeader(65535, link); err != nil {
		t.Fatal(err)
	}
	for i, f := range frames {
		ci := gopacket.CaptureInfo{Timestamp: t0.Add(time.Duration(i) * time.Millisecond), CaptureLength: len(f), Length: len(f)}
		if err := w.WritePacket(ci, f); err != nil {
			t.Fatal(err)
		}
	}
	return buf.Bytes()
}

// ngBlock builds a pcapng block of type typ around body, padded, with its
// lengths.
func ngBlock(order byteOrder, typ uint32, body []byte) []byte {
	for len(body)%4 != 0 {
		body = append(body, 0)
	}
	n := uint32(12 + len(body))
	b := order.AppendUint32(nil, typ)
	b = order.AppendUint32(b, n)
	b = append(b, body...)
	return order.AppendUint32(b, n)
}

func ngOption(order byteOrder, code uint16, v []byte) []byte {
	b := order.AppendUint16(nil, code)
	b = order.AppendUint16(b, uint16(len(v)))
	b = append(b, v...)
	for len(b)%4 != 0 {
		b = append(b, 0)
	}
	return b
}

func ngSHB(order byteOrder) []byte {
	body := order.AppendUint32(nil, ngByteOrderMagic)
	body = order.AppendUint16(body, 1)
	body = order.AppendUint16(body, 0)
	body = order.AppendUint64(body, ^uint64(0)) // section length unknown
	return ngBlock(order, blockSHB, body)
}

func ngIDB(order byteOrder, link uint16, snap uint32, opts ...[]byte) []byte {
	body := order.AppendUint16(nil, link)
	body = order.AppendUint16(body, 0)
	body = order.AppendUint32(body, snap)
	for _, o := range opts {
		body = append(body, o...)
	}
	return ngBlock(order, blockIDB, body)
}

// ngEPB builds an enhanced packet block with microsecond timestamp ts.
func ngEPB(order byteOrder, iface uint32, ts time.Time, data []byte) []byte {
	us := uint64(ts.UnixMicro())
	body := order.AppendUint32(nil, iface)
	body = order.AppendUint32(body, uint32(us>>32))
	body = order.AppendUint32(body, uint32(us))
	body = order.AppendUint32(body, uint32(len(data)))
	body = order.AppendUint32(body, uint32(len(data)))
	return ngBlock(order, blockEPB, append(body, data...))
}

func ngSPB(order byteOrder, data []byte) []byte {
	return ngBlock(order, blockSPB, append(order.AppendUint32(nil, uint32(len(data))), data...))
}

// byteOrder is binary.LittleEndian or binary.BigEndian.
type byteOrder interface {
	binary.ByteOrder
	binary.AppendByteOrder
}

func ap(s string) netip.AddrPort { return netip.MustParseAddrPort(s) }
