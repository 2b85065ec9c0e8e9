package oscore

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/sha256"
	"crypto/sha512"
	"errors"
	"hash"
	"strconv"
	"strings"
	"sync"

	"golang.org/x/crypto/chacha20poly1305"

	"github.com/coapaudit/coapaudit/internal/ccm"
)

// Algorithm is a COSE AEAD algorithm identifier (RFC 9053, IANA "COSE
// Algorithms"), as used for the OSCORE AEAD Algorithm parameter.
type Algorithm int

// AEAD algorithms OSCORE can use. AESCCM16_64_128 is mandatory to implement
// (RFC 8613 section 3.2.1) and the default.
const (
	A128GCM          Algorithm = 1
	A192GCM          Algorithm = 2
	A256GCM          Algorithm = 3
	AESCCM16_64_128  Algorithm = 10
	AESCCM16_64_256  Algorithm = 11
	AESCCM64_64_128  Algorithm = 12
	AESCCM64_64_256  Algorithm = 13
	ChaCha20Poly1305 Algorithm = 24
	AESCCM16_128_128 Algorithm = 30
	AESCCM16_128_256 Algorithm = 31
	AESCCM64_128_128 Algorithm = 32
	AESCCM64_128_256 Algorithm = 33
)

type aeadKind uint8

const (
	kindNone aeadKind = iota
	kindGCM
	kindCCM
	kindChaCha
)

// algInfo describes one AEAD: its registered name, Go constant name, and
// key, nonce and tag lengths in bytes.
type algInfo struct {
	name, goName             string
	keyLen, nonceLen, tagLen int
	kind                     aeadKind
}

// algs is the algorithm registry, indexed by COSE algorithm identifier.
var algs = [...]algInfo{
	A128GCM:          {"A128GCM", "A128GCM", 16, 12, 16, kindGCM},
	A192GCM:          {"A192GCM", "A192GCM", 24, 12, 16, kindGCM},
	A256GCM:          {"A256GCM", "A256GCM", 32, 12, 16, kindGCM},
	AESCCM16_64_128:  {"AES-CCM-16-64-128", "AESCCM16_64_128", 16, 13, 8, kindCCM},
	AESCCM16_64_256:  {"AES-CCM-16-64-256", "AESCCM16_64_256", 32, 13, 8, kindCCM},
	AESCCM64_64_128:  {"AES-CCM-64-64-128", "AESCCM64_64_128", 16, 7, 8, kindCCM},
	AESCCM64_64_256:  {"AES-CCM-64-64-256", "AESCCM64_64_256", 32, 7, 8, kindCCM},
	ChaCha20Poly1305: {"ChaCha20/Poly1305", "ChaCha20Poly1305", 32, 12, 16, kindChaCha},
	AESCCM16_128_128: {"AES-CCM-16-128-128", "AESCCM16_128_128", 16, 13, 16, kindCCM},
	AESCCM16_128_256: {"AES-CCM-16-128-256", "AESCCM16_128_256", 32, 13, 16, kindCCM},
	AESCCM64_128_128: {"AES-CCM-64-128-128", "AESCCM64_128_128", 16, 7, 16, kindCCM},
	AESCCM64_128_256: {"AES-CCM-64-128-256", "AESCCM64_128_256", 32, 7, 16, kindCCM},
}

func (a Algorithm) info() *algInfo {
	if a < 0 || int(a) >= len(algs) || algs[a].kind == kindNone {
		return nil
	}
	return &algs[a]
}

// Valid reports whether a is an AEAD algorithm this package implements.
func (a Algorithm) Valid() bool { return a.info() != nil }

// String returns the algorithm's registered name, e.g. "AES-CCM-16-64-128",
// or "Algorithm(N)" for an unknown identifier.
func (a Algorithm) String() string {
	if in := a.info(); in != nil {
		return in.name
	}
	return "Algorithm(" + strconv.Itoa(int(a)) + ")"
}

// GoString returns the Go syntax for a, e.g. "oscore.AESCCM16_64_128".
func (a Algorithm) GoString() string {
	if in := a.info(); in != nil {
		return "oscore." + in.goName
	}
	return "oscore.Algorithm(" + strconv.Itoa(int(a)) + ")"
}

// KeyLen returns the key length in bytes (0 for an unknown algorithm).
func (a Algorithm) KeyLen() int {
	if in := a.info(); in != nil {
		return in.keyLen
	}
	return 0
}

// NonceLen returns the nonce length in bytes, which is also the length of
// the OSCORE Common IV (0 for an unknown algorithm).
func (a Algorithm) NonceLen() int {
	if in := a.info(); in != nil {
		return in.nonceLen
	}
	return 0
}

// TagLen returns the authentication tag length in bytes (0 for an unknown
// algorithm).
func (a Algorithm) TagLen() int {
	if in := a.info(); in != nil {
		return in.tagLen
	}
	return 0
}

// MaxIDLen returns the longest Sender or Recipient ID the algorithm allows:
// the nonce length minus 6 (RFC 8613 section 3.3).
func (a Algorithm) MaxIDLen() int {
	if in := a.info(); in != nil {
		return in.nonceLen - 6
	}
	return 0
}

// ErrUnknownAlgorithm is returned for an AEAD or HKDF algorithm this package
// does not implement.
var ErrUnknownAlgorithm = errors.New("unknown algorithm")

// ParseAlgorithm accepts a COSE algorithm identifier ("10"), a registered
// name ("AES-CCM-16-64-128", "A128GCM", "ChaCha20/Poly1305") in any case, and
// Wireshark's spelling with a parenthesised note ("AES-CCM-16-64-128 (CCM*)").
func ParseAlgorithm(s string) (Algorithm, error) {
	s = strings.TrimSpace(s)
	if i := strings.IndexByte(s, '('); i > 0 {
		s = strings.TrimSpace(s[:i])
	}
	if n, err := strconv.Atoi(s); err == nil {
		if a := Algorithm(n); a.Valid() {
			return a, nil
		}
		return 0, ErrUnknownAlgorithm
	}
	key := normalizeName(s)
	if key == "" {
		return 0, ErrUnknownAlgorithm
	}
	for i := range algs {
		if algs[i].kind != kindNone && normalizeName(algs[i].name) == key {
			return Algorithm(i), nil
		}
	}
	return 0, ErrUnknownAlgorithm
}

// normalizeName lower-cases s and drops everything but letters and digits,
// so that "ChaCha20/Poly1305", "chacha20-poly1305" and "AES_CCM_16_64_128"
// compare equal to their registered spelling.
func normalizeName(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= 'A' && c <= 'Z':
			b.WriteByte(c + 'a' - 'A')
		case c >= 'a' && c <= 'z', c >= '0' && c <= '9':
			b.WriteByte(c)
		}
	}
	return b.String()
}

// newAEAD returns the AEAD for key, which must have a.KeyLen() bytes.
func (a Algorithm) newAEAD(key []byte) (cipher.AEAD, error) {
	in := a.info()
	if in == nil {
		return nil, ErrUnknownAlgorithm
	}
	if len(key) != in.keyLen {
		return nil, errors.New("key length does not match the algorithm")
	}
	switch in.kind {
	case kindChaCha:
		return chacha20poly1305.New(key)
	case kindGCM:
		b, err := aes.NewCipher(key)
		if err != nil {
			return nil, err
		}
		return cipher.NewGCM(b)
	default:
		b, err := aes.NewCipher(key)
		if err != nil {
			return nil, err
		}
		c, err := ccm.New(b, in.tagLen, in.nonceLen)
		if err != nil {
			return nil, err
		}
		return &lockedAEAD{a: c}, nil
	}
}

// lockedAEAD serialises an AES-CCM of internal/ccm, which keeps scratch
// blocks instead of allocating, so that a Context stays safe to share
// between Decryptors (a Keyring may be shared); uncontended, the lock
// costs far less than the allocations of a CCM without scratch.
type lockedAEAD struct {
	mu sync.Mutex
	a  *ccm.AEAD
}

func (l *lockedAEAD) NonceSize() int { return l.a.NonceSize() }
func (l *lockedAEAD) Overhead() int  { return l.a.Overhead() }

func (l *lockedAEAD) Seal(dst, nonce, plaintext, adata []byte) []byte {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.a.Seal(dst, nonce, plaintext, adata)
}

func (l *lockedAEAD) Open(dst, nonce, ciphertext, adata []byte) ([]byte, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.a.Open(dst, nonce, ciphertext, adata)
}

// hkdfAlg is an HKDF algorithm: its name and hash. OSCORE's default is
// HKDF-SHA-256 (RFC 8613 section 3.2.1); aiocoap also offers SHA-384 and
// SHA-512.
type hkdfAlg struct {
	name string
	new  func() hash.Hash
}

var hkdfAlgs = []hkdfAlg{
	{"HKDF-SHA-256", sha256.New},
	{"HKDF-SHA-384", sha512.New384},
	{"HKDF-SHA-512", sha512.New},
}

// DefaultHKDF is the HKDF algorithm used when a key file names none.
const DefaultHKDF = "HKDF-SHA-256"

// parseHKDF accepts "HKDF-SHA-256", "SHA-256", "sha256" (aiocoap's
// kdf-hashfun), the COSE identifiers -10 and -11 (direct+HKDF-SHA-256 and
// -512), and "" for the default.
func parseHKDF(s string) (*hkdfAlg, error) {
	switch strings.TrimSpace(s) {
	case "":
		return &hkdfAlgs[0], nil
	case "-10":
		return &hkdfAlgs[0], nil
	case "-11":
		return &hkdfAlgs[2], nil
	}
	key := strings.TrimPrefix(normalizeName(s), "hkdf")
	for i := range hkdfAlgs {
		if strings.TrimPrefix(normalizeName(hkdfAlgs[i].name), "hkdf") == key {
			return &hkdfAlgs[i], nil
		}
	}
	return nil, ErrUnknownAlgorithm
}
