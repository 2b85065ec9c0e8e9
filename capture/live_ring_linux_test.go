//go:build linux && !pcap

package capture

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"net"
	"os"
	"os/exec"
	"testing"
	"time"

	"golang.org/x/sys/unix"
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

// TestLiveVLAN sends 802.1Q-tagged and untagged Ethernet frames into one
// end of a veth pair and captures them at the other end, through the
// ring and through recvmsg. The kernel takes the tag out of a frame
// before a packet socket sees it; both ways of reading put it back, so
// that the frames come out as they were sent, and the tagged datagram
// decodes as UDP. It needs root (a new link) and ip(8).
func TestLiveVLAN(t *testing.T) {
	requireLive(t)
	ipCmd, err := exec.LookPath("ip")
	if err != nil {
		skipOrFail(t, "ip(8) not found: %v", err)
	}
	a, b := fmt.Sprintf("cav%da", os.Getpid()%100000), fmt.Sprintf("cav%db", os.Getpid()%100000)
	if out, err := exec.Command(ipCmd, "link", "add", a, "type", "veth", "peer", "name", b).CombinedOutput(); err != nil {
		t.Skipf("no veth pair (needs CAP_NET_ADMIN): %v: %s", err, out)
	}
	t.Cleanup(func() { exec.Command(ipCmd, "link", "del", a).Run() })
	for _, l := range []string{a, b} {
		if out, err := exec.Command(ipCmd, "link", "set", l, "up").CombinedOutput(); err != nil {
			t.Fatalf("ip link set %s up: %v: %s", l, err, out)
		}
	}
	opts := LiveOptions{Ports: []uint16{5683}}
	liveRing = false
	plain := openLive(t, b, opts)
	liveRing = true
	ringed := openLive(t, b, opts)
	if ringed.h.ring == nil {
		t.Fatal("no ring")
	}

	ifi, err := net.InterfaceByName(a)
	if err != nil {
		t.Fatal(err)
	}
	fd, err := unix.Socket(unix.AF_PACKET, unix.SOCK_RAW, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(fd)
	to := &unix.SockaddrLinklayer{Ifindex: ifi.Index, Halen: 6}
	var sent [][]byte
	for i, tag := range []uint16{0x6007, 0, 0x0fff, 0x2001} { // priority 3, VLAN 7; none; VLAN 4095; priority 1, VLAN 1
		f := ethernetUDP(tag, []byte(fmt.Sprintf("vlan-test %d", i)))
		if err := unix.Sendto(fd, f, 0, to); err != nil {
			t.Fatal(err)
		}
		sent = append(sent, f)
	}
	for _, c := range []struct {
		name string
		l    *Live
	}{{"recvmsg", plain}, {"ring", ringed}} {
		c.l.SetReadDeadline(time.Now().Add(10 * time.Second))
		r := c.l.Reader()
		var d Datagram
		for i, want := range sent {
			if err := r.Next(&d); err != nil {
				t.Fatalf("%s: frame %d: %v", c.name, i+1, err)
			}
			if !bytes.Equal(d.Data, want) || d.CapLen != len(want) || d.OrigLen != len(want) {
				t.Errorf("%s: frame %d: %d of %d bytes\n% x\nwant\n% x", c.name, i+1, d.CapLen, d.OrigLen, d.Data, want)
			}
			if d.Kind != KindUDP || string(d.Payload) != fmt.Sprintf("vlan-test %d", i) {
				t.Errorf("%s: frame %d: %v %q", c.name, i+1, d.Kind, d.Payload)
			}
		}
	}
}

// ethernetUDP returns a broadcast Ethernet frame, 802.1Q-tagged with tci
// unless it is 0, carrying an IPv4 UDP datagram to port 5683.
func ethernetUDP(tci uint16, payload []byte) []byte {
	f := []byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x02, 0, 0, 0, 0, 1}
	if tci != 0 {
		f = binary.BigEndian.AppendUint16(f, 0x8100)
		f = binary.BigEndian.AppendUint16(f, tci)
	}
	f = binary.BigEndian.AppendUint16(f, 0x0800)
	ip := []byte{0x45, 0, 0, 0, 0, 1, 0, 0, 64, 17, 0, 0, 10, 77, 0, 1, 10, 77, 0, 2}
	binary.BigEndian.PutUint16(ip[2:], uint16(20+8+len(payload)))
	var sum uint32
	for i := 0; i < 20; i += 2 {
		sum += uint32(binary.BigEndian.Uint16(ip[i:]))
	}
	for sum > 0xffff {
		sum = sum&0xffff + sum>>16
	}
	binary.BigEndian.PutUint16(ip[10:], ^uint16(sum))
	udp := []byte{0xc0, 0x01, 0x16, 0x33, 0, 0, 0, 0}
	binary.BigEndian.PutUint16(udp[4:], uint16(8+len(payload)))
	return append(append(append(f, ip...), udp...), payload...)
}
