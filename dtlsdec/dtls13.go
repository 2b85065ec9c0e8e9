package dtlsdec

import (
	"crypto"
	"crypto/hmac"

	"github.com/coapaudit/coapaudit/decode"
	"github.com/coapaudit/coapaudit/internal/tlscrypto"
	"github.com/coapaudit/coapaudit/tlskeys"
)

// VersionDTLS13 is the supported_versions value of DTLS 1.3 (RFC 9147).
const VersionDTLS13 uint16 = 0xfefc

// DTLS 1.3 epochs (RFC 9147 6.1): 2 protects the encrypted handshake, 3
// the first application data; each KeyUpdate adds one.
const (
	epochHandshake   = 2
	epochApplication = 3
	maxEpochs13      = 4 // epochs kept per direction
)

// sess13 is the DTLS 1.3 state of a session: its keys come from the key
// log's traffic secrets for the ClientHello's random.
type sess13 struct {
	params  tlscrypto.Params
	secrets *tlskeys.TLS13Secrets
	dir     [2][]epochKeys // per direction, oldest first
	// next are the keys of each direction's epoch after its newest, for
	// records under them before (or without) the KeyUpdate.
	next [2]*epochKeys
	hrr  bool
	// extra holds the handshake messages decrypted so far, TLS-style
	// (4-byte header), in order; seen names them by sender and
	// message_seq so that retransmissions are dropped.
	extra    []byte
	seen     []uint32
	finished [2]bool
}

// epochKeys are the keys of one epoch of one direction.
type epochKeys struct {
	epoch  uint64
	k      *tlscrypto.Keys13
	secret []byte
	next   uint64 // one past the highest sequence number opened
}

// start13 sets a session up for DTLS 1.3 once its ServerHello selected
// it: the handshake and first application keys of both directions from
// the key log.
func (x *Decrypter) start13(s *session, suite decode.CipherSuite) {
	p, ok := tlscrypto.ParamsFor(suite)
	if !ok || !p.TLS13 {
		s.info.Status, s.info.Detail = StatusUnsupported, "cipher suite "+suite.String()
		return
	}
	v := &sess13{params: p, hrr: s.hrr13}
	s.v13 = v
	v.secrets = x.keyLog().TLS13(s.clientRandom[:])
	if v.secrets == nil || v.secrets.ServerHandshake == nil {
		s.info.Status, s.info.Detail = StatusNoKey, "DTLS 1.3 needs the key log's traffic secrets for its client random"
		return
	}
	for i, sec := range [2][2]tlskeys.Secret{{v.secrets.ClientHandshake, v.secrets.ClientTraffic0}, {v.secrets.ServerHandshake, v.secrets.ServerTraffic0}} {
		v.addEpoch(i, epochHandshake, sec[0])
		v.addEpoch(i, epochApplication, sec[1])
	}
}

// addEpoch installs the keys of an epoch for direction i (a secret of the
// wrong length installs none).
func (v *sess13) addEpoch(i int, epoch uint64, secret []byte) {
	if len(secret) != v.params.PRF.Size() {
		return
	}
	for _, ek := range v.dir[i] {
		if ek.epoch == epoch {
			return // installed already (a record under it came first)
		}
	}
	k, err := tlscrypto.NewKeys13(&v.params, secret, true)
	if err != nil {
		return
	}
	if len(v.dir[i]) >= maxEpochs13 {
		v.dir[i] = append(v.dir[i][:0], v.dir[i][1:]...)
	}
	v.dir[i] = append(v.dir[i], epochKeys{epoch: epoch, k: k, secret: append([]byte(nil), secret...)})
}

// reconstruct returns the full number closest to next whose low bits
// (bits wide) are low (RFC 9147 4.2.2).
func reconstruct(next, low uint64, bits uint) uint64 {
	win := uint64(1) << bits
	c := next&^(win-1) | low
	best := c
	dist := func(a uint64) uint64 {
		if a > next {
			return a - next
		}
		return next - a
	}
	if c >= win && dist(c-win) < dist(best) {
		best = c - win
	}
	if dist(c+win) < dist(best) {
		best = c + win
	}
	return best
}

// open13 decrypts a DTLS 1.3 record with a unified header: the epoch is
// the newest one of the direction whose low two bits match, the sequence
// number is unmasked (RFC 9147 4.2.3) and reconstructed, the additional
// data is the header with the sequence number in clear (RFC 9147 4).
func (x *Decrypter) open13(s *session, r *decode.DTLSRecord, raw []byte, fromClient bool, out []byte) (pt []byte, typ decode.ContentType, epoch, seq uint64, ok bool) {
	v := s.v13
	keys := v.dir[dirIndex(fromClient)]
	if !r.Unified || r.ConnIDUnknown || len(r.Fragment) < 16 {
		return nil, 0, 0, 0, false
	}
	hdr := raw[r.Span.Off : r.Span.Off+r.HeaderLen]
	if len(hdr) > len(x.aad) {
		return nil, 0, 0, 0, false
	}
	seqOff := 1 + len(r.ConnID)
	bits := uint(8)
	if hdr[0]&0x08 != 0 {
		bits = 16
	}
	for i := len(keys) - 1; i >= 0; i-- {
		ek := &keys[i]
		if ek.epoch&3 != uint64(r.Epoch) {
			continue
		}
		if content, t, n, ok := x.try13(ek, r, hdr, seqOff, bits, out); ok {
			return content, t, ek.epoch, n, true
		}
	}
	// The sender's next epoch, when the capture lacks its KeyUpdate or
	// has it after records under the new keys: the keys follow from the
	// newest secret (RFC 8446 7.2), and only a record that authenticates
	// under them installs them.
	if n := len(keys); n > 0 && keys[n-1].epoch >= epochApplication && (keys[n-1].epoch+1)&3 == uint64(r.Epoch) {
		d := dirIndex(fromClient)
		last := &keys[n-1]
		ek := v.next[d]
		if ek == nil || ek.epoch != last.epoch+1 {
			// Derived once per epoch, not per record that fails.
			secret := tlscrypto.NextSecret(v.params.PRF, last.secret, true)
			k, err := tlscrypto.NewKeys13(&v.params, secret, true)
			if err != nil {
				return nil, 0, 0, 0, false
			}
			ek = &epochKeys{epoch: last.epoch + 1, k: k, secret: secret}
			v.next[d] = ek
		}
		if content, t, seq, ok := x.try13(ek, r, hdr, seqOff, bits, out); ok {
			v.addEpoch(d, ek.epoch, ek.secret)
			v.dir[d][len(v.dir[d])-1].next = ek.next
			v.next[d] = nil
			return content, t, ek.epoch, seq, true
		}
	}
	return nil, 0, 0, 0, false
}

// try13 opens record r (header hdr, the sequence number at seqOff, bits
// wide) with the keys of one epoch.
func (x *Decrypter) try13(ek *epochKeys, r *decode.DTLSRecord, hdr []byte, seqOff int, bits uint, out []byte) ([]byte, decode.ContentType, uint64, bool) {
	mask, err := ek.k.SNMask(r.Fragment)
	if err != nil {
		return nil, 0, 0, false
	}
	ad := x.aad[:len(hdr)]
	copy(ad, hdr)
	ad[seqOff] ^= mask[0]
	low := uint64(ad[seqOff])
	if bits == 16 {
		ad[seqOff+1] ^= mask[1]
		low = low<<8 | uint64(ad[seqOff+1])
	}
	n := reconstruct(ek.next, low, bits)
	p, err := ek.k.Open(out, r.Fragment, n, ad)
	if err != nil {
		return nil, 0, 0, false
	}
	content, t, err := tlscrypto.InnerPlaintext(p)
	if err != nil {
		return nil, 0, 0, false
	}
	if n >= ek.next {
		ek.next = n + 1
	}
	return content, decode.ContentType(t), n, true
}

// record13 decrypts protected record i of a DTLS 1.3 session.
func (x *Decrypter) record13(s *session, i int, r *decode.DTLSRecord, raw []byte, fromClient bool, res *Result, fail func()) {
	if s.info.Status != StatusHandshake && s.info.Status != StatusDecrypting {
		fail()
		return
	}
	out := x.buf[len(x.buf):cap(x.buf)]
	pt, typ, epoch, seq, ok := x.open13(s, r, raw, fromClient, out)
	if !ok {
		if s.info.Status == StatusHandshake && !fromClient && r.Epoch == epochHandshake&3 {
			// The server's first encrypted flight decides.
			s.info.Status = StatusKeyMismatch
		}
		fail()
		return
	}
	if s.info.Status == StatusHandshake {
		s.info.Status, s.info.Key = StatusDecrypting, KeyLog
	}
	x.buf = x.buf[:len(x.buf)+len(pt)]
	if typ == decode.ContentHandshake {
		s.handshake13(pt, fromClient, epoch)
	}
	s.info.Decrypted++
	x.stats.Decrypted++
	res.Records = append(res.Records, Record{Index: i, Type: typ, Epoch: uint16(epoch), Seq: seq, FromClient: fromClient, Plaintext: pt})
}

// handshake13 takes the DTLS handshake messages of a decrypted record
// (12-byte headers): the encrypted handshake goes to the transcript, each
// Finished is verified, a KeyUpdate installs the sender's next epoch.
// Fragmented messages are not reassembled: their Finished stays unseen.
func (s *session) handshake13(b []byte, fromClient bool, epoch uint64) {
	v := s.v13
	d := dirIndex(fromClient)
	for len(b) >= 12 {
		n := int(b[1])<<16 | int(b[2])<<8 | int(b[3])
		fragOff := int(b[6])<<16 | int(b[7])<<8 | int(b[8])
		fragLen := int(b[9])<<16 | int(b[10])<<8 | int(b[11])
		if fragLen > len(b)-12 {
			return
		}
		body := b[12 : 12+fragLen]
		whole := fragOff == 0 && fragLen == n
		typ := decode.HandshakeType(b[0])
		id := uint32(d)<<16 | uint32(b[4])<<8 | uint32(b[5])
		b = b[12+fragLen:]
		if !whole || v.seenMsg(id) {
			continue
		}
		switch {
		case typ == decode.HandshakeFinished && epoch == epochHandshake && !v.finished[d]:
			v.verifyFinished(s, body, fromClient)
			v.finished[d] = true
		case typ == decode.HandshakeType(24) && epoch >= epochApplication: // key_update
			for _, ek := range v.dir[d] {
				if ek.epoch == epoch {
					v.addEpoch(d, epoch+1, tlscrypto.NextSecret(v.params.PRF, ek.secret, true))
					break
				}
			}
			continue
		}
		if epoch == epochHandshake && len(v.extra)+4+n <= maxTranscriptLen {
			v.extra = append(v.extra, byte(typ), byte(n>>16), byte(n>>8), byte(n))
			v.extra = append(v.extra, body...)
		}
	}
}

func (v *sess13) seenMsg(id uint32) bool {
	for _, x := range v.seen {
		if x == id {
			return true
		}
	}
	if len(v.seen) < 64 {
		v.seen = append(v.seen, id)
	}
	return false
}

// verifyFinished checks a Finished message against the transcript so far:
// the epoch-0 messages (a HelloRetryRequest's first ClientHello replaced
// by its hash, RFC 8446 4.4.1) and the decrypted ones, all without the
// DTLS fields (RFC 9147 5.2).
func (v *sess13) verifyFinished(s *session, body []byte, fromClient bool) {
	st := &s.info.ServerFinished
	secret := v.secrets.ServerHandshake
	if fromClient {
		st, secret = &s.info.ClientFinished, v.secrets.ClientHandshake
	}
	h := v.params.PRF
	d := h.New()
	for i, m := range s.hs.msgs {
		if m.missing > 0 {
			return
		}
		if i == 0 && v.hrr {
			d.Write(messageHash(h, m.data))
			continue
		}
		d.Write(m.data[:4])
		d.Write(m.data[12:])
	}
	d.Write(v.extra)
	if len(secret) != h.Size() {
		return
	}
	if hmac.Equal(tlscrypto.Finished13(h, secret, d.Sum(nil), true), body) {
		*st = FinishedVerified
	} else {
		*st = FinishedMismatch
	}
}

// messageHash is the synthetic message_hash message that replaces the
// first ClientHello after a HelloRetryRequest.
func messageHash(h crypto.Hash, dtlsMsg []byte) []byte {
	d := h.New()
	d.Write(dtlsMsg[:4])
	d.Write(dtlsMsg[12:])
	sum := d.Sum(nil)
	return append([]byte{254, 0, 0, byte(len(sum))}, sum...)
}
