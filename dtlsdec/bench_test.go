package dtlsdec

import (
	"fmt"
	"testing"

	"github.com/pion/dtls/v3"

	"github.com/coapaudit/coapaudit/decode"
	"github.com/coapaudit/coapaudit/tlskeys"
)

// establishedRun returns a Decrypter that has followed a pion session's
// handshake, and the decoded last application data datagram from the
// client, to be fed again and again.
func establishedRun(tb testing.TB, suite dtls.CipherSuiteID) (*Decrypter, *pionRun, *decode.DTLS) {
	psk := []byte("0123456789abcdef")
	run := runPion(tb, pionOpts{suite: suite, psk: psk, identity: "alice"})
	p, _ := tlskeys.ParsePSK(fmt.Sprintf("alice=%x", psk))
	x, d := followRun(tb, run, &tlskeys.Keys{PSKs: []tlskeys.PSK{p}})
	return x, run, d
}

// followRun returns a Decrypter with keys that has followed run, and the
// decoded last datagram of application data from the client.
func followRun(tb testing.TB, run *pionRun, keys *tlskeys.Keys) (*Decrypter, *decode.DTLS) {
	x := New(Config{Keys: keys})
	var res Result
	last := -1
	for i, g := range run.log {
		var d decode.DTLS
		src, dst := run.client, run.server
		if !g.fromClient {
			src, dst = dst, src
		}
		d.Decode(g.b)
		x.Datagram(i+1, src, dst, &d, &res)
		if g.fromClient && len(res.Records) == 1 && res.Records[0].Type == decode.ContentApplicationData {
			last = i
		}
	}
	if last < 0 {
		tb.Fatal("no application data from the client")
	}
	d := &decode.DTLS{}
	if err := d.Decode(run.log[last].b); err != nil {
		tb.Fatal(err)
	}
	return x, d
}

func TestDecryptAllocs(t *testing.T) {
	for _, s := range []dtls.CipherSuiteID{dtls.TLS_PSK_WITH_AES_128_CCM_8, dtls.TLS_PSK_WITH_AES_128_GCM_SHA256,
		dtls.TLS_PSK_WITH_CHACHA20_POLY1305_SHA256, dtls.TLS_PSK_WITH_AES_128_CBC_SHA256} {
		x, run, d := establishedRun(t, s)
		var res Result
		x.Datagram(0, run.client, run.server, d, &res)
		if n := testing.AllocsPerRun(100, func() {
			x.Datagram(0, run.client, run.server, d, &res)
			if len(res.Records) != 1 {
				t.Fatalf("%d records", len(res.Records))
			}
		}); n != 0 {
			t.Errorf("%v: %v allocations per record", s, n)
		}
	}
}

// BenchmarkDecrypt decrypts one application data record of a real pion
// session (a 29-byte message) per op, for each AEAD and CBC suite family.
func BenchmarkDecrypt(b *testing.B) {
	for _, tc := range []struct {
		name  string
		suite dtls.CipherSuiteID
	}{
		{"CCM8", dtls.TLS_PSK_WITH_AES_128_CCM_8},
		{"GCM", dtls.TLS_PSK_WITH_AES_128_GCM_SHA256},
		{"ChaCha20", dtls.TLS_PSK_WITH_CHACHA20_POLY1305_SHA256},
		{"CBC-SHA256", dtls.TLS_PSK_WITH_AES_128_CBC_SHA256},
	} {
		b.Run(tc.name, func(b *testing.B) {
			x, run, d := establishedRun(b, tc.suite)
			benchDatagram(b, x, run, d)
		})
	}
}

// benchDatagram decrypts datagram d of run with x once per op.
func benchDatagram(b *testing.B, x *Decrypter, run *pionRun, d *decode.DTLS) {
	var res Result
	b.ReportAllocs()
	b.SetBytes(int64(len(d.Raw)))
	for b.Loop() {
		x.Datagram(0, run.client, run.server, d, &res)
	}
	if len(res.Records) != 1 {
		b.Fatalf("%d records decrypted", len(res.Records))
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "records/s")
}
