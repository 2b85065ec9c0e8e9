package dtlsdec

import (
	"crypto"
	"crypto/hmac"
	_ "crypto/sha1" // CBC_SHA suites
	_ "crypto/sha256"
	_ "crypto/sha512" // SHA-384
)

// prf12 fills out with the TLS 1.2 PRF (RFC 5246 5): P_hash(secret, label
// + seed) with HMAC over h.
func prf12(h crypto.Hash, secret []byte, label string, seed []byte, out []byte) {
	mac := hmac.New(h.New, secret)
	mac.Write([]byte(label))
	mac.Write(seed)
	a := mac.Sum(nil) // A(1)
	var block []byte
	for len(out) > 0 {
		mac.Reset()
		mac.Write(a)
		mac.Write([]byte(label))
		mac.Write(seed)
		block = mac.Sum(block[:0])
		out = out[copy(out, block):]
		mac.Reset()
		mac.Write(a)
		a = mac.Sum(a[:0])
	}
}

// pskPremaster is the premaster secret of a plain PSK key exchange
// (RFC 4279 2): uint16 N, N zero bytes, uint16 N, the PSK.
func pskPremaster(psk []byte) []byte {
	n := len(psk)
	b := make([]byte, 2+n+2+n)
	b[0], b[1] = byte(n>>8), byte(n)
	b[2+n], b[3+n] = byte(n>>8), byte(n)
	copy(b[4+n:], psk)
	return b
}

// masterSecret derives the master secret from a premaster secret: with
// the extended master secret extension from the session hash (RFC 7627
// 4), otherwise from the two randoms.
func masterSecret(h crypto.Hash, premaster []byte, ems bool, sessionHash, clientRandom, serverRandom []byte, out *[48]byte) {
	if ems {
		prf12(h, premaster, "extended master secret", sessionHash, out[:])
		return
	}
	seed := make([]byte, 0, 64)
	seed = append(append(seed, clientRandom...), serverRandom...)
	prf12(h, premaster, "master secret", seed, out[:])
}
