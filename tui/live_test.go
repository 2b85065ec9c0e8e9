package tui

import (
	"context"
	"net"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/coapaudit/coapaudit/analysis"
	"github.com/coapaudit/coapaudit/capture"
	"github.com/coapaudit/coapaudit/internal/testenv"
)

// TestLiveCapture captures CoAP exchanged over the loopback interface and
// checks that the viewer lists the exchanges while the capture goes on.
func TestLiveCapture(t *testing.T) {
	srv, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	port := uint16(srv.LocalAddr().(*net.UDPAddr).Port)
	lv, err := capture.OpenLive("lo", capture.LiveOptions{Ports: []uint16{port}})
	if err != nil {
		if testenv.RequireTools() && os.Geteuid() == 0 {
			t.Fatal(err)
		}
		t.Skipf("no live capture on lo: %v", err)
	}
	defer lv.Close()
	// The server answers every CON request with a piggybacked 2.05.
	go func() {
		buf := make([]byte, 1500)
		for {
			n, from, err := srv.ReadFromUDP(buf)
			if err != nil {
				return
			}
			if n < 4 {
				continue
			}
			tkl := int(buf[0] & 0x0f)
			resp := append([]byte{0x60 | byte(tkl), 0x45, buf[2], buf[3]}, buf[4:4+tkl]...)
			resp = append(resp, 0xff, 'o', 'k')
			srv.WriteToUDP(resp, from)
		}
	}()
	var opts analysis.Options
	opts.TrackExchanges = true
	opts.Dissect.CoAPPorts = []uint16{port}
	opts.Flows.Linger = time.Millisecond
	s := newSim(120, 36)
	a := newApp(s, Config{Live: true, Title: "live lo"})
	// The UI says how many exchanges it lists after each batch (the
	// loader posts one at every tick).
	arrived := make(chan int, 1)
	a.applied = func() {
		select {
		case arrived <- a.xs.count():
		default:
		}
	}
	done := make(chan error, 1)
	go func() {
		done <- a.run(context.Background(), func(ctx context.Context, l *Loader) error {
			return l.ReadLive(analysis.New(opts, l.Exchange), lv)
		})
	}()
	<-s.ready
	cl, err := net.DialUDP("udp4", nil, srv.LocalAddr().(*net.UDPAddr))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	const n = 3
	for i := range n {
		// CON GET /live with a one-byte token; wait for the answer.
		req := []byte{0x41, 0x01, 0x10, byte(i), byte(0xa0 + i), 0xb4, 'l', 'i', 'v', 'e'}
		if _, err := cl.Write(req); err != nil {
			t.Fatal(err)
		}
		cl.SetReadDeadline(time.Now().Add(10 * time.Second))
		if _, err := cl.Read(make([]byte, 64)); err != nil {
			t.Fatal(err)
		}
	}
	deadline := time.After(30 * time.Second)
	for got := 0; got < n; {
		select {
		case got = <-arrived:
		case <-deadline:
			t.Fatalf("%d of %d exchanges listed", got, n)
		}
	}
	h := &harness{t: t, a: a, s: s, done: done}
	lines := h.lines()
	if !strings.Contains(lines[0], "1 Exchanges 3 ") || !strings.Contains(lines[0], "live lo") {
		t.Errorf("top bar %q", lines[0])
	}
	if !containsLine(lines, "/live") || !containsLine(lines, "2.05") {
		t.Errorf("exchanges not shown:\n%s", strings.Join(lines, "\n"))
	}
	if got := h.selectedID(); got != "X3" {
		t.Errorf("the cursor is on %q, not following the newest exchange", got)
	}
	// Quitting stops the capture.
	if err := h.quit(); err != nil {
		t.Errorf("run: %v", err)
	}
}
