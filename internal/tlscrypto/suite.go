// Package tlscrypto holds the record protection that dtlsdec and tlsdec
// share: the cipher suite table, the TLS 1.2 PRF and key block, the record
// ciphers of TLS and DTLS 1.2 (RFC 5246 6.2.3), and the TLS 1.3 key
// schedule pieces a passive decrypter needs (HKDF-Expand-Label, traffic
// keys, KeyUpdate, Finished, RFC 8446 7; record number encryption,
// RFC 9147 4.2.3). It uses the standard library's ciphers, and
// internal/ccm for AES-CCM.
package tlscrypto

import (
	"crypto"
	"strings"

	"github.com/coapaudit/coapaudit/decode"
)

// Bulk is how a cipher suite protects records.
type Bulk uint8

const (
	BulkAESCCM Bulk = iota + 1
	BulkAESGCM
	BulkChaCha
	BulkAESCBC
)

// Params are the record protection parameters of a cipher suite
// (RFC 5246 6.3, RFC 6655, RFC 5288, RFC 7905; RFC 8446 B.4).
type Params struct {
	Bulk    Bulk
	KeyLen  int
	TagLen  int         // AEAD tag
	MACHash crypto.Hash // CBC suites: the HMAC hash
	PRF     crypto.Hash // the PRF (1.2) or HKDF (1.3) and handshake hash
	TLS13   bool        // a TLS 1.3 suite: the IV is 12 bytes, no explicit nonce
}

// FixedIVLen is the implicit part of the nonce taken from the key block,
// or the whole per-direction IV of a TLS 1.3 suite.
func (p *Params) FixedIVLen() int {
	if p.TLS13 {
		return 12
	}
	switch p.Bulk {
	case BulkAESCCM, BulkAESGCM:
		return 4
	case BulkChaCha:
		return 12
	}
	return 0
}

// ExplicitNonceLen is the per-record nonce or IV at the start of the
// fragment (TLS and DTLS 1.2).
func (p *Params) ExplicitNonceLen() int {
	if p.TLS13 {
		return 0
	}
	switch p.Bulk {
	case BulkAESCCM, BulkAESGCM:
		return 8
	case BulkAESCBC:
		return 16
	}
	return 0
}

// MACKeyLen is the length of the MAC keys in the key block.
func (p *Params) MACKeyLen() int {
	if p.Bulk == BulkAESCBC {
		return p.MACHash.Size()
	}
	return 0
}

// ParamsFor works the record protection of suite s out from its registry
// name: for TLS and DTLS 1.2 the part after "_WITH_" names the cipher,
// mode and hash (e.g. AES_128_CCM_8, AES_256_GCM_SHA384,
// CHACHA20_POLY1305_SHA256, AES_128_CBC_SHA); a TLS 1.3 suite
// (TLS_AES_128_GCM_SHA256, ...) has no "_WITH_" and sets TLS13. ok is false
// for suites the decrypter does not handle (NULL, 3DES, Camellia, ARIA,
// ...).
func ParamsFor(s decode.CipherSuite) (p Params, ok bool) {
	name := s.String()
	_, rest, found := strings.Cut(name, "_WITH_")
	if !found {
		return params13(name)
	}
	p.PRF = crypto.SHA256
	if strings.HasSuffix(rest, "_SHA384") {
		p.PRF = crypto.SHA384
	}
	switch {
	case rest == "CHACHA20_POLY1305_SHA256":
		p.Bulk, p.KeyLen, p.TagLen = BulkChaCha, 32, 16
		return p, true
	case strings.HasPrefix(rest, "AES_128_"):
		p.KeyLen = 16
	case strings.HasPrefix(rest, "AES_256_"):
		p.KeyLen = 32
	default:
		return p, false
	}
	mode := rest[len("AES_128_"):]
	switch mode {
	case "CCM", "CCM_SHA256":
		p.Bulk, p.TagLen = BulkAESCCM, 16
	case "CCM_8", "CCM_8_SHA256":
		p.Bulk, p.TagLen = BulkAESCCM, 8
	case "GCM_SHA256", "GCM_SHA384":
		p.Bulk, p.TagLen = BulkAESGCM, 16
	case "CBC_SHA":
		p.Bulk, p.MACHash = BulkAESCBC, crypto.SHA1
	case "CBC_SHA256":
		p.Bulk, p.MACHash = BulkAESCBC, crypto.SHA256
	case "CBC_SHA384":
		p.Bulk, p.MACHash = BulkAESCBC, crypto.SHA384
	default:
		return p, false
	}
	return p, true
}

// params13 gives the TLS 1.3 suites of RFC 8446 B.4.
func params13(name string) (Params, bool) {
	p := Params{TLS13: true, PRF: crypto.SHA256, TagLen: 16, KeyLen: 16}
	switch name {
	case "TLS_AES_128_GCM_SHA256":
		p.Bulk = BulkAESGCM
	case "TLS_AES_256_GCM_SHA384":
		p.Bulk, p.KeyLen, p.PRF = BulkAESGCM, 32, crypto.SHA384
	case "TLS_CHACHA20_POLY1305_SHA256":
		p.Bulk, p.KeyLen = BulkChaCha, 32
	case "TLS_AES_128_CCM_SHA256":
		p.Bulk = BulkAESCCM
	case "TLS_AES_128_CCM_8_SHA256":
		p.Bulk, p.TagLen = BulkAESCCM, 8
	default:
		return Params{}, false
	}
	return p, true
}
