package capture

import (
	"net"
	"testing"
	"time"
)

func TestScratchBuffers(t *testing.T) {
	for _, bs := range []int{256 << 10, 2 << 20, 8 << 20, 32 << 20} {
		sink := udpListener(t, "udp4", "127.0.0.1")
		l := openLive(t, "lo", LiveOptions{Ports: []uint16{port(sink)}, BufferSize: bs})
		tx, _ := net.DialUDP("udp4", nil, sink.LocalAddr().(*net.UDPAddr))
		msg := []byte{0x42, 0x01, 0, 0, 0xca, 0xfe, 0xb4, 't', 'e', 'm', 'p'}
		const total = 200000
		done := make(chan time.Duration, 1)
		start := time.Now()
		go func() {
			for range total {
				tx.Write(msg)
			}
			done <- time.Since(start)
		}()
		var d Datagram
		read := 0
		var st time.Duration
		for {
			if err := l.Reader().Next(&d); err != nil {
				break
			}
			read++
			if st == 0 {
				select {
				case st = <-done:
					l.SetReadDeadline(time.Now().Add(time.Second))
				default:
				}
			}
			if read == total {
				break
			}
		}
		s, _ := l.Stats()
		t.Logf("buffer %d (granted %d): send %.0f/s, read %d, received %d dropped %d", bs, l.h.rcvbuf, total/st.Seconds(), read, s.Received, s.Dropped)
		l.Close()
		tx.Close()
	}
	// Pure reader rate: queue 60000 frames first, then drain.
	sink := udpListener(t, "udp4", "127.0.0.1")
	l := openLive(t, "lo", LiveOptions{Ports: []uint16{port(sink)}, BufferSize: 256 << 20})
	tx, _ := net.DialUDP("udp4", nil, sink.LocalAddr().(*net.UDPAddr))
	msg := []byte{0x42, 0x01, 0, 0, 0xca, 0xfe, 0xb4, 't', 'e', 'm', 'p'}
	for range 100000 {
		tx.Write(msg)
	}
	var d Datagram
	start := time.Now()
	n := 0
	l.SetReadDeadline(time.Now().Add(time.Second))
	for l.Reader().Next(&d) == nil {
		n++
		if n == 100000 {
			break
		}
	}
	el := time.Since(start)
	s, _ := l.Stats()
	t.Logf("drain: %d frames in %v: %.0f frames/s; %+v", n, el, float64(n)/el.Seconds(), s)
}
