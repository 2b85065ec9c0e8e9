package decode

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"testing"

	"github.com/coapaudit/coapaudit/internal/testenv"
)

// FuzzDecodeDTLS checks DTLS.Decode and LooksLikeDTLS on arbitrary
// datagrams: no panic, every span inside the input, records tiling the
// decoded prefix, handshake messages inside their records, the same result
// from a fresh and from a reused DTLS, and LooksLikeDTLS accepting only
// what Decode frames whole.
func FuzzDecodeDTLS(f *testing.F) {
	path := filepath.Join(testenv.CapturesDirIfPresent(), "libcoap-dtls-proxy.pcap")
	if _, err := os.Stat(path); err == nil {
		for _, p := range dtlsReadUDP(f, path) {
			f.Add(p.Payload, uint8(0))
		}
	}
	cke := dtlsRec(ContentHandshake, VersionDTLS12, 0, 2, dtlsMsg(HandshakeClientKeyExchange, 2, dtlsCat(dtlsVec16(dtlsAlice), dtlsX25519)))
	f.Add(cke, uint8(0))
	f.Add(dtlsCat(dtlsCIDRec(1, 4, []byte{9, 8, 7}, dtlsCipher), dtlsCIDRec(1, 5, []byte{9, 8, 7}, dtlsCipher[:20])), uint8(0))
	f.Add(dtlsCat([]byte{0x3d, 0xc1, 0xc2, 0x12, 0x34, 0, 40}, dtlsCipher), uint8(2))
	f.Add(dtlsCat([]byte{0x31, 0xc1, 0x09}, dtlsCipher), uint8(0))
	f.Add(dtlsRec(ContentHandshake, VersionDTLS12, 0, 0, dtlsFrag(HandshakeCertificate, 4, 100, 40, make([]byte, 30))), uint8(0))

	fresh := func(b []byte, cidLen int) (*DTLS, error) {
		d := &DTLS{ConnIDLen: cidLen}
		return d, d.Decode(b)
	}
	var reused DTLS
	f.Fuzz(func(t *testing.T, b []byte, cid uint8) {
		cidLen := int(cid) % 20
		d, err := fresh(b, cidLen)
		checkDTLSClone(t, b, cidLen)

		end := 0
		for i, r := range d.Records {
			if r.Span.Off != end {
				t.Fatalf("record %d starts at %d, previous ended at %d", i, r.Span.Off, end)
			}
			if r.Span.Len != r.HeaderLen+r.Length || len(r.Fragment) != r.Length || r.HeaderLen < 1 {
				t.Fatalf("record %d: span %+v, header %d, length %d, fragment %d", i, r.Span, r.HeaderLen, r.Length, len(r.Fragment))
			}
			end += r.Span.Len
			if end > len(b) {
				t.Fatalf("record %d ends at %d past %d", i, end, len(b))
			}
			if r.Length > 0 && &r.Fragment[0] != &b[r.Span.Off+r.HeaderLen] {
				t.Fatalf("record %d: fragment does not borrow the input", i)
			}
			if r.ConnIDUnknown && end != len(b) {
				t.Fatalf("record %d with unknown CID length does not end the datagram", i)
			}
			r.Alert()
			_ = r.ContentType.String()
		}
		if err != nil {
			var fe *FormatError
			if !errors.As(err, &fe) {
				t.Fatalf("error %T %v is not a *FormatError", err, err)
			}
			if fe.Off < end || fe.Off > len(b) {
				t.Fatalf("error offset %d outside [%d, %d]", fe.Off, end, len(b))
			}
		} else if end != len(b) {
			n := len(d.Anomalies)
			if n == 0 || d.Anomalies[n-1].Kind != AnomalyDTLSTrailing || d.Anomalies[n-1].Off != end {
				t.Fatalf("records end at %d of %d without a trailing anomaly: %+v", end, len(b), d.Anomalies)
			}
		}
		for _, a := range d.Anomalies {
			if a.Off < 0 || a.Off >= len(b) {
				t.Fatalf("anomaly %v at %d outside the input of %d", a.Kind, a.Off, len(b))
			}
		}
		for i, h := range d.Handshakes {
			if h.Record < 0 || h.Record >= len(d.Records) {
				t.Fatalf("handshake %d in record %d of %d", i, h.Record, len(d.Records))
			}
			r := d.Records[h.Record]
			lo, hi := r.Span.Off+r.HeaderLen, r.Span.Off+r.Span.Len
			if h.Span.Off < lo || h.Span.Off+h.Span.Len > hi || h.Span.Len != dtlsHandshakeLen+len(h.Body) ||
				uint32(len(h.Body)) != h.FragmentLength {
				t.Fatalf("handshake %d span %+v body %d outside record fragment [%d, %d)", i, h.Span, len(h.Body), lo, hi)
			}
			_ = h.Type.String()
		}
		c := &d.ClientHello
		for i := range c.NumCipherSuites() {
			_ = c.CipherSuite(i).String()
		}
		for i := 0; ; i++ {
			if _, _, ok := c.PSKIdentity(i); !ok {
				break
			}
		}
		for _, s := range []CipherSuite{0, TLS_PSK_WITH_AES_128_CCM_8, TLS_ECDHE_PSK_WITH_AES_128_CCM_8_SHA256, 0xC0AE, 0x00AC} {
			for _, known := range []bool{false, true} {
				if id, ok := d.PSKIdentity(s, known); ok && len(id) > len(d.ClientKeyExchange) {
					t.Fatal("identity longer than its message")
				}
				if h, ok := d.PSKIdentityHint(s, known); ok && len(h) > len(d.ServerKeyExchange) {
					t.Fatal("hint longer than its message")
				}
			}
		}

		reused.ConnIDLen = cidLen
		rerr := reused.Decode(b)
		if (rerr == nil) != (err == nil) ||
			!reflect.DeepEqual(reused.Records, d.Records) && len(d.Records)+len(reused.Records) > 0 ||
			!reflect.DeepEqual(reused.Handshakes, d.Handshakes) && len(d.Handshakes)+len(reused.Handshakes) > 0 ||
			!reflect.DeepEqual(reused.Anomalies, d.Anomalies) && len(d.Anomalies)+len(reused.Anomalies) > 0 ||
			!reflect.DeepEqual(reused.ClientHello, d.ClientHello) || !reflect.DeepEqual(reused.ServerHello, d.ServerHello) ||
			reused.HasCipherSuite != d.HasCipherSuite || reused.CipherSuite != d.CipherSuite {
			t.Fatalf("reused DTLS decodes differently: %v vs %v", rerr, err)
		}

		if LooksLikeDTLS(b) {
			d0, err := fresh(b, 0)
			if err != nil {
				t.Fatalf("LooksLikeDTLS accepted what Decode rejects: %v", err)
			}
			for i, r := range d0.Records {
				if r.ConnIDUnknown {
					t.Fatalf("LooksLikeDTLS accepted record %d with an unknown CID length", i)
				}
			}
			for _, a := range d0.Anomalies {
				if a.Kind == AnomalyDTLSTrailing {
					t.Fatal("LooksLikeDTLS accepted trailing bytes")
				}
			}
		}
	})
}
