package dtlsdec

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"crypto/tls"

	"github.com/pion/dtls/v3"
	"github.com/pion/dtls/v3/pkg/crypto/selfsign"

	"github.com/coapaudit/coapaudit/decode"
	"github.com/coapaudit/coapaudit/tlskeys"
)

// datagram is one UDP payload recorded at the client.
type datagram struct {
	fromClient bool
	client     netip.AddrPort // the client's address, when it is not pionRun.client
	b          []byte
}

// recConn records every datagram the client sends and receives.
type recConn struct {
	net.PacketConn
	client netip.AddrPort
	mu     sync.Mutex
	log    []datagram
}

func (c *recConn) add(fromClient bool, p []byte) {
	c.mu.Lock()
	c.log = append(c.log, datagram{fromClient, c.client, bytes.Clone(p)})
	c.mu.Unlock()
}

func (c *recConn) ReadFrom(p []byte) (int, net.Addr, error) {
	n, a, err := c.PacketConn.ReadFrom(p)
	if n > 0 {
		c.add(false, p[:n])
	}
	return n, a, err
}

func (c *recConn) WriteTo(p []byte, a net.Addr) (int, error) {
	c.add(true, p)
	return c.PacketConn.WriteTo(p, a)
}

func (c *recConn) datagrams() []datagram {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]datagram(nil), c.log...)
}

// session is what a pion client and server exchanged over loopback.
type pionRun struct {
	client, server netip.AddrPort
	log            []datagram
	keyLog         string
	sent, echoed   []string
}

type pionOpts struct {
	suite    dtls.CipherSuiteID
	psk      []byte // nil: certificate suite
	identity string
	cid      bool
	// conns is the number of client connections, one after the other
	// (default 1); with resume, they resume the first one's session.
	conns  int
	resume bool
}

// memStore is a pion SessionStore in memory.
type memStore struct {
	mu sync.Mutex
	m  map[string]dtls.Session
}

func (s *memStore) Set(k []byte, v dtls.Session) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.m[string(k)] = v
	return nil
}

func (s *memStore) Get(k []byte) (dtls.Session, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.m[string(k)], nil
}

func (s *memStore) Del(k []byte) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.m, string(k))
	return nil
}

// runPion runs a pion DTLS server and client on 127.0.3.x; the client
// sends three messages and the server echoes each.
func runPion(t testing.TB, o pionOpts) *pionRun {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	var keyLog bytes.Buffer
	var klMu sync.Mutex
	// The options-based constructors take the same settings one option at
	// a time; the Config these tests vary is clearer as a literal.
	//lint:ignore SA1019 pion/dtls v3 still supports Config
	scfg := &dtls.Config{CipherSuites: []dtls.CipherSuiteID{o.suite}, ExtendedMasterSecret: dtls.RequestExtendedMasterSecret}
	//lint:ignore SA1019 as above
	ccfg := &dtls.Config{CipherSuites: []dtls.CipherSuiteID{o.suite}, ExtendedMasterSecret: dtls.RequestExtendedMasterSecret,
		KeyLogWriter: writerFunc(func(p []byte) (int, error) { klMu.Lock(); defer klMu.Unlock(); return keyLog.Write(p) })}
	if o.psk != nil {
		psk := func([]byte) ([]byte, error) { return o.psk, nil }
		scfg.PSK, ccfg.PSK = psk, psk
		ccfg.PSKIdentityHint = []byte(o.identity)
	} else {
		cert, err := selfsign.GenerateSelfSigned()
		if err != nil {
			t.Fatal(err)
		}
		scfg.Certificates = []tlsCertificate{cert}
		ccfg.InsecureSkipVerify = true
	}
	if o.resume {
		scfg.SessionStore = &memStore{m: map[string]dtls.Session{}}
		ccfg.SessionStore = &memStore{m: map[string]dtls.Session{}}
		ccfg.ServerName = "server.example"
	}
	if o.cid {
		scfg.ConnectionIDGenerator = dtls.RandomCIDGenerator(6)
		ccfg.ConnectionIDGenerator = dtls.RandomCIDGenerator(4)
	}
	//lint:ignore SA1019 as above
	ln, err := dtls.Listen("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 3, 1)}, scfg)
	srv, run, stop := startEcho(t, ln, err)
	defer stop()
	for conn := range max(o.conns, 1) {
		rc := newRecConn(t)
		if conn == 0 {
			run.client = rc.client
		}
		//lint:ignore SA1019 as above
		c, err := dtls.Client(rc, srv, ccfg)
		if err != nil {
			t.Fatal(err)
		}
		if err := c.HandshakeContext(ctx); err != nil {
			t.Fatal(err)
		}
		exchange(t, c, run, fmt.Sprintf("%d.", conn), nil)
		c.Close()
		run.log = append(run.log, rc.datagrams()...)
	}
	stop()
	klMu.Lock()
	run.keyLog = keyLog.String()
	klMu.Unlock()
	return run
}

// exchange sends three messages on c (named by prefix) and reads the
// echo of each into run; after, if not nil, runs after each.
func exchange(t testing.TB, c net.Conn, run *pionRun, prefix string, after func(i int)) {
	buf := make([]byte, 2048)
	for i := range 3 {
		msg := fmt.Sprintf("message %s%d %s", prefix, i, strings.Repeat("x", 10*i))
		if _, err := c.Write([]byte(msg)); err != nil {
			t.Fatal(err)
		}
		n, err := c.Read(buf)
		if err != nil {
			t.Fatal(err)
		}
		run.sent = append(run.sent, msg)
		run.echoed = append(run.echoed, string(buf[:n]))
		if after != nil {
			after(i)
		}
	}
}

// startEcho echoes on every connection ln (listening with error err)
// accepts, and returns its address, a run naming it as the server, and
// stop, which closes ln and waits for the connections to end.
func startEcho(t testing.TB, ln net.Listener, err error) (*net.UDPAddr, *pionRun, func()) {
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				serveEcho(c)
			}()
		}
	}()
	srv := ln.Addr().(*net.UDPAddr)
	return srv, &pionRun{server: srv.AddrPort()}, func() {
		ln.Close()
		wg.Wait()
	}
}

// newRecConn opens a UDP socket on 127.0.3.2 that records what it sends
// and receives.
func newRecConn(t testing.TB) *recConn {
	uc, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 3, 2)})
	if err != nil {
		t.Fatal(err)
	}
	return &recConn{PacketConn: uc, client: uc.LocalAddr().(*net.UDPAddr).AddrPort()}
}

// serveEcho answers every message read from c with "echo:" and the
// message, until an error; then it closes c.
func serveEcho(c net.Conn) {
	defer c.Close()
	buf := make([]byte, 2048)
	for {
		n, err := c.Read(buf)
		if err != nil {
			return
		}
		if _, err := c.Write(append([]byte("echo:"), buf[:n]...)); err != nil {
			return
		}
	}
}

type writerFunc func([]byte) (int, error)

func (f writerFunc) Write(p []byte) (int, error) { return f(p) }

// decryptRun feeds the recorded datagrams to a Decrypter and returns the
// application data each way and the session.
func decryptRun(t *testing.T, run *pionRun, keys *tlskeys.Keys) (toServer, toClient []string, info SessionInfo) {
	t.Helper()
	toServer, toClient, ss := decryptRunAll(t, run, keys)
	if len(ss) != 1 {
		t.Fatalf("%d sessions, want 1: %+v", len(ss), ss)
	}
	return toServer, toClient, ss[0]
}

// decryptRunAll is decryptRun for runs of several sessions.
func decryptRunAll(t *testing.T, run *pionRun, keys *tlskeys.Keys) (toServer, toClient []string, ss []SessionInfo) {
	t.Helper()
	x := New(Config{Keys: keys})
	var d decode.DTLS
	var res Result
	for i, g := range run.log {
		src, dst := run.client, run.server
		if g.client.IsValid() {
			src = g.client
		}
		if !g.fromClient {
			src, dst = dst, src
		}
		// As the engine does: the connection IDs' length the session
		// negotiated, which the record headers do not carry.
		d.ConnIDLen = x.ConnIDLen(src, dst)
		if err := d.Decode(g.b); err != nil {
			t.Fatalf("datagram %d: %v", i, err)
		}
		x.Datagram(i+1, src, dst, &d, &res)
		for _, r := range res.Records {
			if r.Type != decode.ContentApplicationData {
				continue
			}
			if r.FromClient {
				toServer = append(toServer, string(r.Plaintext))
			} else {
				toClient = append(toClient, string(r.Plaintext))
			}
		}
	}
	return toServer, toClient, x.Sessions()
}

func mustKeyLog(t testing.TB, s string) *tlskeys.KeyLog {
	t.Helper()
	var k tlskeys.KeyLog
	if err := k.Read(strings.NewReader(s), "pion"); err != nil {
		t.Fatal(err)
	}
	return &k
}

func TestPion(t *testing.T) {
	psk := []byte("0123456789abcdef")
	for _, tc := range []struct {
		name   string
		opts   pionOpts
		keylog bool
	}{
		{"PSK-AES128-CCM8", pionOpts{suite: dtls.TLS_PSK_WITH_AES_128_CCM_8, psk: psk, identity: "alice"}, false},
		{"PSK-AES128-CCM", pionOpts{suite: dtls.TLS_PSK_WITH_AES_128_CCM, psk: psk, identity: "alice"}, false},
		{"PSK-AES256-CCM8", pionOpts{suite: dtls.TLS_PSK_WITH_AES_256_CCM_8, psk: psk, identity: "alice"}, false},
		{"PSK-AES128-GCM", pionOpts{suite: dtls.TLS_PSK_WITH_AES_128_GCM_SHA256, psk: psk, identity: "alice"}, false},
		{"PSK-AES128-CBC-SHA256", pionOpts{suite: dtls.TLS_PSK_WITH_AES_128_CBC_SHA256, psk: psk, identity: "alice"}, false},
		{"PSK-CHACHA20", pionOpts{suite: dtls.TLS_PSK_WITH_CHACHA20_POLY1305_SHA256, psk: psk, identity: "alice"}, false},
		{"PSK-AES128-CCM8-CID", pionOpts{suite: dtls.TLS_PSK_WITH_AES_128_CCM_8, psk: psk, identity: "alice", cid: true}, false},
		{"ECDHE-PSK-AES128-CBC-SHA256", pionOpts{suite: dtls.TLS_ECDHE_PSK_WITH_AES_128_CBC_SHA256, psk: psk, identity: "alice"}, true},
		{"ECDHE-PSK-CHACHA20", pionOpts{suite: dtls.TLS_ECDHE_PSK_WITH_CHACHA20_POLY1305_SHA256, psk: psk, identity: "alice"}, true},
		{"ECDHE-ECDSA-AES128-GCM", pionOpts{suite: dtls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256}, true},
		{"ECDHE-ECDSA-AES256-GCM-SHA384", pionOpts{suite: dtls.TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384}, true},
		{"ECDHE-ECDSA-AES128-CCM8", pionOpts{suite: dtls.TLS_ECDHE_ECDSA_WITH_AES_128_CCM_8}, true},
		{"ECDHE-ECDSA-AES256-CBC-SHA", pionOpts{suite: dtls.TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA}, true},
		{"ECDHE-ECDSA-CHACHA20-CID", pionOpts{suite: dtls.TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256, cid: true}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			run := runPion(t, tc.opts)
			keys := &tlskeys.Keys{}
			if tc.keylog {
				keys.Log = mustKeyLog(t, run.keyLog)
			} else {
				// A PSK for another identity first, and one without
				// identity: the identity's own key is tried first.
				for _, s := range []string{"bob=00112233", "ffff", fmt.Sprintf("alice=%x", psk)} {
					p, err := tlskeys.ParsePSK(s)
					if err != nil {
						t.Fatal(err)
					}
					keys.PSKs = append(keys.PSKs, p)
				}
			}
			toServer, toClient, info := decryptRun(t, run, keys)
			if info.Status != StatusDecrypting || info.ClientFinished != FinishedVerified || info.ServerFinished != FinishedVerified {
				t.Fatalf("session %+v", info)
			}
			if strings.Join(toServer, "|") != strings.Join(run.sent, "|") {
				t.Errorf("to server %q, sent %q", toServer, run.sent)
			}
			if strings.Join(toClient, "|") != strings.Join(run.echoed, "|") {
				t.Errorf("to client %q, echoed %q", toClient, run.echoed)
			}
			if info.Failed != 0 || info.Suite != decode.CipherSuite(tc.opts.suite) || info.ConnID != tc.opts.cid {
				t.Errorf("session %+v", info)
			}
			if !info.ExtendedMasterSecret {
				t.Errorf("extended master secret not seen")
			}
			if tc.opts.cid {
				x := New(Config{Keys: keys})
				var d decode.DTLS
				var res Result
				for _, g := range run.log[:len(run.log)/2] {
					src, dst := run.client, run.server
					if !g.fromClient {
						src, dst = dst, src
					}
					d.Decode(g.b)
					x.Datagram(0, src, dst, &d, &res)
				}
				// pion's server asked for 6-byte CIDs, its client for 4.
				if c2s, s2c := x.ConnIDLen(run.client, run.server), x.ConnIDLen(run.server, run.client); c2s != 6 || s2c != 4 {
					t.Errorf("ConnIDLen: to server %d, to client %d; want 6, 4", c2s, s2c)
				}
			}
			if tc.opts.psk != nil && info.PSKIdentity != "alice" {
				t.Errorf("PSK identity %q", info.PSKIdentity)
			}
		})
	}
}

// TestPionWrongKeys checks that a wrong PSK, a key log without the
// session, and a capture without the handshake each give one clear
// session status and no plaintext.
func TestPionWrongKeys(t *testing.T) {
	run := runPion(t, pionOpts{suite: dtls.TLS_PSK_WITH_AES_128_CCM_8, psk: []byte("right key"), identity: "alice"})
	wrong, _ := tlskeys.ParsePSK("alice=" + fmt.Sprintf("%x", "wrong key"))
	toServer, toClient, info := decryptRun(t, run, &tlskeys.Keys{PSKs: []tlskeys.PSK{wrong}})
	if info.Status != StatusKeyMismatch || len(toServer)+len(toClient) != 0 || info.Decrypted != 0 || info.Failed == 0 {
		t.Errorf("wrong PSK: %+v, %q %q", info, toServer, toClient)
	}
	if info.Status.String() != "key does not match this session" {
		t.Errorf("status %q", info.Status)
	}
	_, _, info = decryptRun(t, run, nil)
	if info.Status != StatusNoKey {
		t.Errorf("no keys: %+v", info)
	}

	ecdhe := runPion(t, pionOpts{suite: dtls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256})
	_, _, info = decryptRun(t, ecdhe, &tlskeys.Keys{Log: mustKeyLog(t, run.keyLog)}) // another session's log
	if info.Status != StatusNoKey || !strings.Contains(info.Detail, "key log") {
		t.Errorf("ECDHE without its key log entry: %+v", info)
	}

	// Drop the handshake: only epoch-1 datagrams after the Finished.
	right, _ := tlskeys.ParsePSK("alice=" + fmt.Sprintf("%x", "right key"))
	cut := *run
	cut.log = run.log[len(run.log)-4:]
	_, _, info = decryptRun(t, &cut, &tlskeys.Keys{PSKs: []tlskeys.PSK{right}})
	if info.Status != StatusNoHandshake || info.Decrypted != 0 {
		t.Errorf("no handshake: %+v", info)
	}
}

type tlsCertificate = tls.Certificate

// TestPionRetransmissions feeds every datagram twice, as a capture of a
// lossy path shows retransmitted flights and records: the handshake is
// followed once, Finished still verifies, and each record decrypts again.
func TestPionRetransmissions(t *testing.T) {
	run := runPion(t, pionOpts{suite: dtls.TLS_PSK_WITH_AES_128_CCM_8, psk: []byte("k"), identity: "alice"})
	twice := *run
	twice.log = nil
	for _, g := range run.log {
		twice.log = append(twice.log, g, g)
	}
	p, _ := tlskeys.ParsePSK("bob=00") // another identity: every PSK is tried in turn
	p2, _ := tlskeys.ParsePSK("6b")
	toServer, toClient, info := decryptRun(t, &twice, &tlskeys.Keys{PSKs: []tlskeys.PSK{p, p2}})
	if info.Status != StatusDecrypting || info.ClientFinished != FinishedVerified || info.ServerFinished != FinishedVerified {
		t.Fatalf("session %+v", info)
	}
	if len(toServer) != 2*len(run.sent) || len(toClient) != 2*len(run.echoed) || toServer[0] != toServer[1] {
		t.Errorf("to server %q, to client %q", toServer, toClient)
	}
}

// TestEviction interleaves two sessions with room for one: the first is
// evicted and counted, and its later records fail as having no handshake.
func TestEviction(t *testing.T) {
	psk := []byte("k")
	a := runPion(t, pionOpts{suite: dtls.TLS_PSK_WITH_AES_128_CCM_8, psk: psk, identity: "alice"})
	b := runPion(t, pionOpts{suite: dtls.TLS_PSK_WITH_AES_128_CCM_8, psk: psk, identity: "alice"})
	p, _ := tlskeys.ParsePSK("6b")
	x := New(Config{Keys: &tlskeys.Keys{PSKs: []tlskeys.PSK{p}}, MaxSessions: 1})
	var d decode.DTLS
	var res Result
	feed := func(run *pionRun, gs []datagram) int {
		n := 0
		for _, g := range gs {
			src, dst := run.client, run.server
			if !g.fromClient {
				src, dst = dst, src
			}
			if err := d.Decode(g.b); err != nil {
				t.Fatal(err)
			}
			x.Datagram(0, src, dst, &d, &res)
			n += len(res.Records)
		}
		return n
	}
	half := len(a.log) - 3
	if feed(a, a.log[:half]) == 0 {
		t.Fatal("first session decrypted nothing")
	}
	if feed(b, b.log) == 0 {
		t.Fatal("second session decrypted nothing")
	}
	if n := feed(a, a.log[half:]); n != 0 {
		t.Errorf("evicted session decrypted %d records", n)
	}
	st := x.Stats()
	if st.Evicted != 2 || st.Sessions != 3 || st.Unlisted != 0 {
		t.Errorf("stats %+v, want 2 evictions of 3 sessions", st)
	}
	ss := x.Sessions()
	if len(ss) != 3 || ss[0].Status != StatusDecrypting || ss[2].Status != StatusNoHandshake {
		t.Errorf("sessions %+v", ss)
	}
}

// TestPionLateHelloVerifyRequest puts a copy of the first ClientHello and
// of the HelloVerifyRequest after the ClientHello with the cookie, as a
// capture shows them when the first flight is retransmitted late: neither
// may enter the transcript.
func TestPionLateHelloVerifyRequest(t *testing.T) {
	run := runPion(t, pionOpts{suite: dtls.TLS_PSK_WITH_AES_128_GCM_SHA256, psk: []byte("k"), identity: "alice"})
	if len(run.log) < 4 || run.log[1].fromClient {
		t.Fatalf("unexpected flight order")
	}
	late := *run
	late.log = append([]datagram{run.log[0], run.log[1], run.log[2], run.log[0], run.log[1]}, run.log[3:]...)
	p, _ := tlskeys.ParsePSK("6b")
	_, toClient, info := decryptRun(t, &late, &tlskeys.Keys{PSKs: []tlskeys.PSK{p}})
	if info.Status != StatusDecrypting || info.ClientFinished != FinishedVerified || info.ServerFinished != FinishedVerified || len(toClient) != 3 {
		t.Errorf("session %+v, %d messages to the client", info, len(toClient))
	}
}

// TestNewSessionSamePorts replays a second session on the same endpoints
// as the first, with a late record of the first arriving while the second
// handshake is under way: the second session must still decrypt.
func TestNewSessionSamePorts(t *testing.T) {
	a := runPion(t, pionOpts{suite: dtls.TLS_PSK_WITH_AES_128_CCM_8, psk: []byte("k"), identity: "alice"})
	b := runPion(t, pionOpts{suite: dtls.TLS_PSK_WITH_AES_128_CCM_8, psk: []byte("k"), identity: "alice"})
	// b's flights up to its ServerHello flight, as sent on a's ports.
	sh := -1
	var d decode.DTLS
	for i, g := range b.log {
		d.Decode(g.b)
		if d.HasServerHello {
			sh = i
			break
		}
	}
	if sh < 0 {
		t.Fatal("no ServerHello")
	}
	onA := func(gs []datagram) []datagram {
		out := make([]datagram, len(gs))
		for i, g := range gs {
			out[i] = datagram{fromClient: g.fromClient, b: g.b}
		}
		return out
	}
	same := *a
	same.log = append(append(onA(a.log), onA(b.log[:sh+1])...), onA(a.log[len(a.log)-1:])...)
	same.log = append(same.log, onA(b.log[sh+1:])...)
	_, toClient, ss := decryptRunAll(t, &same, &tlskeys.Keys{PSKs: psks(t, "6b")})
	if len(ss) != 2 {
		t.Fatalf("%d sessions", len(ss))
	}
	if s := ss[1]; s.Status != StatusDecrypting || s.ClientFinished != FinishedVerified || s.ServerFinished != FinishedVerified || s.Failed != 1 {
		t.Errorf("second session %+v", s)
	}
	if len(toClient) != 6 {
		t.Errorf("%d messages to the client, want 6", len(toClient))
	}
}
