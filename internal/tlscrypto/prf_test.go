package tlscrypto

import (
	"bytes"
	"crypto"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/hex"
	"hash"
	"testing"

	"github.com/pion/dtls/v3/pkg/crypto/prf"

	"github.com/coapaudit/coapaudit/decode"
)

// TestPRF checks the TLS 1.2 PRF against the widely used SHA-256 test
// vector (secret 9bbe..., label "test label") and against pion's P_hash
// for SHA-384.
func TestPRF(t *testing.T) {
	secret, _ := hex.DecodeString("9bbe436ba940f017b17652849a71db35")
	seed, _ := hex.DecodeString("a0ba9f936cda311827a6f796ffd5198c")
	want, _ := hex.DecodeString("e3f229ba727be17b8d122620557cd453c2aab21d07c3d495329b52d4e61edb5a" +
		"6b301791e90d35c9c9a46b4e14baf9af0fa022f7077def17abfd3797c0564bab" +
		"4fbc91666e9def9b97fce34f796789baa48082d122ee42c5a72e5a5110fff701" +
		"87347b66")
	got := make([]byte, len(want))
	PRF12(crypto.SHA256, secret, "test label", seed, got)
	if !bytes.Equal(got, want) {
		t.Errorf("PRF-SHA256 = %x", got)
	}
	for _, h := range []struct {
		c crypto.Hash
		f func() hash.Hash
	}{{crypto.SHA256, sha256.New}, {crypto.SHA384, sha512.New384}} {
		label := []byte("key expansion")
		out := make([]byte, 136)
		PRF12(h.c, secret, string(label), seed, out)
		p, err := prf.PHash(secret, append(label, seed...), len(out), h.f)
		if err != nil || !bytes.Equal(out, p) {
			t.Errorf("%v: %x, pion %x", h.c, out, p)
		}
	}
}

// TestParamsFor checks what the registry names give.
func TestParamsFor(t *testing.T) {
	for _, tc := range []struct {
		s       decode.CipherSuite
		ok      bool
		bulk    Bulk
		key     int
		tag     int
		prf     crypto.Hash
		macHash crypto.Hash
	}{
		{0xC0A8, true, BulkAESCCM, 16, 8, crypto.SHA256, 0},           // PSK_WITH_AES_128_CCM_8
		{0xC0A5, true, BulkAESCCM, 32, 16, crypto.SHA256, 0},          // PSK_WITH_AES_256_CCM
		{0x00A9, true, BulkAESGCM, 32, 16, crypto.SHA384, 0},          // PSK_WITH_AES_256_GCM_SHA384
		{0xD003, true, BulkAESCCM, 16, 8, crypto.SHA256, 0},           // ECDHE_PSK_WITH_AES_128_CCM_8_SHA256
		{0xCCAC, true, BulkChaCha, 32, 16, crypto.SHA256, 0},          // ECDHE_PSK_WITH_CHACHA20_POLY1305_SHA256
		{0xC00A, true, BulkAESCBC, 32, 0, crypto.SHA256, crypto.SHA1}, // ECDHE_ECDSA_WITH_AES_256_CBC_SHA
		{0xC038, true, BulkAESCBC, 32, 0, crypto.SHA384, crypto.SHA384},
		{0x000A, false, 0, 0, 0, 0, 0},                      // RSA_WITH_3DES_EDE_CBC_SHA
		{0xC0FF, true, BulkAESCCM, 16, 8, crypto.SHA256, 0}, // ECJPAKE_WITH_AES_128_CCM_8
	} {
		p, ok := ParamsFor(tc.s)
		if ok != tc.ok || ok && (p.Bulk != tc.bulk || p.KeyLen != tc.key || p.TagLen != tc.tag || p.PRF != tc.prf || p.MACHash != tc.macHash || p.TLS13) {
			t.Errorf("%v: %+v %v", tc.s, p, ok)
		}
	}
}

// TestParams13 checks the TLS 1.3 suites (RFC 8446 B.4).
func TestParams13(t *testing.T) {
	for _, tc := range []struct {
		s        decode.CipherSuite
		bulk     Bulk
		key, tag int
		h        crypto.Hash
		ok       bool
	}{
		{0x1301, BulkAESGCM, 16, 16, crypto.SHA256, true},
		{0x1302, BulkAESGCM, 32, 16, crypto.SHA384, true},
		{0x1303, BulkChaCha, 32, 16, crypto.SHA256, true},
		{0x1304, BulkAESCCM, 16, 16, crypto.SHA256, true},
		{0x1305, BulkAESCCM, 16, 8, crypto.SHA256, true},
		{0x1306, 0, 0, 0, 0, false},
	} {
		p, ok := ParamsFor(tc.s)
		if ok != tc.ok || ok && (!p.TLS13 || p.Bulk != tc.bulk || p.KeyLen != tc.key || p.TagLen != tc.tag || p.PRF != tc.h || p.FixedIVLen() != 12 || p.ExplicitNonceLen() != 0) {
			t.Errorf("%v: %+v %v", tc.s, p, ok)
		}
	}
}
