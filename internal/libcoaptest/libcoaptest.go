// Package libcoaptest runs libcoap's example programs on loopback so that
// tests can watch real CoAP traffic: an origin server, a forward proxy in
// front of it, and clients that send requests either through the proxy
// (Proxy-Uri) or directly. The programs are coap-server-notls and
// coap-client-notls from Debian's libcoap3-bin.
//
// Tests that use it skip when the programs are missing, or fail with
// COAPAUDIT_REQUIRE_TOOLS=1. Runs are serialised across test processes by
// a lock file, since every run uses the same addresses.
package libcoaptest

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/coapaudit/coapaudit/internal/testenv"
)

// The libcoap programs Run starts.
const (
	ServerProgram = "coap-server-notls"
	ClientProgram = "coap-client-notls"
)

// Default addresses, on loopback.
var (
	DefaultOrigin = netip.MustParseAddrPort("127.0.0.31:5683")
	DefaultProxy  = netip.MustParseAddrPort("127.0.0.32:5683")
	DefaultClient = netip.MustParseAddr("127.0.0.33")
)

// DefaultTimeout bounds a whole Run when Scenario.Timeout is zero.
const DefaultTimeout = 60 * time.Second

// A Scenario says which servers to start and what the clients do.
type Scenario struct {
	Origin netip.AddrPort // the origin server; DefaultOrigin if zero
	Proxy  netip.AddrPort // the forward proxy; DefaultProxy if zero
	// Client is the local address of every client (each gets its own
	// port) and of the readiness probes; DefaultClient if zero.
	Client netip.Addr
	// Requests run one after the other; DefaultRequests() if nil.
	Requests []Request
	// Timeout bounds the whole run; DefaultTimeout if zero.
	Timeout time.Duration
}

// A Request is one run of the client.
type Request struct {
	Method   string // GET, POST, PUT, DELETE, FETCH, PATCH or IPATCH; "" is GET
	Path     string // Uri-Path segments joined by "/", no leading slash
	Query    string // without "?"; "" for none
	Payload  string // sent with -e
	ViaProxy bool   // send to the proxy with a Proxy-Uri, rather than to the origin
	// Observe registers for notifications and keeps the registration this
	// many seconds (coap-client -s) before cancelling it.
	Observe int
	NON     bool // send a Non-confirmable request
}

// DefaultRequests is the scenario of the shared capture
// libcoap-fwdproxy.pcap, shortened: through the proxy a GET, a PUT of JSON
// and a GET of what was put, a POST, an Observe of /time for 2 seconds and a
// NON GET; directly a GET, a DELETE and a GET of a missing resource.
func DefaultRequests() []Request {
	return []Request{
		{Method: "GET", Path: "time", Query: "ticks", ViaProxy: true},
		{Method: "PUT", Path: "example_data", Payload: `{"v":1}`, ViaProxy: true},
		{Method: "GET", Path: "example_data", ViaProxy: true},
		{Method: "POST", Path: "example_data", Payload: "x", ViaProxy: true},
		{Method: "GET", Path: "time", ViaProxy: true, Observe: 2},
		{Method: "GET", Path: "time", ViaProxy: true, NON: true},
		{Method: "GET", Path: "time"},
		{Method: "DELETE", Path: "example_data"},
		{Method: "GET", Path: "no/such/resource"},
	}
}

// A Req is what one client run did.
type Req struct {
	Request
	Method string         // upper case, never empty
	URI    string         // the target, coap://host:port/path?query
	Client netip.AddrPort // the client's address and port
	Server netip.AddrPort // where it sent the request: the proxy or the origin
	Args   []string       // the command line
	Output string         // what the client printed (payloads, errors)
	Start  time.Time      // when the client was started
	End    time.Time      // when it exited
}

// Result describes a run.
type Result struct {
	Origin, Proxy netip.AddrPort
	// Probe is the address the readiness pings (Empty CON messages, which
	// the servers answer with RST) came from.
	Probe    netip.AddrPort
	Requests []Req
	// Start and End bound the run; the servers were stopped before End.
	Start, End time.Time
}

// methods maps the client's method names to CoAP request codes.
var methods = map[string]uint8{"GET": 1, "POST": 2, "PUT": 3, "DELETE": 4, "FETCH": 5, "PATCH": 6, "IPATCH": 7}

// MethodCode returns the CoAP code of a method name, 0 if unknown.
func MethodCode(method string) uint8 { return methods[strings.ToUpper(method)] }

// Tools returns the paths of the server and client programs, skipping the
// test (failing with COAPAUDIT_REQUIRE_TOOLS=1) when they are not
// installed.
func Tools(t testing.TB) (server, client string) {
	t.Helper()
	return testenv.Tool(t, ServerProgram), testenv.Tool(t, ClientProgram)
}

// Run starts an origin server and a forward proxy, runs the clients one
// after the other, stops the servers and returns what the clients did. It
// fails the test if a program does not start or a client fails. Whatever
// happens, every program it started is gone when the test ends.
func Run(t testing.TB, sc Scenario) Result {
	t.Helper()
	serverPath, clientPath := Tools(t)
	if !sc.Origin.IsValid() {
		sc.Origin = DefaultOrigin
	}
	if !sc.Proxy.IsValid() {
		sc.Proxy = DefaultProxy
	}
	if !sc.Client.IsValid() {
		sc.Client = DefaultClient
	}
	if sc.Requests == nil {
		sc.Requests = DefaultRequests()
	}
	if sc.Timeout == 0 {
		sc.Timeout = DefaultTimeout
	}
	for _, rq := range sc.Requests {
		if m := rq.Method; m != "" && MethodCode(m) == 0 {
			t.Fatalf("libcoaptest: unknown method %q", m)
		}
	}
	lock(t)
	ctx, cancel := context.WithTimeout(context.Background(), sc.Timeout)
	t.Cleanup(cancel)

	res := Result{Origin: sc.Origin, Proxy: sc.Proxy, Start: time.Now()}
	probe, err := net.ListenUDP("udp", net.UDPAddrFromAddrPort(netip.AddrPortFrom(sc.Client, 0)))
	if err != nil {
		t.Fatalf("libcoaptest: probe socket: %v", err)
	}
	defer probe.Close()
	res.Probe = probe.LocalAddr().(*net.UDPAddr).AddrPort()

	origin := start(t, ctx, serverPath, "-A", sc.Origin.Addr().String(), "-p", strconv.Itoa(int(sc.Origin.Port())))
	// The proxy forwards requests whose Proxy-Uri names another host, over
	// a direct connection.
	proxy := start(t, ctx, serverPath, "-A", sc.Proxy.Addr().String(), "-p", strconv.Itoa(int(sc.Proxy.Port())),
		"-P", ","+sc.Proxy.Addr().String())
	for _, s := range []struct {
		p    *process
		addr netip.AddrPort
	}{{origin, sc.Origin}, {proxy, sc.Proxy}} {
		if err := waitReady(ctx, probe, s.addr, s.p); err != nil {
			t.Fatalf("libcoaptest: %s on %v: %v\n%s", ServerProgram, s.addr, err, s.p.output())
		}
	}

	for _, rq := range sc.Requests {
		r, err := runClient(ctx, clientPath, sc, rq)
		res.Requests = append(res.Requests, r)
		if err != nil {
			t.Fatalf("libcoaptest: %s: %v\n%s", strings.Join(r.Args, " "), err, r.Output)
		}
	}
	for _, p := range []*process{proxy, origin} {
		if err := p.stop(); err != nil {
			t.Errorf("libcoaptest: stopping %s: %v\n%s", strings.Join(p.cmd.Args, " "), err, p.output())
		}
	}
	res.End = time.Now()
	return res
}

// A process is a running server.
type process struct {
	cmd  *exec.Cmd
	out  lockedBuffer
	done chan struct{} // closed when it exited
	err  error         // of Wait, once done

	mu      sync.Mutex
	stopped bool // stop was called
}

// start starts a program that runs until stopped. The context's end, or
// the test's, stops it.
func start(t testing.TB, ctx context.Context, path string, args ...string) *process {
	t.Helper()
	p := &process{done: make(chan struct{})}
	p.cmd = exec.CommandContext(ctx, path, args...)
	p.cmd.Stdout, p.cmd.Stderr = &p.out, &p.out
	p.cmd.Cancel = func() error { return p.cmd.Process.Signal(syscall.SIGTERM) }
	p.cmd.WaitDelay = 5 * time.Second // then SIGKILL
	if err := p.cmd.Start(); err != nil {
		t.Fatalf("libcoaptest: %v", err)
	}
	go func() {
		p.err = p.cmd.Wait()
		close(p.done)
	}()
	t.Cleanup(func() { p.stop() })
	return p
}

// stop ends the program with SIGTERM (SIGKILL if it lingers) and waits for
// it. It reports an error if the program had exited by itself.
func (p *process) stop() error {
	p.mu.Lock()
	first := !p.stopped
	p.stopped = true
	p.mu.Unlock()
	select {
	case <-p.done:
		if first {
			return fmt.Errorf("exited by itself: %v", p.err)
		}
		return nil
	default:
	}
	p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(p.cmd.WaitDelay):
		p.cmd.Process.Kill()
		<-p.done
	}
	return nil
}

func (p *process) output() string { return p.out.String() }

// lockedBuffer is a bytes.Buffer written by a process while tests may read
// it.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// probeWait is how long one readiness ping waits for its answer.
const probeWait = 50 * time.Millisecond

// readyTimeout bounds the wait for a server to answer.
const readyTimeout = 10 * time.Second

// waitReady pings a server (an Empty CON message, which a CoAP endpoint
// answers with RST) until it answers, the process exits, or time runs out.
func waitReady(ctx context.Context, conn *net.UDPConn, addr netip.AddrPort, p *process) error {
	deadline := time.Now().Add(readyTimeout)
	if d, ok := ctx.Deadline(); ok && d.Before(deadline) {
		deadline = d
	}
	var ping [4]byte
	buf := make([]byte, 1500)
	for mid := uint16(1); ; mid++ {
		select {
		case <-p.done:
			return fmt.Errorf("exited: %v", p.err)
		default:
		}
		if time.Now().After(deadline) {
			return errors.New("no answer to CoAP pings")
		}
		ping[0], ping[1] = 0x40, 0x00 // version 1, CON, no token; Empty
		binary.BigEndian.PutUint16(ping[2:], mid)
		if _, err := conn.WriteToUDPAddrPort(ping[:], addr); err != nil {
			return err
		}
		conn.SetReadDeadline(time.Now().Add(probeWait))
		for {
			n, from, err := conn.ReadFromUDPAddrPort(buf)
			if err != nil {
				if errors.Is(err, os.ErrDeadlineExceeded) {
					break // ping again
				}
				// An ICMP port unreachable from a server not yet bound
				// shows as a refused read on some systems.
				if errors.Is(err, syscall.ECONNREFUSED) {
					break
				}
				return err
			}
			if from == addr && n >= 4 && buf[0]>>6 == 1 && binary.BigEndian.Uint16(buf[2:]) == mid {
				conn.SetReadDeadline(time.Time{})
				return nil
			}
		}
	}
}

// clientSlack is how long a client may take beyond its observation time.
const clientSlack = 10

// runClient runs one client request.
func runClient(ctx context.Context, path string, sc Scenario, rq Request) (Req, error) {
	r := Req{Request: rq, Method: strings.ToUpper(rq.Method), Server: sc.Origin}
	if r.Method == "" {
		r.Method = "GET"
	}
	r.URI = "coap://" + sc.Origin.String() + "/" + rq.Path
	if rq.Query != "" {
		r.URI += "?" + rq.Query
	}
	// The client binds the port it is given: take a free one.
	port, err := freePort(sc.Client)
	if err != nil {
		return r, err
	}
	r.Client = netip.AddrPortFrom(sc.Client, port)
	r.Args = []string{path, "-a", sc.Client.String(), "-p", strconv.Itoa(int(port)),
		"-B", strconv.Itoa(rq.Observe + clientSlack), "-m", strings.ToLower(r.Method)}
	if rq.Payload != "" {
		r.Args = append(r.Args, "-e", rq.Payload)
	}
	if rq.Observe > 0 {
		r.Args = append(r.Args, "-s", strconv.Itoa(rq.Observe))
	}
	if rq.NON {
		r.Args = append(r.Args, "-N")
	}
	if rq.ViaProxy {
		r.Server = sc.Proxy
		r.Args = append(r.Args, "-P", "coap://"+sc.Proxy.String())
	}
	r.Args = append(r.Args, r.URI)

	cctx, cancel := context.WithTimeout(ctx, time.Duration(rq.Observe+2*clientSlack)*time.Second)
	defer cancel()
	cmd := exec.CommandContext(cctx, r.Args[0], r.Args[1:]...)
	cmd.WaitDelay = 2 * time.Second
	var out lockedBuffer
	cmd.Stdout, cmd.Stderr = &out, &out
	r.Start = time.Now()
	err = cmd.Run()
	r.End = time.Now()
	r.Output = out.String()
	if err == nil && cctx.Err() != nil {
		err = cctx.Err()
	}
	return r, err
}

// freePort returns a UDP port that is free on addr.
func freePort(addr netip.Addr) (uint16, error) {
	c, err := net.ListenUDP("udp", net.UDPAddrFromAddrPort(netip.AddrPortFrom(addr, 0)))
	if err != nil {
		return 0, err
	}
	defer c.Close()
	return c.LocalAddr().(*net.UDPAddr).AddrPort().Port(), nil
}
