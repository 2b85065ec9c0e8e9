package capture

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"
	"github.com/google/gopacket/pcapgo"
)

var (
	v4src = ap("192.0.2.1:40000")
	v4dst = ap("198.51.100.7:5683")
	v6src = ap("[2001:db8::1]:40001")
	v6dst = ap("[2001:db8::2]:5683")
	coap  = []byte{0x44, 0x01, 0x12, 0x34, 0xde, 0xad, 0xbe, 0xef, 0xb4, 't', 'e', 'm', 'p'}
)

type linkCase struct {
	name   string
	link   uint32
	frame  []byte
	kind   Kind
	reason string
	v6     bool
}

func linkCases(t testing.TB) []linkCase {
	ip4 := ipUDP(t, v4src, v4dst, coap)
	ip6 := ipUDP(t, v6src, v6dst, coap)
	le, be := byteOrder(binary.LittleEndian), byteOrder(binary.BigEndian)
	tcp := func() []byte {
		ip := &layers.IPv4{Version: 4, IHL: 5, TTL: 64, Protocol: layers.IPProtocolTCP, SrcIP: v4src.Addr().AsSlice(), DstIP: v4dst.Addr().AsSlice()}
		tcp := &layers.TCP{SrcPort: 1, DstPort: 2, SYN: true, Window: 100}
		tcp.SetNetworkLayerForChecksum(ip)
		return serialize(t, ip, tcp)
	}()
	icmp6 := func() []byte {
		ip := &layers.IPv6{Version: 6, HopLimit: 255, NextHeader: layers.IPProtocolICMPv6, SrcIP: v6src.Addr().AsSlice(), DstIP: v6dst.Addr().AsSlice()}
		icmp := &layers.ICMPv6{TypeCode: layers.CreateICMPv6TypeCode(layers.ICMPv6TypeEchoRequest, 0)}
		icmp.SetNetworkLayerForChecksum(ip)
		return serialize(t, ip, icmp, gopacket.Payload([]byte{0, 1, 0, 1}))
	}()
	// IPv6 with hop-by-hop, destination options and routing headers
	// before UDP.
	ip6ext := func() []byte {
		ip := &layers.IPv6{Version: 6, HopLimit: 64, NextHeader: layers.IPProtocolIPv6HopByHop, SrcIP: v6src.Addr().AsSlice(), DstIP: v6dst.Addr().AsSlice()}
		udp := &layers.UDP{SrcPort: layers.UDPPort(v6src.Port()), DstPort: layers.UDPPort(v6dst.Port())}
		udp.SetNetworkLayerForChecksum(ip)
		udpb := serialize(t, udp, gopacket.Payload(coap))
		ext := []byte{
			byte(layers.IPProtocolIPv6Destination), 0, 1, 4, 0, 0, 0, 0, // hop-by-hop, PadN
			byte(layers.IPProtocolIPv6Routing), 0, 1, 4, 0, 0, 0, 0, // destination options, PadN
			byte(layers.IPProtocolUDP), 0, 0, 0, 0, 0, 0, 0, // routing type 0, no segments left
		}
		return serialize(t, ip, gopacket.Payload(append(ext, udpb...)))
	}()
	arp := serialize(t, &layers.ARP{AddrType: layers.LinkTypeEthernet, Protocol: layers.EthernetTypeIPv4, HwAddressSize: 6, ProtAddressSize: 4,
		Operation: 1, SourceHwAddress: macA, SourceProtAddress: []byte{192, 0, 2, 1}, DstHwAddress: make([]byte, 6), DstProtAddress: []byte{192, 0, 2, 2}})
	badVersion := bytes.Clone(ip4)
	badVersion[0] = 0x55
	llc := serialize(t, &layers.Ethernet{SrcMAC: macA, DstMAC: macB, EthernetType: layers.EthernetTypeLLC, Length: 3}, gopacket.Payload([]byte{0x42, 0x42, 3}))

	return []linkCase{
		{"ethernet ipv4", 1, ether(t, layers.EthernetTypeIPv4, ip4), KindUDP, "", false},
		{"ethernet ipv6", 1, ether(t, layers.EthernetTypeIPv6, ip6), KindUDP, "", true},
		{"ethernet 802.1q", 1, ether(t, layers.EthernetTypeIPv4, ip4, layers.EthernetTypeDot1Q), KindUDP, "", false},
		{"ethernet q-in-q", 1, ether(t, layers.EthernetTypeIPv6, ip6, layers.EthernetTypeQinQ, layers.EthernetTypeDot1Q), KindUDP, "", true},
		{"ethernet ipv6 extension headers", 1, ether(t, layers.EthernetTypeIPv6, ip6ext), KindUDP, "", true},
		{"ethernet arp", 1, ether(t, layers.EthernetTypeARP, arp), KindOther, "arp", false},
		{"ethernet lldp", 1, ether(t, layers.EthernetTypeLinkLayerDiscovery, make([]byte, 20)), KindOther, "lldp", false},
		{"ethernet unknown ethertype", 1, ether(t, 0x88b5, make([]byte, 20)), KindOther, "ethertype 0x88b5", false},
		{"ethernet llc", 1, llc, KindOther, "llc", false},
		{"ethernet tcp", 1, ether(t, layers.EthernetTypeIPv4, tcp), KindTCP, "tcp", false},
		{"ethernet icmpv6", 1, ether(t, layers.EthernetTypeIPv6, icmp6), KindOther, "icmpv6", false},
		{"ethernet ip version 5", 1, ether(t, layers.EthernetTypeIPv4, badVersion), KindOther, "ipv4 malformed", false},
		{"ethernet truncated", 1, ether(t, layers.EthernetTypeIPv4, ip4)[:10], KindOther, "ethernet truncated", false},
		{"linux-sll ipv4", 113, sll(0x0800, 1, ip4), KindUDP, "", false},
		{"linux-sll ipv6", 113, sll(0x86dd, 772, ip6), KindUDP, "", true},
		{"linux-sll netlink", 113, sll(0, 824, make([]byte, 16)), KindOther, "netlink", false},
		{"linux-sll can", 113, sll(0x000c, 280, make([]byte, 16)), KindOther, "linux-sll protocol 0x000c", false},
		{"linux-sll2 ipv4", 276, sll2(0x0800, 1, ip4), KindUDP, "", false},
		{"linux-sll2 ipv6", 276, sll2(0x86dd, 772, ip6), KindUDP, "", true},
		{"linux-sll2 arp", 276, sll2(0x0806, 1, arp), KindOther, "arp", false},
		{"linux-sll2 truncated", 276, sll2(0x0800, 1, nil)[:12], KindOther, "linux-sll2 truncated", false},
		{"null ipv4 little-endian", 0, loopback(le, 2, ip4), KindUDP, "", false},
		{"null ipv4 big-endian", 0, loopback(be, 2, ip4), KindUDP, "", false},
		{"null ipv6 darwin", 0, loopback(le, 30, ip6), KindUDP, "", true},
		{"null ipv6 freebsd", 0, loopback(le, 28, ip6), KindUDP, "", true},
		{"null ipv6 openbsd", 0, loopback(be, 24, ip6), KindUDP, "", true},
		{"null iso", 0, loopback(le, 7, make([]byte, 20)), KindOther, "loopback family 7", false},
		{"loop ipv4", 108, loopback(be, 2, ip4), KindUDP, "", false},
		{"loop ipv6", 108, loopback(be, 24, ip6), KindUDP, "", true},
		{"raw ipv4", 101, ip4, KindUDP, "", false},
		{"raw ipv6", 101, ip6, KindUDP, "", true},
		{"raw version 0", 101, make([]byte, 20), KindOther, "ip version 0", false},
		{"dlt_raw 12", 12, ip4, KindUDP, "", false},
		{"dlt_raw 14", 14, ip6, KindUDP, "", true},
		{"ipv4", 228, ip4, KindUDP, "", false},
		{"ipv6", 229, ip6, KindUDP, "", true},
		{"ipv4 header cut", 228, ip4[:15], KindOther, "ipv4 truncated", false},
		{"ipv6 header cut", 229, ip6[:30], KindOther, "ipv6 truncated", false},
		{"udp header cut", 228, ip4[:24], KindOther, "udp truncated", false},
		{"802.11", 105, make([]byte, 30), KindOther, "unsupported link type 105", false},
	}
}

func TestLinkTypes(t *testing.T) {
	for _, c := range linkCases(t) {
		t.Run(c.name, func(t *testing.T) {
			p := pcapFile{link: c.link}
			r, err := NewReader(bytes.NewReader(p.file(c.frame)))
			if err != nil {
				t.Fatal(err)
			}
			var d Datagram
			if err := r.Next(&d); err != nil {
				t.Fatal(err)
			}
			if d.LinkType != LinkType(c.link) {
				t.Errorf("LinkType %v, want %d", d.LinkType, c.link)
			}
			if d.Kind != c.kind || d.Reason != c.reason {
				t.Fatalf("%v %q, want %v %q", d.Kind, d.Reason, c.kind, c.reason)
			}
			if c.kind == KindUDP {
				src, dst := v4src, v4dst
				if c.v6 {
					src, dst = v6src, v6dst
				}
				if d.Src != src || d.Dst != dst || !bytes.Equal(d.Payload, coap) || d.UDPLength != 8+len(coap) || d.Truncated {
					t.Errorf("got %v > %v %x len %d truncated %v", d.Src, d.Dst, d.Payload, d.UDPLength, d.Truncated)
				}
				if want := bytes.Index(c.frame, coap); d.PayloadOff != want {
					t.Errorf("PayloadOff %d, want %d", d.PayloadOff, want)
				}
			}
			if err := r.Next(&d); err != io.EOF {
				t.Errorf("after the frame: %v", err)
			}
		})
	}
}

// TestLinkTypesMatchTshark checks that tshark reads the frames built for
// TestLinkTypes the same way. They go into one pcapng, an interface per
// frame, so that tshark starts once.
func TestLinkTypesMatchTshark(t *testing.T) {
	tshark := tool(t, "tshark")
	le := byteOrder(binary.LittleEndian)
	var cases []linkCase
	var idbs, epbs []byte
	for _, c := range linkCases(t) {
		if c.link == 14 || c.link == 12 {
			continue // tshark maps DLT 12 and 14 by platform
		}
		idbs = append(idbs, ngIDB(le, uint16(c.link), 0)...)
		epbs = append(epbs, ngEPB(le, uint32(len(cases)), t0, c.frame)...)
		cases = append(cases, c)
	}
	name := filepath.Join(t.TempDir(), "links.pcapng")
	if err := os.WriteFile(name, slices.Concat(ngSHB(le), idbs, epbs), 0o644); err != nil {
		t.Fatal(err)
	}
	recs, err := readFile(t, name)
	if err != io.EOF || len(recs) != len(cases) {
		t.Fatalf("%d frames, %v", len(recs), err)
	}
	want := tsharkFields(t, tshark, name)
	if len(want) != len(cases) {
		t.Fatalf("tshark shows %d frames, want %d", len(want), len(cases))
	}
	for i, c := range cases {
		if recs[i].Link != LinkType(c.link) {
			t.Errorf("%s: link type %v", c.name, recs[i].Link)
		}
		compareFrame(t, c.name, recs[i], want[i])
	}
}

func tsharkFields(t testing.TB, tshark, name string) []tsharkFrame {
	t.Helper()
	out, err := exec.Command(tshark, "-n", "-r", name, "-T", "fields", "-E", "separator=/t", "-E", "occurrence=l",
		"-e", "frame.number", "-e", "frame.protocols", "-e", "ip.src", "-e", "ip.dst", "-e", "ipv6.src", "-e", "ipv6.dst",
		"-e", "udp.srcport", "-e", "udp.dstport", "-e", "udp.length").Output()
	if err != nil {
		t.Fatalf("tshark %s: %v", name, err)
	}
	var frames []tsharkFrame
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		f := strings.Split(sc.Text(), "\t")
		if len(f) != 9 || f[0] != strconv.Itoa(len(frames)+1) {
			t.Fatalf("tshark line %d: %q", len(frames)+1, sc.Text())
		}
		frames = append(frames, tsharkFrame{f[1], f[2], f[3], f[4], f[5], f[6], f[7], f[8]})
	}
	return frames
}

// TestPcapngMixedLinkTypes writes one pcapng with interfaces of different
// link types through pcapgo.NgWriter and checks that every frame comes back
// with its interface's link type.
func TestPcapngMixedLinkTypes(t *testing.T) {
	ip4 := ipUDP(t, v4src, v4dst, coap)
	ip6 := ipUDP(t, v6src, v6dst, coap)
	frames := []struct {
		iface int
		link  layers.LinkType
		data  []byte
	}{
		{0, layers.LinkTypeEthernet, ether(t, layers.EthernetTypeIPv4, ip4)},
		{1, layers.LinkTypeRaw, ip6},
		{2, layers.LinkTypeNull, loopback(binary.LittleEndian, 2, ip4)},
		{3, layers.LinkTypeLinuxSLL, sll(0x86dd, 1, ip6)},
		{1, layers.LinkTypeRaw, ip4},
		{0, layers.LinkTypeEthernet, ether(t, layers.EthernetTypeIPv6, ip6)},
		{4, layers.LinkTypeIPv6, ip6},
	}
	var buf bytes.Buffer
	w, err := pcapgo.NewNgWriter(&buf, layers.LinkTypeEthernet)
	if err != nil {
		t.Fatal(err)
	}
	for i, l := range []layers.LinkType{layers.LinkTypeRaw, layers.LinkTypeNull, layers.LinkTypeLinuxSLL, layers.LinkTypeIPv6} {
		id, err := w.AddInterface(pcapgo.NgInterface{LinkType: l, SnapLength: 65535, TimestampResolution: 9})
		if err != nil || id != i+1 {
			t.Fatalf("AddInterface: %d, %v", id, err)
		}
	}
	for i, f := range frames {
		ci := gopacket.CaptureInfo{Timestamp: t0.Add(time.Duration(i) * time.Microsecond), CaptureLength: len(f.data), Length: len(f.data), InterfaceIndex: f.iface}
		if err := w.WritePacket(ci, f.data); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	r, err := NewReader(bytes.NewReader(buf.Bytes()))
	if err != nil {
		t.Fatal(err)
	}
	recs, err := readAll(t, r)
	if err != io.EOF || len(recs) != len(frames) {
		t.Fatalf("%d frames, %v; want %d", len(recs), err, len(frames))
	}
	for i, f := range frames {
		g := recs[i]
		if g.Link != LinkType(f.link) || g.Interface != f.iface || g.Kind != KindUDP || !bytes.Equal(g.Payload, coap) {
			t.Errorf("frame %d: link %v iface %d %v %q, want link %d iface %d UDP", i+1, g.Link, g.Interface, g.Kind, g.Reason, f.link, f.iface)
		}
	}
}

// TestPcapngSections reads several sections, of both byte orders, with
// 16-bit link types, simple packet blocks and unknown blocks; each section's
// interfaces must apply to its own packets only.
func TestPcapngSections(t *testing.T) {
	le, be := byteOrder(binary.LittleEndian), byteOrder(binary.BigEndian)
	ip4 := ipUDP(t, v4src, v4dst, coap)
	ip6 := ipUDP(t, v6src, v6dst, coap)
	var f []byte
	f = append(f, ngSHB(le)...)
	f = append(f, ngIDB(le, 276, 0, ngOption(le, 2, []byte("any")), ngOption(le, 9, []byte{6}))...)
	f = append(f, ngEPB(le, 0, t0, sll2(0x0800, 1, ip4))...)
	f = append(f, ngBlock(le, 0x0bad, []byte("custom block"))...)
	f = append(f, ngSHB(be)...)
	f = append(f, ngIDB(be, 1, 0xffffffff)...) // snap length clamped, not an allocation of 4 GiB
	f = append(f, ngIDB(be, 229, 1500)...)
	f = append(f, ngEPB(be, 1, t0.Add(time.Second), ip6)...)
	f = append(f, ngSPB(be, ether(t, layers.EthernetTypeIPv6, ip6))...)
	f = append(f, ngEPB(be, 0, t0.Add(2*time.Second), ether(t, layers.EthernetTypeIPv4, ip4))...)
	f = append(f, ngSHB(le)...)
	f = append(f, ngIDB(le, 0, 0)...)
	f = append(f, ngEPB(le, 0, t0.Add(3*time.Second), loopback(le, 2, ip4))...)

	want := []struct {
		link  LinkType
		iface int
		time  time.Time
	}{
		{LinkTypeLinuxSLL2, 0, t0},
		{LinkTypeIPv6, 1, t0.Add(time.Second)},
		{LinkTypeEthernet, 0, time.Time{}},
		{LinkTypeEthernet, 0, t0.Add(2 * time.Second)},
		{LinkTypeNull, 0, t0.Add(3 * time.Second)},
	}
	for _, how := range []string{"whole", "one byte at a time"} {
		var rd io.Reader = bytes.NewReader(f)
		if how != "whole" {
			rd = &oneByteReader{rd}
		}
		r, err := NewReader(rd)
		if err != nil {
			t.Fatal(err)
		}
		recs, err := readAll(t, r)
		if err != io.EOF || len(recs) != len(want) {
			t.Fatalf("%s: %d frames, %v", how, len(recs), err)
		}
		for i, w := range want {
			if recs[i].Link != w.link || recs[i].Interface != w.iface || recs[i].Kind != KindUDP {
				t.Errorf("%s: frame %d: link %v iface %d %v %q, want %v %d", how, i+1, recs[i].Link, recs[i].Interface, recs[i].Kind, recs[i].Reason, w.link, w.iface)
			}
		}
	}
	// Timestamps, read once more keeping them.
	r, _ := NewReader(bytes.NewReader(f))
	var d Datagram
	for i := 0; r.Next(&d) == nil; i++ {
		if w := want[i].time; !w.IsZero() && !d.Time.Equal(w.Truncate(time.Microsecond)) {
			t.Errorf("frame %d: time %v, want %v", d.Number, d.Time, w)
		}
	}
}

// TestManyEmptySections checks that sections without packets are not kept.
func TestManyEmptySections(t *testing.T) {
	le := byteOrder(binary.LittleEndian)
	var f []byte
	for range 100000 {
		f = append(f, ngSHB(le)...)
		f = append(f, ngIDB(le, 1, 0)...)
	}
	f = append(f, ngSHB(le)...)
	f = append(f, ngIDB(le, 101, 0)...)
	f = append(f, ngEPB(le, 0, t0, ipUDP(t, v4src, v4dst, coap))...)
	r := mustReader(t, f)
	recs, err := readAll(t, r)
	if err != io.EOF || len(recs) != 1 || recs[0].Link != LinkTypeRaw || recs[0].Kind != KindUDP {
		t.Fatalf("%d frames, %v", len(recs), err)
	}
	if n := len(r.in.f.sections); n > bufSize/len(ngSHB(le))+2 {
		t.Errorf("%d sections kept", n)
	}
}

func TestPcapVariants(t *testing.T) {
	ip4 := ipUDP(t, v4src, v4dst, coap)
	frame := ether(t, layers.EthernetTypeIPv4, ip4)
	ts := time.Date(2023, 1, 2, 3, 4, 5, 987654321, time.UTC)
	for _, p := range []pcapFile{
		{order: binary.LittleEndian, link: 1},
		{order: binary.BigEndian, link: 1},
		{order: binary.LittleEndian, nano: true, link: 1},
		{order: binary.BigEndian, nano: true, link: 1},
		{order: binary.BigEndian, link: 1 | 0x1<<28 | 4<<26},    // FCS bits above the link type
		{order: binary.LittleEndian, link: 1, snap: 16},         // snap length smaller than the frames
		{order: binary.LittleEndian, link: 1, snap: 0xffffffff}, // absurd snap length
	} {
		f := append(p.header(), p.record(ts, frame, len(frame))...)
		f = append(f, p.record(ts, frame[:46], len(frame))...) // cut by the snap length
		f = append(f, p.record(ts, frame, 10)...)              // original length below captured
		r, err := NewReader(bytes.NewReader(f))
		if err != nil {
			t.Fatalf("%+v: %v", p, err)
		}
		var ds []Datagram
		var d Datagram
		for r.Next(&d) == nil {
			d.Data, d.Payload = nil, bytes.Clone(d.Payload)
			ds = append(ds, d)
		}
		if len(ds) != 3 {
			t.Fatalf("%+v: %d frames", p, len(ds))
		}
		want := ts.Truncate(time.Microsecond)
		if p.nano {
			want = ts
		}
		if !ds[0].Time.Equal(want) || ds[0].LinkType != LinkTypeEthernet || ds[0].Kind != KindUDP || !bytes.Equal(ds[0].Payload, coap) {
			t.Errorf("%+v: frame 1: %v %v %v %x", p, ds[0].Time, ds[0].LinkType, ds[0].Kind, ds[0].Payload)
		}
		if ds[1].Kind != KindUDP || !ds[1].Truncated || ds[1].CapLen != 46 || ds[1].OrigLen != len(frame) || !bytes.Equal(ds[1].Payload, coap[:4]) {
			t.Errorf("%+v: frame 2: %v truncated %v caplen %d origlen %d payload %x", p, ds[1].Kind, ds[1].Truncated, ds[1].CapLen, ds[1].OrigLen, ds[1].Payload)
		}
		if ds[2].Kind != KindUDP || ds[2].OrigLen != len(frame) {
			t.Errorf("%+v: frame 3: %v origlen %d", p, ds[2].Kind, ds[2].OrigLen)
		}
	}
}

// TestSnapLengthCutsUDP checks Truncated and the partial payload of frames
// cut inside the UDP payload, over IPv4 and IPv6.
func TestSnapLengthCutsUDP(t *testing.T) {
	payload := bytes.Repeat([]byte("0123456789"), 20)
	for _, c := range []struct {
		src, dst string
		et       layers.EthernetType
	}{
		{"192.0.2.1:1000", "192.0.2.2:5683", layers.EthernetTypeIPv4},
		{"[2001:db8::1]:1000", "[2001:db8::2]:5683", layers.EthernetTypeIPv6},
	} {
		frame := ether(t, c.et, ipUDP(t, ap(c.src), ap(c.dst), payload))
		off := bytes.Index(frame, payload)
		for _, cut := range []int{off, off + 1, off + 99, off + len(payload) - 1, len(frame)} {
			p := pcapFile{link: 1}
			f := append(p.header(), p.record(t0, frame[:cut], len(frame))...)
			r, _ := NewReader(bytes.NewReader(f))
			var d Datagram
			if err := r.Next(&d); err != nil {
				t.Fatal(err)
			}
			wantTrunc := cut < off+len(payload)
			if d.Kind != KindUDP || d.Truncated != wantTrunc || !bytes.Equal(d.Payload, payload[:cut-off]) || d.UDPLength != 8+len(payload) {
				t.Errorf("%v cut at %d: %v truncated %v, %d payload bytes, udp length %d", c.et, cut, d.Kind, d.Truncated, len(d.Payload), d.UDPLength)
			}
		}
	}
}

func TestKindAndLinkTypeStrings(t *testing.T) {
	for _, c := range []struct{ got, want string }{
		{KindUDP.String(), "udp"}, {KindFragment.String(), "ip-fragment"}, {KindOther.String(), "other"},
		{Kind(9).String(), "Kind(9)"}, {KindUDP.GoString(), "capture.KindUDP"},
		{LinkTypeLinuxSLL2.String(), "linux-sll2"}, {LinkType(105).String(), "LinkType(105)"},
		{LinkTypeEthernet.GoString(), "capture.LinkType(1)"},
	} {
		if c.got != c.want {
			t.Errorf("got %q, want %q", c.got, c.want)
		}
	}
}

// fakeSource returns its frames, with an error in between, then io.EOF.
type fakeSource struct {
	frames [][]byte
	errAt  int
	n      int
}

var errTimeout = errors.New("read timeout")

func (f *fakeSource) ZeroCopyReadPacketData() ([]byte, gopacket.CaptureInfo, error) {
	f.n++
	switch {
	case f.n == f.errAt:
		return nil, gopacket.CaptureInfo{}, errTimeout
	case len(f.frames) == 0:
		return nil, gopacket.CaptureInfo{}, io.EOF
	}
	b := f.frames[0]
	f.frames = f.frames[1:]
	return b, gopacket.CaptureInfo{Timestamp: t0, CaptureLength: len(b), Length: len(b)}, nil
}

func TestSourceReader(t *testing.T) {
	ip6 := ipUDP(t, v6src, v6dst, coap)
	src := &fakeSource{frames: [][]byte{sll2(0x86dd, 1, ip6), sll2(0x86dd, 1, ip6)}, errAt: 2}
	r := NewSourceReader(src, LinkTypeLinuxSLL2)
	var d Datagram
	if err := r.Next(&d); err != nil || d.Kind != KindUDP || d.Number != 1 || d.LinkType != LinkTypeLinuxSLL2 {
		t.Fatalf("frame 1: %v %v", err, d.Kind)
	}
	if err := r.Next(&d); err != errTimeout {
		t.Fatalf("got %v, want the source's error", err)
	}
	if err := r.Next(&d); err != nil || d.Kind != KindUDP || d.Number != 2 || d.Src != v6src {
		t.Fatalf("frame 2 after the error: %v %v %d", err, d.Kind, d.Number)
	}
	if err := r.Next(&d); err != io.EOF || r.Frames() != 2 {
		t.Fatalf("end: %v, %d frames", err, r.Frames())
	}
}
