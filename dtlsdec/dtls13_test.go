package dtlsdec

import (
	"crypto"
	"crypto/rand"
	"fmt"
	"io"
	"net/netip"
	"strings"
	"testing"

	"github.com/coapaudit/coapaudit/decode"
	"github.com/coapaudit/coapaudit/internal/tlscrypto"
	"github.com/coapaudit/coapaudit/tlskeys"
)

// Besides the real sessions of pion13_test.go, the DTLS 1.3 record layer
// is checked for self-consistency on sessions built here from known
// secrets with the standard library's ciphers, following RFC 9147's rules
// (unified header, record number encryption, epochs, inner content type,
// DTLS 1.3 HKDF labels, Finished over the TLS-style transcript): they
// reach what pion's do not (8- and 16-bit sequence numbers, records
// without a length field, a sequence number past an 8-bit wrap, the
// AES-CCM suites).

// dtls13Session builds the datagrams of a DTLS 1.3 session.
type dtls13Session struct {
	t       testing.TB
	rnd     io.Reader
	p       tlscrypto.Params
	h       crypto.Hash
	random  [32]byte
	secrets [4][]byte // client hs, server hs, client ap0, server ap0
	keyLog  string
	trans   []byte // TLS-style transcript
}

// newDTLS13Session draws the random and the secrets from rnd.
func newDTLS13Session(t testing.TB, suite uint16, rnd io.Reader) *dtls13Session {
	s := &dtls13Session{t: t, rnd: rnd}
	var ok bool
	if s.p, ok = tlscrypto.ParamsFor(decode.CipherSuite(suite)); !ok || !s.p.TLS13 {
		t.Fatalf("suite %#x", suite)
	}
	s.h = s.p.PRF
	io.ReadFull(rnd, s.random[:])
	var kl strings.Builder
	for i, label := range []string{tlskeys.LabelClientHandshake, tlskeys.LabelServerHandshake, tlskeys.LabelClientTraffic0, tlskeys.LabelServerTraffic0} {
		s.secrets[i] = make([]byte, s.h.Size())
		io.ReadFull(rnd, s.secrets[i])
		fmt.Fprintf(&kl, "%s %x %x\n", label, s.random, s.secrets[i])
	}
	s.keyLog = kl.String()
	return s
}

// plainRecord is an epoch-0 DTLSPlaintext record holding one handshake
// message; its TLS-style form goes to the transcript.
func (s *dtls13Session) plainRecord(typ byte, seq uint16, body []byte) []byte {
	n := len(body)
	msg := []byte{typ, byte(n >> 16), byte(n >> 8), byte(n), byte(seq >> 8), byte(seq), 0, 0, 0, byte(n >> 16), byte(n >> 8), byte(n)}
	msg = append(msg, body...)
	s.trans = append(append(s.trans, msg[:4]...), body...)
	rec := []byte{22, 0xfe, 0xfd, 0, 0, 0, 0, 0, 0, 0, byte(seq), byte(len(msg) >> 8), byte(len(msg))}
	return append(rec, msg...)
}

// handshakeMsg is a DTLS handshake message with its 12-byte header; in
// the transcript when transcript is set.
func (s *dtls13Session) handshakeMsg(typ byte, seq uint16, body []byte, transcript bool) []byte {
	n := len(body)
	msg := []byte{typ, byte(n >> 16), byte(n >> 8), byte(n), byte(seq >> 8), byte(seq), 0, 0, 0, byte(n >> 16), byte(n >> 8), byte(n)}
	if transcript {
		s.trans = append(append(s.trans, msg[:4]...), body...)
	}
	return append(msg, body...)
}

// finished is the verify_data of secret over the transcript so far.
func (s *dtls13Session) finished(secret []byte) []byte {
	d := s.h.New()
	d.Write(s.trans)
	return tlscrypto.Finished13(s.h, secret, d.Sum(nil), true)
}

// sealed is a record with a unified header (RFC 9147 4): the content and
// its type sealed under secret, the sequence number (8 or 16 low bits)
// encrypted with the mask of the ciphertext.
func (s *dtls13Session) sealed(secret []byte, epoch, seq uint64, seq16, withLen bool, typ byte, content []byte) []byte {
	k, err := tlscrypto.NewKeys13(&s.p, secret, true)
	if err != nil {
		s.t.Fatal(err)
	}
	inner := append(append(append([]byte(nil), content...), typ), 0, 0, 0) // three bytes of padding
	hdr := []byte{0x20 | byte(epoch&3)}
	if seq16 {
		hdr[0] |= 0x08
		hdr = append(hdr, byte(seq>>8), byte(seq))
	} else {
		hdr = append(hdr, byte(seq))
	}
	if withLen {
		hdr[0] |= 0x04
		n := len(inner) + k.Overhead()
		hdr = append(hdr, byte(n>>8), byte(n))
	}
	ct := k.Seal(nil, seq, inner, hdr)
	mask, err := k.SNMask(ct)
	if err != nil {
		s.t.Fatal(err)
	}
	hdr[1] ^= mask[0]
	if seq16 {
		hdr[2] ^= mask[1]
	}
	return append(hdr, ct...)
}

type datagram13 struct {
	fromClient bool
	b          []byte
}

// flights returns the session's datagrams: the hellos, the encrypted
// handshake and both Finished messages, application data with 8- and
// 16-bit sequence numbers and without a length field, a sequence number
// past an 8-bit wrap, and a KeyUpdate from the client followed by data in
// epoch 4. want lists the application data each side sent.
func (s *dtls13Session) flights(suite uint16) (dgs []datagram13, want [2][]string) {
	ch := []byte{0xfe, 0xfd}
	ch = append(ch, s.random[:]...)
	ch = append(ch, 0, 0, 0, 2, byte(suite>>8), byte(suite), 1, 0)
	ch = append(ch, 0, 7, 0, 43, 0, 3, 2, 0xfe, 0xfc) // supported_versions: DTLS 1.3
	dgs = append(dgs, datagram13{true, s.plainRecord(1, 0, ch)})

	sh := []byte{0xfe, 0xfd}
	sr := make([]byte, 32)
	io.ReadFull(s.rnd, sr)
	sh = append(sh, sr...)
	sh = append(sh, 0, byte(suite>>8), byte(suite), 0)
	sh = append(sh, 0, 6, 0, 43, 0, 2, 0xfe, 0xfc)
	flight := s.plainRecord(2, 0, sh)
	ee := s.handshakeMsg(8, 1, []byte{0, 0}, true)
	flight = append(flight, s.sealed(s.secrets[1], epochHandshake, 0, false, true, 22, ee)...)
	sf := s.handshakeMsg(20, 2, s.finished(s.secrets[1]), true)
	flight = append(flight, s.sealed(s.secrets[1], epochHandshake, 1, true, false, 22, sf)...)
	dgs = append(dgs, datagram13{false, flight})

	cf := s.handshakeMsg(20, 1, s.finished(s.secrets[0]), true)
	dgs = append(dgs, datagram13{true, s.sealed(s.secrets[0], epochHandshake, 0, false, true, 22, cf)})

	get := coapTCPLike("GET /temp")
	dgs = append(dgs, datagram13{true, append(s.sealed(s.secrets[2], epochApplication, 0, false, true, 23, get),
		s.sealed(s.secrets[2], epochApplication, 1, true, false, 23, []byte("second, no length"))...)})
	want[0] = append(want[0], string(get), "second, no length")
	for _, seq := range []uint64{0, 200, 260} {
		m := fmt.Sprintf("server record %d", seq)
		dgs = append(dgs, datagram13{false, s.sealed(s.secrets[3], epochApplication, seq, seq == 200, true, 23, []byte(m))})
		want[1] = append(want[1], m)
	}
	ku := s.handshakeMsg(24, 2, []byte{0}, false)
	dgs = append(dgs, datagram13{true, s.sealed(s.secrets[2], epochApplication, 2, false, true, 22, ku)})
	next := tlscrypto.NextSecret(s.h, s.secrets[2], true)
	dgs = append(dgs, datagram13{true, s.sealed(next, epochApplication+1, 0, false, true, 23, []byte("after the key update"))})
	want[0] = append(want[0], "after the key update")
	return dgs, want
}

func coapTCPLike(s string) []byte { return append([]byte{0x40, 0x01, 0x12, 0x34}, s...) }

// TestDTLS13SelfConsistency decrypts sessions built here with each TLS
// 1.3 suite: every record opens under the epoch and sequence number the
// rules give, both Finished messages verify, the KeyUpdate moves the
// client to epoch 4; a corrupted key log gives the mismatch state and no
// plaintext.
func TestDTLS13SelfConsistency(t *testing.T) {
	client := netip.MustParseAddrPort("127.0.0.1:40000")
	server := netip.MustParseAddrPort("127.0.0.1:5684")
	for _, suite := range []uint16{0x1301, 0x1302, 0x1303, 0x1304, 0x1305} {
		s := newDTLS13Session(t, suite, rand.Reader)
		dgs, want := s.flights(suite)
		for _, corrupt := range []bool{false, true} {
			kl := &tlskeys.KeyLog{}
			text := s.keyLog
			if corrupt {
				text = strings.ReplaceAll(text, fmt.Sprintf("%x", s.secrets[1][:4]), "00000000")
			}
			if err := kl.Read(strings.NewReader(text), "keylog"); err != nil {
				t.Fatal(err)
			}
			x := New(Config{Keys: &tlskeys.Keys{Log: kl}})
			var got [2][]string
			var res Result
			var d decode.DTLS
			var session *SessionInfo
			for i, g := range dgs {
				src, dst := client, server
				if !g.fromClient {
					src, dst = server, client
				}
				if err := d.Decode(g.b); err != nil {
					t.Fatalf("%#x datagram %d: %v", suite, i, err)
				}
				x.Datagram(i+1, src, dst, &d, &res)
				for _, r := range res.Records {
					if r.Type == decode.ContentApplicationData {
						got[dirIndex(r.FromClient)] = append(got[dirIndex(r.FromClient)], string(r.Plaintext))
					}
					if r.Type == decode.ContentApplicationData && r.Epoch == 0 {
						t.Errorf("%#x: application data in epoch 0", suite)
					}
				}
				session = res.Session
			}
			if corrupt {
				if session.Status != StatusKeyMismatch || session.Decrypted != 0 || len(got[0])+len(got[1]) != 0 {
					t.Errorf("%#x, corrupted key log: %+v", suite, session)
				}
				continue
			}
			if fmt.Sprint(got) != fmt.Sprint(want) {
				t.Errorf("%#x: application data %q, want %q", suite, got, want)
			}
			if session.Status != StatusDecrypting || session.ClientFinished != FinishedVerified || session.ServerFinished != FinishedVerified ||
				session.Failed != 0 || session.Key != KeyLog || session.Suite != decode.CipherSuite(suite) {
				t.Errorf("%#x: %+v", suite, session)
			}
		}
	}
}

// TestReconstruct checks the sequence number reconstruction of RFC 9147
// 4.2.2: the number closest to the next expected one.
func TestReconstruct(t *testing.T) {
	for _, tc := range []struct {
		next, low uint64
		bits      uint
		want      uint64
	}{
		{0, 0, 8, 0}, {1, 5, 8, 5}, {201, 4, 8, 260}, {250, 3, 8, 259}, {260, 250, 8, 250},
		{0x1fffe, 0x0001, 16, 0x20001}, {5, 0xffff, 16, 0xffff}, {0x10005, 0xffff, 16, 0xffff},
	} {
		if got := reconstruct(tc.next, tc.low, tc.bits); got != tc.want {
			t.Errorf("reconstruct(%d, %d, %d) = %d, want %d", tc.next, tc.low, tc.bits, got, tc.want)
		}
	}
}

// TestDTLS13KeyUpdateNotCaptured: the capture lacks the client's KeyUpdate;
// the record after it, under the next epoch's keys, still decrypts (those
// keys follow from the newest secret, and only a record that
// authenticates under them installs them).
func TestDTLS13KeyUpdateNotCaptured(t *testing.T) {
	client := netip.MustParseAddrPort("127.0.0.1:40000")
	server := netip.MustParseAddrPort("127.0.0.1:5684")
	s := newDTLS13Session(t, 0x1301, rand.Reader)
	dgs, want := s.flights(0x1301)
	dgs = append(dgs[:len(dgs)-2:len(dgs)-2], dgs[len(dgs)-1]) // the KeyUpdate lost
	kl := &tlskeys.KeyLog{}
	if err := kl.Read(strings.NewReader(s.keyLog), "keylog"); err != nil {
		t.Fatal(err)
	}
	x := New(Config{Keys: &tlskeys.Keys{Log: kl}})
	var got []string
	var res Result
	var d decode.DTLS
	for i, g := range dgs {
		src, dst := client, server
		if !g.fromClient {
			src, dst = server, client
		}
		if err := d.Decode(g.b); err != nil {
			t.Fatal(err)
		}
		x.Datagram(i+1, src, dst, &d, &res)
		for _, r := range res.Records {
			if r.Type == decode.ContentApplicationData && r.FromClient {
				got = append(got, fmt.Sprintf("%s@%d", r.Plaintext, r.Epoch))
			}
		}
	}
	last := want[0][len(want[0])-1] + "@4"
	if len(got) != len(want[0]) || got[len(got)-1] != last || res.Session.Failed != 0 {
		t.Errorf("client data %q (want the last %q), session %+v", got, last, res.Session)
	}
}
