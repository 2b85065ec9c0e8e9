package tlscrypto

import (
	"bytes"
	"crypto"
	"encoding/hex"
	"testing"

	"github.com/coapaudit/coapaudit/decode"
)

func unhex(t *testing.T, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestExpandLabelRFC8448 checks the traffic key derivation against the
// server handshake keys of RFC 8448 3 (simple 1-RTT handshake).
func TestExpandLabelRFC8448(t *testing.T) {
	secret := unhex(t, "b67b7d690cc16c4e75e54213cb2d37b4e9c912bcded9105d42befd59d391ad38")
	if got := ExpandLabel(crypto.SHA256, secret, "key", nil, 16, false); !bytes.Equal(got, unhex(t, "3fce516009c21727d0f2e4e86ee403bc")) {
		t.Errorf("key %x", got)
	}
	if got := ExpandLabel(crypto.SHA256, secret, "iv", nil, 12, false); !bytes.Equal(got, unhex(t, "5d313eb2671276ee13000b30")) {
		t.Errorf("iv %x", got)
	}
	if bytes.Equal(ExpandLabel(crypto.SHA256, secret, "key", nil, 16, true), ExpandLabel(crypto.SHA256, secret, "key", nil, 16, false)) {
		t.Error("the DTLS 1.3 label prefix changes nothing")
	}
}

// TestKeys13RoundTrip seals and opens a record with every TLS 1.3 suite,
// checks that a changed sequence number or header fails, and that the
// DTLS record number mask depends on the ciphertext.
func TestKeys13RoundTrip(t *testing.T) {
	secret := bytes.Repeat([]byte{7}, 48)
	for _, s := range []uint16{0x1301, 0x1302, 0x1303, 0x1304, 0x1305} {
		p, _ := ParamsFor(decodeSuite(s))
		k, err := NewKeys13(&p, secret[:p.PRF.Size()], true)
		if err != nil {
			t.Fatal(err)
		}
		ad := []byte{23, 3, 3, 0, 0}
		ct := k.Seal(nil, 5, []byte("hello\x17\x00\x00"), ad)
		if len(ct) != 8+p.TagLen {
			t.Errorf("%#x: %d bytes", s, len(ct))
		}
		pt, err := k.Open(make([]byte, len(ct)), ct, 5, ad)
		if err != nil {
			t.Fatalf("%#x: %v", s, err)
		}
		c, typ, err := InnerPlaintext(pt)
		if err != nil || string(c) != "hello" || typ != 23 {
			t.Errorf("%#x: %q %d %v", s, c, typ, err)
		}
		if _, err := k.Open(make([]byte, len(ct)), ct, 6, ad); err != ErrAuth {
			t.Errorf("%#x: wrong sequence number: %v", s, err)
		}
		if _, err := k.Open(make([]byte, len(ct)), ct, 5, []byte{23, 3, 3, 0, 1}); err != ErrAuth {
			t.Errorf("%#x: wrong header: %v", s, err)
		}
		m1, err := k.SNMask(ct)
		if err != nil {
			t.Fatal(err)
		}
		ct[0] ^= 1
		m2, _ := k.SNMask(ct)
		if m1 == m2 || m1 == [16]byte{} {
			t.Errorf("%#x: mask %x %x", s, m1, m2)
		}
	}
	if _, _, err := InnerPlaintext([]byte{0, 0}); err != ErrNoContentType {
		t.Errorf("all padding: %v", err)
	}
}

func decodeSuite(s uint16) decode.CipherSuite { return decode.CipherSuite(s) }
