package main

import (
	"bytes"
	"net"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coapaudit/coapaudit/decode"
)

// lockedBuffer collects the truth lines the broker writes from its
// goroutines.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

func listen(t *testing.T, addr string) *net.UDPConn {
	t.Helper()
	c, err := net.ListenUDP("udp", net.UDPAddrFromAddrPort(mustAddrPort(t, addr)))
	if err != nil {
		t.Skipf("loopback address %s: %v", addr, err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// roundTrip sends a CON request and returns the payload of the next
// message from the broker.
func roundTrip(t *testing.T, c *net.UDPConn, to *net.UDPAddr, msg []byte) *decode.Message {
	t.Helper()
	if _, err := c.WriteToUDP(msg, to); err != nil {
		t.Fatal(err)
	}
	return next(t, c)
}

// next reads the next message, failing after a generous deadline (a
// lost datagram on loopback, not a timing assumption).
func next(t *testing.T, c *net.UDPConn) *decode.Message {
	t.Helper()
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	buf := make([]byte, 2048)
	n, err := c.Read(buf)
	if err != nil {
		t.Fatal(err)
	}
	var m decode.Message
	if err := m.Decode(buf[:n]); err != nil {
		t.Fatal(err)
	}
	return &m
}

// TestWithholdAndAlter runs the broker with two subscribers: the first
// publication is withheld from subscriber 2, the second altered for
// subscriber 1, and the truth says so.
func TestWithholdAndAlter(t *testing.T) {
	bc := listen(t, "127.0.4.201:0")
	var truth lockedBuffer
	go serve(bc, []act{{kind: "withhold", pub: 1, sub: 2}, {kind: "alter", pub: 2, sub: 1}}, &truth)
	to := bc.LocalAddr().(*net.UDPAddr)
	path := []option{{11, []byte("ps")}, {11, []byte("data")}, {11, []byte("t1")}}
	s1, s2, pub := listen(t, "127.0.4.202:0"), listen(t, "127.0.4.203:0"), listen(t, "127.0.4.204:0")
	for i, s := range []*net.UDPConn{s1, s2} {
		reg := append([]option{{6, nil}}, path...)
		if m := roundTrip(t, s, to, encode(decode.Confirmable, decode.CodeGET, uint16(10+i), []byte{'s', byte(i)}, reg, nil)); m.Code != decode.CodeContent {
			t.Fatalf("registration: %v", m.Code)
		}
	}
	for i, v := range []string{"1.0", "2.0"} {
		if m := roundTrip(t, pub, to, encode(decode.Confirmable, decode.CodePUT, uint16(20+i), []byte("p"), path, []byte(v))); m.Code != decode.CodeChanged {
			t.Fatalf("publication: %v", m.Code)
		}
	}
	// Subscriber 1 gets 1.0, then 99.9 in place of 2.0; subscriber 2
	// gets only 2.0.
	for _, want := range []string{"1.0", "99.9"} {
		if m := next(t, s1); string(m.Payload) != want {
			t.Errorf("subscriber 1 got %q, want %q", m.Payload, want)
		}
	}
	if m := next(t, s2); string(m.Payload) != "2.0" {
		t.Errorf("subscriber 2 got %q, want 2.0 (1.0 withheld)", m.Payload)
	}
	got := truth.String()
	if !strings.Contains(got, `"act":"withhold","pub":1,"sub":2`) || !strings.Contains(got, `"act":"alter","pub":2,"sub":1`) {
		t.Errorf("truth:\n%s", got)
	}
}

func mustAddrPort(t *testing.T, s string) netip.AddrPort {
	t.Helper()
	a, err := netip.ParseAddrPort(s)
	if err != nil {
		t.Fatal(err)
	}
	return a
}
