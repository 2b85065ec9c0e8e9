package dtlsdec

import (
	"crypto"
	"strings"

	"github.com/coapaudit/coapaudit/decode"
)

// bulk is how a cipher suite protects records.
type bulk uint8

const (
	bulkAESCCM bulk = iota + 1
	bulkAESGCM
	bulkChaCha
	bulkAESCBC
)

// suiteParams are the record protection parameters of a DTLS 1.2 cipher
// suite (RFC 5246 6.3, RFC 6655, RFC 5288, RFC 7905).
type suiteParams struct {
	bulk    bulk
	keyLen  int
	tagLen  int         // AEAD tag
	macHash crypto.Hash // CBC suites: the HMAC hash
	prf     crypto.Hash // the PRF and handshake hash
}

// fixedIVLen is the implicit part of the nonce taken from the key block.
func (p *suiteParams) fixedIVLen() int {
	switch p.bulk {
	case bulkAESCCM, bulkAESGCM:
		return 4
	case bulkChaCha:
		return 12
	}
	return 0
}

// explicitNonceLen is the per-record nonce or IV at the start of the
// fragment.
func (p *suiteParams) explicitNonceLen() int {
	switch p.bulk {
	case bulkAESCCM, bulkAESGCM:
		return 8
	case bulkAESCBC:
		return 16
	}
	return 0
}

func (p *suiteParams) macKeyLen() int {
	if p.bulk == bulkAESCBC {
		return p.macHash.Size()
	}
	return 0
}

// paramsFor works the record protection of suite s out from its registry
// name: the part after "_WITH_" names the cipher, mode and hash (e.g.
// AES_128_CCM_8, AES_256_GCM_SHA384, CHACHA20_POLY1305_SHA256,
// AES_128_CBC_SHA). ok is false for suites the decrypter does not handle
// (NULL, 3DES, Camellia, ARIA, DTLS 1.3 suites, ...).
func paramsFor(s decode.CipherSuite) (p suiteParams, ok bool) {
	name := s.String()
	_, rest, found := strings.Cut(name, "_WITH_")
	if !found {
		return p, false
	}
	p.prf = crypto.SHA256
	if strings.HasSuffix(rest, "_SHA384") {
		p.prf = crypto.SHA384
	}
	switch {
	case rest == "CHACHA20_POLY1305_SHA256":
		p.bulk, p.keyLen, p.tagLen = bulkChaCha, 32, 16
		return p, true
	case strings.HasPrefix(rest, "AES_128_"):
		p.keyLen = 16
	case strings.HasPrefix(rest, "AES_256_"):
		p.keyLen = 32
	default:
		return p, false
	}
	mode := rest[len("AES_128_"):]
	switch mode {
	case "CCM", "CCM_SHA256":
		p.bulk, p.tagLen = bulkAESCCM, 16
	case "CCM_8", "CCM_8_SHA256":
		p.bulk, p.tagLen = bulkAESCCM, 8
	case "GCM_SHA256", "GCM_SHA384":
		p.bulk, p.tagLen = bulkAESGCM, 16
	case "CBC_SHA":
		p.bulk, p.macHash = bulkAESCBC, crypto.SHA1
	case "CBC_SHA256":
		p.bulk, p.macHash = bulkAESCBC, crypto.SHA256
	case "CBC_SHA384":
		p.bulk, p.macHash = bulkAESCBC, crypto.SHA384
	default:
		return p, false
	}
	return p, true
}
