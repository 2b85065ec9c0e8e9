package capture

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"io"
	"net/netip"
	"testing"
	"time"

	"github.com/google/gopacket/layers"
)

// coapTraffic returns n Ethernet/IPv4/UDP frames of CoAP-sized datagrams
// between a few hundred clients and a server.
func coapTraffic(t testing.TB, n int) [][]byte {
	t.Helper()
	server := ap("10.0.0.1:5683")
	frames := make([][]byte, n)
	for i := range frames {
		client := netip.AddrPortFrom(netip.AddrFrom4([4]byte{10, 1, byte(i / 256 % 4), byte(i % 256)}), uint16(40000+i%1000))
		msg := append([]byte{0x42, 0x01, byte(i >> 8), byte(i), 0xca, 0xfe, 0xb7}, "sensors"...)
		msg = append(msg, bytes.Repeat([]byte{'x'}, i%97)...)
		src, dst := client, server
		if i%2 == 1 {
			src, dst = server, client
		}
		frames[i] = ether(t, layers.EthernetTypeIPv4, ipUDP(t, src, dst, msg))
	}
	return frames
}

// loopReader serves head once, then body over and over: an endless capture
// of the same frames.
type loopReader struct {
	head, body []byte
	off        int
}

func (l *loopReader) Read(p []byte) (int, error) {
	if len(l.head) > 0 {
		n := copy(p, l.head)
		l.head = l.head[n:]
		return n, nil
	}
	n := copy(p, l.body[l.off:])
	l.off = (l.off + n) % len(l.body)
	return n, nil
}

// endless returns a Reader over an endless capture of the given format.
func endless(t testing.TB, format string, frames [][]byte) *Reader {
	t.Helper()
	var head, body []byte
	switch format {
	case "pcap":
		p := pcapFile{link: 1}
		head = p.header()
		for i, f := range frames {
			body = append(body, p.record(t0.Add(time.Duration(i)*time.Microsecond), f, len(f))...)
		}
	case "pcapng":
		le := byteOrder(binary.LittleEndian)
		head = concat(ngSHB(le), ngIDB(le, 1, 0))
		for i, f := range frames {
			body = append(body, ngEPB(le, 0, t0.Add(time.Duration(i)*time.Microsecond), f)...)
		}
	}
	r, err := NewReader(&loopReader{head: head, body: body})
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// fragmentedTraffic returns n datagrams of 2000 bytes, each in two IPv4
// fragments.
func fragmentedTraffic(t testing.TB, n int) [][]byte {
	t.Helper()
	src, dst := ap("10.0.0.1:5683"), ap("10.0.0.2:40000")
	dgram := udpDatagram(t, src, dst, make([]byte, 2000))
	var frames [][]byte
	for i := range n {
		id := uint32(i)
		frames = append(frames,
			etherIP(t, fragment(t, src.Addr(), dst.Addr(), id, layers.IPProtocolUDP, dgram[:1480], 0, true)),
			etherIP(t, fragment(t, src.Addr(), dst.Addr(), id, layers.IPProtocolUDP, dgram[1480:], 1480, false)))
	}
	return frames
}

func TestNextAllocs(t *testing.T) {
	for _, c := range []struct {
		name, format string
		frames       [][]byte
		kinds        map[Kind]bool
	}{
		{"pcap udp", "pcap", coapTraffic(t, 1000), map[Kind]bool{KindUDP: true}},
		{"pcapng udp", "pcapng", coapTraffic(t, 1000), map[Kind]bool{KindUDP: true}},
		{"pcap fragments", "pcap", fragmentedTraffic(t, 100), map[Kind]bool{KindUDP: true, KindFragment: true}},
	} {
		r := endless(t, c.format, c.frames)
		var d Datagram
		next := func() {
			if err := r.Next(&d); err != nil || !c.kinds[d.Kind] {
				t.Fatalf("%s: frame %d: %v %v %q", c.name, d.Number, err, d.Kind, d.Reason)
			}
		}
		for range 3 * len(c.frames) { // warm up: buffers, reassembly entries
			next()
		}
		if n := testing.AllocsPerRun(5000, next); n != 0 {
			t.Errorf("%s: %v allocations per frame", c.name, n)
		}
	}
}

func BenchmarkNext(b *testing.B) {
	for _, c := range []struct {
		name, format string
		frames       [][]byte
	}{
		{"pcap-coap", "pcap", coapTraffic(b, 10000)},
		{"pcapng-coap", "pcapng", coapTraffic(b, 10000)},
		{"pcap-fragments", "pcap", fragmentedTraffic(b, 1000)},
	} {
		b.Run(c.name, func(b *testing.B) {
			r := endless(b, c.format, c.frames)
			var d Datagram
			b.ReportAllocs()
			for b.Loop() {
				if err := r.Next(&d); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "frames/s")
		})
	}
}

// BenchmarkReadGzipFile reads a whole gzip-compressed pcap per iteration,
// Open included.
func BenchmarkReadGzipFile(b *testing.B) {
	frames := coapTraffic(b, 10000)
	p := pcapFile{link: 1}
	z := gzipBytes(b, p.file(frames...))
	b.SetBytes(int64(len(z)))
	b.ReportAllocs()
	var d Datagram
	for b.Loop() {
		r, err := NewReader(bytes.NewReader(z))
		if err != nil {
			b.Fatal(err)
		}
		for {
			if err := r.Next(&d); err == io.EOF {
				break
			} else if err != nil {
				b.Fatal(err)
			}
		}
		if r.Frames() != len(frames) {
			b.Fatal(fmt.Sprint(r.Frames()))
		}
	}
	b.ReportMetric(float64(b.N*len(frames))/b.Elapsed().Seconds(), "frames/s")
}
