package tlsdec

import (
	"bytes"
	"crypto/sha256"

	"github.com/coapaudit/coapaudit/decode"
	"github.com/coapaudit/coapaudit/internal/tlscrypto"
	"github.com/coapaudit/coapaudit/tlskeys"
)

// Handshake message types (RFC 8446 4).
const (
	hsClientHello        = 1
	hsServerHello        = 2
	hsNewSessionTicket   = 4
	hsEndOfEarlyData     = 5
	hsEncryptedExtension = 8
	hsClientKeyExchange  = 16
	hsFinished           = 20
	hsKeyUpdate          = 24
	hsMessageHash        = 254
)

// Extensions read.
const (
	extServerName           = 0
	extALPN                 = 16
	extEncryptThenMAC       = 22
	extExtendedMasterSecret = 23
	extSessionTicket        = 35
	extPreSharedKey         = 41
	extEarlyData            = 42
	extSupportedVersions    = 43
)

// helloRetryRandom is the ServerHello.random of a HelloRetryRequest
// (RFC 8446 4.1.3): SHA-256 of "HelloRetryRequest".
var helloRetryRandom = sha256.Sum256([]byte("HelloRetryRequest"))

// handshakeBytes takes the handshake content of one record (plaintext, or
// decrypted: protected) and handles every message it completes.
func (c *Conn) handshakeBytes(fromClient bool, d *direction, b []byte, protected bool) {
	if d.hsLost {
		return
	}
	data, buffered := b, len(d.hs) > 0
	if buffered {
		if len(d.hs)+len(b) > maxMessageLen+4 {
			c.loseHandshake(d)
			return
		}
		d.hs = append(d.hs, b...)
		data = d.hs
	}
	for len(data) >= 4 {
		n := int(data[1])<<16 | int(data[2])<<8 | int(data[3])
		if n > maxMessageLen {
			c.loseHandshake(d)
			return
		}
		if len(data) < 4+n {
			break
		}
		c.message(fromClient, d, data[:4+n], protected)
		data = data[4+n:]
	}
	switch {
	case len(data) == 0 && cap(d.hs) > smallRecord:
		d.hs = nil // keep idle connections small
	case buffered:
		d.hs = d.hs[:copy(d.hs, data)]
	default:
		d.hs = append(d.hs[:0], data...)
	}
}

// loseHandshake gives up following a direction's handshake messages.
func (c *Conn) loseHandshake(d *direction) {
	d.hsLost, d.hs = true, nil
	c.transcriptLost, c.transcript = true, nil
}

// addTranscript appends a handshake message to the transcript, within
// its bound.
func (c *Conn) addTranscript(msg []byte) {
	if c.transcriptLost {
		return
	}
	if len(c.transcript)+len(msg) > maxTranscriptLen {
		c.transcriptLost, c.transcript = true, nil
		return
	}
	c.transcript = append(c.transcript, msg...)
}

// message handles one complete handshake message msg (header and body),
// which came in a protected record or in clear.
func (c *Conn) message(fromClient bool, d *direction, msg []byte, protected bool) {
	body := msg[4:]
	tls13 := c.st.Version == VersionTLS13
	switch msg[0] {
	case hsClientHello:
		if !fromClient {
			return
		}
		if c.haveCH && !(c.hrr && !c.haveSH) {
			return // renegotiation: not followed
		}
		if !c.haveCH && !c.clientHello(body) {
			return
		}
	case hsServerHello:
		if fromClient || !c.haveCH || c.haveSH {
			return
		}
		c.serverHello(body, msg)
		return
	case hsEndOfEarlyData:
		if fromClient {
			d.earlyDone = true
		}
	case hsNewSessionTicket:
		if !fromClient && !tls13 {
			c.newTicket(body)
		}
	case hsEncryptedExtension:
		if !fromClient && tls13 {
			if v, ok := extension(extensionsOf(body, 0), extALPN); ok {
				c.st.ALPN = selectedALPN(v)
			}
		}
	case hsClientKeyExchange:
		if fromClient && !tls13 && c.st.Suite.KeyExchange().PSK() && len(body) >= 2 {
			if n := int(body[0])<<8 | int(body[1]); 2+n <= len(body) {
				c.pskIdentity = append(c.pskIdentity[:0], body[2:2+n]...)
				c.st.PSKIdentity = string(c.pskIdentity)
			}
		}
	case hsFinished:
		if d.finished || !protected || !c.haveSH {
			return // a Finished is always encrypted
		}
		c.finished(fromClient, body)
		d.finished = true
		c.addTranscript(msg)
		if tls13 && c.sec13 != nil {
			s := c.sec13.ServerTraffic0
			if fromClient {
				s = c.sec13.ClientTraffic0
			}
			d.next, d.nextApp = append([]byte{}, s...), true
		}
		if c.dir[0].finished && c.dir[1].finished {
			c.transcript = nil // the handshake is over
		}
		return
	case hsKeyUpdate:
		if tls13 && d.finished && d.app && len(d.secret) > 0 {
			d.next, d.nextApp, d.keyUpdate = tlscrypto.NextSecret(c.params.PRF, d.secret, false), true, true
		}
		return
	}
	if d.finished {
		return // a post-handshake message
	}
	c.addTranscript(msg)
	if msg[0] == hsClientKeyExchange && fromClient {
		c.sessionHashLen = len(c.transcript)
	}
}

// clientHello reads the ClientHello: random, session ID, SNI, ALPN.
func (c *Conn) clientHello(b []byte) bool {
	r := reader{b: b}
	r.bytes(2)
	random := r.bytes(32)
	sid := r.vec8()
	r.vec16() // cipher_suites
	r.vec8()  // compression_methods
	exts := r.vec16()
	if r.bad {
		return false
	}
	c.haveCH = true
	copy(c.clientRandom[:], random)
	c.chSessionID = append([]byte(nil), sid...)
	if v, ok := extension(exts, extSessionTicket); ok && len(v) > 0 && len(v) <= 1<<12 {
		c.chTicket = append([]byte(nil), v...)
	}
	if v, ok := extension(exts, extServerName); ok {
		c.st.SNI = serverName(v)
	}
	_, c.earlyOffered = extension(exts, extEarlyData)
	if v, ok := extension(exts, extALPN); ok {
		l := reader{b: v}
		list := l.vec16()
		for len(list) > 0 && !l.bad {
			lr := reader{b: list}
			p := lr.vec8()
			if lr.bad {
				break
			}
			c.st.OfferedALPN = append(c.st.OfferedALPN, string(p))
			list = lr.b
		}
	}
	return true
}

// serverHello reads the ServerHello (or HelloRetryRequest) msg.
func (c *Conn) serverHello(b, msg []byte) {
	r := reader{b: b}
	version := r.u16()
	random := r.bytes(32)
	sid := r.vec8()
	suite := decode.CipherSuite(r.u16())
	r.bytes(1)
	exts := r.vec16()
	if r.bad {
		return
	}
	if v, ok := extension(exts, extSupportedVersions); ok && len(v) == 2 {
		version = uint16(v[0])<<8 | uint16(v[1])
	}
	c.st.Suite, c.st.HasSuite = suite, true
	if bytes.Equal(random, helloRetryRandom[:]) {
		c.helloRetry(suite, msg)
		return
	}
	c.haveSH = true
	copy(c.serverRandom[:], random)
	c.st.Version = version
	p, ok := tlscrypto.ParamsFor(suite)
	switch {
	case version != VersionTLS12 && version != VersionTLS13:
		c.set(tlskeys.StateUnsupported, "protocol version "+VersionName(version))
		return
	case !ok || p.TLS13 != (version == VersionTLS13):
		c.set(tlskeys.StateUnsupported, "cipher suite "+suite.String())
		return
	}
	c.params = p
	c.addTranscript(msg)
	if version == VersionTLS12 {
		_, c.st.ExtendedMasterSecret = extension(exts, extExtendedMasterSecret)
		_, c.st.EncryptThenMAC = extension(exts, extEncryptThenMAC)
		c.st.Resumed = len(sid) > 0 && bytes.Equal(sid, c.chSessionID)
		c.shSessionID = append([]byte(nil), sid...)
		if v, ok := extension(exts, extALPN); ok {
			c.st.ALPN = selectedALPN(v)
		}
		return
	}
	_, c.st.Resumed = extension(exts, extPreSharedKey)
	c.sec13 = c.keyLog().TLS13(c.clientRandom[:])
	if c.sec13 == nil || c.sec13.ServerHandshake == nil {
		c.set(tlskeys.StateNoKey, "no key log entry for its client random (TLS 1.3 needs SERVER_HANDSHAKE_TRAFFIC_SECRET and the others)")
		c.sec13 = nil
		return
	}
	c.setKeys13(&c.dir[1], append([]byte{}, c.sec13.ServerHandshake...), false)
	c.setKeys13(&c.dir[0], append([]byte{}, c.sec13.ClientHandshake...), false)
}

// helloRetry handles a HelloRetryRequest: the transcript starts again
// with the hash of the first ClientHello (RFC 8446 4.4.1).
func (c *Conn) helloRetry(suite decode.CipherSuite, msg []byte) {
	c.st.HelloRetry = true
	if c.hrr {
		return
	}
	c.hrr = true
	p, ok := tlscrypto.ParamsFor(suite)
	if !ok || !p.TLS13 {
		c.set(tlskeys.StateUnsupported, "cipher suite "+suite.String())
		return
	}
	if c.transcriptLost {
		return
	}
	h := hashOf(p.PRF, c.transcript)
	c.transcript = append(append(c.transcript[:0], hsMessageHash, 0, 0, byte(len(h))), h...)
	c.addTranscript(msg)
}

// extensionsOf returns the extensions block of an EncryptedExtensions
// body (off 0).
func extensionsOf(b []byte, off int) []byte {
	r := reader{b: b[off:]}
	v := r.vec16()
	if r.bad {
		return nil
	}
	return v
}

// extension finds extension typ in an extensions block.
func extension(exts []byte, typ uint16) ([]byte, bool) {
	for len(exts) >= 4 {
		t := uint16(exts[0])<<8 | uint16(exts[1])
		n := int(exts[2])<<8 | int(exts[3])
		if len(exts)-4 < n {
			return nil, false
		}
		if t == typ {
			return exts[4 : 4+n], true
		}
		exts = exts[4+n:]
	}
	return nil, false
}

// serverName returns the host_name of a server_name extension.
func serverName(v []byte) string {
	r := reader{b: v}
	list := r.vec16()
	for len(list) >= 3 && !r.bad {
		lr := reader{b: list}
		typ := lr.u8()
		name := lr.vec16()
		if lr.bad {
			return ""
		}
		if typ == 0 {
			return string(name)
		}
		list = lr.b
	}
	return ""
}

// selectedALPN returns the one protocol of a ServerHello's or
// EncryptedExtensions' ALPN extension.
func selectedALPN(v []byte) string {
	r := reader{b: v}
	list := r.vec16()
	lr := reader{b: list}
	p := lr.vec8()
	if r.bad || lr.bad {
		return ""
	}
	return string(p)
}

// reader reads big-endian fields; bad is set past the end.
type reader struct {
	b   []byte
	bad bool
}

func (r *reader) bytes(n int) []byte {
	if r.bad || len(r.b) < n {
		r.bad = true
		return nil
	}
	v := r.b[:n]
	r.b = r.b[n:]
	return v
}

func (r *reader) u8() uint8 {
	if v := r.bytes(1); v != nil {
		return v[0]
	}
	return 0
}

func (r *reader) u16() uint16 {
	if v := r.bytes(2); v != nil {
		return uint16(v[0])<<8 | uint16(v[1])
	}
	return 0
}

func (r *reader) vec8() []byte { return r.bytes(int(r.u8())) }

func (r *reader) vec16() []byte { return r.bytes(int(r.u16())) }
