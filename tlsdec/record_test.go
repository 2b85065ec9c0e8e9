package tlsdec

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"flag"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/coapaudit/coapaudit/internal/testenv"
)

var (
	recordCaptures = flag.Bool("record", false, "record the captures of testdata again (tcpdump on lo as root, libcoap)")
	recordOnly     = flag.String("record-only", "", "with -record: only the libcoap capture of this name")
)

// Ports of the recorded captures.
const (
	goTLSPort   = 47684
	libcoapPort = 47690 // coap-server listens on +1 for coaps, TCP and UDP
)

// The end of a recording: a datagram to markerPort.
const (
	markerPort = 47699
	captureEnd = "coapaudit-capture-end"
)

// tcpdump captures loopback traffic matching filter into file until the
// returned function is called.
func tcpdump(t *testing.T, file, filter string) (stop func()) {
	t.Helper()
	path := testenv.Tool(t, "tcpdump")
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	filter = "(" + filter + ") or udp port " + strconv.Itoa(markerPort)
	cmd := exec.CommandContext(ctx, path, "-i", "lo", "--immediate-mode", "-B", "32768", "-Z", "root", "-U", "-s", "0", "-w", file, filter)
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		cancel()
		t.Fatal(err)
	}
	sc := bufio.NewScanner(stderr)
	for sc.Scan() {
		if strings.Contains(sc.Text(), "listening on") {
			break
		}
	}
	done := make(chan string)
	go func() {
		var rest strings.Builder
		for sc.Scan() {
			rest.WriteString(sc.Text() + "\n")
		}
		done <- rest.String()
	}()
	return func() {
		// tcpdump drops what it has not read yet when interrupted:
		// send a marker datagram and wait until the file holds it.
		u, err := net.Dial("udp", "127.0.0.1:"+strconv.Itoa(markerPort))
		if err != nil {
			t.Fatal(err)
		}
		u.Write([]byte(captureEnd))
		u.Close()
		deadline := time.Now().Add(20 * time.Second)
		for {
			b, _ := os.ReadFile(file)
			if bytes.Contains(b, []byte(captureEnd)) {
				break
			}
			if time.Now().After(deadline) {
				t.Fatal("tcpdump did not write the end marker")
			}
			time.Sleep(10 * time.Millisecond) // polling the file for the marker
		}
		cmd.Process.Signal(syscall.SIGINT)
		out := <-done
		cmd.Wait()
		cancel()
		if !strings.Contains(out, "\n0 packets dropped by kernel") {
			t.Errorf("tcpdump: %s", out)
		}
	}
}

// TestRecordGoCaptures records go-tls13.pcap and go-tls12.pcap with their
// key logs: Go crypto/tls client and server on 127.0.0.1, port goTLSPort.
// It runs only with -record.
func TestRecordGoCaptures(t *testing.T) {
	if !*recordCaptures {
		t.Skip("records captures only with -record")
	}
	cert := testCert(t)
	for _, rc := range []struct {
		name string
		runs []goTLSOpts
	}{
		{"go-tls13", []goTLSOpts{
			{version: tls.VersionTLS13},
			{version: tls.VersionTLS13, sessionCache: tls.NewLRUClientSessionCache(1)},
			{version: tls.VersionTLS13, clientCurves: []tls.CurveID{tls.CurveP256, tls.CurveP384}, serverCurves: []tls.CurveID{tls.CurveP384}},
		}},
		{"go-tls12", []goTLSOpts{
			{version: tls.VersionTLS12, suite: tls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256},
			{version: tls.VersionTLS12, suite: tls.TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384},
			{version: tls.VersionTLS12, suite: tls.TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256},
			{version: tls.VersionTLS12, suite: tls.TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA},
			{version: tls.VersionTLS12, suite: tls.TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA256},
		}},
	} {
		pcap := filepath.Join("testdata", rc.name+".pcap")
		kl, err := os.Create(filepath.Join("testdata", rc.name+".keylog"))
		if err != nil {
			t.Fatal(err)
		}
		stop := tcpdump(t, pcap, "tcp port "+itoa(goTLSPort))
		for _, o := range rc.runs {
			o.cert, o.keyLog, o.port = &cert, kl, goTLSPort
			runGoTLS(t, o)
			if o.sessionCache != nil { // resume it
				runGoTLS(t, o)
			}
		}
		stop()
		kl.Close()
	}
}

func itoa(n int) string { return strconv.Itoa(n) }

// libcoapRun is one recording of libcoap's GnuTLS programs over coaps+tcp.
type libcoapRun struct {
	name       string
	serverArgs []string
	clientArgs []string
	priority   string // GNUTLS_SYSTEM_PRIORITY_FILE contents for both ("": defaults)
}

// TestRecordLibcoapCaptures records libcoap-tls-*.pcap: libcoap 4.3
// coap-client-gnutls against coap-server-gnutls over coaps+tcp on
// 127.0.0.1, each process writing SSLKEYLOGFILE. It runs only with
// -record.
func TestRecordLibcoapCaptures(t *testing.T) {
	if !*recordCaptures {
		t.Skip("records captures only with -record")
	}
	server := testenv.Tool(t, "coap-server-gnutls")
	client := testenv.Tool(t, "coap-client-gnutls")
	dir := t.TempDir()
	certFile, keyFile := filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	writePEM(t, certFile, keyFile)
	psk := []string{"-k", "hopKey"}
	for _, rc := range []libcoapRun{
		{name: "libcoap-tls-psk", serverArgs: psk, clientArgs: append([]string{"-u", "alice"}, psk...)},
		{name: "libcoap-tls-plainpsk", serverArgs: psk, clientArgs: append([]string{"-u", "alice"}, psk...),
			priority: "[overrides]\ntls-disabled-kx = ECDHE-PSK\ntls-disabled-kx = DHE-PSK\n"},
		{name: "libcoap-tls-cbc", serverArgs: psk, clientArgs: append([]string{"-u", "alice"}, psk...),
			priority: "[overrides]\ntls-disabled-cipher = CHACHA20-POLY1305\ntls-disabled-cipher = AES-256-GCM\ntls-disabled-cipher = AES-128-GCM\n" +
				"tls-disabled-cipher = AES-256-CCM\ntls-disabled-cipher = AES-128-CCM\ntls-disabled-cipher = AES-256-CCM-8\ntls-disabled-cipher = AES-128-CCM-8\n" +
				"tls-disabled-kx = ECDHE-PSK\ntls-disabled-kx = DHE-PSK\n"},
		{name: "libcoap-tls-cert", serverArgs: []string{"-c", certFile, "-j", keyFile}, clientArgs: []string{"-n"}},
		{name: "libcoap-tls-ccm8", serverArgs: psk, clientArgs: append([]string{"-u", "alice"}, psk...),
			priority: "[overrides]\ntls-disabled-cipher = CHACHA20-POLY1305\ntls-disabled-cipher = AES-256-GCM\ntls-disabled-cipher = AES-128-GCM\n" +
				"tls-disabled-cipher = AES-256-CCM\ntls-disabled-cipher = AES-128-CCM\ntls-disabled-cipher = AES-256-CCM-8\n" +
				"tls-disabled-cipher = AES-256-CBC\ntls-disabled-cipher = AES-128-CBC\ntls-disabled-cipher = CAMELLIA-256-CBC\ntls-disabled-cipher = CAMELLIA-128-CBC\n" +
				"tls-disabled-kx = ECDHE-PSK\ntls-disabled-kx = DHE-PSK\n"},
	} {
		if *recordOnly != "" && rc.name != *recordOnly {
			continue
		}
		recordLibcoap(t, server, client, dir, rc)
	}
}

func recordLibcoap(t *testing.T, server, client, dir string, rc libcoapRun) {
	keylog := filepath.Join("testdata", rc.name+".keylog")
	os.Remove(keylog)
	env := append(os.Environ(), "SSLKEYLOGFILE="+keylog)
	if rc.priority != "" {
		pf := filepath.Join(dir, rc.name+".conf")
		if err := os.WriteFile(pf, []byte(rc.priority), 0o644); err != nil {
			t.Fatal(err)
		}
		env = append(env, "GNUTLS_SYSTEM_PRIORITY_FILE="+pf)
	}
	stop := tcpdump(t, filepath.Join("testdata", rc.name+".pcap"), "tcp port "+itoa(libcoapPort+1))
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	srv := exec.CommandContext(ctx, server, append([]string{"-A", "127.0.0.1", "-p", itoa(libcoapPort), "-v", "0"}, rc.serverArgs...)...)
	srv.Env = env
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		srv.Process.Kill()
		srv.Wait()
	}()
	addr := "127.0.0.1:" + itoa(libcoapPort+1)
	for deadline := time.Now().Add(10 * time.Second); ; {
		if c, err := net.Dial("tcp", addr); err == nil {
			c.Close()
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("coap-server-gnutls does not listen")
		}
		time.Sleep(20 * time.Millisecond) // polling until the server listens
	}
	uri := "coaps+tcp://" + addr
	for _, args := range [][]string{{uri + "/time"}, {"-m", "put", "-e", "{\"t\":21.5}", uri + "/example_data"}, {uri + "/example_data"}} {
		cl := exec.CommandContext(ctx, client, append(append([]string{"-B", "5"}, rc.clientArgs...), args...)...)
		cl.Env = env
		if out, err := cl.CombinedOutput(); err != nil {
			t.Fatalf("%s %v: %v: %s", rc.name, args, err, out)
		}
	}
	stop()
}

// writePEM writes a self-signed ECDSA certificate and its key.
func writePEM(t *testing.T, certFile, keyFile string) {
	c := testCert(t)
	der, err := x509.MarshalPKCS8PrivateKey(c.PrivateKey)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.Certificate[0]}), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
}

// opensslPort is the port of openssl-tls13.pcap.
const opensslPort = 47695

// TestRecordOpenSSLCapture records openssl-tls13.pcap: openssl s_client
// and s_server (3.0) with each TLS 1.3 cipher suite Go does not let a
// test choose, each connection with a KeyUpdate that asks the peer to
// update too (s_client's "K" command). The lines sent are text, not
// CoAP. It runs only with -record.
func TestRecordOpenSSLCapture(t *testing.T) {
	r := startOpenSSLRecording(t, "openssl-tls13")
	openssl, certFile, keyFile, keylog := r.openssl, r.cert, r.key, r.keylog
	for _, suite := range []string{"TLS_CHACHA20_POLY1305_SHA256", "TLS_AES_256_GCM_SHA384", "TLS_AES_128_CCM_SHA256", "TLS_AES_128_CCM_8_SHA256"} {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		srv := startLines(t, ctx, openssl, "s_server", "-accept", itoa(opensslPort), "-cert", certFile, "-key", keyFile,
			"-naccept", "1", "-ciphersuites", suite, "-keylogfile", keylog)
		srv.waitFor(t, "ACCEPT")
		cl := startLines(t, ctx, openssl, "s_client", "-connect", "127.0.0.1:"+itoa(opensslPort), "-servername", "coap.test",
			"-ciphersuites", suite)
		cl.say(t, srv, "hello "+suite)
		cl.send(t, "K")
		cl.waitFor(t, "KEYUPDATE")
		cl.say(t, srv, "after the update")
		srv.say(t, cl, "reply from the server")
		cl.end()
		srv.end()
		cancel()
	}
	r.stop()
}

// opensslRecording is what an OpenSSL recording needs.
type opensslRecording struct {
	openssl, dir, cert, key, keylog string
	stop                            func()
}

// startOpenSSLRecording skips without -record; otherwise it makes a
// certificate, removes testdata/NAME.keylog and starts capturing
// testdata/NAME.pcap.
func startOpenSSLRecording(t *testing.T, name string) *opensslRecording {
	if !*recordCaptures {
		t.Skip("records captures only with -record")
	}
	r := &opensslRecording{openssl: testenv.Tool(t, "openssl"), dir: t.TempDir()}
	r.cert, r.key = filepath.Join(r.dir, "cert.pem"), filepath.Join(r.dir, "key.pem")
	writePEM(t, r.cert, r.key)
	r.keylog = filepath.Join("testdata", name+".keylog")
	os.Remove(r.keylog)
	r.stop = tcpdump(t, filepath.Join("testdata", name+".pcap"), "tcp port "+itoa(opensslPort))
	return r
}

// lineProc is a program whose stdin the test writes and whose output
// lines it waits for.
type lineProc struct {
	cmd   *exec.Cmd
	stdin io.WriteCloser
	lines chan string
}

func startLines(t *testing.T, ctx context.Context, path string, args ...string) *lineProc {
	p := &lineProc{cmd: exec.CommandContext(ctx, path, args...), lines: make(chan string, 1000)}
	var err error
	if p.stdin, err = p.cmd.StdinPipe(); err != nil {
		t.Fatal(err)
	}
	out, err := p.cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	p.cmd.Stderr = p.cmd.Stdout
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			p.lines <- sc.Text()
		}
		close(p.lines)
	}()
	return p
}

func (p *lineProc) send(t *testing.T, line string) {
	if _, err := io.WriteString(p.stdin, line+"\n"); err != nil {
		t.Fatal(err)
	}
}

// say sends line and waits for peer to print it.
func (p *lineProc) say(t *testing.T, peer *lineProc, line string) {
	p.send(t, line)
	peer.waitFor(t, line)
}

// end closes the program's input and waits for it to exit.
func (p *lineProc) end() {
	p.stdin.Close()
	p.cmd.Wait()
}

func (p *lineProc) waitFor(t *testing.T, s string) {
	for l := range p.lines {
		if strings.Contains(l, s) {
			return
		}
	}
	t.Fatalf("%s ended before printing %q", p.cmd.Path, s)
}

// TestRecordOpenSSLEarlyData records openssl-tls13-early.pcap: an
// OpenSSL 3.0 client connects, keeps the session, and resumes it with
// 0-RTT data the server accepts. It runs only with -record.
func TestRecordOpenSSLEarlyData(t *testing.T) {
	r := startOpenSSLRecording(t, "openssl-tls13-early")
	openssl, certFile, keyFile, keylog := r.openssl, r.cert, r.key, r.keylog
	sess, early := filepath.Join(r.dir, "session.pem"), filepath.Join(r.dir, "early.txt")
	if err := os.WriteFile(early, []byte("early data: GET /temp\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	srv := startLines(t, ctx, openssl, "s_server", "-accept", itoa(opensslPort), "-cert", certFile, "-key", keyFile,
		"-naccept", "2", "-early_data", "-keylogfile", keylog)
	srv.waitFor(t, "ACCEPT")
	first := startLines(t, ctx, openssl, "s_client", "-connect", "127.0.0.1:"+itoa(opensslPort), "-servername", "coap.test", "-sess_out", sess)
	first.say(t, srv, "first connection")
	srv.say(t, first, "reply one")
	first.end()
	second := startLines(t, ctx, openssl, "s_client", "-connect", "127.0.0.1:"+itoa(opensslPort), "-servername", "coap.test",
		"-sess_in", sess, "-early_data", early)
	srv.waitFor(t, "early data: GET /temp")
	second.waitFor(t, "Early data was accepted")
	second.say(t, srv, "after the handshake")
	srv.say(t, second, "reply two")
	second.end()
	srv.end()
	r.stop()
}
