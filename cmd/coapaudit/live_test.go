package main

import (
	"bytes"
	"context"
	"encoding/json"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coapaudit/coapaudit/internal/libcoaptest"
	"github.com/coapaudit/coapaudit/internal/testenv"
)

// syncBuffer is a bytes.Buffer safe for the live command's goroutine and
// the test's.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// needRoot skips a test without root (fails under COAPAUDIT_REQUIRE_TOOLS=1).
func needRoot(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		if testenv.RequireTools() {
			t.Fatal("live capture needs root (COAPAUDIT_REQUIRE_TOOLS=1)")
		}
		t.Skip("live capture needs root")
	}
}

// runLiveAround runs a live command, calls during once it captures, then
// stops it like Ctrl-C and returns what it wrote on stdout.
func runLiveAround(t *testing.T, args []string, during func()) string {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var stdout, stderr syncBuffer
	ready := make(chan struct{})
	done := make(chan int, 1)
	e := &env{ctx: ctx, stdin: strings.NewReader(""), stdout: &stdout, stderr: &stderr, liveReady: func() { close(ready) }}
	go func() { done <- runEnv(e, args) }()
	select {
	case <-ready:
	case code := <-done:
		t.Fatalf("live exited with %d before capturing: %s", code, stderr.String())
	}
	during()
	cancel() // like Ctrl-C
	if code := <-done; code != 0 {
		t.Fatalf("live: exit %d: %s", code, stderr.String())
	}
	return stdout.String()
}

// TestLiveWithLibcoap runs `coapaudit live -i lo` while libcoap's client,
// forward proxy and origin server exchange real traffic on 127.0.0.x, and
// checks that every request the clients made is reported as an exchange
// with the right method, URI, client, proxy and response.
func TestLiveWithLibcoap(t *testing.T) {
	libcoaptest.Tools(t)
	needRoot(t)
	pcap := filepath.Join(t.TempDir(), "live.pcapng")
	var res libcoaptest.Result
	out := runLiveAround(t, []string{"live", "-i", "lo", "--format", "ndjson", "--linger", "1s", "-w", pcap}, func() {
		res = libcoaptest.Run(t, libcoaptest.Scenario{})
	})
	var exchanges []exchangeRec
	var summary map[string]any
	leaks := 0
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		var head struct{ Type string }
		if err := json.Unmarshal([]byte(line), &head); err != nil {
			t.Fatalf("bad ndjson line %q: %v", line, err)
		}
		switch head.Type {
		case "exchange":
			var x exchangeRec
			json.Unmarshal([]byte(line), &x)
			exchanges = append(exchanges, x)
		case "leak":
			leaks++
		case "summary":
			json.Unmarshal([]byte(line), &summary)
		}
	}
	if summary == nil {
		t.Fatal("no summary record")
	}
	// live measures leaks over the capture, as analyze does (--no-leaks
	// turns it off).
	if leaks == 0 {
		t.Error("no leak records")
	}
	if summary["kernel_dropped"] != nil && summary["kernel_dropped"].(float64) != 0 {
		t.Errorf("kernel dropped %v frames", summary["kernel_dropped"])
	}
	byClient := map[string]exchangeRec{}
	for _, x := range exchanges {
		if x.Method != "" && x.Method != "PING" {
			if _, dup := byClient[x.Client]; !dup {
				byClient[x.Client] = x
			}
		}
	}
	for _, rq := range res.Requests {
		x, ok := byClient[rq.Client.String()]
		if !ok {
			t.Errorf("%s %s from %s: no exchange reported", rq.Method, rq.URI, rq.Client)
			continue
		}
		if x.Method != rq.Method {
			t.Errorf("%s: method %s, want %s", rq.Client, x.Method, rq.Method)
		}
		// coap://host:5683/p and coap://host/p are the same URI (RFC 7252 6.3).
		norm := func(u string) string { return strings.TrimSuffix(strings.Replace(u, ":5683/", "/", 1), "/") }
		if want := norm(rq.URI); !strings.HasPrefix(norm(x.URI), want) {
			t.Errorf("%s: uri %q, want %q", rq.Client, x.URI, rq.URI)
		}
		wantProxy := ""
		if rq.ViaProxy {
			wantProxy = res.Proxy.String()
		}
		if x.Proxy != wantProxy {
			t.Errorf("%s %s: proxy %q, want %q", rq.Method, rq.URI, x.Proxy, wantProxy)
		}
		if rq.ViaProxy && len(x.Legs) < 2 {
			t.Errorf("%s %s via proxy: %d legs, want client and server leg", rq.Method, rq.URI, len(x.Legs))
		}
		if x.Server != res.Origin.String() {
			t.Errorf("%s %s: server %q, want %s", rq.Method, rq.URI, x.Server, res.Origin)
		}
		if x.Code == "" || x.Status == "unanswered" {
			t.Errorf("%s %s: status %s code %q: the client got an answer", rq.Method, rq.URI, x.Status, x.Code)
		}
		if rq.Observe > 0 && x.Notifications == 0 {
			t.Errorf("%s %s (observe %ds): no notifications", rq.Method, rq.URI, rq.Observe)
		}
	}
	// What was written with -w decodes to the same frame count.
	recs, _ := runPacketsNDJSON(t, pcap)
	if got, want := len(recs)-1, int(summary["frames"].(float64)); got != want {
		t.Errorf("-w file has %d frames, live summary %d", got, want)
	}
	t.Logf("%d requests, %d exchanges reported, %v frames, kernel received %v dropped %v",
		len(res.Requests), len(exchanges), summary["frames"], summary["kernel_received"], summary["kernel_dropped"])
}

// TestLiveThroughput sends CoAP datagrams on loopback at 100,000 per
// second while `coapaudit live` runs, and reports the rate achieved and
// the kernel's drop count. It asserts only what must hold whatever the
// machine: every frame the kernel delivered was analysed, and the summary's
// counts add up.
func TestLiveThroughput(t *testing.T) {
	if testing.Short() {
		t.Skip("short")
	}
	if os.Geteuid() != 0 {
		if testenv.RequireTools() {
			t.Fatal("live capture needs root (COAPAUDIT_REQUIRE_TOOLS=1)")
		}
		t.Skip("live capture needs root")
	}
	// 200,000 datagrams paced at 100,000 per second, sent in bursts of
	// 1,000; COAPAUDIT_LIVE_FRAMES and COAPAUDIT_LIVE_RATE (0: as fast
	// as the sender goes) change them to measure (BENCHMARKS.md).
	n, rate := envInt(t, "COAPAUDIT_LIVE_FRAMES", 200000), envInt(t, "COAPAUDIT_LIVE_RATE", 100000)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var stdout, stderr syncBuffer
	ready := make(chan struct{})
	done := make(chan int, 1)
	e := &env{ctx: ctx, stdin: strings.NewReader(""), stdout: &stdout, stderr: &stderr, liveReady: func() { close(ready) }}
	go func() {
		done <- runEnv(e, []string{"live", "-i", "lo", "--format", "ndjson", "--port", "56830", "--linger", "1s"})
	}()
	select {
	case <-ready:
	case code := <-done:
		t.Fatalf("live exited with %d: %s", code, stderr.String())
	}
	// A receiver that never reads: the datagrams need a bound port, or
	// ICMP errors would fail every other send.
	sink, err := net.ListenUDP("udp", net.UDPAddrFromAddrPort(netip.MustParseAddrPort("127.0.0.1:56830")))
	if err != nil {
		t.Fatal(err)
	}
	defer sink.Close()
	conn, err := net.DialUDP("udp", nil, net.UDPAddrFromAddrPort(netip.MustParseAddrPort("127.0.0.1:56830")))
	if err != nil {
		t.Fatal(err)
	}
	msg := []byte{0x51, 0x01, 0, 0, 0xaa, 0xb4, 't', 'e', 'm', 'p'} // NON GET /temp, token aa
	start := time.Now()
	sent := 0
	for i := 0; i < n; i++ {
		if i%1000 == 0 && rate > 0 {
			if wait := time.Until(start.Add(time.Duration(i) * time.Second / time.Duration(rate))); wait > 0 {
				time.Sleep(wait) // pacing the sender, not waiting for a result
			}
		}
		msg[2], msg[3] = byte(i>>8), byte(i)
		if _, err := conn.Write(msg); err == nil {
			sent++
		}
	}
	elapsed := time.Since(start)
	conn.Close()
	cancel()
	if code := <-done; code != 0 {
		t.Fatalf("live: exit %d: %s", code, stderr.String())
	}
	lines := strings.Split(strings.TrimSpace(stdout.String()), "\n")
	var sum map[string]any
	json.Unmarshal([]byte(lines[len(lines)-1]), &sum)
	num := func(k string) int {
		v, _ := sum[k].(float64)
		return int(v)
	}
	frames, recv, dropped := num("frames"), num("kernel_received"), num("kernel_dropped")
	if frames != recv-dropped {
		t.Errorf("analysed %d frames, kernel delivered %d (received %d, dropped %d)", frames, recv-dropped, recv, dropped)
	}
	if num("coap_frames")+num("dtls_frames")+num("malformed_frames")+num("other_frames") != frames {
		t.Errorf("summary counts do not add up: %v", sum)
	}
	t.Logf("sent %d CoAP datagrams in %v (%.0f/s); live analysed %d frames, kernel received %d, dropped %d",
		sent, elapsed.Round(time.Millisecond), float64(sent)/elapsed.Seconds(), frames, recv, dropped)
}

// envInt returns the integer in environment variable k, or def.
func envInt(t *testing.T, k string, def int) int {
	v := os.Getenv(k)
	if v == "" {
		return def
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 0 {
		t.Fatalf("%s=%q: not a count", k, v)
	}
	return n
}
