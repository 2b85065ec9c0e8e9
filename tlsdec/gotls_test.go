package tlsdec

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"io"
	"math/big"
	"net"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coapaudit/coapaudit/decode"
	"github.com/coapaudit/coapaudit/tlskeys"
)

// chunk is what one side wrote, in the order the writes happened.
type chunk struct {
	fromClient bool
	b          []byte
}

// tapConn logs every write of a connection.
type tapConn struct {
	net.Conn
	fromClient bool
	mu         *sync.Mutex
	log        *[]chunk
}

func (c *tapConn) Write(b []byte) (int, error) {
	c.mu.Lock()
	*c.log = append(*c.log, chunk{c.fromClient, bytes.Clone(b)})
	c.mu.Unlock()
	return c.Conn.Write(b)
}

// coapTCP frames a CoAP message for a reliable transport (RFC 8323 3.2):
// Len/TKL, code, token, options and payload (only short messages).
func coapTCP(code byte, token []byte, opts []byte, payload string) []byte {
	n := len(opts)
	if payload != "" {
		n += 1 + len(payload)
	}
	if n >= 13 {
		b := []byte{13<<4 | byte(len(token)), byte(n - 13), code}
		b = append(append(b, token...), opts...)
		if payload != "" {
			b = append(append(b, 0xff), payload...)
		}
		return b
	}
	b := []byte{byte(n)<<4 | byte(len(token)), code}
	b = append(append(b, token...), opts...)
	if payload != "" {
		b = append(append(b, 0xff), payload...)
	}
	return b
}

// CoAP messages the client and the server send.
var (
	coapCSM       = coapTCP(0xE1, nil, nil, "") // 7.01 CSM
	coapGet       = coapTCP(0x01, []byte{1, 2, 3, 4}, []byte{0xB4, 't', 'e', 'm', 'p'}, "")
	coapContent   = coapTCP(0x45, []byte{1, 2, 3, 4}, nil, "22.5 C")
	coapPut       = coapTCP(0x03, []byte{5, 6}, []byte{0xB5, 'v', 'a', 'l', 'v', 'e'}, strings.Repeat("open ", 40))
	coapChanged   = coapTCP(0x44, []byte{5, 6}, nil, "")
	clientWritten = [][]byte{coapCSM, coapGet, coapPut}
	serverWritten = [][]byte{coapCSM, coapContent, coapChanged}
)

// testCert returns a self-signed ECDSA certificate for "coap.test".
func testCert(t testing.TB) tls.Certificate {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "coap.test"},
		DNSNames: []string{"coap.test"}, NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
}

// goTLSOpts choose what a Go TLS connection negotiates.
type goTLSOpts struct {
	version      uint16
	suite        uint16 // TLS 1.2 only
	clientCurves []tls.CurveID
	serverCurves []tls.CurveID
	sessionCache tls.ClientSessionCache
	keyLog       io.Writer
	cert         *tls.Certificate
	port         int // listen on this port of 127.0.0.1 (0: any)
}

// goTLSRun is one connection's bytes and what it negotiated.
type goTLSRun struct {
	log    []chunk
	keyLog []byte
	state  tls.ConnectionState
}

// tcpPair returns both ends of a TCP connection on loopback (net.Pipe
// has no buffer: a TLS 1.3 server writing its session ticket while the
// client writes would block both).
func tcpPair(t testing.TB, port int) (client, server net.Conn) {
	l, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(port))
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	client, err = net.Dial("tcp", l.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	if server, err = l.Accept(); err != nil {
		t.Fatal(err)
	}
	return client, server
}

// runGoTLS runs a Go crypto/tls client and server over loopback TCP carrying
// the CoAP messages above, and returns every write of both sides with the
// key log.
func runGoTLS(t testing.TB, o goTLSOpts) *goTLSRun {
	t.Helper()
	var cert tls.Certificate
	if o.cert != nil {
		cert = *o.cert
	} else {
		cert = testCert(t)
	}
	run := &goTLSRun{}
	var kl bytes.Buffer
	var mu sync.Mutex
	a, b := tcpPair(t, o.port)
	cc := &tapConn{Conn: a, fromClient: true, mu: &mu, log: &run.log}
	sc := &tapConn{Conn: b, fromClient: false, mu: &mu, log: &run.log}
	w := io.Writer(&kl)
	if o.keyLog != nil {
		w = io.MultiWriter(&kl, o.keyLog)
	}
	var suites []uint16
	if o.suite != 0 {
		suites = []uint16{o.suite}
	}
	client := tls.Client(cc, &tls.Config{ServerName: "coap.test", InsecureSkipVerify: true, NextProtos: []string{"coap"},
		MinVersion: o.version, MaxVersion: o.version, CipherSuites: suites, KeyLogWriter: &lockedWriter{w: w, mu: &mu},
		CurvePreferences: o.clientCurves, ClientSessionCache: o.sessionCache})
	scfg := &tls.Config{Certificates: []tls.Certificate{cert}, NextProtos: []string{"coap"},
		MinVersion: o.version, MaxVersion: o.version, CipherSuites: suites, CurvePreferences: o.serverCurves}
	scfg.SetSessionTicketKeys([][32]byte{{1, 2, 3}}) // the same in every run, so that sessions resume
	server := tls.Server(sc, scfg)
	errc := make(chan error, 1)
	go func() {
		defer server.Close()
		errc <- serve(server)
	}()
	for i, m := range clientWritten {
		if _, err := client.Write(m); err != nil {
			t.Fatal(err)
		}
		got := make([]byte, len(serverWritten[i]))
		if _, err := io.ReadFull(client, got); err != nil || !bytes.Equal(got, serverWritten[i]) {
			t.Fatalf("response %d: %x %v", i, got, err)
		}
	}
	run.state = client.ConnectionState()
	client.Close()
	if err := <-errc; err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	run.keyLog = bytes.Clone(kl.Bytes())
	mu.Unlock()
	return run
}

// serve answers each CoAP message of clientWritten with the matching one
// of serverWritten, then waits for the client to close.
func serve(c *tls.Conn) error {
	for i, m := range clientWritten {
		got := make([]byte, len(m))
		if _, err := io.ReadFull(c, got); err != nil {
			return err
		}
		if !bytes.Equal(got, m) {
			return io.ErrUnexpectedEOF
		}
		if _, err := c.Write(serverWritten[i]); err != nil {
			return err
		}
	}
	io.Copy(io.Discard, c)
	return nil
}

type lockedWriter struct {
	w  io.Writer
	mu *sync.Mutex
}

func (l *lockedWriter) Write(b []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(b)
}

func keysOf(t testing.TB, keyLog []byte) *tlskeys.Keys {
	t.Helper()
	kl := &tlskeys.KeyLog{}
	if err := kl.Read(bytes.NewReader(keyLog), "keylog"); err != nil {
		t.Fatal(err)
	}
	return &tlskeys.Keys{Log: kl}
}

// decrypted is what a Conn gave for a run: the application data of each
// direction, every record, and the streams.
type decrypted struct {
	app     [2][]byte
	records [2][]Record
	stream  [2][]byte
}

// feedRun feeds the chunks of a run to c, each split into pieces of at
// most split bytes (0: whole), and collects the records.
func feedRun(c *Conn, log []chunk, split int) *decrypted {
	out := &decrypted{}
	for _, ch := range log {
		i := dirIndex(ch.fromClient)
		out.stream[i] = append(out.stream[i], ch.b...)
		emit := func(r *Record) {
			rc := *r
			rc.Plaintext = bytes.Clone(r.Plaintext)
			out.records[i] = append(out.records[i], rc)
			if r.Decrypted && r.Type == ContentApplicationData {
				out.app[i] = append(out.app[i], r.Plaintext...)
			}
		}
		b := ch.b
		for len(b) > 0 {
			n := len(b)
			if split > 0 && n > split {
				n = split
			}
			c.Feed(ch.fromClient, b[:n], emit)
			b = b[n:]
		}
	}
	return out
}

// checkRecords checks that the records of each direction tile its stream
// and that Off and Len point at record headers.
func checkRecords(t *testing.T, d *decrypted) {
	t.Helper()
	for i := range 2 {
		var off int64
		for _, r := range d.records[i] {
			if r.Off != off || r.Len < 5 || int(r.Off)+r.Len > len(d.stream[i]) {
				t.Fatalf("direction %d: record at %d (len %d), want offset %d", i, r.Off, r.Len, off)
			}
			h := d.stream[i][r.Off:]
			if n := int(h[3])<<8 | int(h[4]); n+5 != r.Len {
				t.Fatalf("direction %d: record at %d: header says %d bytes, Len %d", i, r.Off, n+5, r.Len)
			}
			if r.Protected && !r.Decrypted && r.Plaintext != nil {
				t.Fatalf("direction %d: record at %d not decrypted but has plaintext", i, r.Off)
			}
			off += int64(r.Len)
		}
		if off != int64(len(d.stream[i])) {
			t.Fatalf("direction %d: records cover %d of %d bytes", i, off, len(d.stream[i]))
		}
	}
}

func wantApp(t *testing.T, d *decrypted) {
	t.Helper()
	if got, want := d.app[0], bytes.Join(clientWritten, nil); !bytes.Equal(got, want) {
		t.Errorf("client application data %x, want %x", got, want)
	}
	if got, want := d.app[1], bytes.Join(serverWritten, nil); !bytes.Equal(got, want) {
		t.Errorf("server application data %x, want %x", got, want)
	}
}

// corrupt returns the key log with the first hex digit of every secret
// changed.
func corrupt(keyLog []byte) []byte {
	var out []byte
	for _, line := range bytes.SplitAfter(keyLog, []byte("\n")) {
		f := bytes.Fields(line)
		if len(f) == 3 {
			s := f[2]
			if s[0] == '0' {
				s[0] = '1'
			} else {
				s[0] = '0'
			}
			line = append(bytes.Join(f, []byte(" ")), '\n')
		}
		out = append(out, line...)
	}
	return out
}

// TestGoTLS decrypts Go crypto/tls connections, TLS 1.3 and TLS 1.2 with
// several suites, whole and fed a few bytes at a time, and checks the
// plaintext is what each side wrote, the Finished messages verify, a
// wrong key log gives the mismatch state and no plaintext, and no key
// log gives no key.
func TestGoTLS(t *testing.T) {
	for _, tc := range []struct {
		name    string
		version uint16
		suite   uint16
	}{
		{"TLS13", tls.VersionTLS13, 0},
		{"TLS12-AES128-GCM", tls.VersionTLS12, tls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256},
		{"TLS12-AES256-GCM-SHA384", tls.VersionTLS12, tls.TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384},
		{"TLS12-ChaCha20", tls.VersionTLS12, tls.TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256},
		{"TLS12-AES128-CBC-SHA", tls.VersionTLS12, tls.TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA},
		{"TLS12-AES256-CBC-SHA", tls.VersionTLS12, tls.TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA},
		{"TLS12-AES128-CBC-SHA256", tls.VersionTLS12, tls.TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA256},
	} {
		t.Run(tc.name, func(t *testing.T) {
			run := runGoTLS(t, goTLSOpts{version: tc.version, suite: tc.suite})
			for _, split := range []int{0, 1, 7, 1000} {
				c := NewConn(keysOf(t, run.keyLog))
				d := feedRun(c, run.log, split)
				checkRecords(t, d)
				wantApp(t, d)
				st := c.Status()
				if st.State != tlskeys.StateDecrypting || st.Version != run.state.Version || st.Suite != decode.CipherSuite(run.state.CipherSuite) ||
					st.ALPN != "coap" || st.SNI != "coap.test" || st.Key != KeyLog ||
					st.ClientFinished != tlskeys.FinishedVerified || st.ServerFinished != tlskeys.FinishedVerified || st.Failed != 0 {
					t.Fatalf("split %d: status %+v", split, st)
				}
				if n := c.Buffered(); n > 4*smallRecord { // the plaintext buffer and two small record buffers
					t.Errorf("split %d: %d bytes held after the handshake", split, n)
				}
				if tc.version == tls.VersionTLS12 && !st.ExtendedMasterSecret {
					t.Errorf("no extended master secret: %+v", st)
				}
			}
			bad := NewConn(keysOf(t, corrupt(bytes.Clone(run.keyLog))))
			d := feedRun(bad, run.log, 0)
			checkRecords(t, d)
			if st := bad.Status(); st.State != tlskeys.StateKeyMismatch || st.Decrypted != 0 || len(d.app[0])+len(d.app[1]) != 0 {
				t.Errorf("wrong key log: %+v", st)
			}
			none := NewConn(nil)
			feedRun(none, run.log, 0)
			if st := none.Status(); st.State != tlskeys.StateNoKey || st.Decrypted != 0 {
				t.Errorf("no key log: %+v", st)
			}
		})
	}
}

// TestGoTLS13HelloRetry forces a HelloRetryRequest (the client's first key
// share is a group the server does not take).
func TestGoTLS13HelloRetry(t *testing.T) {
	run := runGoTLS(t, goTLSOpts{version: tls.VersionTLS13, clientCurves: []tls.CurveID{tls.CurveP256, tls.CurveP384},
		serverCurves: []tls.CurveID{tls.CurveP384}})
	c := NewConn(keysOf(t, run.keyLog))
	d := feedRun(c, run.log, 0)
	wantApp(t, d)
	if st := c.Status(); !st.HelloRetry || st.State != tlskeys.StateDecrypting || st.ClientFinished != tlskeys.FinishedVerified || st.ServerFinished != tlskeys.FinishedVerified {
		t.Errorf("status %+v", st)
	}
}

// TestGoTLSResumption resumes a TLS 1.3 session with a PSK (the key log
// has the resumed connection's secrets).
func TestGoTLSResumption(t *testing.T) {
	cache := tls.NewLRUClientSessionCache(4)
	cert := testCert(t)
	first := runGoTLS(t, goTLSOpts{version: tls.VersionTLS13, sessionCache: cache, cert: &cert})
	second := runGoTLS(t, goTLSOpts{version: tls.VersionTLS13, sessionCache: cache, cert: &cert})
	if !second.state.DidResume {
		t.Fatal("the second connection did not resume")
	}
	keys := keysOf(t, append(bytes.Clone(first.keyLog), second.keyLog...))
	for i, run := range []*goTLSRun{first, second} {
		c := NewConn(keys)
		d := feedRun(c, run.log, 0)
		wantApp(t, d)
		if st := c.Status(); st.Resumed != (i == 1) || st.State != tlskeys.StateDecrypting || st.ClientFinished != tlskeys.FinishedVerified || st.ServerFinished != tlskeys.FinishedVerified {
			t.Errorf("connection %d: status %+v", i, st)
		}
	}
}

// TestGoTLS12Resumption resumes a TLS 1.2 session by ticket. Go logs no
// key for the abbreviated handshake: alone it has no key; with the
// Sessions of the first connection it decrypts, Finished messages
// verified.
func TestGoTLS12Resumption(t *testing.T) {
	cache := tls.NewLRUClientSessionCache(4)
	cert := testCert(t)
	o := goTLSOpts{version: tls.VersionTLS12, suite: tls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256, sessionCache: cache, cert: &cert}
	first := runGoTLS(t, o)
	second := runGoTLS(t, o)
	if !second.state.DidResume {
		t.Fatal("the second connection did not resume")
	}
	keys := keysOf(t, append(bytes.Clone(first.keyLog), second.keyLog...))
	alone := NewConn(keys)
	feedRun(alone, second.log, 0)
	if st := alone.Status(); st.State != tlskeys.StateNoKey || !st.Resumed || st.Decrypted != 0 {
		t.Errorf("without the first session: %+v", st)
	}
	sessions := NewSessions(8)
	for i, run := range []*goTLSRun{first, second} {
		c := NewConn(keys)
		c.UseSessions(sessions)
		d := feedRun(c, run.log, 0)
		wantApp(t, d)
		want := KeyLog
		if i == 1 {
			want = KeyResumed
		}
		if st := c.Status(); st.Resumed != (i == 1) || st.State != tlskeys.StateDecrypting || st.Key != want ||
			st.ClientFinished != tlskeys.FinishedVerified || st.ServerFinished != tlskeys.FinishedVerified {
			t.Errorf("connection %d: %+v", i, st)
		}
	}
	if sessions.Len() == 0 {
		t.Error("no session kept")
	}
}
