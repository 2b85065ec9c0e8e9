package dtlsdec

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hmac"
	"crypto/subtle"
	"errors"
	"hash"

	"golang.org/x/crypto/chacha20poly1305"

	"github.com/coapaudit/coapaudit/decode"
	"github.com/coapaudit/coapaudit/internal/ccm"
)

var (
	errAuth      = errors.New("record does not authenticate")
	errShort     = errors.New("record too short for its cipher")
	errInnerType = errors.New("connection ID record without an inner content type")
)

// dirKeys protect the records one side sends in one epoch.
type dirKeys struct {
	p       *suiteParams
	aead    cipher.AEAD
	fixedIV [12]byte
	// CBC suites
	block  cipher.Block
	cbc    cipher.BlockMode
	mac    hash.Hash
	etm    bool // encrypt_then_mac (RFC 7366)
	macBuf []byte
	nonce  [12]byte
}

// cbcSetIV is implemented by the standard library's CBC decrypter.
type cbcSetIV interface{ SetIV([]byte) }

func newDirKeys(p *suiteParams, macKey, key, iv []byte, etm bool) (*dirKeys, error) {
	k := &dirKeys{p: p, etm: etm}
	copy(k.fixedIV[:], iv)
	var err error
	switch p.bulk {
	case bulkChaCha:
		k.aead, err = chacha20poly1305.New(key)
	case bulkAESCCM, bulkAESGCM, bulkAESCBC:
		var b cipher.Block
		if b, err = aes.NewCipher(key); err != nil {
			return nil, err
		}
		switch p.bulk {
		case bulkAESCCM:
			k.aead, err = ccm.New(b, p.tagLen, 12)
		case bulkAESGCM:
			k.aead, err = cipher.NewGCM(b)
		default:
			k.block = b
			k.cbc = cipher.NewCBCDecrypter(b, make([]byte, aes.BlockSize))
			if _, ok := k.cbc.(cbcSetIV); !ok {
				return nil, errors.New("CBC decrypter cannot reset its IV")
			}
			k.mac = hmac.New(p.macHash.New, macKey)
			k.macBuf = make([]byte, 0, p.macHash.Size())
		}
	}
	if err != nil {
		return nil, err
	}
	return k, nil
}

// open decrypts record r into out (which must have room for the fragment)
// and returns the plaintext and its content type. aad is scratch space of
// at least 300 bytes.
func (k *dirKeys) open(out []byte, r *decode.DTLSRecord, aad []byte) ([]byte, decode.ContentType, error) {
	frag := r.Fragment
	if k.p.bulk == bulkAESCBC {
		return k.openCBC(out, r, aad)
	}
	exp := k.p.explicitNonceLen()
	if len(frag) < exp+k.p.tagLen {
		return nil, 0, errShort
	}
	ptLen := len(frag) - exp - k.p.tagLen
	n := k.nonce[:]
	switch k.p.bulk {
	case bulkChaCha:
		// RFC 7905 2: the fixed IV XOR the padded 64-bit sequence number.
		copy(n, k.fixedIV[:])
		n[4] ^= byte(r.Epoch >> 8)
		n[5] ^= byte(r.Epoch)
		for i := range 6 {
			n[6+i] ^= byte(r.Seq >> (40 - 8*i))
		}
	default:
		copy(n, k.fixedIV[:4])
		copy(n[4:], frag[:8])
	}
	ad := additionalData(aad, r, ptLen)
	pt, err := k.aead.Open(out[:0], n, frag[exp:], ad)
	if err != nil {
		return nil, 0, errAuth
	}
	return innerType(pt, r)
}

// openCBC decrypts a MAC-then-encrypt or encrypt-then-MAC CBC record.
func (k *dirKeys) openCBC(out []byte, r *decode.DTLSRecord, aad []byte) ([]byte, decode.ContentType, error) {
	frag := r.Fragment
	macLen := k.mac.Size()
	body := frag
	if k.etm {
		if len(frag) < aes.BlockSize+macLen {
			return nil, 0, errShort
		}
		body = frag[:len(frag)-macLen]
		k.mac.Reset()
		k.mac.Write(additionalData(aad, r, len(body)))
		k.mac.Write(body)
		k.macBuf = k.mac.Sum(k.macBuf[:0])
		if !hmac.Equal(k.macBuf, frag[len(body):]) {
			return nil, 0, errAuth
		}
	}
	if len(body) < 2*aes.BlockSize || len(body)%aes.BlockSize != 0 {
		return nil, 0, errShort
	}
	ct := body[aes.BlockSize:]
	k.cbc.(cbcSetIV).SetIV(body[:aes.BlockSize])
	pt := out[:len(ct)]
	k.cbc.CryptBlocks(pt, ct)
	pad := int(pt[len(pt)-1])
	if pad+1 > len(pt) {
		return nil, 0, errAuth
	}
	for _, c := range pt[len(pt)-1-pad:] {
		if int(c) != pad {
			return nil, 0, errAuth
		}
	}
	pt = pt[:len(pt)-1-pad]
	if !k.etm {
		if len(pt) < macLen {
			return nil, 0, errAuth
		}
		data := pt[:len(pt)-macLen]
		k.mac.Reset()
		k.mac.Write(additionalData(aad, r, len(data)))
		k.mac.Write(data)
		k.macBuf = k.mac.Sum(k.macBuf[:0])
		if subtle.ConstantTimeCompare(k.macBuf, pt[len(data):]) != 1 {
			return nil, 0, errAuth
		}
		pt = data
	}
	return innerType(pt, r)
}

// additionalData writes the AEAD additional data (or the MAC header) of
// record r with a plaintext of n bytes into aad: RFC 5246 6.2.3.3, or for
// a tls12_cid record RFC 9146 5.
func additionalData(aad []byte, r *decode.DTLSRecord, n int) []byte {
	if r.ContentType != decode.ContentTLS12CID {
		b := aad[:13]
		b[0], b[1] = byte(r.Epoch>>8), byte(r.Epoch)
		putSeq(b[2:8], r.Seq)
		b[8] = byte(r.ContentType)
		b[9], b[10] = byte(r.Version>>8), byte(r.Version)
		b[11], b[12] = byte(n>>8), byte(n)
		return b
	}
	b := aad[:0]
	for range 8 {
		b = append(b, 0xff) // seq_num_placeholder
	}
	cid := byte(decode.ContentTLS12CID)
	b = append(b, cid, byte(len(r.ConnID)), cid, byte(r.Version>>8), byte(r.Version),
		byte(r.Epoch>>8), byte(r.Epoch))
	b = b[:len(b)+6]
	putSeq(b[len(b)-6:], r.Seq)
	b = append(b, r.ConnID...)
	return append(b, byte(n>>8), byte(n))
}

func putSeq(b []byte, seq uint64) {
	for i := range 6 {
		b[i] = byte(seq >> (40 - 8*i))
	}
}

// innerType returns the content type: the record's, or for a tls12_cid
// record the last non-zero byte of the DTLSInnerPlaintext.
func innerType(pt []byte, r *decode.DTLSRecord) ([]byte, decode.ContentType, error) {
	if r.ContentType != decode.ContentTLS12CID {
		return pt, r.ContentType, nil
	}
	i := len(pt) - 1
	for i >= 0 && pt[i] == 0 {
		i--
	}
	if i < 0 {
		return nil, 0, errInnerType
	}
	return pt[:i], decode.ContentType(pt[i]), nil
}
