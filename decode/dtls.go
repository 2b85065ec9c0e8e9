package decode

import (
	"bytes"
	"unicode/utf8"
)

// DTLS protocol versions as they appear on the wire.
const (
	VersionDTLS10 uint16 = 0xfeff
	VersionDTLS12 uint16 = 0xfefd
	VersionDTLS13 uint16 = 0xfefc
)

// Record layer sizes and limits.
const (
	dtlsHeaderLen    = 13 // DTLSPlaintext: type, version, epoch, sequence_number(6), length
	dtlsHandshakeLen = 12 // msg_type, length(3), message_seq, fragment_offset(3), fragment_length(3)
	maxCIDLen        = 255
	// maxRecordLen is the largest fragment a record may carry: 2^14 bytes of
	// plaintext plus 2048 bytes of expansion (RFC 6347 4.1, RFC 5246 6.2.3).
	maxRecordLen = 1<<14 + 2048
	// minProtectedLen is the smallest protected record: RFC 9147 4.2.3 asks
	// for 16 bytes of ciphertext, and every DTLS 1.2 AEAD or MAC adds at
	// least 16 bytes too (CCM_8: 8-byte explicit nonce and 8-byte tag).
	minProtectedLen = 16
)

// Handshake extension numbers the decoder reads.
const (
	extServerName        = 0
	extPreSharedKey      = 41
	extSupportedVersions = 43
	extConnectionID      = 54 // RFC 9146
)

// helloRetryRandom is the ServerHello.random that marks a HelloRetryRequest
// (RFC 8446 4.1.3): SHA-256 of "HelloRetryRequest".
var helloRetryRandom = [32]byte{
	0xcf, 0x21, 0xad, 0x74, 0xe5, 0x9a, 0x61, 0x11, 0xbe, 0x1d, 0x8c, 0x02, 0x1e, 0x65, 0xb8, 0x91,
	0xc2, 0xa2, 0x11, 0x16, 0x7a, 0xbb, 0x8c, 0x5e, 0x07, 0x9e, 0x09, 0xe2, 0xc8, 0xa8, 0x33, 0x9c,
}

// DTLSRecord is one record of a datagram. Fragment and ConnID borrow the
// input given to DTLS.Decode.
type DTLSRecord struct {
	// ContentType is the record's type. It is 0 for a DTLS 1.3 unified
	// header, whose type is encrypted.
	ContentType ContentType
	// Version is the record-layer version (0 for a unified header).
	Version uint16
	// Epoch is the full epoch of a DTLSPlaintext header, or the low two bits
	// of the epoch carried by a unified header.
	Epoch uint16
	// Seq is the 48-bit sequence number, or for a unified header the 8 or
	// 16 low bits as sent (they are encrypted, RFC 9147 4.2.3).
	Seq uint64
	// Length is the length of Fragment.
	Length int
	// Fragment is the record body (ciphertext when the epoch is not 0).
	Fragment []byte
	// Span covers header and fragment.
	Span Span
	// HeaderLen is the number of header bytes before Fragment.
	HeaderLen int
	// Unified is set for a DTLS 1.3 DTLSCiphertext unified header
	// (RFC 9147 4): first byte 001CSLEE.
	Unified bool
	// ConnID is the connection ID of a tls12_cid record (RFC 9146) or of a
	// unified header with the C bit, nil otherwise.
	ConnID []byte
	// ConnIDUnknown is set when the record carries a connection ID of a
	// length the decoder could neither get from DTLS.ConnIDLen nor infer.
	// The record then takes the rest of the datagram: ConnID is nil and
	// Fragment starts where the connection ID does (for a unified header,
	// Seq is unknown too).
	ConnIDUnknown bool
}

// Alert returns the level and description of a plaintext alert record
// (epoch 0, two bytes). ok is false for any other record.
func (r *DTLSRecord) Alert() (level uint8, desc AlertDescription, ok bool) {
	if r.Unified || r.ContentType != ContentAlert || r.Epoch != 0 || len(r.Fragment) != 2 {
		return 0, 0, false
	}
	return r.Fragment[0], AlertDescription(r.Fragment[1]), true
}

// DTLSHandshake is one handshake message, or a fragment of one, found in an
// epoch-0 handshake record. Body borrows the input.
type DTLSHandshake struct {
	Type HandshakeType
	// Length is the length of the whole message; Body may be a fragment.
	Length         uint32
	MessageSeq     uint16
	FragmentOffset uint32
	FragmentLength uint32
	// Body is the fragment_length bytes after the handshake header.
	Body []byte
	// Record is the index in DTLS.Records of the record holding the message.
	Record int
	// Span covers the 12-byte handshake header and the fragment.
	Span Span
}

// Complete reports whether the message is not fragmented: Body is the whole
// message.
func (h *DTLSHandshake) Complete() bool {
	return h.FragmentOffset == 0 && h.FragmentLength == h.Length
}

// DTLSClientHello holds the fields of a ClientHello. Slices borrow the
// input; an absent field is nil.
type DTLSClientHello struct {
	Version   uint16
	Random    []byte // 32 bytes
	SessionID []byte
	Cookie    []byte
	// CipherSuites is the offered list as sent: big-endian uint16 values.
	// Use NumCipherSuites and CipherSuite to read it.
	CipherSuites       []byte
	CompressionMethods []byte
	// Extensions is the raw extensions block (without its length), nil when
	// the message has none.
	Extensions []byte
	// ServerName is the first host_name of the server_name extension.
	ServerName []byte
	// ConnID is the connection_id extension value (RFC 9146): the CID the
	// client wants on records sent to it. HasConnID tells an empty CID from
	// an absent extension.
	ConnID    []byte
	HasConnID bool
	// SupportedVersions is the raw list of the supported_versions extension
	// (big-endian uint16 values), nil when absent.
	SupportedVersions []byte
	// PSKIdentities is the identities list of a pre_shared_key extension
	// (DTLS 1.3), without its length: each entry is identity<1..2^16-1>
	// followed by a 4-byte obfuscated_ticket_age. Use PSKIdentity to read it.
	PSKIdentities []byte
}

// NumCipherSuites returns the number of offered cipher suites.
func (c *DTLSClientHello) NumCipherSuites() int { return len(c.CipherSuites) / 2 }

// CipherSuite returns the i-th offered cipher suite.
func (c *DTLSClientHello) CipherSuite(i int) CipherSuite {
	return CipherSuite(uint16(c.CipherSuites[2*i])<<8 | uint16(c.CipherSuites[2*i+1]))
}

// Offers reports whether s is in the offered list.
func (c *DTLSClientHello) Offers(s CipherSuite) bool {
	for i := 0; i < c.NumCipherSuites(); i++ {
		if c.CipherSuite(i) == s {
			return true
		}
	}
	return false
}

// PSKIdentity returns the i-th identity of the pre_shared_key extension and
// its obfuscated ticket age. ok is false past the last identity.
func (c *DTLSClientHello) PSKIdentity(i int) (identity []byte, age uint32, ok bool) {
	r := dtlsReader{b: c.PSKIdentities}
	for n := 0; r.off < len(r.b); n++ {
		id := r.vec16()
		a := r.u32()
		if r.bad {
			return nil, 0, false
		}
		if n == i {
			return id, a, true
		}
	}
	return nil, 0, false
}

// DTLSServerHello holds the fields of a ServerHello. Slices borrow the input.
type DTLSServerHello struct {
	Version     uint16
	Random      []byte // 32 bytes
	SessionID   []byte
	CipherSuite CipherSuite
	Compression uint8
	Extensions  []byte
	// SelectedVersion is the supported_versions extension value (DTLS 1.3:
	// 0xfefc), 0 when absent.
	SelectedVersion uint16
	// ConnID is the connection_id extension value: the CID the server wants
	// on records sent to it.
	ConnID    []byte
	HasConnID bool
	// RetryRequest is set when Random marks a DTLS 1.3 HelloRetryRequest.
	RetryRequest bool
}

// DTLS is a decoded UDP datagram of DTLS records. It is reused across
// calls: Decode truncates the slices and appends, so a DTLS value reused in
// a loop allocates only when a datagram holds more records, handshake
// messages or anomalies than any before it. Every slice in it borrows the
// buffer given to Decode: copy what must outlive the buffer.
type DTLS struct {
	// ConnIDLen is the length of the connection IDs in tls12_cid records and
	// unified headers with the C bit, as negotiated for the flow (see
	// DTLSClientHello.ConnID and DTLSServerHello.ConnID). It is input to
	// Decode and left unchanged. 0 means unknown: Decode then infers the
	// length from the record length fields where it can.
	ConnIDLen int

	Records    []DTLSRecord
	Handshakes []DTLSHandshake
	// Anomalies are problems that did not stop the parse.
	Anomalies []Anomaly

	// The first complete message of each kind in an epoch-0 record.
	ClientHello           DTLSClientHello
	HasClientHello        bool
	ServerHello           DTLSServerHello
	HasServerHello        bool
	HelloVerifyCookie     []byte
	HasHelloVerifyRequest bool
	// CipherSuite is the suite the ServerHello selected.
	CipherSuite    CipherSuite
	HasCipherSuite bool
	// ServerKeyExchange and ClientKeyExchange are message bodies, to be read
	// with PSKIdentityHint and PSKIdentity once the cipher suite is known.
	ServerKeyExchange    []byte
	HasServerKeyExchange bool
	ClientKeyExchange    []byte
	HasClientKeyExchange bool

	// Raw is the whole input that was decoded.
	Raw []byte
}

func (d *DTLS) reset(b []byte) {
	d.Records = d.Records[:0]
	d.Handshakes = d.Handshakes[:0]
	d.Anomalies = d.Anomalies[:0]
	d.ClientHello = DTLSClientHello{}
	d.HasClientHello = false
	d.ServerHello = DTLSServerHello{}
	d.HasServerHello = false
	d.HelloVerifyCookie = nil
	d.HasHelloVerifyRequest = false
	d.CipherSuite = 0
	d.HasCipherSuite = false
	d.ServerKeyExchange = nil
	d.HasServerKeyExchange = false
	d.ClientKeyExchange = nil
	d.HasClientKeyExchange = false
	d.Raw = b
}

func (d *DTLS) anomaly(off int, k AnomalyKind) {
	d.Anomalies = append(d.Anomalies, Anomaly{Off: off, Kind: k})
}

// bodyAnomaly reports a handshake message body that r failed to read, at
// the field that failed or, when the body ended before it, at the message.
func (d *DTLS) bodyAnomaly(r *dtlsReader, msgOff int) {
	at := r.failAt
	if !r.bad {
		at = r.off
	}
	if at >= len(r.b) {
		at = msgOff
	}
	d.anomaly(at, AnomalyDTLSLength)
}

// Decode decodes every record of the datagram b (DTLS 1.0/1.2 RFC 6347,
// tls12_cid RFC 9146, DTLS 1.3 unified headers RFC 9147) and the handshake
// messages of epoch-0 handshake records.
//
// A record that cannot be framed stops the parse with a *FormatError (its
// Err is ErrNotDTLS, ErrBadVersion or ErrTruncated); the records decoded
// before it are kept. Bytes after the last record that do not start a
// record are reported as AnomalyDTLSTrailing, not as an error.
func (d *DTLS) Decode(b []byte) error {
	d.reset(b)
	if len(b) == 0 {
		return &FormatError{Off: 0, Field: "DTLSRecord", Err: ErrTruncated}
	}
	cidLen := d.ConnIDLen
	if cidLen < 0 || cidLen > maxCIDLen {
		cidLen = 0
	}
	for off := 0; off < len(b); {
		h, st := parseRecordHeader(b, off, cidLen)
		if st == hdrNeedCID {
			if n := inferCIDLen(b, off); n > 0 {
				cidLen = n
				h, st = parseRecordHeader(b, off, cidLen)
			} else {
				d.appendUnknownCID(b, off, &h)
				return nil
			}
		}
		switch st {
		case hdrNotRecord:
			if len(d.Records) == 0 {
				return &FormatError{Off: off, Field: "DTLSRecord.ContentType", Err: ErrNotDTLS}
			}
			d.anomaly(off, AnomalyDTLSTrailing)
			return nil
		case hdrBadVersion:
			if len(d.Records) == 0 {
				return &FormatError{Off: off + 1, Field: "DTLSRecord.Version", Err: ErrBadVersion}
			}
			d.anomaly(off, AnomalyDTLSTrailing)
			return nil
		case hdrTruncated:
			return &FormatError{Off: off, Field: "DTLSRecord", Err: ErrTruncated}
		case hdrOverrun:
			return &FormatError{Off: h.lenOff, Field: "DTLSRecord.Length", Err: ErrTruncated}
		}
		d.appendRecord(b, off, &h)
		off = h.end
	}
	return nil
}

// appendUnknownCID records a record whose connection ID length is unknown;
// it takes the rest of the datagram.
func (d *DTLS) appendUnknownCID(b []byte, off int, h *recordHeader) {
	d.Records = append(d.Records, DTLSRecord{
		ContentType:   h.typ,
		Version:       h.version,
		Epoch:         h.epoch,
		Seq:           h.seq,
		Length:        len(b) - h.cidOff,
		Fragment:      b[h.cidOff:len(b):len(b)],
		Span:          Span{Off: off, Len: len(b) - off},
		HeaderLen:     h.cidOff - off,
		Unified:       h.unified,
		ConnIDUnknown: true,
	})
}

func (d *DTLS) appendRecord(b []byte, off int, h *recordHeader) {
	idx := len(d.Records)
	r := DTLSRecord{
		ContentType: h.typ,
		Version:     h.version,
		Epoch:       h.epoch,
		Seq:         h.seq,
		Length:      h.end - h.fragOff,
		Fragment:    b[h.fragOff:h.end:h.end],
		Span:        Span{Off: off, Len: h.end - off},
		HeaderLen:   h.fragOff - off,
		Unified:     h.unified,
	}
	if h.cidLen > 0 {
		r.ConnID = b[h.cidOff : h.cidOff+h.cidLen : h.cidOff+h.cidLen]
	}
	d.Records = append(d.Records, r)

	if !h.unified && h.version != VersionDTLS12 && h.version != VersionDTLS10 {
		d.anomaly(off+1, AnomalyDTLSVersion)
	}
	if r.Length > maxRecordLen {
		d.anomaly(h.lenOff, AnomalyDTLSLength)
	}
	if h.protected() {
		if r.Length < minProtectedLen {
			d.anomaly(h.lenOff, AnomalyDTLSLength)
		}
		return
	}
	switch h.typ {
	case ContentHandshake:
		d.decodeHandshakes(b, h.fragOff, h.end, idx)
	case ContentChangeCipherSpec:
		if r.Length != 1 {
			d.anomaly(h.lenOff, AnomalyDTLSLength)
		}
	case ContentAlert:
		if r.Length != 2 {
			d.anomaly(h.lenOff, AnomalyDTLSLength)
		}
	}
}

// decodeHandshakes decodes the handshake messages in b[off:end], the
// fragment of record rec.
func (d *DTLS) decodeHandshakes(b []byte, off, end, rec int) {
	for off < end {
		if end-off < dtlsHandshakeLen {
			d.anomaly(off, AnomalyDTLSLength)
			return
		}
		hs, ok := parseHandshakeHeader(b[:end], off)
		if !ok {
			d.anomaly(off+9, AnomalyDTLSLength) // fragment_length
			return
		}
		if uint64(hs.FragmentOffset)+uint64(hs.FragmentLength) > uint64(hs.Length) {
			d.anomaly(off+6, AnomalyDTLSLength) // fragment_offset
		}
		hs.Record = rec
		d.Handshakes = append(d.Handshakes, hs)
		if hs.Complete() {
			d.decodeHandshakeBody(b, off+dtlsHandshakeLen, &hs)
		}
		off = hs.Span.Off + hs.Span.Len
	}
}

// parseHandshakeHeader reads the handshake header at b[off:]; ok is false
// when the fragment runs past len(b).
func parseHandshakeHeader(b []byte, off int) (hs DTLSHandshake, ok bool) {
	if len(b)-off < dtlsHandshakeLen {
		return hs, false
	}
	h := b[off : off+dtlsHandshakeLen]
	hs.Type = HandshakeType(h[0])
	hs.Length = dtlsU24(h[1:])
	hs.MessageSeq = uint16(h[4])<<8 | uint16(h[5])
	hs.FragmentOffset = dtlsU24(h[6:])
	hs.FragmentLength = dtlsU24(h[9:])
	body := off + dtlsHandshakeLen
	if int(hs.FragmentLength) > len(b)-body {
		return hs, false
	}
	end := body + int(hs.FragmentLength)
	hs.Body = b[body:end:end]
	hs.Span = Span{Off: off, Len: end - off}
	return hs, true
}

// decodeHandshakeBody reads the messages the auditor needs; bodyOff is the
// offset of hs.Body in the datagram, for anomaly offsets.
func (d *DTLS) decodeHandshakeBody(b []byte, bodyOff int, hs *DTLSHandshake) {
	switch hs.Type {
	case HandshakeClientHello:
		if !d.HasClientHello {
			d.HasClientHello = d.decodeClientHello(b, hs.Span.Off, bodyOff, hs.Body)
		}
	case HandshakeServerHello:
		if !d.HasServerHello {
			d.HasServerHello = d.decodeServerHello(b, hs.Span.Off, bodyOff, hs.Body)
			if d.HasServerHello && !d.ServerHello.RetryRequest {
				d.CipherSuite = d.ServerHello.CipherSuite
				d.HasCipherSuite = true
			}
		}
	case HandshakeHelloVerifyRequest:
		if !d.HasHelloVerifyRequest {
			r := dtlsReader{b: b[:bodyOff+len(hs.Body)], off: bodyOff}
			r.u16() // server_version
			cookie := r.vec8()
			if r.bad || r.off != len(r.b) {
				d.bodyAnomaly(&r, hs.Span.Off)
				return
			}
			d.HelloVerifyCookie = cookie
			d.HasHelloVerifyRequest = true
		}
	case HandshakeServerKeyExchange:
		if !d.HasServerKeyExchange {
			d.ServerKeyExchange = hs.Body
			d.HasServerKeyExchange = true
		}
	case HandshakeClientKeyExchange:
		if !d.HasClientKeyExchange {
			d.ClientKeyExchange = hs.Body
			d.HasClientKeyExchange = true
		}
	}
}

func (d *DTLS) decodeClientHello(b []byte, msgOff, off int, body []byte) bool {
	end := off + len(body)
	r := dtlsReader{b: b[:end], off: off}
	c := &d.ClientHello
	c.Version = r.u16()
	c.Random = r.bytes(32)
	c.SessionID = r.vec8()
	if len(c.SessionID) > 32 {
		d.anomaly(off+34, AnomalyDTLSLength)
	}
	c.Cookie = r.vec8()
	csOff := r.off
	c.CipherSuites = r.vec16()
	c.CompressionMethods = r.vec8()
	if r.bad {
		d.bodyAnomaly(&r, msgOff)
		*c = DTLSClientHello{}
		return false
	}
	if len(c.CipherSuites)%2 != 0 || len(c.CipherSuites) == 0 {
		d.anomaly(csOff, AnomalyDTLSLength)
		c.CipherSuites = c.CipherSuites[:len(c.CipherSuites)&^1]
	}
	if r.off == end {
		return true
	}
	extOff := r.off
	c.Extensions = r.vec16()
	if r.bad || r.off != end {
		d.anomaly(extOff, AnomalyDTLSLength)
		c.Extensions = nil
		return true
	}
	er := dtlsReader{b: b[:r.off], off: extOff + 2}
	for er.off < len(er.b) {
		typOff := er.off
		typ := er.u16()
		data := er.vec16()
		if er.bad {
			d.anomaly(typOff, AnomalyDTLSLength)
			return true
		}
		switch typ {
		case extServerName:
			if c.ServerName == nil {
				c.ServerName = serverName(data)
				if c.ServerName == nil {
					d.anomaly(typOff, AnomalyDTLSLength)
				}
			}
		case extConnectionID:
			x := dtlsReader{b: data}
			cid := x.vec8()
			if x.bad || x.off != len(data) {
				d.anomaly(typOff, AnomalyDTLSLength)
				continue
			}
			c.ConnID, c.HasConnID = cid, true
		case extSupportedVersions:
			x := dtlsReader{b: data}
			v := x.vec8()
			if x.bad || x.off != len(data) || len(v)%2 != 0 {
				d.anomaly(typOff, AnomalyDTLSLength)
				continue
			}
			c.SupportedVersions = v
		case extPreSharedKey:
			x := dtlsReader{b: data}
			ids := x.vec16()
			if x.bad || !validPSKIdentities(ids) {
				d.anomaly(typOff, AnomalyDTLSLength)
				continue
			}
			c.PSKIdentities = ids
		}
	}
	return true
}

// serverName returns the first host_name of a server_name extension body,
// or nil when the body is malformed or names no host.
func serverName(data []byte) []byte {
	r := dtlsReader{b: data}
	list := r.vec16()
	if r.bad || r.off != len(data) {
		return nil
	}
	l := dtlsReader{b: list}
	for l.off < len(list) {
		typ := l.u8()
		name := l.vec16()
		if l.bad {
			return nil
		}
		if typ == 0 && len(name) > 0 {
			return name
		}
	}
	return nil
}

func validPSKIdentities(ids []byte) bool {
	r := dtlsReader{b: ids}
	n := 0
	for r.off < len(ids) {
		id := r.vec16()
		r.u32()
		if r.bad || len(id) == 0 {
			return false
		}
		n++
	}
	return n > 0
}

func (d *DTLS) decodeServerHello(b []byte, msgOff, off int, body []byte) bool {
	end := off + len(body)
	r := dtlsReader{b: b[:end], off: off}
	s := &d.ServerHello
	s.Version = r.u16()
	s.Random = r.bytes(32)
	s.SessionID = r.vec8()
	s.CipherSuite = CipherSuite(r.u16())
	s.Compression = r.u8()
	if r.bad {
		d.bodyAnomaly(&r, msgOff)
		*s = DTLSServerHello{}
		return false
	}
	s.RetryRequest = bytes.Equal(s.Random, helloRetryRandom[:])
	if r.off == end {
		return true
	}
	extOff := r.off
	s.Extensions = r.vec16()
	if r.bad || r.off != end {
		d.anomaly(extOff, AnomalyDTLSLength)
		s.Extensions = nil
		return true
	}
	er := dtlsReader{b: b[:r.off], off: extOff + 2}
	for er.off < len(er.b) {
		typOff := er.off
		typ := er.u16()
		data := er.vec16()
		if er.bad {
			d.anomaly(typOff, AnomalyDTLSLength)
			return true
		}
		switch typ {
		case extSupportedVersions:
			if len(data) != 2 {
				d.anomaly(typOff, AnomalyDTLSLength)
				continue
			}
			s.SelectedVersion = uint16(data[0])<<8 | uint16(data[1])
		case extConnectionID:
			x := dtlsReader{b: data}
			cid := x.vec8()
			if x.bad || x.off != len(data) {
				d.anomaly(typOff, AnomalyDTLSLength)
				continue
			}
			s.ConnID, s.HasConnID = cid, true
		}
	}
	return true
}

// PSKIdentity returns the PSK identity that the ClientKeyExchange of this
// datagram sends in clear (RFC 4279 2, RFC 5489 2). The body layout depends
// on the negotiated cipher suite, which usually arrived in an earlier
// datagram: pass it with known true. With known false, the suite of a
// ServerHello in this datagram is used if there is one; otherwise a strict
// heuristic accepts only a non-empty printable UTF-8 identity in a 2-byte
// length vector followed by nothing (PSK), by exactly one 1-byte-length EC
// point of a plausible size (ECDHE_PSK), or by exactly one non-empty 2-byte
// length vector (DHE_PSK, RSA_PSK). ok is false for suites that are not PSK
// and when no identity is found. The identity borrows the input.
func (d *DTLS) PSKIdentity(suite CipherSuite, known bool) (identity []byte, ok bool) {
	if !d.HasClientKeyExchange {
		return nil, false
	}
	if !known && d.HasCipherSuite {
		suite, known = d.CipherSuite, true
	}
	return pskVector(d.ClientKeyExchange, suite, known, false)
}

// PSKIdentityHint returns the PSK identity hint of the ServerKeyExchange of
// this datagram (RFC 4279 2). suite and known work as for PSKIdentity; the
// heuristic accepts an empty or printable UTF-8 hint followed by nothing,
// by ServerECDHParams for a named curve, or by ServerDHParams, each filling
// the message exactly.
func (d *DTLS) PSKIdentityHint(suite CipherSuite, known bool) (hint []byte, ok bool) {
	if !d.HasServerKeyExchange {
		return nil, false
	}
	if !known && d.HasCipherSuite {
		suite, known = d.CipherSuite, true
	}
	return pskVector(d.ServerKeyExchange, suite, known, true)
}

// pskVector reads the psk_identity (server false) or psk_identity_hint
// (server true) that starts a key exchange message body.
func pskVector(body []byte, suite CipherSuite, known, server bool) ([]byte, bool) {
	r := dtlsReader{b: body}
	v := r.vec16()
	if r.bad {
		return nil, false
	}
	if known {
		if !CipherSuiteKeyExchange(suite).PSK() {
			return nil, false
		}
		return v, true
	}
	if len(v) == 0 && !server {
		return nil, false
	}
	if !plausibleIdentity(v) {
		return nil, false
	}
	rest := body[r.off:]
	if len(rest) == 0 {
		return v, true
	}
	if server {
		if serverECDHParams(rest) || serverDHParams(rest) {
			return v, true
		}
		return nil, false
	}
	if ecPoint(rest) || exactVec16(rest) {
		return v, true
	}
	return nil, false
}

// plausibleIdentity reports whether v looks like a PSK identity or hint:
// valid UTF-8 without control characters (RFC 4279 5.1 asks for UTF-8).
func plausibleIdentity(v []byte) bool {
	if !utf8.Valid(v) {
		return false
	}
	for _, c := range v {
		if c < 0x20 || c == 0x7f {
			return false
		}
	}
	return true
}

// ecPoint reports whether b is exactly one ECPoint<1..2^8-1> of a size that
// X25519, X448 or a NIST curve point (compressed or not) has.
func ecPoint(b []byte) bool {
	if len(b) < 2 || int(b[0]) != len(b)-1 {
		return false
	}
	p := b[1:]
	switch len(p) {
	case 32, 56: // X25519, X448
		return true
	case 65, 97, 133: // uncompressed P-256, P-384, P-521
		return p[0] == 4
	case 33, 49, 67: // compressed
		return p[0] == 2 || p[0] == 3
	}
	return false
}

// exactVec16 reports whether b is exactly one non-empty opaque<1..2^16-1>.
func exactVec16(b []byte) bool {
	r := dtlsReader{b: b}
	v := r.vec16()
	return !r.bad && r.off == len(b) && len(v) > 0
}

// serverECDHParams reports whether b is exactly ServerECDHParams for a
// named curve (RFC 8422 5.4): curve_type 3, NamedCurve, ECPoint.
func serverECDHParams(b []byte) bool {
	return len(b) > 3 && b[0] == 3 && ecPoint(b[3:])
}

// serverDHParams reports whether b is exactly ServerDHParams: dh_p, dh_g,
// dh_Ys, each opaque<1..2^16-1>.
func serverDHParams(b []byte) bool {
	r := dtlsReader{b: b}
	for range 3 {
		if v := r.vec16(); r.bad || len(v) == 0 {
			return false
		}
	}
	return r.off == len(b)
}

// recordHeader is a parsed record header. Offsets are absolute.
type recordHeader struct {
	typ      ContentType
	version  uint16
	epoch    uint16
	seq      uint64
	unified  bool
	cidOff   int
	cidLen   int
	lenOff   int // offset of the length field, or of the first byte when absent
	fragOff  int
	end      int
	noLength bool // unified header without length: the record ends the datagram
}

// protected reports whether the record body is encrypted.
func (h *recordHeader) protected() bool {
	return h.unified || h.epoch != 0 || h.typ == ContentTLS12CID
}

type hdrStatus uint8

const (
	hdrOK         hdrStatus = iota
	hdrNotRecord            // the first byte starts no DTLS record
	hdrBadVersion           // content type fine, version not DTLS
	hdrTruncated            // the header is cut short
	hdrOverrun              // the length field runs past the datagram
	hdrNeedCID              // a connection ID of unknown length (cidLen 0)
)

// parseRecordHeader reads the record header at b[off:]. cidLen is the
// connection ID length for tls12_cid records and unified headers with the
// C bit; 0 means unknown.
func parseRecordHeader(b []byte, off, cidLen int) (h recordHeader, st hdrStatus) {
	first := b[off]
	if first&0xe0 == 0x20 {
		return parseUnifiedHeader(b, off, cidLen)
	}
	h.typ = ContentType(first)
	if first < byte(ContentChangeCipherSpec) || first > byte(ContentACK) {
		return h, hdrNotRecord
	}
	if len(b)-off < 3 {
		return h, hdrTruncated
	}
	h.version = uint16(b[off+1])<<8 | uint16(b[off+2])
	if b[off+1] != 0xfe {
		return h, hdrBadVersion
	}
	if len(b)-off < dtlsHeaderLen {
		return h, hdrTruncated
	}
	h.epoch = uint16(b[off+3])<<8 | uint16(b[off+4])
	h.seq = dtlsU48(b[off+5:])
	p := off + 11
	if h.typ == ContentTLS12CID {
		h.cidOff = p
		if cidLen == 0 {
			return h, hdrNeedCID
		}
		if len(b)-p < cidLen+2 {
			return h, hdrTruncated
		}
		h.cidLen = cidLen
		p += cidLen
	}
	h.lenOff = p
	n := int(b[p])<<8 | int(b[p+1])
	h.fragOff = p + 2
	if n > len(b)-h.fragOff {
		return h, hdrOverrun
	}
	h.end = h.fragOff + n
	return h, hdrOK
}

// parseUnifiedHeader reads a DTLS 1.3 unified header (RFC 9147 4):
//
//	0 0 1 C S L E E
//	connection ID (if C), sequence number (8 or 16 bits), length (if L)
func parseUnifiedHeader(b []byte, off, cidLen int) (h recordHeader, st hdrStatus) {
	first := b[off]
	h.unified = true
	h.epoch = uint16(first & 0x03)
	p := off + 1
	if first&0x10 != 0 {
		h.cidOff = p
		if cidLen == 0 {
			return h, hdrNeedCID
		}
		h.cidLen = cidLen
		p += cidLen
	}
	seqLen := 1
	if first&0x08 != 0 {
		seqLen = 2
	}
	lenLen := 0
	if first&0x04 != 0 {
		lenLen = 2
	}
	if len(b)-p < seqLen+lenLen {
		return h, hdrTruncated
	}
	if seqLen == 2 {
		h.seq = uint64(b[p])<<8 | uint64(b[p+1])
	} else {
		h.seq = uint64(b[p])
	}
	p += seqLen
	if lenLen == 0 {
		h.lenOff = off
		h.fragOff = p
		h.end = len(b)
		h.noLength = true
		return h, hdrOK
	}
	h.lenOff = p
	n := int(b[p])<<8 | int(b[p+1])
	h.fragOff = p + 2
	if n > len(b)-h.fragOff {
		return h, hdrOverrun
	}
	h.end = h.fragOff + n
	return h, hdrOK
}

// inferCIDLen finds the connection ID length that makes the records from
// b[off:] tile the datagram exactly: the smallest n in 1..255 for which
// every record header parses and the last record ends at len(b). It
// returns 0 when there is none, or when the record is a unified header
// without a length field. Records of one datagram go to one peer, so
// they share the length.
func inferCIDLen(b []byte, off int) int {
	if first := b[off]; first&0xe0 == 0x20 && first&0x04 == 0 {
		return 0 // a unified header without length fits any CID length
	}
	for n := 1; n <= maxCIDLen && n < len(b)-off; n++ {
		if dtlsTiles(b, off, n) {
			return n
		}
	}
	return 0
}

// dtlsTiles reports whether the records from b[off:] parse with CID length
// cidLen and end exactly at len(b).
func dtlsTiles(b []byte, off, cidLen int) bool {
	for off < len(b) {
		h, st := parseRecordHeader(b, off, cidLen)
		if st != hdrOK {
			return false
		}
		off = h.end
	}
	return true
}

// LooksLikeDTLS reports whether b, a UDP payload on a port not known to
// carry DTLS, is a DTLS datagram. It is strict: every record must have a
// known content type (20-26) and version (DTLS 1.0, 1.2 or 1.3), or be a
// DTLS 1.3 unified header with a length field and no connection ID; record
// lengths must tile the datagram exactly; epoch-0 records must be readable
// (handshake records tiled by handshake headers of assigned types,
// one-byte ChangeCipherSpec 1, two-byte alerts, no application data), and
// protected records must be at least 16 bytes. A connection ID length is
// inferred for tls12_cid records. It does not allocate.
func LooksLikeDTLS(b []byte) bool {
	return looksLikeDTLS(b, 0, true)
}

func looksLikeDTLS(b []byte, cidLen int, mayInfer bool) bool {
	if len(b) == 0 {
		return false
	}
	for off := 0; off < len(b); {
		h, st := parseRecordHeader(b, off, cidLen)
		if st == hdrNeedCID {
			if !mayInfer || h.unified {
				return false
			}
			for n := 1; n <= maxCIDLen && n < len(b)-off; n++ {
				if looksLikeDTLS(b[off:], n, false) {
					return true
				}
			}
			return false
		}
		if st != hdrOK || !plausibleRecord(b, &h) {
			return false
		}
		off = h.end
	}
	return true
}

// plausibleRecord applies LooksLikeDTLS's checks to one framed record.
func plausibleRecord(b []byte, h *recordHeader) bool {
	n := h.end - h.fragOff
	if h.unified {
		return !h.noLength && n >= minProtectedLen
	}
	switch h.version {
	case VersionDTLS10, VersionDTLS12, VersionDTLS13:
	default:
		return false
	}
	if n > maxRecordLen {
		return false
	}
	if h.protected() {
		return n >= minProtectedLen
	}
	frag := b[h.fragOff:h.end]
	switch h.typ {
	case ContentChangeCipherSpec:
		return n == 1 && frag[0] == 1
	case ContentAlert:
		return n == 2 && (frag[0] == 1 || frag[0] == 2)
	case ContentHandshake:
		return plausibleHandshakes(frag)
	case ContentHeartbeat:
		// type, payload_length, payload, at least 16 bytes of padding
		return n >= 19 && (frag[0] == 1 || frag[0] == 2) &&
			int(frag[1])<<8|int(frag[2]) <= n-19
	case ContentACK:
		// record_numbers<0..2^16-1>, 16 bytes each (RFC 9147 7)
		if n < 2 {
			return false
		}
		l := int(frag[0])<<8 | int(frag[1])
		return l == n-2 && l%16 == 0
	}
	return false // application data in epoch 0
}

// plausibleHandshakes reports whether frag is tiled by handshake messages
// of assigned types whose fragments lie inside their messages.
func plausibleHandshakes(frag []byte) bool {
	if len(frag) == 0 {
		return false
	}
	for off := 0; off < len(frag); {
		hs, ok := parseHandshakeHeader(frag, off)
		if !ok || !hs.Type.Known() ||
			uint64(hs.FragmentOffset)+uint64(hs.FragmentLength) > uint64(hs.Length) {
			return false
		}
		off = hs.Span.Off + hs.Span.Len
	}
	return true
}

// dtlsReader reads big-endian fields and vectors from b. After the first read
// past the end, bad is set and every read returns zero values.
type dtlsReader struct {
	b      []byte
	off    int
	bad    bool
	failAt int // where the first failed read started (a vector's length field)
}

func (r *dtlsReader) fail() {
	if !r.bad {
		r.bad = true
		r.failAt = r.off
	}
}

func (r *dtlsReader) u8() uint8 {
	if r.bad || len(r.b)-r.off < 1 {
		r.fail()
		return 0
	}
	v := r.b[r.off]
	r.off++
	return v
}

func (r *dtlsReader) u16() uint16 {
	if r.bad || len(r.b)-r.off < 2 {
		r.fail()
		return 0
	}
	v := uint16(r.b[r.off])<<8 | uint16(r.b[r.off+1])
	r.off += 2
	return v
}

func (r *dtlsReader) u32() uint32 {
	if r.bad || len(r.b)-r.off < 4 {
		r.fail()
		return 0
	}
	v := uint32(r.b[r.off])<<24 | uint32(r.b[r.off+1])<<16 | uint32(r.b[r.off+2])<<8 | uint32(r.b[r.off+3])
	r.off += 4
	return v
}

// bytes returns the next n bytes, capacity-limited so that appending to the
// result cannot overwrite the input.
func (r *dtlsReader) bytes(n int) []byte {
	if r.bad || n < 0 || len(r.b)-r.off < n {
		r.fail()
		return nil
	}
	v := r.b[r.off : r.off+n : r.off+n]
	r.off += n
	return v
}

func (r *dtlsReader) vec8() []byte {
	start := r.off
	n := r.u8()
	if r.bad {
		return nil
	}
	v := r.bytes(int(n))
	if r.bad {
		r.failAt = start
	}
	return v
}

func (r *dtlsReader) vec16() []byte {
	start := r.off
	n := r.u16()
	if r.bad {
		return nil
	}
	v := r.bytes(int(n))
	if r.bad {
		r.failAt = start
	}
	return v
}

func dtlsU24(b []byte) uint32 {
	return uint32(b[0])<<16 | uint32(b[1])<<8 | uint32(b[2])
}

func dtlsU48(b []byte) uint64 {
	return uint64(b[0])<<40 | uint64(b[1])<<32 | uint64(b[2])<<24 |
		uint64(b[3])<<16 | uint64(b[4])<<8 | uint64(b[5])
}
