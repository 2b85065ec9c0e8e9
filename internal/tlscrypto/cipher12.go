package tlscrypto

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hmac"
	"crypto/subtle"
	"errors"
	"hash"

	"golang.org/x/crypto/chacha20poly1305"

	"github.com/coapaudit/coapaudit/internal/ccm"
)

var (
	// ErrAuth: the record does not authenticate under the keys.
	ErrAuth = errors.New("record does not authenticate")
	// ErrShort: the record is too short for its cipher.
	ErrShort = errors.New("record too short for its cipher")
)

// Keys12 protect the records one side of a TLS or DTLS 1.2 session sends.
type Keys12 struct {
	p       *Params
	aead    cipher.AEAD
	fixedIV [12]byte
	// CBC suites
	cbc    cipher.BlockMode
	mac    hash.Hash
	etm    bool // encrypt_then_mac (RFC 7366)
	macBuf []byte
	nonce  [12]byte
}

// cbcSetIV is implemented by the standard library's CBC decrypter.
type cbcSetIV interface{ SetIV([]byte) }

// newAEAD returns the AEAD of an AEAD suite.
func newAEAD(p *Params, key []byte) (cipher.AEAD, cipher.Block, error) {
	if p.Bulk == BulkChaCha {
		a, err := chacha20poly1305.New(key)
		return a, nil, err
	}
	b, err := aes.NewCipher(key)
	if err != nil {
		return nil, nil, err
	}
	var a cipher.AEAD
	switch p.Bulk {
	case BulkAESCCM:
		a, err = ccm.New(b, p.TagLen, 12)
	case BulkAESGCM:
		a, err = cipher.NewGCM(b)
	}
	return a, b, err
}

// NewKeys12 makes the keys of one direction from its part of the key
// block.
func NewKeys12(p *Params, macKey, key, iv []byte, etm bool) (*Keys12, error) {
	k := &Keys12{p: p, etm: etm}
	copy(k.fixedIV[:], iv)
	aead, b, err := newAEAD(p, key)
	if err != nil {
		return nil, err
	}
	if p.Bulk != BulkAESCBC {
		k.aead = aead
		return k, nil
	}
	k.cbc = cipher.NewCBCDecrypter(b, make([]byte, aes.BlockSize))
	if _, ok := k.cbc.(cbcSetIV); !ok {
		return nil, errors.New("CBC decrypter cannot reset its IV")
	}
	k.mac = hmac.New(p.MACHash.New, macKey)
	k.macBuf = make([]byte, 0, p.MACHash.Size())
	return k, nil
}

// Params returns the suite parameters the keys were made for.
func (k *Keys12) Params() *Params { return k.p }

// nonceFor builds the AEAD nonce of a record: RFC 5288 3 (fixed IV and
// explicit nonce) or RFC 7905 2 (fixed IV XOR the padded 64-bit sequence
// number; in DTLS epoch and sequence number).
func (k *Keys12) nonceFor(seq uint64, explicit []byte) []byte {
	n := k.nonce[:]
	if k.p.Bulk == BulkChaCha {
		copy(n, k.fixedIV[:])
		xorSeq(n, seq)
		return n
	}
	copy(n, k.fixedIV[:4])
	copy(n[4:], explicit)
	return n
}

// xorSeq XORs the 64-bit sequence number into the last 8 bytes of n.
func xorSeq(n []byte, seq uint64) {
	for i := range 8 {
		n[len(n)-8+i] ^= byte(seq >> (56 - 8*i))
	}
}

// Open decrypts and authenticates a record's fragment frag into out
// (which must have room for it) and returns the plaintext. seq is the
// 64-bit sequence number (DTLS: epoch << 48 | sequence number); ad is the
// additional data (or MAC header) with its last two bytes, the plaintext
// length, left for Open to fill in (RFC 5246 6.2.3.3, RFC 9146 5).
func (k *Keys12) Open(out, frag []byte, seq uint64, ad []byte) ([]byte, error) {
	if k.p.Bulk == BulkAESCBC {
		return k.openCBC(out, frag, ad)
	}
	exp := k.p.ExplicitNonceLen()
	if len(frag) < exp+k.p.TagLen {
		return nil, ErrShort
	}
	putLen(ad, len(frag)-exp-k.p.TagLen)
	pt, err := k.aead.Open(out[:0], k.nonceFor(seq, frag[:exp]), frag[exp:], ad)
	if err != nil {
		return nil, ErrAuth
	}
	return pt, nil
}

// Seal protects plaintext pt of an AEAD suite as Open takes it: the
// explicit nonce (8 bytes for AES suites, ignored for ChaCha20) then the
// ciphertext, appended to dst. It is for tests that build records.
func (k *Keys12) Seal(dst, explicit []byte, seq uint64, pt, ad []byte) []byte {
	putLen(ad, len(pt))
	exp := k.p.ExplicitNonceLen()
	dst = append(dst, explicit[:exp]...)
	return k.aead.Seal(dst, k.nonceFor(seq, explicit[:exp]), pt, ad)
}

func putLen(ad []byte, n int) { ad[len(ad)-2], ad[len(ad)-1] = byte(n>>8), byte(n) }

// openCBC decrypts a MAC-then-encrypt or encrypt-then-MAC CBC record.
func (k *Keys12) openCBC(out, frag, ad []byte) ([]byte, error) {
	macLen := k.mac.Size()
	body := frag
	if k.etm {
		if len(frag) < aes.BlockSize+macLen {
			return nil, ErrShort
		}
		body = frag[:len(frag)-macLen]
		putLen(ad, len(body))
		k.mac.Reset()
		k.mac.Write(ad)
		k.mac.Write(body)
		k.macBuf = k.mac.Sum(k.macBuf[:0])
		if !hmac.Equal(k.macBuf, frag[len(body):]) {
			return nil, ErrAuth
		}
	}
	if len(body) < 2*aes.BlockSize || len(body)%aes.BlockSize != 0 {
		return nil, ErrShort
	}
	ct := body[aes.BlockSize:]
	k.cbc.(cbcSetIV).SetIV(body[:aes.BlockSize])
	pt := out[:len(ct)]
	k.cbc.CryptBlocks(pt, ct)
	pad := int(pt[len(pt)-1])
	if pad+1 > len(pt) {
		return nil, ErrAuth
	}
	for _, c := range pt[len(pt)-1-pad:] {
		if int(c) != pad {
			return nil, ErrAuth
		}
	}
	pt = pt[:len(pt)-1-pad]
	if !k.etm {
		if len(pt) < macLen {
			return nil, ErrAuth
		}
		data := pt[:len(pt)-macLen]
		putLen(ad, len(data))
		k.mac.Reset()
		k.mac.Write(ad)
		k.mac.Write(data)
		k.macBuf = k.mac.Sum(k.macBuf[:0])
		if subtle.ConstantTimeCompare(k.macBuf, pt[len(data):]) != 1 {
			return nil, ErrAuth
		}
		pt = data
	}
	return pt, nil
}
