package capture

import (
	"bytes"
	"encoding/binary"
	"io"
	"net/netip"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"
)

// udpDatagram returns the UDP header and payload, checksummed for src and
// dst, that fragments carry.
func udpDatagram(t testing.TB, src, dst netip.AddrPort, payload []byte) []byte {
	t.Helper()
	udp := &layers.UDP{SrcPort: layers.UDPPort(src.Port()), DstPort: layers.UDPPort(dst.Port())}
	if src.Addr().Is4() {
		udp.SetNetworkLayerForChecksum(&layers.IPv4{Version: 4, Protocol: layers.IPProtocolUDP, SrcIP: src.Addr().AsSlice(), DstIP: dst.Addr().AsSlice()})
	} else {
		udp.SetNetworkLayerForChecksum(&layers.IPv6{Version: 6, NextHeader: layers.IPProtocolUDP, SrcIP: src.Addr().AsSlice(), DstIP: dst.Addr().AsSlice()})
	}
	return serialize(t, udp, gopacket.Payload(payload))
}

// fragment returns an IP packet carrying data at offset off of a datagram
// with identification id: IPv4 with its fragment fields, or IPv6 with a
// Fragment header, whose next header is proto.
func fragment(t testing.TB, src, dst netip.Addr, id uint32, proto layers.IPProtocol, data []byte, off int, more bool) []byte {
	t.Helper()
	if src.Is4() {
		ip := &layers.IPv4{Version: 4, IHL: 5, TTL: 64, Id: uint16(id), Protocol: proto, FragOffset: uint16(off / 8),
			SrcIP: src.AsSlice(), DstIP: dst.AsSlice()}
		if more {
			ip.Flags = layers.IPv4MoreFragments
		}
		return serialize(t, ip, gopacket.Payload(data))
	}
	fh := []byte{byte(proto), 0, 0, 0, 0, 0, 0, 0}
	fo := uint16(off)
	if more {
		fo |= 1
	}
	binary.BigEndian.PutUint16(fh[2:], fo)
	binary.BigEndian.PutUint32(fh[4:], id)
	ip := &layers.IPv6{Version: 6, HopLimit: 64, NextHeader: layers.IPProtocolIPv6Fragment, SrcIP: src.AsSlice(), DstIP: dst.AsSlice()}
	return serialize(t, ip, gopacket.Payload(append(fh, data...)))
}

// piece is a fragment of a test datagram: bytes [lo, hi), the last one
// when more is false.
type piece struct {
	lo, hi int
	more   bool
}

// split cuts n bytes into fragments of size bytes in order.
func split(n, size int) []piece {
	var ps []piece
	for lo := 0; lo < n; lo += size {
		ps = append(ps, piece{lo, min(lo+size, n), lo+size < n})
	}
	return ps
}

func etherIP(t testing.TB, ip []byte) []byte {
	t.Helper()
	et := layers.EthernetTypeIPv4
	if ip[0]>>4 == 6 {
		et = layers.EthernetTypeIPv6
	}
	return ether(t, et, ip)
}

func TestReassembly(t *testing.T) {
	payload := make([]byte, 3000)
	for i := range payload {
		payload[i] = byte(i * 7)
	}
	for _, fam := range []struct {
		name     string
		src, dst netip.AddrPort
	}{
		{"ipv4", ap("192.0.2.1:5683"), ap("192.0.2.99:40000")},
		{"ipv6", ap("[2001:db8::1]:5683"), ap("[2001:db8::99]:40000")},
	} {
		dgram := udpDatagram(t, fam.src, fam.dst, payload)
		n := len(dgram)
		inOrder := split(n, 1232)
		for _, c := range []struct {
			name   string
			pieces []piece
			done   int // index of the completing fragment, -1 for none
			reason string
		}{
			{"in order", inOrder, 2, ""},
			{"reversed", []piece{inOrder[2], inOrder[1], inOrder[0]}, 2, ""},
			{"last first", []piece{inOrder[2], inOrder[0], inOrder[1]}, 2, ""},
			{"overlapping", []piece{{0, 1600, true}, {1200, 2400, true}, {2400, n, false}}, 2, "ip-fragment overlap"},
			{"duplicate", []piece{inOrder[0], inOrder[0], inOrder[1], inOrder[2]}, 3, "ip-fragment overlap"},
			{"missing last", inOrder[:2], -1, ""},
			{"missing middle", []piece{inOrder[0], inOrder[2]}, -1, ""},
		} {
			t.Run(fam.name+" "+c.name, func(t *testing.T) {
				var frames [][]byte
				seen := make([]bool, n)
				for _, p := range c.pieces {
					// Bytes sent a second time differ from the first copy;
					// the first ones must stand.
					data := bytes.Clone(dgram[p.lo:p.hi])
					for i := range data {
						if seen[p.lo+i] {
							data[i] ^= 0xff
						}
						seen[p.lo+i] = true
					}
					frames = append(frames, etherIP(t, fragment(t, fam.src.Addr(), fam.dst.Addr(), 0xbeef, layers.IPProtocolUDP, data, p.lo, p.more)))
				}
				file := writePcapgo(t, layers.LinkTypeEthernet, frames...)
				r, err := NewReader(bytes.NewReader(file))
				if err != nil {
					t.Fatal(err)
				}
				recs, err := readAll(t, r)
				if err != io.EOF || len(recs) != len(frames) {
					t.Fatalf("%d frames, %v", len(recs), err)
				}
				for i, g := range recs {
					if i == c.done {
						if g.Kind != KindUDP || g.Reason != c.reason || !bytes.Equal(g.Payload, payload) || g.PayloadOff != -1 ||
							g.Src != fam.src || g.Dst != fam.dst || g.UDPLength != n || g.Truncated {
							t.Errorf("frame %d: %v %q %v > %v len %d, %d payload bytes (equal %v), off %d, truncated %v",
								g.Number, g.Kind, g.Reason, g.Src, g.Dst, g.UDPLength, len(g.Payload), bytes.Equal(g.Payload, payload), g.PayloadOff, g.Truncated)
						}
						want := make([]int, len(frames))
						for j := range want {
							want[j] = j + 1
						}
						if !slices.Equal(g.Fragments, want) {
							t.Errorf("Fragments %v, want %v", g.Fragments, want)
						}
						continue
					}
					if g.Kind != KindFragment || g.Reason != "ip-fragment" || g.Src.Addr() != fam.src.Addr() || g.Src.Port() != 0 || g.Payload != nil {
						t.Errorf("frame %d: %v %q %v, want a pending fragment", g.Number, g.Kind, g.Reason, g.Src)
					}
				}
				s := r.Stats()
				want := Stats{Frames: len(frames), Fragments: len(frames), Other: map[string]int{}}
				if c.done >= 0 {
					want.UDP, want.Reassembled = 1, 1
				} else {
					want.DatagramsEvicted, want.FragmentsEvicted = 1, len(frames)
				}
				if c.reason != "" {
					want.FragmentOverlaps = 1
				}
				if !statsEqual(s, want) {
					t.Errorf("stats %+v, want %+v", s, want)
				}
			})
		}
	}
}

func statsEqual(a, b Stats) bool {
	return reflect.DeepEqual(a, b)
}

// TestReassemblyMatchesTshark writes interleaved IPv4 and IPv6 fragments in
// and out of order, and checks that tshark shows each reassembled datagram
// at the same frame with the same fields.
func TestReassemblyMatchesTshark(t *testing.T) {
	tshark := tool(t, "tshark")
	a4, b4 := ap("10.0.0.1:5683"), ap("10.0.0.2:5683")
	a6, b6 := ap("[fd00::1]:5683"), ap("[fd00::2]:61616")
	d4 := udpDatagram(t, a4, b4, bytes.Repeat([]byte("v4 payload "), 400))
	d6 := udpDatagram(t, a6, b6, bytes.Repeat([]byte("v6 payload "), 300))
	f4 := func(p piece) []byte {
		return etherIP(t, fragment(t, a4.Addr(), b4.Addr(), 7, layers.IPProtocolUDP, d4[p.lo:p.hi], p.lo, p.more))
	}
	f6 := func(p piece) []byte {
		return etherIP(t, fragment(t, a6.Addr(), b6.Addr(), 7, layers.IPProtocolUDP, d6[p.lo:p.hi], p.lo, p.more))
	}
	p4, p6 := split(len(d4), 1480), split(len(d6), 1448)
	small := ether(t, layers.EthernetTypeIPv4, ipUDP(t, a4, b4, coap))
	frames := [][]byte{f4(p4[1]), f6(p6[0]), small, f4(p4[0]), f6(p6[2]), f4(p4[2]), small, f6(p6[1])}
	name := filepath.Join(t.TempDir(), "frags.pcap")
	if err := os.WriteFile(name, writePcapgo(t, layers.LinkTypeEthernet, frames...), 0o644); err != nil {
		t.Fatal(err)
	}
	recs, err := readFile(t, name)
	if err != io.EOF || len(recs) != len(frames) {
		t.Fatalf("%d frames, %v", len(recs), err)
	}
	want := tsharkFields(t, tshark, name)
	if len(want) != len(frames) {
		t.Fatalf("tshark shows %d frames", len(want))
	}
	udp := 0
	for i := range recs {
		if compareFrame(t, "frags", recs[i], want[i]) {
			udp++
		}
	}
	if udp != 4 || !slices.Equal(recs[5].Fragments, []int{1, 4, 6}) || !slices.Equal(recs[7].Fragments, []int{2, 5, 8}) {
		t.Errorf("%d UDP frames; fragments %v and %v", udp, recs[5].Fragments, recs[7].Fragments)
	}
}

func TestReassemblyEviction(t *testing.T) {
	src, dst := ap("192.0.2.1:1"), ap("192.0.2.2:2")
	dgram := udpDatagram(t, src, dst, make([]byte, 100))
	first := func(id uint32) []byte {
		return etherIP(t, fragment(t, src.Addr(), dst.Addr(), id, layers.IPProtocolUDP, dgram[:64], 0, true))
	}
	last := func(id uint32) []byte {
		return etherIP(t, fragment(t, src.Addr(), dst.Addr(), id, layers.IPProtocolUDP, dgram[64:], 64, false))
	}

	t.Run("timeout", func(t *testing.T) {
		p := pcapFile{link: 1}
		f := p.header()
		f = append(f, p.record(t0, first(1), len(first(1)))...)
		f = append(f, p.record(t0.Add(fragTimeout), first(2), len(first(2)))...)
		f = append(f, p.record(t0.Add(fragTimeout+time.Millisecond), last(1), len(last(1)))...) // too late for 1
		f = append(f, p.record(t0.Add(fragTimeout+2*time.Millisecond), last(2), len(last(2)))...)
		r, _ := NewReader(bytes.NewReader(f))
		recs, err := readAll(t, r)
		if err != io.EOF || len(recs) != 4 {
			t.Fatalf("%d frames, %v", len(recs), err)
		}
		kinds := []Kind{recs[0].Kind, recs[1].Kind, recs[2].Kind, recs[3].Kind}
		if !slices.Equal(kinds, []Kind{KindFragment, KindFragment, KindFragment, KindUDP}) {
			t.Errorf("kinds %v", kinds)
		}
		// Datagram 1's first fragment timed out; its last one waits alone
		// until the end of the capture.
		s := r.Stats()
		if s.DatagramsEvicted != 2 || s.FragmentsEvicted != 2 || s.Reassembled != 1 {
			t.Errorf("stats %+v", s)
		}
	})

	t.Run("capacity", func(t *testing.T) {
		var frames [][]byte
		for id := range uint32(maxPending + 10) {
			frames = append(frames, first(id))
		}
		frames = append(frames, last(0), last(maxPending+9)) // 0 was evicted, the newest was not
		r, _ := NewReader(bytes.NewReader(writePcapgo(t, layers.LinkTypeEthernet, frames...)))
		var d Datagram
		var got []Kind
		for r.Next(&d) == nil {
			got = append(got, d.Kind)
			if d.Number == maxPending+10 {
				if s := r.Stats(); s.DatagramsEvicted != 10 || s.FragmentsEvicted != 10 {
					t.Errorf("before the end: %+v", s)
				}
			}
		}
		if got[len(got)-2] != KindFragment || got[len(got)-1] != KindUDP {
			t.Errorf("last two frames %v", got[len(got)-2:])
		}
		// Every datagram but the newest was evicted: ten for the limit, the
		// next oldest to make room for the lone last fragment of 0, the rest
		// at the end.
		if s := r.Stats(); s.DatagramsEvicted != maxPending+10 || s.FragmentsEvicted != maxPending+10 || s.Reassembled != 1 {
			t.Errorf("at the end: %+v", s)
		}
	})
}

func TestReassemblyOddFragments(t *testing.T) {
	src, dst := ap("192.0.2.1:1"), ap("192.0.2.2:2")
	dgram := udpDatagram(t, src, dst, bytes.Repeat([]byte{0xab}, 200))
	frag := func(proto layers.IPProtocol, data []byte, off int, more bool) []byte {
		return etherIP(t, fragment(t, src.Addr(), dst.Addr(), 99, proto, data, off, more))
	}
	icmp := frag(layers.IPProtocolICMPv4, make([]byte, 64), 0, true)
	beyond := frag(layers.IPProtocolUDP, make([]byte, 64), 65528, true)
	firstHalf := frag(layers.IPProtocolUDP, dgram[:104], 0, true)
	secondHalf := frag(layers.IPProtocolUDP, dgram[104:], 104, false)

	p := pcapFile{link: 1}
	f := p.header()
	f = append(f, p.record(t0, icmp, len(icmp))...)
	f = append(f, p.record(t0, beyond, len(beyond))...)
	f = append(f, p.record(t0, firstHalf, len(firstHalf))...)
	// The last fragment is cut by the snap length 20 bytes short.
	f = append(f, p.record(t0, secondHalf[:len(secondHalf)-20], len(secondHalf))...)
	r, _ := NewReader(bytes.NewReader(f))
	recs, err := readAll(t, r)
	if err != io.EOF || len(recs) != 4 {
		t.Fatalf("%d frames, %v", len(recs), err)
	}
	if recs[0].Kind != KindOther || recs[0].Reason != "icmp" {
		t.Errorf("ICMP fragment: %v %q", recs[0].Kind, recs[0].Reason)
	}
	if recs[1].Kind != KindFragment || recs[1].Reason != "ip-fragment invalid" {
		t.Errorf("fragment beyond 65535: %v %q", recs[1].Kind, recs[1].Reason)
	}
	g := recs[3]
	if g.Kind != KindUDP || !g.Truncated || g.UDPLength != len(dgram) || !bytes.Equal(g.Payload, dgram[8:len(dgram)-20]) {
		t.Errorf("cut datagram: %v truncated %v length %d, %d payload bytes", g.Kind, g.Truncated, g.UDPLength, len(g.Payload))
	}
	if s := r.Stats(); s.FragmentsInvalid != 1 || s.Reassembled != 1 || s.Other["icmp"] != 1 {
		t.Errorf("stats %+v", s)
	}
}

// TestReassemblyIPv6ExtensionAfterFragment puts a destination options
// header in the fragmentable part, before UDP.
func TestReassemblyIPv6ExtensionAfterFragment(t *testing.T) {
	src, dst := ap("[2001:db8::1]:1000"), ap("[2001:db8::2]:5683")
	dgram := udpDatagram(t, src, dst, bytes.Repeat([]byte("x"), 300))
	part := append([]byte{byte(layers.IPProtocolUDP), 0, 1, 4, 0, 0, 0, 0}, dgram...)
	f1 := etherIP(t, fragment(t, src.Addr(), dst.Addr(), 5, layers.IPProtocolIPv6Destination, part[:160], 0, true))
	f2 := etherIP(t, fragment(t, src.Addr(), dst.Addr(), 5, layers.IPProtocolIPv6Destination, part[160:], 160, false))
	r, _ := NewReader(bytes.NewReader(writePcapgo(t, layers.LinkTypeEthernet, f1, f2)))
	recs, err := readAll(t, r)
	if err != io.EOF || len(recs) != 2 {
		t.Fatalf("%d frames, %v", len(recs), err)
	}
	if g := recs[1]; g.Kind != KindUDP || g.Src != src || g.Dst != dst || !bytes.Equal(g.Payload, dgram[8:]) {
		t.Errorf("%v %q %v > %v, %d payload bytes", g.Kind, g.Reason, g.Src, g.Dst, len(g.Payload))
	}
}

func TestInsertSpan(t *testing.T) {
	var have []span
	for _, s := range []span{{10, 20}, {30, 40}, {0, 5}, {20, 30}, {50, 60}, {3, 55}} {
		have = insertSpan(have, s)
		for i := 1; i < len(have); i++ {
			if have[i-1].hi >= have[i].lo {
				t.Fatalf("after %v: %v not disjoint", s, have)
			}
		}
	}
	if !slices.Equal(have, []span{{0, 60}}) {
		t.Errorf("%v", have)
	}
}
