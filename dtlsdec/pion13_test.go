package dtlsdec

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	dtls4 "github.com/pion/dtls/v4"
	"github.com/pion/dtls/v4/pkg/crypto/selfsign"

	"github.com/coapaudit/coapaudit/decode"
	"github.com/coapaudit/coapaudit/tlskeys"
)

// runPion13 runs a pion/dtls v4 server and client on 127.0.3.x, which
// negotiate DTLS 1.3 (RFC 9147) with a certificate; the client sends
// three messages and the server echoes each. The client writes the key
// log.
func runPion13(t testing.TB, keyUpdate bool, opts ...dtls4.Option) *pionRun {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	cert, err := selfsign.GenerateSelfSigned()
	if err != nil {
		t.Fatal(err)
	}
	var keyLog bytes.Buffer
	var klMu sync.Mutex
	sopts := []dtls4.ServerOption{dtls4.WithCertificates(cert), dtls4.WithMinVersion(0xfefc)}
	copts := []dtls4.ClientOption{dtls4.WithInsecureSkipVerify(true), dtls4.WithMinVersion(0xfefc),
		dtls4.WithKeyLogWriter(writerFunc(func(p []byte) (int, error) { klMu.Lock(); defer klMu.Unlock(); return keyLog.Write(p) }))}
	for _, o := range opts {
		sopts, copts = append(sopts, o), append(copts, o)
	}
	ln, err := dtls4.ListenAddr("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 3, 1)}, sopts...)
	srv, run, stop := startEcho(t, ln, err)
	defer stop()
	rc := newRecConn(t)
	run.client = rc.client
	c, err := dtls4.Client(rc, srv, copts...)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.HandshakeContext(ctx); err != nil {
		t.Fatal(err)
	}
	exchange(t, c, run, "", func(i int) {
		if keyUpdate && i == 0 {
			if err := c.UpdateKeys(ctx, dtls4.KeyUpdateOptions{RequestPeerUpdate: true}); err != nil {
				t.Fatal(err)
			}
		}
	})
	c.Close()
	stop()
	run.log = rc.datagrams()
	klMu.Lock()
	run.keyLog = keyLog.String()
	klMu.Unlock()
	return run
}

// TestPionDTLS13 decrypts real DTLS 1.3 sessions (pion/dtls v4 client
// and server) with the client's key log: each TLS 1.3 suite pion offers,
// connection IDs, a KeyUpdate that asks the peer to update too. The
// application data both ways must be what was sent, both Finished
// messages verified; a corrupted key log gives the mismatch state and no
// plaintext.
func TestPionDTLS13(t *testing.T) {
	for _, tc := range []struct {
		name      string
		keyUpdate bool
		opts      []dtls4.Option
	}{
		{"AES128GCM", false, nil},
		{"AES256GCM-SHA384", false, []dtls4.Option{dtls4.WithCipherSuites(0x1302)}},
		{"ChaCha20", false, []dtls4.Option{dtls4.WithCipherSuites(0x1303)}},
		{"ConnectionID", false, []dtls4.Option{dtls4.WithConnectionID(dtls4.RandomCIDGenerator(4), dtls4.CIDPathMigrationReject)}},
		{"KeyUpdate", true, nil},
		{"ChaCha20-CID-KeyUpdate", true, []dtls4.Option{dtls4.WithCipherSuites(0x1303), dtls4.WithConnectionID(dtls4.RandomCIDGenerator(6), dtls4.CIDPathMigrationReject)}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			run := runPion13(t, tc.keyUpdate, tc.opts...)
			if !strings.Contains(run.keyLog, tlskeys.LabelServerHandshake) {
				t.Fatalf("no DTLS 1.3 secrets in the key log:\n%s", run.keyLog)
			}
			kl := &tlskeys.KeyLog{}
			if err := kl.Read(strings.NewReader(run.keyLog), "keylog"); err != nil {
				t.Fatal(err)
			}
			toServer, toClient, info := decryptRun(t, run, &tlskeys.Keys{Log: kl})
			if fmt.Sprint(toServer) != fmt.Sprint(run.sent) || fmt.Sprint(toClient) != fmt.Sprint(run.echoed) {
				t.Errorf("to the server %q, want %q; to the client %q, want %q", toServer, run.sent, toClient, run.echoed)
			}
			if info.Status != StatusDecrypting || info.Key != KeyLog || info.ClientFinished != FinishedVerified ||
				info.ServerFinished != FinishedVerified || info.Failed != 0 {
				t.Errorf("%+v", info)
			}
			bad := &tlskeys.KeyLog{}
			if err := bad.Read(strings.NewReader(flipSecrets(run.keyLog)), "bad"); err != nil {
				t.Fatal(err)
			}
			toServer, toClient, info = decryptRun(t, run, &tlskeys.Keys{Log: bad})
			if info.Status != StatusKeyMismatch || len(toServer)+len(toClient) != 0 || info.Decrypted != 0 {
				t.Errorf("corrupted key log: %+v", info)
			}
		})
	}
}

// flipSecrets changes the first hex digit of every secret of a key log.
func flipSecrets(keyLog string) string {
	var b strings.Builder
	for _, l := range strings.Split(keyLog, "\n") {
		f := strings.Fields(l)
		if len(f) == 3 {
			d := byte('0')
			if f[2][0] == '0' {
				d = '1'
			}
			l = f[0] + " " + f[1] + " " + string(d) + f[2][1:]
		}
		b.WriteString(l + "\n")
	}
	return b.String()
}

// TestDecryptAllocs13 checks that decrypting a DTLS 1.3 record of a pion
// session allocates nothing once the session is established (the record
// is fed again: its sequence number is reconstructed to the same value).
func TestDecryptAllocs13(t *testing.T) {
	for _, tc := range []struct {
		name   string
		opts   []dtls4.Option
		allocs float64
	}{{"AES128GCM", nil, 0}, {"ChaCha20", []dtls4.Option{dtls4.WithCipherSuites(0x1303)}, 0}} {
		x, run, d := established13(t, tc.opts...)
		var res Result
		if n := testing.AllocsPerRun(100, func() {
			x.Datagram(0, run.client, run.server, d, &res)
			if len(res.Records) != 1 {
				t.Fatalf("%d records", len(res.Records))
			}
		}); n != tc.allocs {
			t.Errorf("%s: %v allocations per record, want %v", tc.name, n, tc.allocs)
		}
	}
}

// established13 returns a Decrypter that has followed a pion DTLS 1.3
// session, and the decoded last application data datagram from the
// client.
func established13(tb testing.TB, opts ...dtls4.Option) (*Decrypter, *pionRun, *decode.DTLS) {
	run := runPion13(tb, false, opts...)
	kl := &tlskeys.KeyLog{}
	if err := kl.Read(strings.NewReader(run.keyLog), "keylog"); err != nil {
		tb.Fatal(err)
	}
	x, d := followRun(tb, run, &tlskeys.Keys{Log: kl})
	return x, run, d
}

// BenchmarkDecrypt13 decrypts one DTLS 1.3 application data record of a
// pion session per op.
func BenchmarkDecrypt13(b *testing.B) {
	for _, tc := range []struct {
		name string
		opts []dtls4.Option
	}{{"AES128GCM", nil}, {"ChaCha20", []dtls4.Option{dtls4.WithCipherSuites(0x1303)}}} {
		b.Run(tc.name, func(b *testing.B) {
			x, run, d := established13(b, tc.opts...)
			benchDatagram(b, x, run, d)
		})

	}
}
