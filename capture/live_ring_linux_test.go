//go:build linux && !pcap

package capture

import (
	"bytes"
	"fmt"
	"net"
	"testing"
	"time"
)

// TestLiveRingSameAsRecvmsg captures the same datagrams on lo twice at
// once, through the receive ring and through recvmsg, with the default
// snap length and with one that cuts frames: both give the same frames,
// bytes and lengths, with timestamps of the moment they were sent.
func TestLiveRingSameAsRecvmsg(t *testing.T) {
	requireLive(t)
	for _, snap := range []int{0, 60} {
		t.Run(fmt.Sprintf("snaplen-%d", snap), func(t *testing.T) {
			in := udpListener(t, "udp4", "127.0.0.1")
			tx := udpListener(t, "udp4", "127.0.0.1")
			opts := LiveOptions{Ports: []uint16{port(in)}, Snaplen: snap}
			liveRing = false
			plain := openLive(t, "lo", opts)
			liveRing = true
			ringed := openLive(t, "lo", opts)
			if plain.h.ring != nil || ringed.h.ring == nil {
				t.Fatalf("ring on the recvmsg capture: %v; on the ring capture: %v", plain.h.ring != nil, ringed.h.ring != nil)
			}
			dst := in.LocalAddr().(*net.UDPAddr).AddrPort()
			start := time.Now()
			const n = 300
			for i := range n {
				// Sizes from 1 byte to beyond a 1,500-byte MTU (lo's is
				// 65,536: one frame each).
				p := bytes.Repeat([]byte{byte(i)}, 1+i*i%9000)
				if _, err := tx.WriteToUDPAddrPort(p, dst); err != nil {
					t.Fatal(err)
				}
			}
			type frame struct {
				data          []byte
				caplen, wire  int
				kind          Kind
				truncated     bool
				stamp         time.Time
				payloadLength int
			}
			read := func(l *Live) []frame {
				var out []frame
				r := l.Reader()
				var d Datagram
				l.SetReadDeadline(time.Now().Add(10 * time.Second))
				for len(out) < n {
					if err := r.Next(&d); err != nil {
						t.Fatalf("after %d frames: %v", len(out), err)
					}
					out = append(out, frame{bytes.Clone(d.Data), d.CapLen, d.OrigLen, d.Kind, d.Truncated, d.Time, len(d.Payload)})
				}
				return out
			}
			a, b := read(plain), read(ringed)
			for i := range a {
				x, y := a[i], b[i]
				if !bytes.Equal(x.data, y.data) || x.caplen != y.caplen || x.wire != y.wire || x.kind != y.kind || x.truncated != y.truncated || x.payloadLength != y.payloadLength {
					t.Fatalf("frame %d: recvmsg %d of %d bytes, %v, truncated %v, payload %d; ring %d of %d, %v, truncated %v, payload %d; same bytes: %v",
						i+1, x.caplen, x.wire, x.kind, x.truncated, x.payloadLength, y.caplen, y.wire, y.kind, y.truncated, y.payloadLength, bytes.Equal(x.data, y.data))
				}
				if d := y.stamp.Sub(x.stamp).Abs(); d > 100*time.Millisecond || y.stamp.Before(start.Add(-time.Second)) {
					t.Fatalf("frame %d: stamped %v by recvmsg, %v by the ring", i+1, x.stamp, y.stamp)
				}
				if want := min(1+i*i%9000+42, max(snap, 0)); snap > 0 && x.caplen != want {
					t.Fatalf("frame %d: %d bytes captured, snap length %d", i+1, x.caplen, snap)
				}
			}
			if snap > 0 && !a[n-1].truncated {
				t.Errorf("a frame cut at %d bytes is not truncated", snap)
			}
			st, err := ringed.Stats()
			if err != nil || st.Received != n || st.Dropped != 0 {
				t.Errorf("ring: kernel counted %+v (%v), want %d received", st, err, n)
			}
		})
	}
}

// TestLiveRingGeometry: blocks hold the largest frame of the snap
// length, and the ring has at least two of them.
func TestLiveRingGeometry(t *testing.T) {
	for _, c := range []struct{ size, snap, bs, n int }{
		{32 << 20, maxSnapLen, 512 << 10, 64},
		{64 << 10, maxSnapLen, 512 << 10, 2},
		{32 << 20, 96, 128 << 10, 256},
		{1 << 20, 65535, 128 << 10, 8},
		{1 << 20, 131000, 256 << 10, 4},
	} {
		bs, n := ringGeometry(c.size, c.snap)
		if bs != c.bs || n != c.n {
			t.Errorf("ringGeometry(%d, %d) = %d x %d, want %d x %d", c.size, c.snap, bs, n, c.bs, c.n)
		}
	}
}
