// Package ccm implements the CCM mode of RFC 3610 (counter with CBC-MAC)
// on top of a 128-bit block cipher, as AES-CCM and AES-CCM_8 in (D)TLS use
// it (RFC 6655). Seal and Open allocate nothing when dst has room.
package ccm

import (
	"crypto/cipher"
	"crypto/subtle"
	"errors"
)

const blockSize = 16

// ErrOpen is returned by Open when the tag does not verify.
var ErrOpen = errors.New("ccm: message authentication failed")

// AEAD is CCM with a fixed tag and nonce size. It keeps scratch blocks, so
// unlike the standard library's AEADs it is not safe for concurrent use.
type AEAD struct {
	b        cipher.Block
	tagSize  int
	nonceLen int
	l        int // length of the length field: 15 - nonceLen
	x, a, s  [blockSize]byte
}

var _ cipher.AEAD = (*AEAD)(nil)

// New returns CCM on b with the given tag size (4, 6, 8, 10, 12, 14 or 16)
// and nonce size (7 to 13).
func New(b cipher.Block, tagSize, nonceSize int) (*AEAD, error) {
	if b.BlockSize() != blockSize {
		return nil, errors.New("ccm: block size is not 16")
	}
	if tagSize < 4 || tagSize > 16 || tagSize%2 != 0 {
		return nil, errors.New("ccm: invalid tag size")
	}
	if nonceSize < 7 || nonceSize > 13 {
		return nil, errors.New("ccm: invalid nonce size")
	}
	return &AEAD{b: b, tagSize: tagSize, nonceLen: nonceSize, l: 15 - nonceSize}, nil
}

// NonceSize returns the nonce length.
func (c *AEAD) NonceSize() int { return c.nonceLen }

// Overhead returns the tag length.
func (c *AEAD) Overhead() int { return c.tagSize }

func (c *AEAD) maxLen() uint64 {
	if c.l >= 8 {
		return 1<<63 - 1
	}
	return 1<<(8*c.l) - 1
}

// mac computes the CBC-MAC of nonce, adata and plaintext into c.x.
func (c *AEAD) mac(nonce, plaintext, adata []byte) {
	x := &c.x
	flags := byte((c.tagSize-2)/2<<3 | (c.l - 1))
	if len(adata) > 0 {
		flags |= 1 << 6
	}
	x[0] = flags
	copy(x[1:], nonce)
	n := uint64(len(plaintext))
	for i := blockSize - 1; i > c.nonceLen; i-- {
		x[i] = byte(n)
		n >>= 8
	}
	c.b.Encrypt(x[:], x[:])
	if len(adata) > 0 {
		// The length of adata, then adata, padded with zeros to a block.
		var hdr int
		la := uint64(len(adata))
		switch {
		case la < 0xff00:
			x[0] ^= byte(la >> 8)
			x[1] ^= byte(la)
			hdr = 2
		case la <= 0xffffffff:
			x[0] ^= 0xff
			x[1] ^= 0xfe
			for i := range 4 {
				x[2+i] ^= byte(la >> (24 - 8*i))
			}
			hdr = 6
		default:
			x[0] ^= 0xff
			x[1] ^= 0xff
			for i := range 8 {
				x[2+i] ^= byte(la >> (56 - 8*i))
			}
			hdr = 10
		}
		k := subtle.XORBytes(x[hdr:], x[hdr:], adata)
		c.b.Encrypt(x[:], x[:])
		c.cbc(adata[k:])
	}
	c.cbc(plaintext)
}

// cbc runs the CBC-MAC over b, padded with zeros to a block.
func (c *AEAD) cbc(b []byte) {
	x := &c.x
	for len(b) > 0 {
		n := subtle.XORBytes(x[:], x[:], b)
		c.b.Encrypt(x[:], x[:])
		b = b[n:]
	}
}

// ctr XORs src with the key stream starting at counter 1 into dst, and
// leaves S_0 (the tag mask) in c.s.
func (c *AEAD) ctr(dst, src, nonce []byte) {
	a := &c.a
	a[0] = byte(c.l - 1)
	copy(a[1:], nonce)
	clear(a[1+c.nonceLen:])
	c.b.Encrypt(c.s[:], a[:])
	var ks [blockSize]byte
	for ctr := uint64(1); len(src) > 0; ctr++ {
		v := ctr
		for i := blockSize - 1; i > c.nonceLen; i-- {
			a[i] = byte(v)
			v >>= 8
		}
		c.b.Encrypt(c.x[:], a[:])
		ks = c.x
		n := subtle.XORBytes(dst, src, ks[:])
		dst, src = dst[n:], src[n:]
	}
}

// Seal encrypts and authenticates plaintext and appends the result to dst.
func (c *AEAD) Seal(dst, nonce, plaintext, adata []byte) []byte {
	if len(nonce) != c.nonceLen {
		panic("ccm: incorrect nonce length")
	}
	if uint64(len(plaintext)) > c.maxLen() {
		panic("ccm: message too large")
	}
	ret, out := sliceForAppend(dst, len(plaintext)+c.tagSize)
	c.mac(nonce, plaintext, adata)
	tag := c.x
	c.ctr(out, plaintext, nonce)
	subtle.XORBytes(out[len(plaintext):], tag[:c.tagSize], c.s[:c.tagSize])
	return ret
}

// Open authenticates and decrypts ciphertext and appends the plaintext to
// dst. dst may be ciphertext[:0] to decrypt in place. On failure the
// output is zeroed and ErrOpen returned.
func (c *AEAD) Open(dst, nonce, ciphertext, adata []byte) ([]byte, error) {
	if len(nonce) != c.nonceLen {
		panic("ccm: incorrect nonce length")
	}
	if len(ciphertext) < c.tagSize || uint64(len(ciphertext)-c.tagSize) > c.maxLen() {
		return nil, ErrOpen
	}
	n := len(ciphertext) - c.tagSize
	var tag [blockSize]byte
	copy(tag[:], ciphertext[n:])
	ret, out := sliceForAppend(dst, n)
	c.ctr(out, ciphertext[:n], nonce)
	subtle.XORBytes(tag[:c.tagSize], tag[:c.tagSize], c.s[:c.tagSize])
	c.mac(nonce, out, adata)
	if subtle.ConstantTimeCompare(c.x[:c.tagSize], tag[:c.tagSize]) != 1 {
		clear(out)
		return nil, ErrOpen
	}
	return ret, nil
}

func sliceForAppend(in []byte, n int) (head, tail []byte) {
	if total := len(in) + n; cap(in) >= total {
		head = in[:total]
	} else {
		head = make([]byte, total)
		copy(head, in)
	}
	tail = head[len(in):]
	return
}
