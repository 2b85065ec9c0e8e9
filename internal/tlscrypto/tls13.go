package tlscrypto

import (
	"crypto"
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/hmac"
	"encoding/binary"
	"errors"
	"hash"

	"golang.org/x/crypto/chacha20"
)

// ErrNoContentType: a TLS 1.3 inner plaintext is all padding.
var ErrNoContentType = errors.New("inner plaintext without a content type")

// ExpandLabel is HKDF-Expand-Label (RFC 8446 7.1) with the label prefix
// "tls13 ", or "dtls13" for DTLS 1.3 (RFC 9147 5.9).
func ExpandLabel(h crypto.Hash, secret []byte, label string, context []byte, n int, dtls bool) []byte {
	prefix := "tls13 "
	if dtls {
		prefix = "dtls13"
	}
	info := make([]byte, 0, 4+len(prefix)+len(label)+len(context))
	info = binary.BigEndian.AppendUint16(info, uint16(n))
	info = append(info, byte(len(prefix)+len(label)))
	info = append(append(info, prefix...), label...)
	info = append(info, byte(len(context)))
	info = append(info, context...)
	out, err := hkdf.Expand(func() hash.Hash { return h.New() }, secret, string(info), n)
	if err != nil {
		panic("tlscrypto: HKDF-Expand-Label: " + err.Error()) // only for n > 255 hash lengths
	}
	return out
}

// NextSecret is the traffic secret after a KeyUpdate (RFC 8446 7.2):
// application_traffic_secret_N+1.
func NextSecret(h crypto.Hash, secret []byte, dtls bool) []byte {
	return ExpandLabel(h, secret, "traffic upd", nil, h.Size(), dtls)
}

// Finished13 is the verify_data of a TLS 1.3 Finished message (RFC 8446
// 4.4.4): HMAC over the transcript hash with the finished key of the
// sender's handshake traffic secret.
func Finished13(h crypto.Hash, secret, transcriptHash []byte, dtls bool) []byte {
	fk := ExpandLabel(h, secret, "finished", nil, h.Size(), dtls)
	defer clear(fk)
	m := hmac.New(h.New, fk)
	m.Write(transcriptHash)
	return m.Sum(nil)
}

// Keys13 protect the records one side of a TLS or DTLS 1.3 connection
// sends under one traffic secret.
type Keys13 struct {
	p     *Params
	aead  cipher.AEAD
	iv    [12]byte
	nonce [12]byte
	// DTLS 1.3 record number encryption (RFC 9147 4.2.3)
	snBlock  cipher.Block
	snChaCha []byte
	mask     [16]byte
}

// NewKeys13 derives the record keys of a traffic secret (RFC 8446 7.3),
// and for DTLS the record number key.
func NewKeys13(p *Params, secret []byte, dtls bool) (*Keys13, error) {
	key := ExpandLabel(p.PRF, secret, "key", nil, p.KeyLen, dtls)
	defer clear(key)
	iv := ExpandLabel(p.PRF, secret, "iv", nil, 12, dtls)
	k := &Keys13{p: p}
	copy(k.iv[:], iv)
	clear(iv)
	var err error
	if k.aead, _, err = newAEAD(p, key); err != nil {
		return nil, err
	}
	if dtls {
		sn := ExpandLabel(p.PRF, secret, "sn", nil, p.KeyLen, dtls)
		if p.Bulk == BulkChaCha {
			k.snChaCha = sn
		} else if k.snBlock, err = aes.NewCipher(sn); err != nil {
			return nil, err
		}
	}
	return k, nil
}

// Overhead is the AEAD tag length.
func (k *Keys13) Overhead() int { return k.aead.Overhead() }

func (k *Keys13) nonceFor(seq uint64) []byte {
	n := k.nonce[:]
	copy(n, k.iv[:])
	xorSeq(n, seq)
	return n
}

// Open decrypts and authenticates the encrypted record ct (the record
// body) with sequence number seq and additional data ad (the record
// header as sent) into out, and returns the TLSInnerPlaintext.
func (k *Keys13) Open(out, ct []byte, seq uint64, ad []byte) ([]byte, error) {
	if len(ct) < k.aead.Overhead() {
		return nil, ErrShort
	}
	pt, err := k.aead.Open(out[:0], k.nonceFor(seq), ct, ad)
	if err != nil {
		return nil, ErrAuth
	}
	return pt, nil
}

// Seal encrypts the TLSInnerPlaintext pt with sequence number seq and
// additional data ad and appends it to dst. It is for tests that build
// records.
func (k *Keys13) Seal(dst []byte, seq uint64, pt, ad []byte) []byte {
	return k.aead.Seal(dst, k.nonceFor(seq), pt, ad)
}

// SNMask computes the DTLS 1.3 record number mask from the first 16
// bytes of a record's ciphertext (RFC 9147 4.2.3): AES-ECB of them under
// the sn key, or the ChaCha20 key stream with the first 4 bytes as the
// counter and the next 12 as the nonce.
func (k *Keys13) SNMask(ct []byte) (mask [16]byte, err error) {
	if len(ct) < 16 {
		return mask, ErrShort
	}
	if k.snBlock != nil {
		// Through k.mask: a local array handed to the cipher's
		// interface method would escape to the heap.
		k.snBlock.Encrypt(k.mask[:], ct[:16])
		return k.mask, nil
	}
	if k.snChaCha == nil {
		return mask, errors.New("not DTLS 1.3 keys")
	}
	c, err := chacha20.NewUnauthenticatedCipher(k.snChaCha, ct[4:16])
	if err != nil {
		return mask, err
	}
	c.SetCounter(binary.LittleEndian.Uint32(ct[:4]))
	c.XORKeyStream(mask[:], mask[:])
	return mask, nil
}

// InnerPlaintext splits a TLSInnerPlaintext (RFC 8446 5.2): the content,
// then the content type, then zero padding.
func InnerPlaintext(pt []byte) (content []byte, typ uint8, err error) {
	i := len(pt) - 1
	for i >= 0 && pt[i] == 0 {
		i--
	}
	if i < 0 {
		return nil, 0, ErrNoContentType
	}
	return pt[:i], pt[i], nil
}
