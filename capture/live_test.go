package capture

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"
	"github.com/google/gopacket/pcapgo"
	"golang.org/x/net/bpf"
)

// runFilter runs a filter program in x/net/bpf's VM (which knows no
// extensions other than the length) and returns the bytes it keeps.
func runFilter(t *testing.T, prog []bpf.RawInstruction, frame []byte) int {
	t.Helper()
	ins, ok := bpf.Disassemble(prog)
	if !ok {
		t.Fatalf("program does not disassemble: %v", prog)
	}
	vm, err := bpf.NewVM(ins)
	if err != nil {
		t.Fatal(err)
	}
	n, err := vm.Run(frame)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// filterCases are network-layer packets and whether a filter for UDP
// ports 5683 and 40000 keeps them.
func filterCases(t *testing.T) []struct {
	name string
	ip   []byte
	keep bool
} {
	v4a, v4b := netip.MustParseAddr("192.0.2.1"), netip.MustParseAddr("192.0.2.2")
	v6a, v6b := netip.MustParseAddr("2001:db8::1"), netip.MustParseAddr("2001:db8::2")
	coap := []byte{0x40, 0x01, 0x12, 0x34}
	withOptions := ipUDP(t, ap("192.0.2.1:1234"), ap("192.0.2.2:5683"), coap)
	// Grow the IPv4 header by one word of options (end of options list).
	withOptions = append(append(append([]byte{}, withOptions[:20]...), 0, 0, 0, 0), withOptions[20:]...)
	withOptions[0] = 0x46
	withOptions[3] += 4
	ip4 := &layers.IPv4{Version: 4, IHL: 5, TTL: 64, Protocol: layers.IPProtocolTCP, SrcIP: v4a.AsSlice(), DstIP: v4b.AsSlice()}
	tcpLayer := &layers.TCP{SrcPort: 5683, DstPort: 5683}
	tcpLayer.SetNetworkLayerForChecksum(ip4)
	tcp := serialize(t, ip4, tcpLayer)
	udp := udpDatagram(t, ap("192.0.2.1:1234"), ap("192.0.2.2:9999"), make([]byte, 64))
	udp6 := udpDatagram(t, ap("[2001:db8::1]:1234"), ap("[2001:db8::2]:9999"), make([]byte, 64))
	return []struct {
		name string
		ip   []byte
		keep bool
	}{
		{"ipv4 to 5683", ipUDP(t, ap("192.0.2.1:1234"), ap("192.0.2.2:5683"), coap), true},
		{"ipv4 from 5683", ipUDP(t, ap("192.0.2.2:5683"), ap("192.0.2.1:1234"), coap), true},
		{"ipv4 to 40000", ipUDP(t, ap("192.0.2.1:1234"), ap("192.0.2.2:40000"), coap), true},
		{"ipv4 other ports", ipUDP(t, ap("192.0.2.1:1234"), ap("192.0.2.2:5684"), coap), false},
		{"ipv4 with options to 5683", withOptions, true},
		{"ipv4 tcp 5683", tcp, false},
		{"ipv4 first fragment, other ports", fragment(t, v4a, v4b, 7, layers.IPProtocolUDP, udp[:32], 0, true), true},
		{"ipv4 last fragment", fragment(t, v4a, v4b, 7, layers.IPProtocolUDP, udp[32:], 32, false), true},
		{"ipv4 tcp fragment", fragment(t, v4a, v4b, 7, layers.IPProtocolTCP, udp[32:], 32, false), false},
		{"ipv6 to 5683", ipUDP(t, ap("[2001:db8::1]:1234"), ap("[2001:db8::2]:5683"), coap), true},
		{"ipv6 from 40000", ipUDP(t, ap("[2001:db8::2]:40000"), ap("[2001:db8::1]:1234"), coap), true},
		{"ipv6 other ports", ipUDP(t, ap("[2001:db8::1]:1234"), ap("[2001:db8::2]:5684"), coap), false},
		{"ipv6 udp fragment", fragment(t, v6a, v6b, 9, layers.IPProtocolUDP, udp6[:32], 0, true), true},
		{"ipv6 tcp fragment", fragment(t, v6a, v6b, 9, layers.IPProtocolTCP, udp6[:32], 0, true), false},
		{"truncated ipv4", ipUDP(t, ap("192.0.2.1:1234"), ap("192.0.2.2:5683"), coap)[:22], false},
		{"not ip", []byte{0x00, 0x01, 0x08, 0x00, 0x06, 0x04, 0x00, 0x01}, false},
	}
}

func TestPortFilter(t *testing.T) {
	const snap = 1000
	for _, layout := range []filterLayout{layoutEthernet, layoutIP} {
		spec := filterSpec{layout: layout, ports: dedupPorts([]uint16{40000, 5683, 5683}), snaplen: snap}
		prog, err := spec.build()
		if err != nil {
			t.Fatal(err)
		}
		for _, c := range filterCases(t) {
			frame := c.ip
			if layout == layoutEthernet {
				et := layers.EthernetTypeIPv4
				if c.ip[0]>>4 == 6 {
					et = layers.EthernetTypeIPv6
				}
				if c.name == "not ip" {
					et = layers.EthernetTypeARP
				}
				frame = ether(t, et, c.ip)
			}
			want := 0
			if c.keep {
				want = snap
			}
			if got := runFilter(t, prog, frame); got != want {
				t.Errorf("layout %d, %s: filter returned %d, want %d", layout, c.name, got, want)
			}
		}
	}
}

// TestTCPPortFilter: with TCP ports too, segments to or from them are
// kept (IPv4, IPv4 with options, IPv6), others and TCP fragments are not,
// and UDP is filtered as before.
func TestTCPPortFilter(t *testing.T) {
	const snap = 1000
	seg := func(src, dst string, opts bool) []byte {
		s, d := ap(src), ap(dst)
		tl := &layers.TCP{SrcPort: layers.TCPPort(s.Port()), DstPort: layers.TCPPort(d.Port()), Seq: 1, ACK: true, Window: 100}
		if s.Addr().Is4() {
			ip := &layers.IPv4{Version: 4, IHL: 5, TTL: 64, Protocol: layers.IPProtocolTCP, SrcIP: s.Addr().AsSlice(), DstIP: d.Addr().AsSlice()}
			if opts {
				ip.Options = []layers.IPv4Option{{OptionType: 1}, {OptionType: 1}, {OptionType: 1}, {OptionType: 0}}
			}
			tl.SetNetworkLayerForChecksum(ip)
			return serialize(t, ip, tl, gopacket.Payload([]byte{0x00, 0x01}))
		}
		ip := &layers.IPv6{Version: 6, HopLimit: 64, NextHeader: layers.IPProtocolTCP, SrcIP: s.Addr().AsSlice(), DstIP: d.Addr().AsSlice()}
		tl.SetNetworkLayerForChecksum(ip)
		return serialize(t, ip, tl, gopacket.Payload([]byte{0x00, 0x01}))
	}
	v4a, v4b := netip.MustParseAddr("192.0.2.1"), netip.MustParseAddr("192.0.2.2")
	cases := []struct {
		name string
		ip   []byte
		keep bool
	}{
		{"tcp to 5683", seg("192.0.2.1:40001", "192.0.2.2:5683", false), true},
		{"tcp from 8443", seg("192.0.2.2:8443", "192.0.2.1:40001", false), true},
		{"tcp with ip options to 5684", seg("192.0.2.1:40001", "192.0.2.2:5684", true), true},
		{"tcp other ports", seg("192.0.2.1:40001", "192.0.2.2:80", false), false},
		{"tcp6 to 5683", seg("[2001:db8::1]:40001", "[2001:db8::2]:5683", false), true},
		{"tcp6 other ports", seg("[2001:db8::1]:40001", "[2001:db8::2]:80", false), false},
		{"tcp fragment", fragment(t, v4a, v4b, 7, layers.IPProtocolTCP, make([]byte, 32), 32, false), false},
		{"udp to 5683", ipUDP(t, ap("192.0.2.1:1234"), ap("192.0.2.2:5683"), []byte{0x40, 1, 0, 1}), true},
		{"udp to 8443", ipUDP(t, ap("192.0.2.1:1234"), ap("192.0.2.2:8443"), []byte{0x40, 1, 0, 1}), false},
	}
	for _, layout := range []filterLayout{layoutEthernet, layoutIP} {
		spec := filterSpec{layout: layout, ports: []uint16{5683}, tcp: dedupPorts([]uint16{8443, 5683, 5684}), snaplen: snap}
		prog, err := spec.build()
		if err != nil {
			t.Fatal(err)
		}
		for _, c := range cases {
			frame := c.ip
			if layout == layoutEthernet {
				et := layers.EthernetTypeIPv4
				if c.ip[0]>>4 == 6 {
					et = layers.EthernetTypeIPv6
				}
				frame = ether(t, et, c.ip)
			}
			want := 0
			if c.keep {
				want = snap
			}
			if got := runFilter(t, prog, frame); got != want {
				t.Errorf("layout %d, %s: filter returned %d, want %d", layout, c.name, got, want)
			}
		}
	}
}

// TestFilterComposition checks that a user program runs after the port
// filter, so that a frame must pass both, and that the loopback
// de-duplication comes first.
func TestFilterComposition(t *testing.T) {
	// Keep frames longer than 80 bytes, 500 bytes of them.
	user, err := bpf.Assemble([]bpf.Instruction{
		bpf.LoadExtension{Num: bpf.ExtLen},
		bpf.JumpIf{Cond: bpf.JumpGreaterThan, Val: 80, SkipFalse: 1},
		bpf.RetConstant{Val: 500},
		bpf.RetConstant{Val: 0},
	})
	if err != nil {
		t.Fatal(err)
	}
	spec := filterSpec{layout: layoutEthernet, ports: []uint16{5683}, user: user, snaplen: 1000}
	prog, err := spec.build()
	if err != nil {
		t.Fatal(err)
	}
	short := ether(t, layers.EthernetTypeIPv4, ipUDP(t, ap("192.0.2.1:1234"), ap("192.0.2.2:5683"), []byte{0x40, 1, 0, 0}))
	long := ether(t, layers.EthernetTypeIPv4, ipUDP(t, ap("192.0.2.1:1234"), ap("192.0.2.2:5683"), make([]byte, 100)))
	longOther := ether(t, layers.EthernetTypeIPv4, ipUDP(t, ap("192.0.2.1:1234"), ap("192.0.2.2:5684"), make([]byte, 100)))
	for _, c := range []struct {
		name  string
		frame []byte
		want  int
	}{{"port, short", short, 0}, {"port, long", long, 500}, {"other port, long", longOther, 0}} {
		if got := runFilter(t, prog, c.frame); got != c.want {
			t.Errorf("%s: filter returned %d, want %d", c.name, got, c.want)
		}
	}
	if got, err := (&filterSpec{layout: layoutEthernet, user: user}).build(); err != nil || !equalProgs(got, user) {
		t.Errorf("user program alone: got %v, %v; want it unchanged", got, err)
	}
	if got, err := (&filterSpec{layout: layoutOpaque, ports: []uint16{5683}}).build(); err != nil || got != nil {
		t.Errorf("ports on an 802.15.4 link: got %v, %v; want no filter", got, err)
	}

	// With loopback de-duplication, outgoing frames on lo are dropped and
	// everything else goes on to the rest of the program.
	for _, c := range []struct {
		dedup            loopbackDedup
		pkttype, ifindex uint32
		want             int
	}{
		{loopbackDedup{device: true}, packetOutgoing, 1, 0},
		{loopbackDedup{device: true}, 0, 1, 500}, // to us
		{loopbackDedup{any: true, index: 1}, packetOutgoing, 1, 0},
		{loopbackDedup{any: true, index: 1}, packetOutgoing, 2, 500},
		{loopbackDedup{any: true, index: 1}, 0, 1, 500},
	} {
		spec.dedup = c.dedup
		prog, err := spec.build()
		if err != nil {
			t.Fatal(err)
		}
		prog = withExtensions(t, prog, map[bpf.Extension]uint32{bpf.ExtType: c.pkttype, bpf.ExtInterfaceIndex: c.ifindex})
		if got := runFilter(t, prog, long); got != c.want {
			t.Errorf("%+v, packet type %d on interface %d: filter returned %d, want %d", c.dedup, c.pkttype, c.ifindex, got, c.want)
		}
	}
}

// withExtensions replaces the loads of Linux BPF extensions, which the VM
// does not know, with loads of the given values.
func withExtensions(t *testing.T, prog []bpf.RawInstruction, ext map[bpf.Extension]uint32) []bpf.RawInstruction {
	t.Helper()
	ins, ok := bpf.Disassemble(prog)
	if !ok {
		t.Fatalf("program does not disassemble: %v", prog)
	}
	for i, in := range ins {
		if le, ok := in.(bpf.LoadExtension); ok && le.Num != bpf.ExtLen {
			v, ok := ext[le.Num]
			if !ok {
				t.Fatalf("instruction %d loads extension %d", i, le.Num)
			}
			ins[i] = bpf.LoadConstant{Dst: bpf.RegA, Val: v}
		}
	}
	out, err := bpf.Assemble(ins)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func equalProgs(a, b []bpf.RawInstruction) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func TestFilterLimits(t *testing.T) {
	ports := make([]uint16, maxFilterPorts)
	for i := range ports {
		ports[i] = uint16(10000 + i)
	}
	spec := filterSpec{layout: layoutEthernet, ports: ports, snaplen: 100}
	prog, err := spec.build()
	if err != nil {
		t.Fatalf("%d ports: %v", len(ports), err)
	}
	frame := ether(t, layers.EthernetTypeIPv4, ipUDP(t, ap("192.0.2.1:1234"), ap(fmt.Sprintf("192.0.2.2:%d", ports[len(ports)-1])), nil))
	if got := runFilter(t, prog, frame); got != 100 {
		t.Errorf("last of %d ports: filter returned %d", len(ports), got)
	}
	// Three times as many ports make conditional jumps too long to encode.
	for range 2 * maxFilterPorts {
		ports = append(ports, uint16(20000+len(ports)))
	}
	spec.ports = ports
	if _, err := spec.build(); err == nil {
		t.Errorf("%d ports: no error", len(ports))
	}
	if _, err := OpenLive("lo", LiveOptions{Ports: ports}); err == nil || !strings.Contains(err.Error(), "ports") {
		t.Errorf("OpenLive with %d ports: %v", len(ports), err)
	}
	long := make([]bpf.RawInstruction, maxFilterLen)
	spec = filterSpec{layout: layoutEthernet, ports: []uint16{1}, user: long}
	if _, err := spec.build(); err == nil {
		t.Errorf("program of %d instructions: no error", maxFilterLen+10)
	}
}

func TestParseDDD(t *testing.T) {
	good := "4\n40 0 0 12\n21 0 1 2048\n6 0 0 262144\n6 0 0 0\n"
	prog, err := parseDDD([]byte(good))
	if err != nil {
		t.Fatal(err)
	}
	want := []bpf.RawInstruction{{Op: 40, K: 12}, {Op: 21, Jf: 1, K: 2048}, {Op: 6, K: 262144}, {Op: 6}}
	if !equalProgs(prog, want) {
		t.Errorf("parsed %v, want %v", prog, want)
	}
	for _, bad := range []string{
		"",
		"x\n6 0 0 0\n",
		"0\n",
		"2\n6 0 0 0\n",
		"1\n6 0 0 0\n6 0 0 0\n",
		"1\n6 0 0\n",
		"1\n6 0 256 0\n",
		"1\n70000 0 0 0\n",
		"1\n6 0 0 4294967296\n",
	} {
		if _, err := parseDDD([]byte(bad)); err == nil {
			t.Errorf("parseDDD(%q): no error", bad)
		}
	}
}

func TestCompileFilter(t *testing.T) {
	tool(t, "tcpdump")
	prog, err := compileFilter("udp port 5683", layoutEthernet, 2000)
	if err != nil {
		t.Fatal(err)
	}
	in := ether(t, layers.EthernetTypeIPv4, ipUDP(t, ap("192.0.2.1:1234"), ap("192.0.2.2:5683"), []byte{0x40, 1, 0, 0}))
	out := ether(t, layers.EthernetTypeIPv4, ipUDP(t, ap("192.0.2.1:1234"), ap("192.0.2.2:5684"), []byte{0x40, 1, 0, 0}))
	if got := runFilter(t, prog, in); got != 2000 {
		t.Errorf("udp port 5683, frame to 5683: %d", got)
	}
	if got := runFilter(t, prog, out); got != 0 {
		t.Errorf("udp port 5683, frame to 5684: %d", got)
	}
	raw, err := compileFilter("udp dst port 5684", layoutIP, 2000)
	if err != nil {
		t.Fatal(err)
	}
	if got := runFilter(t, raw, out[14:]); got != 2000 {
		t.Errorf("raw-IP filter, packet to 5684: %d", got)
	}
	_, err = compileFilter("udp port banana", layoutEthernet, 2000)
	if err == nil || !strings.Contains(err.Error(), "banana") {
		t.Errorf("bad expression: %v", err)
	}
	_, err = compileFilter("-w /tmp/x", layoutEthernet, 2000)
	if err == nil {
		t.Errorf("expression that looks like an option: no error")
	}
}

func TestPcapngWriterRoundTrip(t *testing.T) {
	frames := coapTraffic(t, 50)
	var buf bytes.Buffer
	w, err := NewPcapngWriter(&buf, LinkTypeEthernet, 300)
	if err != nil {
		t.Fatal(err)
	}
	var want []Frame
	for i, data := range frames {
		f := Frame{Time: t0.Add(time.Duration(i) * 1234567 * time.Nanosecond), Data: data, CapLen: len(data), OrigLen: len(data)}
		if i%7 == 3 { // cut by a snap length
			f.Data = data[:len(data)/2]
			f.CapLen = len(f.Data)
		}
		if err := w.WriteFrame(&f); err != nil {
			t.Fatal(err)
		}
		want = append(want, f)
	}
	if w.Frames() != len(frames) {
		t.Errorf("Frames() = %d, want %d", w.Frames(), len(frames))
	}
	if n := buf.Len(); n > writeBufSize {
		t.Errorf("%d bytes reached the io.Writer before Close, more than the buffer", n)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	checkRoundTrip(t, buf.Bytes(), LinkTypeEthernet, want)

	// pcapgo reads the file too, with its snap length and link type.
	ng, err := pcapgo.NewNgReader(bytes.NewReader(buf.Bytes()), pcapgo.DefaultNgReaderOptions)
	if err != nil {
		t.Fatal(err)
	}
	if intf, err := ng.Interface(0); err != nil || intf.SnapLength != 300 || intf.LinkType != layers.LinkTypeEthernet {
		t.Errorf("interface 0: %+v, %v", intf, err)
	}
}

// checkRoundTrip reads a capture written by a PcapngWriter and compares it
// with the frames written.
func checkRoundTrip(t *testing.T, file []byte, link LinkType, want []Frame) {
	t.Helper()
	r, err := NewReader(bytes.NewReader(file))
	if err != nil {
		t.Fatal(err)
	}
	var d Datagram
	for i, w := range want {
		if err := r.Next(&d); err != nil {
			t.Fatalf("frame %d: %v", i+1, err)
		}
		if !d.Time.Equal(w.Time) || !bytes.Equal(d.Data, w.Data) || d.OrigLen != max(w.OrigLen, len(w.Data)) || d.CapLen != len(w.Data) || d.LinkType != link {
			t.Fatalf("frame %d read back as time %v, %d of %d bytes, link %v; wrote time %v, %d of %d bytes, link %v",
				i+1, d.Time, d.CapLen, d.OrigLen, d.LinkType, w.Time, len(w.Data), w.OrigLen, link)
		}
	}
	if err := r.Next(&d); err != io.EOF {
		t.Fatalf("after %d frames: %v, want io.EOF", len(want), err)
	}
}

func TestPcapngWriterErrors(t *testing.T) {
	if _, err := NewPcapngWriter(io.Discard, LinkTypeLinuxSLL2, 0); err == nil {
		t.Error("16-bit link type: no error")
	}
	if _, err := NewPcapngWriter(io.Discard, LinkTypeEthernet, -1); err == nil {
		t.Error("negative snap length: no error")
	}
	fw := &failWriter{after: 1}
	w, err := NewPcapngWriter(fw, LinkTypeEthernet, 0)
	if err != nil {
		t.Fatal(err)
	}
	f := Frame{Time: t0, Data: make([]byte, 1000), OrigLen: 1000}
	for i := 0; i < 200 && err == nil; i++ {
		err = w.WriteFrame(&f)
	}
	if err == nil {
		err = w.Close()
	}
	if !errors.Is(err, errWriteFailed) {
		t.Fatalf("failing writer: %v", err)
	}
	if err2 := w.WriteFrame(&f); !errors.Is(err2, errWriteFailed) {
		t.Errorf("write after a failure: %v", err2)
	}
}

var errWriteFailed = errors.New("disk full")

type failWriter struct{ after int }

func (w *failWriter) Write(p []byte) (int, error) {
	if w.after <= 0 {
		return 0, errWriteFailed
	}
	w.after--
	return len(p), nil
}

func TestPcapngWriterAllocs(t *testing.T) {
	w, err := NewPcapngWriter(io.Discard, LinkTypeEthernet, 0)
	if err != nil {
		t.Fatal(err)
	}
	f := Frame{Time: t0, Data: coapTraffic(t, 1)[0]}
	if n := testing.AllocsPerRun(1000, func() { w.WriteFrame(&f) }); n != 0 {
		t.Errorf("WriteFrame: %v allocations per frame", n)
	}
}

func TestOpenLiveErrors(t *testing.T) {
	cases := []struct {
		iface string
		opts  LiveOptions
		want  string
	}{
		{"lo", LiveOptions{Snaplen: -1}, "snap length"},
		{"lo", LiveOptions{Snaplen: maxSnapLen + 1}, "snap length"},
		{"lo", LiveOptions{BufferSize: -1}, "buffer size"},
		{"lo", LiveOptions{Filter: "udp", BPF: []bpf.RawInstruction{{Op: 6}}}, "both"},
	}
	if runtime.GOOS == "linux" {
		cases = append(cases, struct {
			iface string
			opts  LiveOptions
			want  string
		}{"coapaudit-none0", LiveOptions{}, "coapaudit-none0"})
	}
	for _, c := range cases {
		l, err := OpenLive(c.iface, c.opts)
		if err == nil {
			l.Close()
			t.Errorf("OpenLive(%q, %+v): no error", c.iface, c.opts)
			continue
		}
		if !strings.Contains(err.Error(), c.want) {
			t.Errorf("OpenLive(%q, %+v): %v, want it to mention %q", c.iface, c.opts, err, c.want)
		}
	}
}

// requireLive skips (or fails, with COAPAUDIT_REQUIRE_TOOLS=1) where a
// packet socket cannot be opened: without root or CAP_NET_RAW.
func requireLive(t *testing.T) {
	t.Helper()
	l, err := OpenLive("lo", LiveOptions{Ports: []uint16{9}})
	switch {
	case errors.Is(err, ErrLiveUnsupported):
		if runtime.GOOS == "linux" {
			t.Fatal(err)
		}
		t.Skip(err)
	case errors.Is(err, os.ErrPermission):
		skipOrFail(t, "%v", err)
	case err != nil:
		t.Fatal(err)
	}
	l.Close()
}

// udpListener binds a UDP socket on a free port of addr.
func udpListener(t *testing.T, network, addr string) *net.UDPConn {
	t.Helper()
	c, err := net.ListenUDP(network, net.UDPAddrFromAddrPort(netip.AddrPortFrom(netip.MustParseAddr(addr), 0)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func port(c *net.UDPConn) uint16 { return c.LocalAddr().(*net.UDPAddr).AddrPort().Port() }

func openLive(t *testing.T, iface string, opts LiveOptions) *Live {
	t.Helper()
	l, err := OpenLive(iface, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	return l
}

// readUntil reads frames into seen until one carries the payload marker,
// failing if none comes within the timeout. It returns how many frames
// were read.
func readUntil(t *testing.T, l *Live, marker []byte, timeout time.Duration, each func(*Datagram)) int {
	t.Helper()
	if err := l.SetReadDeadline(time.Now().Add(timeout)); err != nil {
		t.Fatal(err)
	}
	r := l.Reader()
	var d Datagram
	n := 0
	for {
		if err := r.Next(&d); err != nil {
			t.Fatalf("after %d frames: %v", n, err)
		}
		n++
		if d.Kind == KindUDP && bytes.Equal(d.Payload, marker) {
			return n
		}
		each(&d)
	}
}

type sent struct {
	src, dst netip.AddrPort
	payload  string
}

func TestLiveLoopback(t *testing.T) {
	requireLive(t)
	in := udpListener(t, "udp4", "127.0.0.1")  // a port the filter keeps
	out := udpListener(t, "udp4", "127.0.0.1") // a port it drops
	tx := udpListener(t, "udp4", "127.0.0.1")  // the sender
	l := openLive(t, "lo", LiveOptions{Ports: []uint16{5683, port(in)}})
	if l.LinkType() != LinkTypeEthernet {
		t.Fatalf("lo has link type %v", l.LinkType())
	}
	targets := []netip.AddrPort{
		netip.AddrPortFrom(netip.MustParseAddr("127.0.0.1"), 5683),
		netip.AddrPortFrom(netip.MustParseAddr("127.0.0.1"), port(in)),
	}
	var tx6 *net.UDPConn
	if c, err := net.ListenUDP("udp6", &net.UDPAddr{IP: net.IPv6loopback}); err == nil {
		tx6 = c
		defer c.Close()
		targets = append(targets, netip.AddrPortFrom(netip.IPv6Loopback(), 5683))
	} else {
		t.Logf("no IPv6 on lo: %v", err)
	}
	nonce := time.Now().UnixNano()
	start := time.Now()
	want := map[string]sent{}
	send := func(c *net.UDPConn, dst netip.AddrPort, payload string) {
		t.Helper()
		if _, err := c.WriteToUDPAddrPort([]byte(payload), dst); err != nil {
			t.Fatal(err)
		}
	}
	const n = 50
	for i := range n {
		for j, dst := range targets {
			c := tx
			if dst.Addr().Is6() {
				c = tx6
			}
			p := fmt.Sprintf("live-test %d %d/%d", nonce, i, j)
			send(c, dst, p)
			src := c.LocalAddr().(*net.UDPAddr).AddrPort()
			want[p] = sent{netip.AddrPortFrom(src.Addr().Unmap(), src.Port()), dst, p}
		}
		send(tx, netip.AddrPortFrom(netip.MustParseAddr("127.0.0.1"), port(out)), fmt.Sprintf("live-test %d %d/filtered", nonce, i))
	}
	marker := fmt.Appendf(nil, "live-test %d end", nonce)
	send(tx, netip.AddrPortFrom(netip.MustParseAddr("127.0.0.1"), port(in)), string(marker))

	got := map[string]int{}
	foreign := 0
	read := readUntil(t, l, marker, 10*time.Second, func(d *Datagram) {
		p := string(d.Payload)
		if !strings.HasPrefix(p, fmt.Sprintf("live-test %d ", nonce)) {
			foreign++ // other traffic on the CoAP port
			return
		}
		got[p]++
		w, ok := want[p]
		switch {
		case !ok:
			t.Errorf("frame %d: unexpected datagram %q from %v to %v", d.Number, p, d.Src, d.Dst)
		case d.Kind != KindUDP || d.Src != w.src || d.Dst != w.dst:
			t.Errorf("frame %d: %v %v -> %v, want udp %v -> %v", d.Number, d.Kind, d.Src, d.Dst, w.src, w.dst)
		case d.Time.Before(start.Add(-time.Second)) || d.Time.After(time.Now().Add(time.Second)):
			t.Errorf("frame %d: timestamp %v, sent at %v", d.Number, d.Time, start)
		case d.OrigLen != d.CapLen || d.CapLen != len(d.Data):
			t.Errorf("frame %d: %d of %d bytes captured, %d in Data", d.Number, d.CapLen, d.OrigLen, len(d.Data))
		}
	})
	for p := range want {
		if got[p] != 1 {
			t.Errorf("datagram %q captured %d times, want once", p, got[p])
		}
	}
	st, err := l.Stats()
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%d frames read (%d of other programs), kernel: %+v", read, foreign, st)
	if st.Dropped != 0 {
		t.Errorf("kernel dropped %d frames", st.Dropped)
	}
	if st.Received < uint64(read) {
		t.Errorf("kernel counted %d frames, %d were read", st.Received, read)
	}
	if rs := l.Reader().Stats(); rs.Frames != read || rs.UDP != read {
		t.Errorf("Reader stats %+v, want %d UDP frames", rs, read)
	}
	// Counters add up across reads, and a closed capture keeps them.
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	if st2, err := l.Stats(); err != nil || st2.Received < st.Received {
		t.Errorf("after Close: %+v, %v; before: %+v", st2, err, st)
	}
}

func TestLiveCloseUnblocksRead(t *testing.T) {
	requireLive(t)
	quiet := udpListener(t, "udp4", "127.0.0.1")
	l := openLive(t, "lo", LiveOptions{Ports: []uint16{port(quiet)}})
	done := make(chan error, 1)
	go func() {
		var d Datagram
		done <- l.Reader().Next(&d)
	}()
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-done:
		if err != io.EOF {
			t.Errorf("Next after Close: %v, want io.EOF", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Close did not unblock Next")
	}
	if err := l.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
}

func TestLiveReadDeadline(t *testing.T) {
	requireLive(t)
	in := udpListener(t, "udp4", "127.0.0.1")
	l := openLive(t, "lo", LiveOptions{Ports: []uint16{port(in)}})
	var d Datagram
	if err := l.SetReadDeadline(time.Now().Add(20 * time.Millisecond)); err != nil {
		t.Fatal(err)
	}
	if err := l.Reader().Next(&d); !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("Next on a quiet port: %v, want a deadline error", err)
	}
	// The Reader goes on after a timeout.
	tx := udpListener(t, "udp4", "127.0.0.1")
	if _, err := tx.WriteToUDPAddrPort([]byte("after the deadline"), in.LocalAddr().(*net.UDPAddr).AddrPort()); err != nil {
		t.Fatal(err)
	}
	readUntil(t, l, []byte("after the deadline"), 10*time.Second, func(d *Datagram) {
		t.Errorf("unexpected frame %v -> %v", d.Src, d.Dst)
	})
}

func TestLiveCompiledFilter(t *testing.T) {
	requireLive(t)
	tool(t, "tcpdump")
	in := udpListener(t, "udp4", "127.0.0.1")
	tx := udpListener(t, "udp4", "127.0.0.1")
	// Only datagrams from tx's port to in's port, and of those only the
	// long ones: the expression and the port filter must both pass.
	l := openLive(t, "lo", LiveOptions{
		Ports:  []uint16{port(in)},
		Filter: fmt.Sprintf("udp src port %d and greater 100", port(tx)),
	})
	dst := in.LocalAddr().(*net.UDPAddr).AddrPort()
	for _, p := range []string{"short", strings.Repeat("long ", 30), "short again"} {
		if _, err := tx.WriteToUDPAddrPort([]byte(p), dst); err != nil {
			t.Fatal(err)
		}
	}
	other := udpListener(t, "udp4", "127.0.0.1")
	if _, err := other.WriteToUDPAddrPort([]byte(strings.Repeat("from elsewhere ", 10)), dst); err != nil {
		t.Fatal(err)
	}
	marker := []byte(strings.Repeat("end ", 30))
	if _, err := tx.WriteToUDPAddrPort(marker, dst); err != nil {
		t.Fatal(err)
	}
	var got []string
	readUntil(t, l, marker, 10*time.Second, func(d *Datagram) { got = append(got, string(d.Payload)) })
	if len(got) != 1 || got[0] != strings.Repeat("long ", 30) {
		t.Errorf("captured %q, want only the long datagram from the sender", got)
	}
}

func TestLiveWriteAndReread(t *testing.T) {
	requireLive(t)
	in := udpListener(t, "udp4", "127.0.0.1")
	tx := udpListener(t, "udp4", "127.0.0.1")
	const snap = 200
	l := openLive(t, "lo", LiveOptions{Ports: []uint16{port(in)}, Snaplen: snap})
	var buf bytes.Buffer
	w, err := NewPcapngWriter(&buf, l.LinkType(), l.Snaplen())
	if err != nil {
		t.Fatal(err)
	}
	dst := in.LocalAddr().(*net.UDPAddr).AddrPort()
	for i := range 20 {
		if _, err := tx.WriteToUDPAddrPort(bytes.Repeat([]byte{byte('a' + i)}, 10+30*i), dst); err != nil {
			t.Fatal(err)
		}
	}
	marker := []byte("end of the frames to write")
	if _, err := tx.WriteToUDPAddrPort(marker, dst); err != nil {
		t.Fatal(err)
	}
	var frames []Frame
	write := func(d *Datagram) {
		if err := w.WriteFrame(&d.Frame); err != nil {
			t.Fatal(err)
		}
		f := d.Frame
		f.Data = bytes.Clone(f.Data)
		frames = append(frames, f)
	}
	readUntil(t, l, marker, 10*time.Second, write)
	if len(frames) != 20 {
		t.Fatalf("captured %d frames, want 20", len(frames))
	}
	cut := 0
	for _, f := range frames {
		if f.CapLen > snap {
			t.Errorf("frame %d: %d bytes captured with a snap length of %d", f.Number, f.CapLen, snap)
		}
		if f.OrigLen > f.CapLen {
			cut++
		}
	}
	if cut == 0 {
		t.Error("no frame was cut by the snap length")
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	checkRoundTrip(t, buf.Bytes(), l.LinkType(), frames)
}

// TestLiveAllocs checks that reading and decoding a live frame allocates
// nothing, like reading a file.
func TestLiveAllocs(t *testing.T) {
	requireLive(t)
	in := udpListener(t, "udp4", "127.0.0.1")
	tx := udpListener(t, "udp4", "127.0.0.1")
	l := openLive(t, "lo", LiveOptions{Ports: []uint16{port(in)}})
	const runs = 200
	dst := in.LocalAddr().(*net.UDPAddr).AddrPort()
	msg := []byte{0x40, 0x01, 0x12, 0x34, 0xb4, 't', 'e', 'm', 'p'}
	for range runs + 1 { // AllocsPerRun calls the function once more
		if _, err := tx.WriteToUDPAddrPort(msg, dst); err != nil {
			t.Fatal(err)
		}
	}
	r := l.Reader()
	var d Datagram
	var err error
	allocs := testing.AllocsPerRun(runs, func() {
		if err == nil {
			err = r.Next(&d)
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	if d.Kind != KindUDP || !bytes.Equal(d.Payload, msg) {
		t.Fatalf("last frame: %v %q", d.Kind, d.Payload)
	}
	if allocs != 0 {
		t.Errorf("%v allocations per live frame", allocs)
	}
}

// TestLiveThroughput sends small CoAP datagrams over lo as fast as one
// goroutine can while the Reader drains them, and reports the rate and the
// kernel's drops: with the default receive buffer, and with one small
// enough that the kernel may drop frames. The counts must agree with each
// other; no rate is asserted.
func TestLiveThroughput(t *testing.T) {
	requireLive(t)
	if testing.Short() {
		t.Skip("-short")
	}
	t.Run("default-buffer", func(t *testing.T) { liveThroughput(t, 0) })
	t.Run("small-buffer", func(t *testing.T) { liveThroughput(t, 64<<10) })
}

func liveThroughput(t *testing.T, bufferSize int) {
	const total = 200_000
	sink := udpListener(t, "udp4", "127.0.0.1") // never read: the kernel drops there, after the capture
	l := openLive(t, "lo", LiveOptions{Ports: []uint16{port(sink)}, BufferSize: bufferSize})
	tx, err := net.DialUDP("udp4", nil, sink.LocalAddr().(*net.UDPAddr))
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Close()

	msg := []byte{0x42, 0x01, 0, 0, 0xca, 0xfe, 0xb4, 't', 'e', 'm', 'p'} // CON GET /temp
	sendErr := make(chan error, 1)
	var sendTime time.Duration
	start := time.Now()
	go func() {
		for i := range total {
			msg[2], msg[3] = byte(i>>8), byte(i)
			if _, err := tx.Write(msg); err != nil {
				sendErr <- fmt.Errorf("datagram %d: %w", i, err)
				return
			}
		}
		sendTime = time.Since(start)
		// Some frames may have been dropped: stop waiting for them once
		// the queue is drained.
		sendErr <- l.SetReadDeadline(time.Now().Add(500 * time.Millisecond))
	}()

	r := l.Reader()
	var d Datagram
	read, readBefore := 0, -1
	var last time.Time // capture time of the last frame
	for read < total {
		if err := r.Next(&d); err != nil {
			if !errors.Is(err, os.ErrDeadlineExceeded) {
				t.Fatal(err)
			}
			if read == readBefore {
				break // drained: half a second without frames
			}
			readBefore = read
			l.SetReadDeadline(time.Now().Add(500 * time.Millisecond))
			continue
		}
		if d.Kind != KindUDP || len(d.Payload) != len(msg) {
			t.Fatalf("frame %d: %v, %d bytes of payload", d.Number, d.Kind, len(d.Payload))
		}
		read++
		last = d.Time
	}
	elapsed := last.Sub(start)
	if err := <-sendErr; err != nil {
		t.Fatal(err)
	}
	st, err := l.Stats()
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("sent %d datagrams in %v (%.0f/s); read %d frames in %v (%.0f frames/s); kernel: %d received, %d dropped; receive buffer %d bytes",
		total, sendTime.Round(time.Millisecond), float64(total)/sendTime.Seconds(),
		read, elapsed.Round(time.Millisecond), float64(read)/elapsed.Seconds(), st.Received, st.Dropped, l.BufferSize())
	// Every frame the filter passed was either queued, and then read, or
	// dropped; the filter passes each datagram once (lo's outgoing copy is
	// filtered out), and only these datagrams go to the sink's port.
	if !exactKernelCounts {
		return
	}
	if st.Received-st.Dropped != uint64(read) {
		t.Errorf("kernel: %d received - %d dropped != %d read", st.Received, st.Dropped, read)
	}
	if st.Received > total {
		t.Errorf("kernel received %d frames for %d datagrams", st.Received, total)
	}
}

// TestLiveAny captures on every interface at once, in cooked mode: frames
// carry a Linux cooked header, and lo's frames still come once each.
func TestLiveAny(t *testing.T) {
	requireLive(t)
	in := udpListener(t, "udp4", "127.0.0.1")
	tx := udpListener(t, "udp4", "127.0.0.1")
	l := openLive(t, "any", LiveOptions{Ports: []uint16{port(in)}})
	if l.LinkType() != LinkTypeLinuxSLL {
		t.Fatalf("any has link type %v", l.LinkType())
	}
	dst := in.LocalAddr().(*net.UDPAddr).AddrPort()
	src := tx.LocalAddr().(*net.UDPAddr).AddrPort()
	const n = 10
	for i := range n {
		if _, err := tx.WriteToUDPAddrPort(fmt.Appendf(nil, "any %d", i), dst); err != nil {
			t.Fatal(err)
		}
	}
	marker := []byte("end of any")
	if _, err := tx.WriteToUDPAddrPort(marker, dst); err != nil {
		t.Fatal(err)
	}
	got := map[string]int{}
	readUntil(t, l, marker, 10*time.Second, func(d *Datagram) {
		got[string(d.Payload)]++
		if d.Src != src || d.Dst != dst {
			t.Errorf("frame %d: %v -> %v, want %v -> %v", d.Number, d.Src, d.Dst, src, dst)
		}
		if hatype := int(d.Data[2])<<8 | int(d.Data[3]); hatype != 772 {
			t.Errorf("frame %d: cooked header gives device type %d, want 772 (loopback)", d.Number, hatype)
		}
	})
	for i := range n {
		if p := fmt.Sprintf("any %d", i); got[p] != 1 {
			t.Errorf("%q captured %d times, want once", p, got[p])
		}
	}
	if len(got) != n {
		t.Errorf("captured %d distinct datagrams, want %d", len(got), n)
	}
}
