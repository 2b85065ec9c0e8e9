package decode

import (
	"errors"
	"slices"
	"strconv"
)

// Framing says how a CoAP message was framed on its transport.
type Framing uint8

const (
	// FramingUDP is RFC 7252 section 3: version, type, token length, code
	// and Message ID in a 4-byte header; the datagram delimits the message.
	FramingUDP Framing = iota
	// FramingTCP is RFC 8323 section 3.2, for TCP and TLS: a length field
	// (Len nibble with 8-, 16- or 32-bit extensions), token length and
	// code; no version, type or Message ID.
	FramingTCP
	// FramingWebSocket is RFC 8323 section 4.2: the TCP framing with the
	// Len nibble zero and no extended length; the WebSocket message
	// delimits the CoAP message.
	FramingWebSocket
)

var framingNames = [...]string{FramingUDP: "udp", FramingTCP: "tcp", FramingWebSocket: "websocket"}

// String returns "udp", "tcp" or "websocket".
func (f Framing) String() string {
	if int(f) < len(framingNames) {
		return framingNames[f]
	}
	return "Framing(" + strconv.Itoa(int(f)) + ")"
}

// Reliable reports whether the framing is one of a reliable transport
// (RFC 8323), where messages have no type and no Message ID.
func (f Framing) Reliable() bool { return f != FramingUDP }

// ErrNeedMore is returned by DecodeTCP when b holds the start of a
// message but not all of it. It is not wrapped in a FormatError.
var ErrNeedMore = errors.New("need more bytes")

// MaxTCPMessage is the largest message length DecodeTCP accepts: the
// 32-bit extended length allows more than 4 GiB, which no stream buffer
// holds. A longer declared length is a FormatError with ErrBadLength.
const MaxTCPMessage = 1 << 30

// IsSignaling reports whether c is a signaling code (class 7, RFC 8323
// section 5), valid on reliable transports only.
func (c Code) IsSignaling() bool { return c.Class() == 7 }

// TCPHeader reads the header of the RFC 8323 message at the start of b
// and returns the message's whole length. It returns ErrNeedMore with n 0
// when b is too short to hold the length field, code and extended token
// length; it reads at most 8 bytes of b, and does not allocate on
// success or ErrNeedMore.
func TCPHeader(b []byte) (n int, err error) {
	n, _, _, fe := tcpHeader(b)
	if fe.Err != nil {
		if fe.Err == ErrNeedMore {
			return n, ErrNeedMore
		}
		e := fe
		return 0, &e
	}
	return n, nil
}

// tcpHeader returns the whole message length, the token length (RFC 8974
// extended forms resolved) and the offset of the token.
func tcpHeader(b []byte) (total, tkl, tokOff int, fe FormatError) {
	if len(b) == 0 {
		return 0, 0, 0, FormatError{Err: ErrNeedMore}
	}
	ln := int64(b[0] >> 4)
	off := 1
	switch ln {
	case 13:
		if len(b) < 2 {
			return 0, 0, 0, FormatError{Err: ErrNeedMore}
		}
		ln = int64(b[1]) + 13
		off = 2
	case 14:
		if len(b) < 3 {
			return 0, 0, 0, FormatError{Err: ErrNeedMore}
		}
		ln = (int64(b[1])<<8 | int64(b[2])) + 269
		off = 3
	case 15:
		if len(b) < 5 {
			return 0, 0, 0, FormatError{Err: ErrNeedMore}
		}
		ln = (int64(b[1])<<24 | int64(b[2])<<16 | int64(b[3])<<8 | int64(b[4])) + 65805
		off = 5
	}
	codeOff := off
	off++ // the code
	tkl = int(b[0] & 0x0f)
	switch tkl {
	case 13:
		if len(b) < off+1 {
			return 0, 0, 0, FormatError{Err: ErrNeedMore}
		}
		tkl = int(b[off]) + 13
		off++
	case 14:
		if len(b) < off+2 {
			return 0, 0, 0, FormatError{Err: ErrNeedMore}
		}
		tkl = (int(b[off])<<8 | int(b[off+1])) + 269
		off += 2
	case 15:
		return 0, 0, 0, FormatError{Off: 0, Field: "Header.TKL", Err: ErrReserved}
	}
	if len(b) <= codeOff {
		return 0, 0, 0, FormatError{Err: ErrNeedMore}
	}
	t := int64(off) + int64(tkl) + ln
	if t > MaxTCPMessage {
		return 0, 0, 0, FormatError{Off: 0, Field: "Header.Len", Err: ErrBadLength}
	}
	return int(t), tkl, off, fe
}

// DecodeTCP decodes the CoAP-over-TCP message (RFC 8323 section 3.2, with
// the extended token lengths of RFC 8974) at the start of b into m and
// returns its length; the bytes after it are left alone.
//
// When b holds only the start of a message, DecodeTCP returns ErrNeedMore
// (unwrapped) and n is the whole length of the message, more than len(b),
// or 0 when b is too short to tell (the length field or the token length
// is cut). m is then reset and holds nothing. Other errors are
// *FormatError as for Decode (ErrReserved for TKL 15 or a nibble 15,
// ErrOptionRange, ErrTruncated for an option cut by the message length,
// ErrBadLength for a length above MaxTCPMessage); n is then the length of
// the bad message when it is known, so that a stream can skip it, or 0.
//
// m.Framing is FramingTCP; Version, Type and MessageID are zero. Options
// of signaling messages (7.01 to 7.05) are checked against their own
// numbers (SignalOptionName). Like Decode, it does not allocate once m's
// slices have grown.
func (m *Message) DecodeTCP(b []byte) (n int, err error) {
	m.reset(b)
	m.Framing = FramingTCP
	total, tkl, off, fe := tcpHeader(b)
	if fe.Err == ErrNeedMore {
		m.Raw = nil
		return total, ErrNeedMore
	}
	if fe.Err != nil {
		m.Code, _ = TCPCode(b)
		m.Raw = nil
		e := fe
		return 0, &e
	}
	if total > len(b) {
		m.Raw = nil
		return total, ErrNeedMore
	}
	b = b[:total:total]
	m.Raw = b
	m.Code = Code(b[off-1-extTKL(b[0]&0x0f)])
	m.checkCode()
	if fe := m.decodeBody(b, tkl, off); fe.Err != nil {
		e := fe
		return total, &e
	}
	return total, nil
}

// TCPCode returns the code of the RFC 8323 message at the start of b, and
// false when b is too short to hold it.
func TCPCode(b []byte) (Code, bool) {
	if len(b) == 0 {
		return 0, false
	}
	i := 1
	switch b[0] >> 4 {
	case 13:
		i = 2
	case 14:
		i = 3
	case 15:
		i = 5
	}
	if i < len(b) {
		return Code(b[i]), true
	}
	return 0, false
}

// extTKL is the number of extended token length bytes for a TKL nibble.
func extTKL(nib byte) int {
	switch nib {
	case 13:
		return 1
	case 14:
		return 2
	}
	return 0
}

// checkCode records the anomalies of a reliable transport's code.
func (m *Message) checkCode() {
	switch m.Code.Class() {
	case 1, 3, 6:
		m.anomaly(0, AnomalyReservedCodeClass, 0)
	}
}

// DecodeWS decodes b, the payload of one WebSocket binary message, as a
// CoAP message in the WebSocket framing (RFC 8323 section 4.2): the TCP
// framing whose Len nibble is zero (a non-zero one is recorded as
// AnomalyWSLength and ignored) and no extended length. Errors are
// *FormatError as for Decode.
func (m *Message) DecodeWS(b []byte) error {
	m.reset(b)
	m.Framing = FramingWebSocket
	if len(b) < 2 {
		if len(b) == 1 {
			m.Raw = b
		}
		return &FormatError{Off: 0, Field: "Header", Err: ErrTruncated}
	}
	m.Code = Code(b[1])
	m.checkCode()
	if b[0]>>4 != 0 {
		m.anomaly(0, AnomalyWSLength, 0)
	}
	tkl := int(b[0] & 0x0f)
	off := 2
	switch tkl {
	case 13:
		if len(b) < 3 {
			return &FormatError{Off: 2, Field: "Token.Length", Err: ErrTruncated}
		}
		tkl, off = int(b[2])+13, 3
	case 14:
		if len(b) < 4 {
			return &FormatError{Off: 2, Field: "Token.Length", Err: ErrTruncated}
		}
		tkl, off = (int(b[2])<<8|int(b[3]))+269, 4
	case 15:
		return &FormatError{Off: 0, Field: "Header.TKL", Err: ErrReserved}
	}
	if fe := m.decodeBody(b, tkl, off); fe.Err != nil {
		e := fe
		return &e
	}
	return nil
}

// AppendTCP appends the RFC 8323 section 3.2 encoding of m to b: the
// length field in its shortest form, token length, code, token, options
// in increasing number order and the payload after the payload marker. It
// is the inverse of DecodeTCP for every message DecodeTCP accepts without
// anomalies. m's Type and MessageID are not written.
func (m *Message) AppendTCP(b []byte) []byte {
	start := len(b)
	b = m.appendReliable(b, true)
	return fixTCPLength(b, start)
}

// AppendWS appends the RFC 8323 section 4.2 encoding of m to b, the
// payload of a WebSocket binary message: as AppendTCP with Len zero and no
// extended length.
func (m *Message) AppendWS(b []byte) []byte { return m.appendReliable(b, false) }

// appendReliable writes the Len/TKL byte (Len zero), the code, the
// extended token length, the token, options and payload. With room, it
// leaves 4 bytes after the first byte for fixTCPLength.
func (m *Message) appendReliable(b []byte, room bool) []byte {
	n := len(m.Token)
	tn, tx, tlen := nibble(n)
	b = append(b, byte(tn))
	if room {
		b = append(b, 0, 0, 0, 0)
	}
	b = append(b, byte(m.Code))
	b = append(b, tx[:tlen]...)
	b = append(b, m.Token...)
	return m.appendOptionsPayload(b)
}

// fixTCPLength fills in the length of the message appended at start (the
// Len nibble and the 4 bytes left after it by appendReliable) and closes
// the gap that the extended length does not use.
func fixTCPLength(b []byte, start int) []byte {
	tkl := b[start] & 0x0f
	hdr := 1 + 4 + 1 + extTKL(tkl) // Len/TKL, room, code, extended TKL
	ln := 0
	if tkl < 13 {
		ln = len(b) - start - hdr - int(tkl)
	} else {
		ln = len(b) - start - hdr - decodeExtTKL(b[start+6:], tkl)
	}
	var ext [4]byte
	var nib, x int
	switch {
	case ln < 13:
		nib = ln
	case ln < 269:
		nib, x = 13, 1
		ext[0] = byte(ln - 13)
	case ln < 65805:
		nib, x = 14, 2
		v := ln - 269
		ext[0], ext[1] = byte(v>>8), byte(v)
	default:
		nib, x = 15, 4
		v := ln - 65805
		ext = [4]byte{byte(v >> 24), byte(v >> 16), byte(v >> 8), byte(v)}
	}
	b[start] = byte(nib)<<4 | tkl
	copy(b[start+1:], ext[:x])
	// Move everything after the room left by appendReliable down.
	n := copy(b[start+1+x:], b[start+5:])
	return b[:start+1+x+n]
}

func decodeExtTKL(b []byte, nib byte) int {
	if nib == 13 {
		return int(b[0]) + 13
	}
	return (int(b[0])<<8 | int(b[1])) + 269
}

// appendOptionsPayload appends m's options, sorted, and its payload.
func (m *Message) appendOptionsPayload(b []byte) []byte {
	if slices.IsSortedFunc(m.Options, cmpOption) {
		b = AppendOptions(b, m.Options)
	} else {
		opts := slices.Clone(m.Options)
		slices.SortStableFunc(opts, cmpOption)
		b = AppendOptions(b, opts)
	}
	if len(m.Payload) > 0 {
		b = append(b, 0xff)
		b = append(b, m.Payload...)
	}
	return b
}
