// Package tlsdec decrypts one TLS connection (TLS 1.2, RFC 5246, and TLS
// 1.3, RFC 8446) of a capture for an auditor that holds its keys: an NSS
// key log, or the pre-shared keys of plain PSK suites (package tlskeys).
// It carries CoAP over TLS (RFC 8323) for package coaptcp, which
// reassembles TCP and hands each direction's bytes over in order.
//
// A Conn parses the records of both directions (buffering a partial one,
// bounded), follows the handshake (randoms, cipher suite, version, SNI,
// ALPN, extended master secret, encrypt-then-MAC, PSK identity,
// HelloRetryRequest, resumption) and keeps the handshake transcript. For
// TLS 1.2 it derives the key block from the key log's CLIENT_RANDOM entry
// or from each PSK that may apply, and proves it on the first protected
// record; for TLS 1.3 it takes the handshake and application traffic
// secrets from the key log, decrypts the encrypted handshake, follows
// KeyUpdate and removes the inner plaintext's padding. Both Finished
// messages are verified against the transcript: a wrong key gives the one
// state tlskeys.StateKeyMismatch and no plaintext.
//
// Gap reports bytes the capture lost: the decrypter finds the next record
// and its sequence number again; a stream that starts mid-record is
// searched for its first record header. Sessions, shared among the Conns
// of a capture, lets a TLS 1.2 connection that resumes an earlier one be
// decrypted without a key log entry of its own. A Conn holds about 1 KiB
// once its handshake is over (Buffered).
//
// TLS 1.3 0-RTT data is decrypted with the key log's
// CLIENT_EARLY_TRAFFIC_SECRET.
//
// Not handled: TLS 1.3 external PSKs without a key log, TLS 1.2
// renegotiation, SSL 3.0 to TLS 1.1, and the sequence numbers of a TLS
// 1.3 direction whose KeyUpdate the capture lost.
package tlsdec

import (
	"crypto"
	"crypto/hmac"

	"github.com/coapaudit/coapaudit/decode"
	"github.com/coapaudit/coapaudit/internal/tlscrypto"
	"github.com/coapaudit/coapaudit/tlskeys"
)

// Content types (RFC 8446 B.1).
const (
	ContentChangeCipherSpec uint8 = 20
	ContentAlert            uint8 = 21
	ContentHandshake        uint8 = 22
	ContentApplicationData  uint8 = 23
	ContentHeartbeat        uint8 = 24
)

// Bounds.
const (
	headerLen = 5
	// MaxRecordLen is the longest record on the wire: a TLSCiphertext
	// of 2^14 + 2048 bytes and its header.
	MaxRecordLen     = headerLen + 1<<14 + 2048
	maxMessageLen    = 1 << 17 // one handshake message
	maxTranscriptLen = 1 << 18
	// smallRecord is the buffer a connection starts with; longer records
	// grow it (the plaintext buffer stays grown, a partial record's
	// buffer is dropped once the record is complete).
	smallRecord = 1024
	// maxResync bounds the bytes skipped looking for a record header
	// before a direction is given up as not TLS.
	maxResync = 2 * MaxRecordLen
)

// Version numbers.
const (
	VersionTLS12 uint16 = 0x0303
	VersionTLS13 uint16 = 0x0304
)

// Record is one record of a direction.
type Record struct {
	// Type is the content type: the inner type of a decrypted TLS 1.3
	// record, else the record's.
	Type uint8
	// Plaintext is the record's content when it was sent in clear or
	// decrypted, nil otherwise. It is borrowed: it changes after emit
	// returns.
	Plaintext []byte
	// Off is the offset of the record's first byte in its direction's
	// stream (the first byte given to Feed is 0); Len its length on the
	// wire, header included.
	Off int64
	Len int
	// Protected is set for a record sent encrypted, Decrypted when it
	// was opened and authenticated.
	Protected, Decrypted bool
}

// Conn follows one TLS connection. It is not safe for concurrent use.
type Conn struct {
	keys *tlskeys.Keys
	st   Status
	dir  [2]direction

	haveCH, haveSH             bool
	clientRandom, serverRandom [32]byte
	chSessionID                []byte
	params                     tlscrypto.Params
	hrr                        bool
	earlyOffered               bool // the ClientHello has early_data
	pskIdentity                []byte
	master                     [48]byte
	sec13                      *tlskeys.TLS13Secrets

	transcript     []byte // handshake messages, 4-byte headers and bodies
	transcriptLost bool
	sessionHashLen int // 1.2: transcript bytes through the ClientKeyExchange
	trials         int

	rec Record // the record being emitted
	// TLS 1.2 resumption across connections
	sessions    *Sessions
	shSessionID []byte
	chTicket    []byte
	tickets     []string
	out         []byte // plaintext buffer, grown to the longest record
	ad          [13]byte
	candidates  []*tlskeys.PSK
}

// direction is the state of the records one side sends.
type direction struct {
	buf     []byte // a partial record
	off     int64  // stream offset of the next record
	hs      []byte // a partial handshake message
	hsLost  bool   // a handshake message too large to follow
	broken  bool   // not a TLS record stream
	skipped int64
	// after a gap: resync looks for the next record header; seqAfterGap
	// bounds the sequence numbers the lost bytes could have used
	resync      bool
	searched    int64 // bytes skipped looking for a record header
	seqAfterGap uint64
	records     int // records read
	// protection
	encrypted bool // 1.2: after ChangeCipherSpec; 1.3: keys are set
	k12       *tlscrypto.Keys12
	k13       *tlscrypto.Keys13
	secret    []byte // 1.3: the current traffic secret
	seq       uint64
	opened    int  // records opened under the current keys
	app       bool // 1.3: application traffic keys
	// set by a handshake message, applied after its record
	early     *tlscrypto.Keys13 // 1.3 client: 0-RTT keys, until EndOfEarlyData
	earlySeq  uint64
	earlyDone bool
	next      []byte // 1.3: the next traffic secret
	nextApp   bool
	keyUpdate bool
	finished  bool
}

// NewConn returns a Conn that decrypts with keys (nil: none).
func NewConn(keys *tlskeys.Keys) *Conn {
	return &Conn{keys: keys}
}

// Status returns what is known of the connection so far.
func (c *Conn) Status() Status { return c.st }

// Buffered returns the bytes the Conn holds for its connection: partial
// records and handshake messages, the handshake transcript (freed when
// the handshake ends) and its plaintext buffer. A caller bounding memory
// over many connections can add these up.
func (c *Conn) Buffered() int {
	n := cap(c.out) + cap(c.transcript)
	for i := range c.dir {
		n += cap(c.dir[i].buf) + cap(c.dir[i].hs)
	}
	return n
}

func dirIndex(fromClient bool) int {
	if fromClient {
		return 0
	}
	return 1
}

// Feed takes the next bytes one side sent (fromClient: the side that sent
// the ClientHello) and calls emit, which may be nil, for each complete
// record in them, decrypted when it can be. A partial record is kept for
// the next call (at most MaxRecordLen bytes). Bytes that do not frame as
// TLS records are skipped up to the next plausible record header (counted
// in Status.Skipped; Record.Off keeps counting them); after maxResync
// bytes without one the direction is given up, and a connection without a
// ClientHello is then StateNotTLS.
func (c *Conn) Feed(fromClient bool, b []byte, emit func(*Record)) {
	d := &c.dir[dirIndex(fromClient)]
	for {
		if d.broken {
			d.skipped += int64(len(b))
			d.off += int64(len(b))
			c.st.Skipped = c.dir[0].skipped + c.dir[1].skipped
			return
		}
		if d.resync {
			if b = c.resynchronize(d, b); b == nil {
				return
			}
		}
		if len(d.buf) > 0 {
			n := recordNeed(d.buf)
			if n < 0 {
				if b = c.desync(d, b); b == nil {
					return
				}
				continue
			}
			take := min(n-len(d.buf), len(b))
			if cap(d.buf) < n {
				d.buf = append(make([]byte, 0, n), d.buf...)
			}
			d.buf = append(d.buf, b[:take]...)
			b = b[take:]
			if len(d.buf) < n {
				return // b is used up
			}
			if recordNeed(d.buf) != n {
				continue // the header is complete now: the record needs more, or is not TLS
			}
			c.record(fromClient, d, d.buf, emit)
			if cap(d.buf) > headerLen+smallRecord {
				d.buf = nil // keep idle connections small
			} else {
				d.buf = d.buf[:0]
			}
			continue
		}
		if len(b) == 0 {
			return
		}
		n := recordNeed(b)
		if n < 0 {
			if b = c.desync(d, b); b == nil {
				return
			}
			continue
		}
		if len(b) < n {
			if cap(d.buf) < n {
				d.buf = make([]byte, 0, max(n, headerLen+smallRecord))
			}
			d.buf = append(d.buf, b...)
			return
		}
		c.record(fromClient, d, b[:n], emit)
		b = b[n:]
	}
}

// Gap tells the Conn that n bytes one side sent are missing from what
// Feed was given (lost by the capture; the TCP reassembly knows). The
// partial record before the gap is dropped, the next record header is
// searched for in the bytes that follow, and the records after it are
// tried with every sequence number the lost bytes could have used. A
// handshake message cut by the gap is lost, and with it the Finished
// check if the handshake was under way.
func (c *Conn) Gap(fromClient bool, n int64) {
	if n <= 0 {
		return
	}
	d := &c.dir[dirIndex(fromClient)]
	if d.broken {
		d.skipped += n
		return
	}
	d.off += int64(len(d.buf)) + n
	d.skipped += int64(len(d.buf))
	c.st.Skipped = c.dir[0].skipped + c.dir[1].skipped
	d.buf = nil
	if len(d.hs) > 0 || !d.finished {
		d.hs = nil
		c.transcriptLost, c.transcript = true, nil
	}
	d.resync = true
	// At most one record per headerLen+1 lost bytes, and the one cut.
	d.seqAfterGap = uint64(min(n/(headerLen+1)+2, 1<<16))
	c.st.Gaps++
}

// resynchronize drops bytes after a gap up to the first plausible record
// header: a known content type, version 3.x, a length within bounds, and
// where the bytes reach that far, another such header after the record.
// It returns the bytes from there, or nil when none starts in b (they
// are counted as skipped; a header cut by the end of b is kept).
func (c *Conn) resynchronize(d *direction, b []byte) []byte {
	buf := append(d.buf, b...)
	d.buf = nil
	for i := 0; i+headerLen <= len(buf); i++ {
		n := recordNeed(buf[i:])
		if n < 0 || buf[i+2] > 4 {
			continue
		}
		if j := i + n; j+headerLen <= len(buf) && (recordNeed(buf[j:]) < 0 || buf[j+2] > 4) {
			continue
		}
		d.resync, d.searched = false, 0
		d.skipped += int64(i)
		d.off += int64(i)
		c.st.Skipped = c.dir[0].skipped + c.dir[1].skipped
		return buf[i:]
	}
	keep := max(len(buf)-(headerLen-1), 0)
	d.skipped += int64(keep)
	d.off += int64(keep)
	d.searched += int64(keep)
	c.st.Skipped = c.dir[0].skipped + c.dir[1].skipped
	d.buf = append([]byte(nil), buf[keep:]...)
	if d.searched > maxResync {
		// Give the direction up: its bytes are counted, not read.
		d.broken, d.resync = true, false
		d.skipped += int64(len(d.buf))
		d.off += int64(len(d.buf))
		d.buf = nil
		c.st.Skipped = c.dir[0].skipped + c.dir[1].skipped
		if d.records == 0 && !c.haveCH {
			c.set(tlskeys.StateNotTLS, "the bytes are not TLS records")
		}
	}
	return nil
}

// recordNeed returns the length of the record that starts h (headerLen
// while the header is incomplete), or -1 when h does not start a TLS
// record.
func recordNeed(h []byte) int {
	if len(h) >= 1 && (h[0] < ContentChangeCipherSpec || h[0] > ContentHeartbeat) {
		return -1
	}
	if len(h) >= 2 && h[1] != 3 {
		return -1
	}
	if len(h) < headerLen {
		return headerLen
	}
	n := int(h[3])<<8 | int(h[4])
	if n > MaxRecordLen-headerLen {
		return -1
	}
	return headerLen + n
}

// desync handles a direction whose bytes
// (d.buf and rest) do not start a record: the next record header is
// searched for, as after a gap (a capture that starts mid-connection
// starts mid-record). It returns the bytes from that header, or nil.
func (c *Conn) desync(d *direction, rest []byte) []byte {
	d.resync = true
	return c.resynchronize(d, rest)
}

func (c *Conn) set(s State, detail string) {
	c.st.State, c.st.Detail = s, detail
}

// record handles one complete record rec of direction d.
func (c *Conn) record(fromClient bool, d *direction, rec []byte, emit func(*Record)) {
	d.records++
	r := &c.rec // not on the stack: emit would make it escape
	*r = Record{Type: rec[0], Off: d.off, Len: len(rec)}
	d.off += int64(len(rec))
	body := rec[headerLen:]
	tls13 := c.st.Version == VersionTLS13
	protected := d.encrypted && (!tls13 || r.Type == ContentApplicationData)
	if !protected && r.Type == ContentApplicationData && !d.encrypted {
		// Application data before the keys: 0-RTT data, or a
		// connection whose handshake the capture lacks.
		protected = true
		if !c.haveCH {
			c.set(tlskeys.StateNoHandshake, "records before any ClientHello")
		}
	}
	if !protected {
		r.Plaintext = body
		switch r.Type {
		case ContentHandshake:
			if !c.haveCH && !fromClient {
				c.set(tlskeys.StateNoHandshake, "handshake from the server before any ClientHello")
			}
			c.handshakeBytes(fromClient, d, body, false)
		case ContentChangeCipherSpec:
			if !tls13 && c.haveSH && !d.encrypted {
				d.encrypted, d.seq = true, 0
			}
		}
		c.afterRecord(fromClient, d)
		if emit != nil {
			emit(r)
		}
		return
	}
	r.Protected = true
	if d.encrypted && !tls13 && d.k12 == nil && c.st.State == tlskeys.StateHandshake {
		c.establish12(fromClient, d, rec)
	}
	pt, typ, ok := c.open(d, rec)
	if ok {
		r.Type, r.Plaintext, r.Decrypted = typ, pt, true
		c.st.Decrypted++
		d.opened++
		if c.st.State == tlskeys.StateHandshake && tls13 {
			c.set(tlskeys.StateDecrypting, "")
			c.st.Key = KeyLog
		}
		if typ == ContentHandshake {
			c.handshakeBytes(fromClient, d, pt, true)
		}
	} else {
		c.st.Failed++
		c.failed(fromClient, d)
	}
	c.afterRecord(fromClient, d)
	if emit != nil {
		emit(r)
	}
}

// failed judges a protected record that did not open.
func (c *Conn) failed(fromClient bool, d *direction) {
	if c.st.Version != VersionTLS13 || d.k13 == nil {
		return
	}
	switch {
	case c.st.State == tlskeys.StateHandshake && !fromClient:
		// The server's first protected record (EncryptedExtensions)
		// decides the handshake secrets.
		c.set(tlskeys.StateKeyMismatch, "")
	case c.st.State == tlskeys.StateDecrypting && d.app && d.opened == 0 && c.st.KeyUpdates == 0:
		c.set(tlskeys.StateKeyMismatch, "application traffic secret does not match")
	}
	// A client record that does not open under the handshake keys may
	// be 0-RTT data.
}

// open decrypts a protected record and advances the sequence number.
func (c *Conn) open(d *direction, rec []byte) (pt []byte, typ uint8, ok bool) {
	if d == &c.dir[0] && c.earlyOffered && !d.earlyDone && rec[0] == ContentApplicationData {
		if pt, typ, ok := c.openEarly(d, rec); ok {
			return pt, typ, true
		}
	}
	if d.k12 == nil && d.k13 == nil || c.st.State != tlskeys.StateDecrypting && c.st.State != tlskeys.StateHandshake {
		if d.k12 != nil || d.k13 != nil {
			d.seq++
		}
		return nil, 0, false
	}
	body := rec[headerLen:]
	if cap(c.out) < len(body) {
		c.out = make([]byte, max(len(body), 2*cap(c.out), smallRecord))
	}
	tries := uint64(1)
	if d.seqAfterGap > 0 {
		tries = d.seqAfterGap + 1
	}
	for seq := d.seq; seq < d.seq+tries; seq++ {
		if pt, typ, ok := c.openSeq(d, rec, seq); ok {
			d.earlyDone = true // the client has moved past 0-RTT data
			d.seq, d.seqAfterGap = seq+1, 0
			return pt, typ, true
		}
	}
	d.seq++
	if d.seqAfterGap > 0 {
		d.seqAfterGap-- // the record took one of the numbers
	}
	return nil, 0, false
}

// openEarly opens a client record with the 0-RTT keys (RFC 8446 4.2.10),
// which the key log's CLIENT_EARLY_TRAFFIC_SECRET gives. The suite is
// that of the session the ClientHello resumes, which only the
// ServerHello names (when the server takes the data): until then every
// TLS 1.3 suite of the secret's hash is tried on the first record.
func (c *Conn) openEarly(d *direction, rec []byte) (pt []byte, typ uint8, ok bool) {
	if cap(c.out) < len(rec) {
		c.out = make([]byte, max(len(rec), 2*cap(c.out), smallRecord))
	}
	if d.early == nil {
		sec := c.keyLog().TLS13(c.clientRandom[:])
		if sec == nil || sec.ClientEarly == nil {
			d.earlyDone = true
			return nil, 0, false
		}
		for _, s := range []decode.CipherSuite{0x1301, 0x1302, 0x1303, 0x1304, 0x1305} {
			p, ok := tlscrypto.ParamsFor(s)
			if !ok || p.PRF.Size() != len(sec.ClientEarly) || c.haveSH && c.params.TLS13 && s != c.st.Suite {
				continue
			}
			k, err := tlscrypto.NewKeys13(&p, sec.ClientEarly, false)
			if err != nil {
				continue
			}
			if _, err := k.Open(c.out, rec[headerLen:], 0, rec[:headerLen]); err == nil {
				d.early, d.earlySeq = k, 0
				break
			}
		}
		if d.early == nil {
			return nil, 0, false
		}
	}
	p, err := d.early.Open(c.out, rec[headerLen:], d.earlySeq, rec[:headerLen])
	if err != nil {
		return nil, 0, false
	}
	content, t, err := tlscrypto.InnerPlaintext(p)
	if err != nil {
		return nil, 0, false
	}
	d.earlySeq++
	c.st.EarlyData++
	return content, t, true
}

// openSeq opens a record with sequence number seq.
func (c *Conn) openSeq(d *direction, rec []byte, seq uint64) (pt []byte, typ uint8, ok bool) {
	body := rec[headerLen:]
	if d.k13 != nil {
		p, err := d.k13.Open(c.out, body, seq, rec[:headerLen])
		if err != nil {
			return nil, 0, false
		}
		content, t, err := tlscrypto.InnerPlaintext(p)
		if err != nil {
			return nil, 0, false
		}
		return content, t, true
	}
	p, err := d.k12.Open(c.out, body, seq, c.ad12(seq, rec))
	if err != nil {
		return nil, 0, false
	}
	return p, rec[0], true
}

// ad12 is the TLS 1.2 additional data of a record with sequence number
// seq (RFC 5246 6.2.3.3), its length left for the cipher.
func (c *Conn) ad12(seq uint64, rec []byte) []byte {
	b := c.ad[:]
	for i := range 8 {
		b[i] = byte(seq >> (56 - 8*i))
	}
	b[8], b[9], b[10] = rec[0], rec[1], rec[2]
	return b
}

// afterRecord applies the key changes the record's handshake messages
// called for (TLS 1.3: the end of the handshake, KeyUpdate).
func (c *Conn) afterRecord(fromClient bool, d *direction) {
	if d.next == nil {
		return
	}
	next := d.next
	d.next = nil
	if d.keyUpdate {
		c.st.KeyUpdates++
		d.keyUpdate = false
	}
	c.setKeys13(d, next, d.nextApp)
}

// setKeys13 switches direction d to the traffic secret secret.
func (c *Conn) setKeys13(d *direction, secret []byte, app bool) {
	clear(d.secret)
	d.secret = secret
	d.k13, d.k12 = nil, nil
	d.encrypted, d.seq, d.opened, d.app = true, 0, 0, app
	if len(secret) != c.params.PRF.Size() {
		return
	}
	k, err := tlscrypto.NewKeys13(&c.params, secret, false)
	if err == nil {
		d.k13 = k
	}
}

// maxTrials bounds the protected records a TLS 1.2 key is tried on before
// the connection is judged.
const maxTrials = 4

// establish12 derives the TLS 1.2 keys at the first protected record
// rec and proves them on it: from the key log, then each PSK that may
// apply.
func (c *Conn) establish12(fromClient bool, d *direction, rec []byte) {
	c.trials++
	if !c.haveCH || !c.haveSH {
		c.set(tlskeys.StateNoHandshake, "ClientHello or ServerHello not in capture")
		return
	}
	tried := false
	var master [48]byte
	defer clear(master[:])
	if ms := c.keyLog().MasterSecret(c.clientRandom[:]); len(ms) == 48 {
		copy(master[:], ms)
		tried = true
		if c.tryMaster(fromClient, &master, rec) {
			c.st.Key = KeyLog
			return
		}
	}
	if c.st.Resumed {
		for _, k := range []string{"id:" + string(c.shSessionID), "tk:" + string(c.chTicket)} {
			if ms, ok := c.sessions.get(k); ok {
				master = ms
				tried = true
				if c.tryMaster(fromClient, &master, rec) {
					c.st.Key = KeyResumed
					return
				}
			}
		}
	}
	if kx := c.st.Suite.KeyExchange(); kx == decode.KeyExchangePSK && !c.st.Resumed {
		var sh []byte
		if c.st.ExtendedMasterSecret {
			if c.sessionHashLen == 0 {
				c.set(tlskeys.StateNoHandshake, "ClientKeyExchange not in capture")
				return
			}
			sh = hashOf(c.params.PRF, c.transcript[:c.sessionHashLen])
		}
		c.candidates = c.keys.PSKCandidates(c.candidates[:0], c.pskIdentity)
		for _, p := range c.candidates {
			tried = true
			tlscrypto.MasterSecret(c.params.PRF, tlscrypto.PSKPremaster(p.Key), c.st.ExtendedMasterSecret, sh, c.clientRandom[:], c.serverRandom[:], &master)
			if c.tryMaster(fromClient, &master, rec) {
				c.st.Key = KeyPSK
				return
			}
		}
	}
	switch {
	case tried && rec[0] != ContentHandshake && c.trials < maxTrials:
		// Not the Finished: wait for a record that decides.
	case tried:
		c.set(tlskeys.StateKeyMismatch, "")
	case c.st.Resumed:
		c.set(tlskeys.StateNoKey, "resumes a session that was not decrypted: needs a key log entry for its client random")
	case c.st.Suite.KeyExchange() == decode.KeyExchangePSK:
		c.set(tlskeys.StateNoKey, "no --psk and no key log entry for its client random")
	default:
		c.set(tlskeys.StateNoKey, c.st.Suite.KeyExchange().String()+" key exchange needs a key log entry for its client random")
	}
}

func (c *Conn) keyLog() *tlskeys.KeyLog {
	if c.keys == nil {
		return nil
	}
	return c.keys.Log
}

// tryMaster derives the key block from master and keeps it when it
// opens rec, the first protected record of its direction.
func (c *Conn) tryMaster(fromClient bool, master *[48]byte, rec []byte) bool {
	ck, sk, err := tlscrypto.KeyBlock12(&c.params, master[:], c.clientRandom[:], c.serverRandom[:], c.st.EncryptThenMAC)
	if err != nil {
		return false
	}
	k := ck
	if !fromClient {
		k = sk
	}
	if _, err := k.Open(make([]byte, len(rec)), rec[headerLen:], 0, c.ad12(0, rec)); err != nil {
		return false
	}
	c.dir[0].k12, c.dir[1].k12 = ck, sk
	c.master = *master
	c.remember()
	c.set(tlskeys.StateDecrypting, "")
	return true
}

func hashOf(h crypto.Hash, b []byte) []byte {
	d := h.New()
	d.Write(b)
	return d.Sum(nil)
}

// finished checks a Finished message's verify_data against the
// transcript before it.
func (c *Conn) finished(fromClient bool, body []byte) {
	st := &c.st.ServerFinished
	if fromClient {
		st = &c.st.ClientFinished
	}
	if c.transcriptLost || !c.haveCH {
		return
	}
	th := hashOf(c.params.PRF, c.transcript)
	var want []byte
	if c.st.Version == VersionTLS13 {
		if c.sec13 == nil {
			return
		}
		secret := c.sec13.ServerHandshake
		if fromClient {
			secret = c.sec13.ClientHandshake
		}
		if len(secret) != c.params.PRF.Size() {
			return
		}
		want = tlscrypto.Finished13(c.params.PRF, secret, th, false)
	} else {
		v := tlscrypto.Finished12(c.params.PRF, c.master[:], fromClient, th)
		want = v[:]
	}
	if hmac.Equal(want, body) {
		*st = tlskeys.FinishedVerified
	} else {
		// The records authenticated, so the key is right: the
		// transcript differs (altered, or not all of it captured).
		*st = tlskeys.FinishedMismatch
	}
}
