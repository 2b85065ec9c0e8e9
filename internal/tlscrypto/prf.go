package tlscrypto

import (
	"crypto"
	"crypto/hmac"
	_ "crypto/sha1" // CBC_SHA suites
	_ "crypto/sha256"
	_ "crypto/sha512" // SHA-384
)

// PRF12 fills out with the TLS 1.2 PRF (RFC 5246 5): P_hash(secret, label
// + seed) with HMAC over h.
func PRF12(h crypto.Hash, secret []byte, label string, seed []byte, out []byte) {
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

// PSKPremaster is the premaster secret of a plain PSK key exchange
// (RFC 4279 2): uint16 N, N zero bytes, uint16 N, the PSK.
func PSKPremaster(psk []byte) []byte {
	n := len(psk)
	b := make([]byte, 2+n+2+n)
	b[0], b[1] = byte(n>>8), byte(n)
	b[2+n], b[3+n] = byte(n>>8), byte(n)
	copy(b[4+n:], psk)
	return b
}

// MasterSecret derives the master secret from a premaster secret: with
// the extended master secret extension from the session hash (RFC 7627
// 4), otherwise from the two randoms.
func MasterSecret(h crypto.Hash, premaster []byte, ems bool, sessionHash, clientRandom, serverRandom []byte, out *[48]byte) {
	if ems {
		PRF12(h, premaster, "extended master secret", sessionHash, out[:])
		return
	}
	seed := make([]byte, 0, 64)
	seed = append(append(seed, clientRandom...), serverRandom...)
	PRF12(h, premaster, "master secret", seed, out[:])
}

// KeyBlock12 expands a TLS 1.2 master secret into the record keys of
// both directions (RFC 5246 6.3); etm selects encrypt-then-MAC
// (RFC 7366) for CBC suites.
func KeyBlock12(p *Params, master, clientRandom, serverRandom []byte, etm bool) (client, server *Keys12, err error) {
	macLen, keyLen, ivLen := p.MACKeyLen(), p.KeyLen, p.FixedIVLen()
	kb := make([]byte, 2*(macLen+keyLen+ivLen))
	defer clear(kb)
	seed := make([]byte, 0, 64)
	seed = append(append(seed, serverRandom...), clientRandom...)
	PRF12(p.PRF, master, "key expansion", seed, kb)
	cm, sm := kb[:macLen], kb[macLen:2*macLen]
	ck, sk := kb[2*macLen:2*macLen+keyLen], kb[2*macLen+keyLen:2*(macLen+keyLen)]
	civ, siv := kb[2*(macLen+keyLen):2*(macLen+keyLen)+ivLen], kb[2*(macLen+keyLen)+ivLen:]
	if client, err = NewKeys12(p, cm, ck, civ, etm); err != nil {
		return nil, nil, err
	}
	if server, err = NewKeys12(p, sm, sk, siv, etm); err != nil {
		return nil, nil, err
	}
	return client, server, nil
}

// Finished12 computes the 12-byte verify_data of a TLS 1.2 Finished
// message (RFC 5246 7.4.9) over the transcript hash; client selects the
// label.
func Finished12(h crypto.Hash, master []byte, client bool, transcriptHash []byte) [12]byte {
	label := "server finished"
	if client {
		label = "client finished"
	}
	var v [12]byte
	PRF12(h, master, label, transcriptHash, v[:])
	return v
}
