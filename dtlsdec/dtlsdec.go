// Package dtlsdec decrypts DTLS 1.2 records (RFC 6347) of a capture for an
// auditor that holds the keys: an NSS key log or the pre-shared keys of
// plain PSK suites (package tlskeys).
//
// A Decrypter follows each session, keyed by its two endpoints, from the
// handshake messages package decode parses: the randoms, the cipher suite,
// extended_master_secret and encrypt_then_mac, the connection IDs, the PSK
// identity of the ClientKeyExchange, and the handshake transcript. At the
// first encrypted record it derives the master secret (from the key log's
// CLIENT_RANDOM entry, or from each PSK that may apply, RFC 4279), the key
// block, and proves the key by decrypting that record and checking the
// Finished message it carries. A wrong key then yields one result for the
// session, StatusKeyMismatch, and no garbage. State is bounded: at most
// Config.MaxSessions sessions, the oldest evicted and counted.
//
// Supported: AES-128/256 in CCM, CCM_8 and GCM, ChaCha20-Poly1305, AES-CBC
// with HMAC-SHA1/256/384 (MAC-then-encrypt and encrypt-then-MAC), both
// directions, retransmitted handshakes, fragmented handshake messages, and
// tls12_cid records (RFC 9146), and abbreviated handshakes that resume a
// session by ID. DTLS 1.3 (RFC 9147) from the key log's traffic secrets:
// unified headers (connection ID, 8- or 16-bit sequence numbers, with or
// without length), record number encryption, epoch and sequence number
// reconstruction, the inner content type, Finished verification of
// unfragmented Finished messages, KeyUpdate. Not supported: renegotiation
// (epochs past 1 in DTLS 1.2), resumption by session ticket without a key
// log, DTLS 1.3 0-RTT data.
package dtlsdec

import (
	"bytes"
	"crypto/hmac"
	"net/netip"

	"github.com/coapaudit/coapaudit/decode"
	"github.com/coapaudit/coapaudit/dissect"
	"github.com/coapaudit/coapaudit/internal/tlscrypto"
	"github.com/coapaudit/coapaudit/tlskeys"
)

// Status is how far decryption of a session got (StatusNotTLS is not
// used for DTLS).
type Status = tlskeys.State

const (
	StatusHandshake   = tlskeys.StateHandshake
	StatusDecrypting  = tlskeys.StateDecrypting
	StatusKeyMismatch = tlskeys.StateKeyMismatch
	StatusNoKey       = tlskeys.StateNoKey
	StatusNoHandshake = tlskeys.StateNoHandshake
	StatusUnsupported = tlskeys.StateUnsupported
)

// Finished is the state of one side's Finished message.
type Finished = tlskeys.Finished

const (
	FinishedUnseen   = tlskeys.FinishedUnseen
	FinishedVerified = tlskeys.FinishedVerified
	FinishedMismatch = tlskeys.FinishedMismatch
)

// KeySource says where a session's key came from.
type KeySource uint8

const (
	KeyNone    KeySource = iota
	KeyLog               // the key log's CLIENT_RANDOM entry
	KeyPSK               // a --psk, plain PSK key exchange
	KeyResumed           // the master secret of the session it resumes
)

var keySourceNames = [...]string{"", "keylog", "psk", "resumed"}

func (k KeySource) String() string { return keySourceNames[k%4] }

// SessionInfo describes a session for reports. It holds no key material.
type SessionInfo struct {
	// Client and Server are the endpoints; for a session whose handshake
	// the capture lacks, Client is the sender of the first record seen.
	Client, Server netip.AddrPort
	// FirstFrame is the frame that started the session's state.
	FirstFrame           int
	Suite                decode.CipherSuite
	HasSuite             bool
	PSKIdentity          string
	ExtendedMasterSecret bool
	EncryptThenMAC       bool
	ConnID               bool
	// Resumed is set for an abbreviated handshake that resumes an
	// earlier session (its ServerHello echoes the ClientHello's session
	// ID).
	Resumed bool
	Status  Status
	// Detail explains Status (which suite is not supported, why no key
	// applies); it never holds key material.
	Detail         string
	Key            KeySource
	ClientFinished Finished
	ServerFinished Finished
	// Decrypted and Failed count protected records.
	Decrypted, Failed int
}

// Config configures a Decrypter.
type Config struct {
	Keys *tlskeys.Keys
	// MaxSessions bounds the sessions followed (default 4096).
	MaxSessions int
	// MaxEnded bounds the SessionInfo kept of sessions that were replaced
	// or evicted (default 4096); past it they are counted only.
	MaxEnded int
}

// Record is one decrypted record of a datagram.
type Record struct {
	// Index is the record's index in decode.DTLS.Records.
	Index int
	// Type is the content type of the plaintext (the inner type of a
	// tls12_cid record).
	Type       decode.ContentType
	Epoch      uint16
	Seq        uint64
	FromClient bool
	// Plaintext borrows the Decrypter's buffer until the next call to
	// Datagram: copy what must outlive it.
	Plaintext []byte
}

// Result is what Datagram found in one datagram. Reuse one Result across
// calls.
type Result struct {
	Records []Record
	// Failed counts protected records that were not decrypted.
	Failed int
	// Session is the datagram's session, nil when it carries neither a
	// handshake nor a protected record. It points into the Decrypter and
	// changes with later datagrams.
	Session *SessionInfo
}

// Stats are the Decrypter's counters.
type Stats struct {
	Sessions  int // sessions started
	Evicted   int // sessions dropped to stay within MaxSessions
	Decrypted int // records decrypted
	Failed    int // protected records not decrypted
	// Unlisted counts ended sessions Sessions no longer lists (past
	// Config.MaxEnded).
	Unlisted int
}

// Decrypter follows DTLS sessions and decrypts their records. It is not
// safe for concurrent use.
type Decrypter struct {
	keys        *tlskeys.Keys
	max         int
	maxEnded    int
	sessions    map[dissect.Pair]*session
	order       []dissect.Pair
	head        int
	ended       []SessionInfo
	endedLost   int
	stats       Stats
	buf         []byte
	aad         [300]byte
	candidates  []*tlskeys.PSK
	resume      map[resumeKey][48]byte
	resumeOrder []resumeKey
}

// New returns a Decrypter for cfg.
func New(cfg Config) *Decrypter {
	if cfg.MaxSessions <= 0 {
		cfg.MaxSessions = 4096
	}
	if cfg.MaxEnded <= 0 {
		cfg.MaxEnded = 4096
	}
	return &Decrypter{keys: cfg.Keys, max: cfg.MaxSessions, maxEnded: cfg.MaxEnded, sessions: map[dissect.Pair]*session{},
		resume: map[resumeKey][48]byte{}}
}

// Stats returns the counters so far.
func (x *Decrypter) Stats() Stats {
	st := x.stats
	st.Unlisted = x.endedLost
	return st
}

// Sessions returns the sessions that ended (replaced by a new handshake on
// the same endpoints, or evicted) followed by those still held, oldest
// first. The values are copies.
func (x *Decrypter) Sessions() []SessionInfo {
	out := append([]SessionInfo(nil), x.ended...)
	n := len(x.order)
	for i := range n {
		k := x.order[(x.head+i)%n]
		if s := x.sessions[k]; s != nil {
			out = append(out, s.info)
		}
	}
	return out
}

// Datagram follows the handshake in d, a decoded datagram sent from src to
// dst in frame frame, and decrypts its protected records into res.
// Records must come in capture order. When d framed a tls12_cid record
// with a connection ID length other than the one the session negotiated,
// Datagram decodes d.Raw into d again with the negotiated length.
func (x *Decrypter) Datagram(frame int, src, dst netip.AddrPort, d *decode.DTLS, res *Result) {
	res.Records = res.Records[:0]
	res.Failed = 0
	res.Session = nil
	if cap(x.buf) < len(d.Raw) {
		x.buf = make([]byte, 0, len(d.Raw)+1024)
	}
	x.buf = x.buf[:0]
	key := dissect.MakePair(src, dst)
	s := x.sessions[key]
	if s != nil {
		x.redecodeCID(src, dst, d)
	}
	hi := 0
	for i := range d.Records {
		r := &d.Records[i]
		// Handshake messages of this record (epoch 0, parsed by decode).
		for ; hi < len(d.Handshakes) && d.Handshakes[hi].Record <= i; hi++ {
			if d.Handshakes[hi].Record == i {
				s = x.handshake(s, key, frame, src, dst, d, &d.Handshakes[hi])
			}
		}
		if !r.Unified && r.Epoch == 0 && r.ContentType != decode.ContentTLS12CID {
			continue
		}
		if s == nil {
			s = x.newSession(key, frame, src, dst)
			s.info.Status = StatusNoHandshake
		}
		x.record(s, i, r, src, d.Raw, res)
	}
	if s != nil {
		res.Session = &s.info
	}
}

// redecodeCID decodes d again with the connection ID length the session
// negotiated when a tls12_cid record in it was framed with another
// (decode infers the length when it is not given, and may guess wrong).
func (x *Decrypter) redecodeCID(src, dst netip.AddrPort, d *decode.DTLS) {
	n := x.ConnIDLen(src, dst)
	if n == 0 || d.ConnIDLen == n {
		return
	}
	for i := range d.Records {
		if r := &d.Records[i]; r.ContentType == decode.ContentTLS12CID && (r.ConnIDUnknown || len(r.ConnID) != n) {
			old := d.ConnIDLen
			d.ConnIDLen = n
			d.Decode(d.Raw) // a framing error keeps the records before it
			d.ConnIDLen = old
			return
		}
	}
}

// ConnIDLen returns the length of the connection ID that tls12_cid records
// from src to dst carry, as the session's handshake negotiated it
// (RFC 9146: each side names the CID it wants to receive), or 0 when it is
// not known. Set it as decode.DTLS.ConnIDLen before decoding a datagram so
// that the length need not be inferred.
func (x *Decrypter) ConnIDLen(src, dst netip.AddrPort) int {
	s := x.sessions[dissect.MakePair(src, dst)]
	if s == nil || !s.info.ConnID {
		return 0
	}
	if src == s.info.Client {
		return s.cidLen[0]
	}
	return s.cidLen[1]
}

func (x *Decrypter) newSession(key dissect.Pair, frame int, client, server netip.AddrPort) *session {
	if old := x.sessions[key]; old != nil {
		x.end(old)
	} else {
		if len(x.order) < x.max {
			x.order = append(x.order, key)
		} else {
			victim := x.order[x.head]
			if v := x.sessions[victim]; v != nil {
				x.end(v)
				delete(x.sessions, victim)
			}
			x.stats.Evicted++
			x.order[x.head] = key
			x.head = (x.head + 1) % x.max
		}
	}
	s := &session{info: SessionInfo{Client: client, Server: server, FirstFrame: frame}}
	x.sessions[key] = s
	x.stats.Sessions++
	return s
}

func (x *Decrypter) end(s *session) {
	if len(x.ended) < x.maxEnded {
		x.ended = append(x.ended, s.info)
	} else {
		x.endedLost++
	}
}

// handshake takes one epoch-0 handshake message (or fragment) and returns
// the session it belongs to.
func (x *Decrypter) handshake(s *session, key dissect.Pair, frame int, src, dst netip.AddrPort, d *decode.DTLS, hs *decode.DTLSHandshake) *session {
	switch hs.Type {
	case decode.HandshakeClientHello:
		if !hs.Complete() || !d.HasClientHello {
			break
		}
		cr := d.ClientHello.Random
		// A ClientHello with the session's random is a retransmission
		// (or the one answering a HelloVerifyRequest); any other starts
		// a new session.
		if s == nil || s.info.Client != src || !s.haveCH || !bytes.Equal(s.clientRandom[:], cr) {
			s = x.newSession(key, frame, src, dst)
			copy(s.clientRandom[:], cr)
			s.haveCH = true
			s.cidOffered = d.ClientHello.HasConnID
			s.cidToClientLen = len(d.ClientHello.ConnID)
			s.chSessionID = append([]byte(nil), d.ClientHello.SessionID...)
		}
	case decode.HandshakeHelloVerifyRequest:
		if s != nil && s.info.Status == StatusHandshake {
			// RFC 6347 4.2.6: the ClientHello without a cookie and the
			// HelloVerifyRequest are not part of the transcript. A
			// retransmitted HelloVerifyRequest keeps what came after.
			s.sawHVR = true
			s.hs.dropCookielessHellos()
		}
		return s
	}
	if s == nil || s.info.Status != StatusHandshake {
		return s
	}
	cookieless := hs.Type == decode.HandshakeClientHello && len(d.ClientHello.Cookie) == 0
	if cookieless && s.sawHVR {
		return s // a retransmission of the first ClientHello
	}
	fromClient := src == s.info.Client
	if hs.Type == decode.HandshakeServerHello && !fromClient && hs.Complete() && d.HasServerHello {
		x.serverHello(s, &d.ServerHello)
	}
	if hs.Type == decode.HandshakeClientKeyExchange && fromClient && d.HasClientKeyExchange && s.haveSH {
		if id, ok := d.PSKIdentity(s.info.Suite, true); ok {
			s.pskIdentity = append(s.pskIdentity[:0], id...)
			s.info.PSKIdentity = string(id)
		}
	}
	if !s.hs.add(fromClient, hs, cookieless) {
		s.info.Detail = "handshake too large to follow"
	}
	if hs.Type == decode.HandshakeServerHello && !fromClient && !hs.Complete() {
		// A ServerHello in fragments (DTLS 1.3 ones with large key
		// shares are): read it once reassembled.
		if m := s.hs.find(false, hs.MessageSeq); m != nil && m.missing == 0 {
			var whole decode.DTLS
			rec := make([]byte, 13, 13+len(m.data))
			rec[0], rec[1], rec[2] = byte(decode.ContentHandshake), 0xfe, 0xfd
			rec[11], rec[12] = byte(len(m.data)>>8), byte(len(m.data))
			if whole.Decode(append(rec, m.data...)); whole.HasServerHello {
				x.serverHello(s, &whole.ServerHello)
			}
		}
	}
	if hs.Type == decode.HandshakeClientKeyExchange && fromClient && s.sessionHashLen == 0 {
		s.sessionHashLen = len(s.hs.msgs)
	}
	return s
}

// serverHello takes the session's ServerHello (or a DTLS 1.3
// HelloRetryRequest).
func (x *Decrypter) serverHello(s *session, sh *decode.DTLSServerHello) {
	if sh.RetryRequest {
		s.hrr13 = true
		return
	}
	if s.haveSH {
		return
	}
	copy(s.serverRandom[:], sh.Random)
	s.haveSH = true
	s.info.Suite, s.info.HasSuite = sh.CipherSuite, true
	s.info.ExtendedMasterSecret = hasExtension(sh.Extensions, extExtendedMasterSecret)
	s.info.EncryptThenMAC = hasExtension(sh.Extensions, extEncryptThenMAC)
	if n := len(sh.SessionID); n > 0 && n <= 32 {
		copy(s.sessionID[:], sh.SessionID)
		s.info.Resumed = bytes.Equal(sh.SessionID, s.chSessionID)
	}
	if sh.HasConnID && s.cidOffered {
		s.info.ConnID = true
		s.cidLen = [2]int{len(sh.ConnID), s.cidToClientLen}
	}
	if sh.SelectedVersion == VersionDTLS13 {
		x.start13(s, sh.CipherSuite)
	} else if sh.Version != decode.VersionDTLS12 || sh.SelectedVersion != 0 {
		s.info.Status, s.info.Detail = StatusUnsupported, "protocol version is neither DTLS 1.2 nor DTLS 1.3"
	} else if p, ok := tlscrypto.ParamsFor(sh.CipherSuite); ok && !p.TLS13 {
		s.params = p
	} else {
		s.info.Status, s.info.Detail = StatusUnsupported, "cipher suite "+sh.CipherSuite.String()
	}
}

// TLS extension numbers read from the ServerHello.
const (
	extEncryptThenMAC       = 22
	extExtendedMasterSecret = 23
)

func hasExtension(exts []byte, typ uint16) bool {
	for len(exts) >= 4 {
		t := uint16(exts[0])<<8 | uint16(exts[1])
		n := int(exts[2])<<8 | int(exts[3])
		if len(exts)-4 < n {
			return false
		}
		if t == typ {
			return true
		}
		exts = exts[4+n:]
	}
	return false
}

// record decrypts protected record i.
func (x *Decrypter) record(s *session, i int, r *decode.DTLSRecord, src netip.AddrPort, raw []byte, res *Result) {
	fromClient := src == s.info.Client
	fail := func() {
		s.info.Failed++
		x.stats.Failed++
		res.Failed++
	}
	if s.v13 != nil {
		x.record13(s, i, r, raw, fromClient, res, fail)
		return
	}
	if r.Unified || r.Epoch != 1 || r.ConnIDUnknown {
		fail()
		return
	}
	if s.info.Status == StatusHandshake {
		x.establish(s, r, fromClient)
	}
	if s.info.Status != StatusDecrypting {
		fail()
		return
	}
	k := s.keys[dirIndex(fromClient)]
	out := x.buf[len(x.buf):cap(x.buf)]
	pt, typ, err := open(k, out, r, x.aad[:])
	if err != nil {
		fail()
		return
	}
	x.buf = x.buf[:len(x.buf)+len(pt)]
	if typ == decode.ContentHandshake {
		s.finished(pt, fromClient)
	}
	s.info.Decrypted++
	x.stats.Decrypted++
	res.Records = append(res.Records, Record{Index: i, Type: typ, Epoch: r.Epoch, Seq: r.Seq, FromClient: fromClient, Plaintext: pt})
}

func dirIndex(fromClient bool) int {
	if fromClient {
		return 0
	}
	return 1
}

// maxTrials is how many protected records a session's keys are tried on
// before it is judged: a record of an earlier session on the same
// endpoints (a late alert, say) must not condemn a handshake under way,
// but the session's Finished, the first handshake record, decides.
const maxTrials = 8

// establish derives the session's keys at its first protected record r
// and proves them on it: from the key log, then from each PSK that may
// apply.
func (x *Decrypter) establish(s *session, r *decode.DTLSRecord, fromClient bool) {
	s.trials++
	decisive := s.trials >= maxTrials || r.ContentType == decode.ContentHandshake || r.ContentType == decode.ContentTLS12CID
	if !s.haveCH || !s.haveSH {
		if !s.haveCH || decisive {
			s.info.Status = StatusNoHandshake
		}
		return
	}
	var master [48]byte
	tried := false
	if ms := x.keyLog().MasterSecret(s.clientRandom[:]); len(ms) == 48 {
		copy(master[:], ms)
		tried = true
		if x.tryMaster(s, &master, r, fromClient) {
			s.info.Key = KeyLog
			return
		}
	}
	if s.info.Resumed {
		// An abbreviated handshake reuses the master secret of the
		// session it resumes.
		ms, ok := x.resume[resumeKey{s.info.Server, s.sessionID}]
		if ok {
			tried = true
			if x.tryMaster(s, &ms, r, fromClient) {
				s.info.Key = KeyResumed
				return
			}
		} else if !tried {
			if decisive {
				s.info.Status, s.info.Detail = StatusNoKey, "resumes a session whose full handshake was not decrypted"
			}
			return
		}
	} else if s.info.Suite.KeyExchange() == decode.KeyExchangePSK {
		if s.info.ExtendedMasterSecret && s.sessionHashLen == 0 {
			if decisive {
				s.info.Status, s.info.Detail = StatusNoHandshake, "ClientKeyExchange not in capture"
			}
			return
		}
		var sh []byte
		if s.info.ExtendedMasterSecret {
			sh = s.hs.hash(s.params.PRF, s.sessionHashLen)
		}
		x.candidates = x.keys.PSKCandidates(x.candidates[:0], s.pskIdentity)
		for _, p := range x.candidates {
			tried = true
			tlscrypto.MasterSecret(s.params.PRF, tlscrypto.PSKPremaster(p.Key), s.info.ExtendedMasterSecret, sh, s.clientRandom[:], s.serverRandom[:], &master)
			if x.tryMaster(s, &master, r, fromClient) {
				s.info.Key = KeyPSK
				return
			}
		}
	}
	clear(master[:])
	switch {
	case tried && !decisive:
		// Perhaps a record of an earlier session: wait for the next.
	case tried:
		s.info.Status = StatusKeyMismatch
	case s.info.Suite.KeyExchange() == decode.KeyExchangePSK:
		s.info.Status, s.info.Detail = StatusNoKey, "no --psk and no key log entry for its client random"
	default:
		s.info.Status, s.info.Detail = StatusNoKey, s.info.Suite.KeyExchange().String()+" key exchange needs a key log entry for its client random"
	}
}

// resumeKey names a session that may be resumed: the server and the
// session ID it chose (at most 32 bytes, RFC 5246 7.4.1.2).
type resumeKey struct {
	server netip.AddrPort
	id     [32]byte
}

// remember keeps the master secret of an established session with a
// session ID for abbreviated handshakes that resume it. The cache holds
// as many entries as sessions are followed; the oldest goes first.
func (x *Decrypter) remember(s *session) {
	var zero [32]byte
	if s.sessionID == zero {
		return
	}
	k := resumeKey{s.info.Server, s.sessionID}
	if _, ok := x.resume[k]; ok {
		return
	}
	if len(x.resumeOrder) >= x.max {
		delete(x.resume, x.resumeOrder[0])
		x.resumeOrder = x.resumeOrder[1:]
	}
	x.resume[k] = s.master
	x.resumeOrder = append(x.resumeOrder, k)
}

func (x *Decrypter) keyLog() *tlskeys.KeyLog {
	if x.keys == nil {
		return nil
	}
	return x.keys.Log
}

// tryMaster derives the key block from master and keeps it when it
// decrypts r.
func (x *Decrypter) tryMaster(s *session, master *[48]byte, r *decode.DTLSRecord, fromClient bool) bool {
	c, sv, err := tlscrypto.KeyBlock12(&s.params, master[:], s.clientRandom[:], s.serverRandom[:], s.info.EncryptThenMAC)
	if err != nil {
		return false
	}
	k := c
	if !fromClient {
		k = sv
	}
	scratch := make([]byte, len(r.Fragment))
	if _, _, err := open(k, scratch, r, x.aad[:]); err != nil {
		return false
	}
	s.keys = [2]*tlscrypto.Keys12{c, sv}
	s.master = *master
	x.remember(s)
	s.info.Status = StatusDecrypting
	s.info.Detail = ""
	return true
}

// session is the state of one DTLS session.
type session struct {
	info                       SessionInfo
	haveCH, haveSH             bool
	clientRandom, serverRandom [32]byte
	params                     tlscrypto.Params
	pskIdentity                []byte
	cidOffered                 bool
	cidToClientLen             int
	cidLen                     [2]int // negotiated CID length of records to the server, to the client
	sawHVR                     bool
	trials                     int      // protected records the keys were tried on
	chSessionID                []byte   // the ClientHello's session ID
	sessionID                  [32]byte // the ServerHello's, zero-padded
	hs                         transcript
	sessionHashLen             int // messages in the transcript through the ClientKeyExchange
	master                     [48]byte
	keys                       [2]*tlscrypto.Keys12
	hrr13                      bool    // a DTLS 1.3 HelloRetryRequest was seen
	v13                        *sess13 // DTLS 1.3 state, nil for DTLS 1.2
}

// finished checks a decrypted handshake record that holds a Finished
// message against the transcript, and adds it to the transcript.
func (s *session) finished(pt []byte, fromClient bool) {
	if len(pt) != 12+12 || decode.HandshakeType(pt[0]) != decode.HandshakeFinished {
		return
	}
	seq := uint16(pt[4])<<8 | uint16(pt[5])
	if s.hs.has(fromClient, seq) {
		return // a retransmission
	}
	st := &s.info.ServerFinished
	if fromClient {
		st = &s.info.ClientFinished
	}
	want := tlscrypto.Finished12(s.params.PRF, s.master[:], fromClient, s.hs.hash(s.params.PRF, len(s.hs.msgs)))
	if hmac.Equal(want[:], pt[12:]) {
		*st = FinishedVerified
	} else {
		*st = FinishedMismatch
	}
	s.hs.addWhole(fromClient, seq, pt)
}
