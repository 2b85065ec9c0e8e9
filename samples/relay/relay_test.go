package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/netip"
	"slices"
	"testing"
	"time"

	"github.com/plgd-dev/go-coap/v3/message"
	"github.com/plgd-dev/go-coap/v3/message/codes"
)

// guard bounds every blocking read so a broken relay fails the test
// instead of hanging it; no assertion depends on it.
const guard = 10 * time.Second

func listenLoopback(t *testing.T) *net.UDPConn {
	t.Helper()
	c, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// readMsg reads one CoAP message from c.
func readMsg(t *testing.T, c *net.UDPConn) (*message.Message, netip.AddrPort) {
	t.Helper()
	c.SetReadDeadline(time.Now().Add(guard))
	buf := make([]byte, 2048)
	n, from, err := c.ReadFromUDPAddrPort(buf)
	if err != nil {
		t.Fatalf("read: %v", err)
	}
	m, err := parse(buf[:n])
	if err != nil {
		t.Fatal(err)
	}
	return m, from
}

func sendMsg(t *testing.T, c *net.UDPConn, to netip.AddrPort, m message.Message) {
	t.Helper()
	b, err := encode(m)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.WriteToUDPAddrPort(b, to); err != nil {
		t.Fatal(err)
	}
}

// TestRelayEndToEnd runs the relay between a client and an origin of the
// test's own, over loopback, and checks what each side receives.
func TestRelayEndToEnd(t *testing.T) {
	origin, client := listenLoopback(t), listenLoopback(t)
	sched, err := parseSchedule("2:alter-method,3:forge,4:drop,5:flood=2,6:replay,7:delay=0.01,8:alter-response-code")
	if err != nil {
		t.Fatal(err)
	}
	// The relay writes truth lines with r.mu held; the test reads them
	// holding it too.
	var truth bytes.Buffer
	r, err := newRelay("127.0.0.1:0", origin.LocalAddr().(*net.UDPAddr).AddrPort().String(), sched, &truth, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	relayAddr := r.down.LocalAddr().(*net.UDPAddr).AddrPort()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- r.serve(ctx) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("serve: %v", err)
		}
	}()

	// request sends request n (token n, Message ID 100+n) from the client.
	request := func(n int, code codes.Code) {
		sendMsg(t, client, relayAddr, message.Message{Type: message.Confirmable, Code: code,
			MessageID: int32(100 + n), Token: message.Token{byte(n)}})
	}
	// serveOne reads a request at the origin and answers it 2.05 "ok".
	serveOne := func(wantN int, wantCode codes.Code) {
		t.Helper()
		m, from := readMsg(t, origin)
		if m.Token[0] != byte(wantN) || m.Code != wantCode || m.MessageID != int32(100+wantN) {
			t.Fatalf("origin got token %x %v mid %d, want request %d %v", []byte(m.Token), m.Code, m.MessageID, wantN, wantCode)
		}
		sendMsg(t, origin, from, message.Message{Type: message.Acknowledgement, Code: codes.Content,
			MessageID: m.MessageID, Token: m.Token, Payload: []byte("ok")})
	}
	// expect reads a response at the client.
	expect := func(wantN int, wantCode codes.Code, wantPayload string) {
		t.Helper()
		m, _ := readMsg(t, client)
		if m.Token[0] != byte(wantN) || m.Code != wantCode || string(m.Payload) != wantPayload || m.MessageID != int32(100+wantN) {
			t.Fatalf("client got token %x %v %q, want response to %d: %v %q", []byte(m.Token), m.Code, m.Payload, wantN, wantCode, wantPayload)
		}
	}

	request(1, codes.GET) // faithful
	serveOne(1, codes.GET)
	expect(1, codes.Content, "ok")
	request(2, codes.GET) // alter-method
	serveOne(2, codes.FETCH)
	expect(2, codes.Content, "ok")
	request(3, codes.GET) // forge: the origin never sees it (the next it sees is 4)
	expect(3, codes.Content, forgedPayload)
	request(3, codes.GET) // a retransmission gets the same forgery
	expect(3, codes.Content, forgedPayload)
	request(4, codes.GET) // drop: the client never sees the answer (the next it sees is 5)
	serveOne(4, codes.GET)
	request(5, codes.GET) // flood
	serveOne(5, codes.GET)
	for range 3 {
		expect(5, codes.Content, "ok")
	}
	request(6, codes.PUT) // replay: the origin sees it twice, the client one answer
	serveOne(6, codes.PUT)
	expect(6, codes.Content, "ok")
	serveOne(6, codes.PUT)
	request(7, codes.GET) // delay
	serveOne(7, codes.GET)
	expect(7, codes.Content, "ok")
	request(8, codes.GET) // alter-response-code
	serveOne(8, codes.GET)
	expect(8, codes.NotFound, "ok")

	var got []string
	r.mu.Lock()
	lines := bytes.Clone(truth.Bytes())
	r.mu.Unlock()
	dec := json.NewDecoder(bytes.NewReader(lines))
	for dec.More() {
		var l truthLine
		if err := dec.Decode(&l); err != nil {
			t.Fatal(err)
		}
		got = append(got, l.Act)
		if l.MID != uint16(100+l.N) || l.Token != fmt.Sprintf("%02x", l.N) {
			t.Errorf("%s: mid %d token %s, want request %d's", l.Act, l.MID, l.Token, l.N)
		}
	}
	want := []string{actAlterMethod, actForge, actForge, actDrop, actFlood, actReplay, actDelay, actAlterResponseCode}
	if !slices.Equal(got, want) {
		t.Errorf("truth acts %v, want %v", got, want)
	}
}
