package coaptcp

import (
	"bytes"
	"errors"
	"io"
	"net/netip"
	"runtime"
	"slices"
	"testing"

	"github.com/coapaudit/coapaudit/capture"
	"github.com/coapaudit/coapaudit/decode"
)

// benchSegments returns the segments of one connection carrying n
// request/response pairs, one message per segment, as most stacks send
// them.
func benchSegments(n int) []*capture.Datagram {
	var s synth
	c := s.conn("10.0.0.1:40000", "10.0.0.2:5683")
	segs := c.open()
	segs = append(segs, c.seg(true, 0, csmBytes), c.seg(false, 0, csmBytes))
	for i := range n {
		tok := []byte{byte(i >> 8), byte(i)}
		segs = append(segs,
			c.seg(true, capture.TCPPsh, tcpMsg(decode.CodeGET, tok, nil, decode.Option{ID: decode.OptURIPath, Value: []byte("sensors")}, decode.Option{ID: decode.OptURIPath, Value: []byte("temp")})),
			c.seg(false, capture.TCPPsh, tcpMsg(decode.CodeContent, tok, []byte("21.5"), decode.Option{ID: decode.OptContentFormat})))
	}
	return segs
}

// BenchmarkSegment measures messages framed per second on one connection,
// one message per segment.
func BenchmarkSegment(b *testing.B) {
	segs := benchSegments(50000)
	msgs := 0
	b.ReportAllocs()
	for b.Loop() {
		a := New(Config{}, func(*Message) { msgs++ })
		for _, d := range segs {
			a.Segment(d)
		}
		a.Close()
	}
	b.ReportMetric(float64(msgs)/b.Elapsed().Seconds(), "msgs/s")
}

// BenchmarkCaptures replays the libcoap, go-coap and WebSocket captures
// (read into memory first) through one Assembler: short connections, a
// few messages each.
func BenchmarkCaptures(b *testing.B) {
	var segs []*capture.Datagram
	for _, name := range []string{"libcoap-tcp.pcap", "gocoap-tcp.pcap", "ws.pcap"} {
		r, err := capture.Open(testdata(name))
		if err != nil {
			b.Fatal(err)
		}
		for {
			var d capture.Datagram
			err := r.Next(&d)
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				b.Fatal(err)
			}
			d.Payload = bytes.Clone(d.Payload)
			d.Data = nil
			segs = append(segs, &d)
		}
		r.Close()
	}
	msgs := 0
	a := New(Config{}, func(*Message) { msgs++ })
	b.ReportAllocs()
	for b.Loop() {
		for _, d := range segs {
			a.Segment(d)
		}
		// Connections end with FIN; replaying them opens them again.
	}
	a.Close()
	b.ReportMetric(float64(msgs)/b.Elapsed().Seconds(), "msgs/s")
	b.ReportMetric(float64(len(segs)*b.N)/b.Elapsed().Seconds(), "segments/s")
}

// TestSegmentAllocs: in-order segments of a known connection, one message
// each, allocate nothing once the connection is set up.
func TestSegmentAllocs(t *testing.T) {
	segs := benchSegments(3000)
	a := New(Config{}, func(*Message) {})
	for _, d := range segs[:1000] {
		a.Segment(d)
	}
	rest := slices.Clone(segs[1000:])
	i := 0
	allocs := testing.AllocsPerRun(1000, func() {
		a.Segment(rest[i])
		i++
	})
	if allocs > 0 {
		t.Errorf("%v allocations per segment", allocs)
	}
}

// BenchmarkConnections opens b.N connections that each send a CSM and
// stay open, within the default MaxStreams: the heap stays bounded
// however many there are (reported as heap-MB, sampled at the end).
func BenchmarkConnections(b *testing.B) {
	var s synth
	a := New(Config{}, func(*Message) {})
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		c := s.conn(netip.AddrPortFrom(netip.AddrFrom4([4]byte{10, byte(i >> 16), byte(i >> 8), byte(i)}), 40000).String(), "10.0.0.2:5683")
		feed(a, c.open()...)
		feed(a, c.seg(true, 0, csmBytes))
		i++
	}
	var ms runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&ms)
	st := a.Stats()
	b.ReportMetric(float64(ms.HeapInuse)/(1<<20), "heap-MB")
	b.ReportMetric(float64(st.Streams), "streams")
	b.ReportMetric(float64(st.Evicted), "evicted")
}
