package decode

import (
	"strconv"
	"unicode/utf8"
)

var typeNames = [...]string{
	Confirmable:     "CON",
	NonConfirmable:  "NON",
	Acknowledgement: "ACK",
	Reset:           "RST",
}

var typeGoNames = [...]string{
	Confirmable:     "decode.Confirmable",
	NonConfirmable:  "decode.NonConfirmable",
	Acknowledgement: "decode.Acknowledgement",
	Reset:           "decode.Reset",
}

// String returns "CON", "NON", "ACK" or "RST".
func (t Type) String() string {
	if int(t) < len(typeNames) {
		return typeNames[t]
	}
	return "Type(" + strconv.Itoa(int(t)) + ")"
}

func (t Type) GoString() string {
	if int(t) < len(typeGoNames) {
		return typeGoNames[t]
	}
	return "decode.Type(" + strconv.Itoa(int(t)) + ")"
}

// Codes from the IANA "CoAP Method Codes", "CoAP Response Codes" and "CoAP
// Signaling Codes" registries.
const (
	CodeEmpty                    Code = 0x00 // 0.00
	CodeGET                      Code = 0x01 // 0.01
	CodePOST                     Code = 0x02 // 0.02
	CodePUT                      Code = 0x03 // 0.03
	CodeDELETE                   Code = 0x04 // 0.04
	CodeFETCH                    Code = 0x05 // 0.05, RFC 8132
	CodePATCH                    Code = 0x06 // 0.06, RFC 8132
	CodeIPATCH                   Code = 0x07 // 0.07, RFC 8132
	CodeCreated                  Code = 0x41 // 2.01
	CodeDeleted                  Code = 0x42 // 2.02
	CodeValid                    Code = 0x43 // 2.03
	CodeChanged                  Code = 0x44 // 2.04
	CodeContent                  Code = 0x45 // 2.05
	CodeContinue                 Code = 0x5f // 2.31, RFC 7959
	CodeBadRequest               Code = 0x80 // 4.00
	CodeUnauthorized             Code = 0x81 // 4.01
	CodeBadOption                Code = 0x82 // 4.02
	CodeForbidden                Code = 0x83 // 4.03
	CodeNotFound                 Code = 0x84 // 4.04
	CodeMethodNotAllowed         Code = 0x85 // 4.05
	CodeNotAcceptable            Code = 0x86 // 4.06
	CodeRequestEntityIncomplete  Code = 0x88 // 4.08, RFC 7959
	CodeConflict                 Code = 0x89 // 4.09, RFC 8132
	CodePreconditionFailed       Code = 0x8c // 4.12
	CodeRequestEntityTooLarge    Code = 0x8d // 4.13
	CodeUnsupportedContentFormat Code = 0x8f // 4.15
	CodeUnprocessableEntity      Code = 0x96 // 4.22, RFC 8132
	CodeTooManyRequests          Code = 0x9d // 4.29, RFC 8516
	CodeInternalServerError      Code = 0xa0 // 5.00
	CodeNotImplemented           Code = 0xa1 // 5.01
	CodeBadGateway               Code = 0xa2 // 5.02
	CodeServiceUnavailable       Code = 0xa3 // 5.03
	CodeGatewayTimeout           Code = 0xa4 // 5.04
	CodeProxyingNotSupported     Code = 0xa5 // 5.05
	CodeHopLimitReached          Code = 0xa8 // 5.08, RFC 8768
	CodeCSM                      Code = 0xe1 // 7.01, RFC 8323 (reliable transports only)
	CodePing                     Code = 0xe2 // 7.02
	CodePong                     Code = 0xe3 // 7.03
	CodeRelease                  Code = 0xe4 // 7.04
	CodeAbort                    Code = 0xe5 // 7.05
)

var codeNames = [256]string{
	CodeEmpty:                    "Empty",
	CodeGET:                      "GET",
	CodePOST:                     "POST",
	CodePUT:                      "PUT",
	CodeDELETE:                   "DELETE",
	CodeFETCH:                    "FETCH",
	CodePATCH:                    "PATCH",
	CodeIPATCH:                   "iPATCH",
	CodeCreated:                  "Created",
	CodeDeleted:                  "Deleted",
	CodeValid:                    "Valid",
	CodeChanged:                  "Changed",
	CodeContent:                  "Content",
	CodeContinue:                 "Continue",
	CodeBadRequest:               "Bad Request",
	CodeUnauthorized:             "Unauthorized",
	CodeBadOption:                "Bad Option",
	CodeForbidden:                "Forbidden",
	CodeNotFound:                 "Not Found",
	CodeMethodNotAllowed:         "Method Not Allowed",
	CodeNotAcceptable:            "Not Acceptable",
	CodeRequestEntityIncomplete:  "Request Entity Incomplete",
	CodeConflict:                 "Conflict",
	CodePreconditionFailed:       "Precondition Failed",
	CodeRequestEntityTooLarge:    "Request Entity Too Large",
	CodeUnsupportedContentFormat: "Unsupported Content-Format",
	CodeUnprocessableEntity:      "Unprocessable Entity",
	CodeTooManyRequests:          "Too Many Requests",
	CodeInternalServerError:      "Internal Server Error",
	CodeNotImplemented:           "Not Implemented",
	CodeBadGateway:               "Bad Gateway",
	CodeServiceUnavailable:       "Service Unavailable",
	CodeGatewayTimeout:           "Gateway Timeout",
	CodeProxyingNotSupported:     "Proxying Not Supported",
	CodeHopLimitReached:          "Hop Limit Reached",
	CodeCSM:                      "CSM",
	CodePing:                     "Ping",
	CodePong:                     "Pong",
	CodeRelease:                  "Release",
	CodeAbort:                    "Abort",
}

var codeGoNames = [256]string{
	CodeEmpty:                    "CodeEmpty",
	CodeGET:                      "CodeGET",
	CodePOST:                     "CodePOST",
	CodePUT:                      "CodePUT",
	CodeDELETE:                   "CodeDELETE",
	CodeFETCH:                    "CodeFETCH",
	CodePATCH:                    "CodePATCH",
	CodeIPATCH:                   "CodeIPATCH",
	CodeCreated:                  "CodeCreated",
	CodeDeleted:                  "CodeDeleted",
	CodeValid:                    "CodeValid",
	CodeChanged:                  "CodeChanged",
	CodeContent:                  "CodeContent",
	CodeContinue:                 "CodeContinue",
	CodeBadRequest:               "CodeBadRequest",
	CodeUnauthorized:             "CodeUnauthorized",
	CodeBadOption:                "CodeBadOption",
	CodeForbidden:                "CodeForbidden",
	CodeNotFound:                 "CodeNotFound",
	CodeMethodNotAllowed:         "CodeMethodNotAllowed",
	CodeNotAcceptable:            "CodeNotAcceptable",
	CodeRequestEntityIncomplete:  "CodeRequestEntityIncomplete",
	CodeConflict:                 "CodeConflict",
	CodePreconditionFailed:       "CodePreconditionFailed",
	CodeRequestEntityTooLarge:    "CodeRequestEntityTooLarge",
	CodeUnsupportedContentFormat: "CodeUnsupportedContentFormat",
	CodeUnprocessableEntity:      "CodeUnprocessableEntity",
	CodeTooManyRequests:          "CodeTooManyRequests",
	CodeInternalServerError:      "CodeInternalServerError",
	CodeNotImplemented:           "CodeNotImplemented",
	CodeBadGateway:               "CodeBadGateway",
	CodeServiceUnavailable:       "CodeServiceUnavailable",
	CodeGatewayTimeout:           "CodeGatewayTimeout",
	CodeProxyingNotSupported:     "CodeProxyingNotSupported",
	CodeHopLimitReached:          "CodeHopLimitReached",
	CodeCSM:                      "CodeCSM",
	CodePing:                     "CodePing",
	CodePong:                     "CodePong",
	CodeRelease:                  "CodeRelease",
	CodeAbort:                    "CodeAbort",
}

// codeStrings holds "c.dd" for every code, so that String does not allocate.
var codeStrings = func() (t [256]string) {
	for i := range t {
		c := Code(i)
		d := c.Detail()
		t[i] = string([]byte{'0' + c.Class(), '.', '0' + d/10, '0' + d%10})
	}
	return t
}()

// NewCode returns the code class.detail; class is truncated to 3 bits and
// detail to 5.
func NewCode(class, detail uint8) Code { return Code(class<<5 | detail&0x1f) }

// String returns the code in "c.dd" notation, e.g. "2.05".
func (c Code) String() string { return codeStrings[c] }

// Name returns the registered name of the code ("GET", "Content", "Not
// Found", ...), or "" when the code is not registered.
func (c Code) Name() string { return codeNames[c] }

func (c Code) GoString() string {
	if n := codeGoNames[c]; n != "" {
		return "decode." + n
	}
	return "decode.Code(0x" + strconv.FormatUint(uint64(c), 16) + ")"
}

// IsRequest reports whether c is a method code (0.01 to 0.31).
func (c Code) IsRequest() bool { return c.Class() == 0 && c != CodeEmpty }

// IsResponse reports whether c is a response code (class 2, 4 or 5).
func (c Code) IsResponse() bool {
	switch c.Class() {
	case 2, 4, 5:
		return true
	}
	return false
}

// headerLen is the length of the fixed CoAP-over-UDP header.
const headerLen = 4

// payloadMarker separates options from the payload (RFC 7252 section 3).
const payloadMarker = 0xff

// Decode parses b as one CoAP-over-UDP message (RFC 7252 section 3, with
// the extended token lengths of RFC 8974) into m, replacing its contents.
//
// Every slice in m borrows b; m.Options and m.Anomalies keep their backing
// arrays across calls, so decoding in a loop with one Message allocates
// only when a message has more options or anomalies than any before it.
//
// A framing error ends the parse with a *FormatError; m then holds what
// was decoded before the error (header, token, the options before the bad
// one). The error's Off is where the bad field starts, or where the bytes
// that are missing should have been; its Err is ErrTruncated, ErrReserved
// (TKL 15, option delta or length nibble 15), ErrBadVersion or
// ErrOptionRange (an option number above 65535). Problems that do not
// break the framing are appended to m.Anomalies instead and Decode
// returns nil.
func (m *Message) Decode(b []byte) error {
	if fe := m.decode(b); fe.Err != nil {
		err := fe
		return &err
	}
	return nil
}

func (m *Message) reset(b []byte) {
	m.Version, m.Type, m.Code, m.MessageID = 0, 0, 0, 0
	m.Framing = FramingUDP
	m.Token = nil
	m.Options = m.Options[:0]
	m.Payload = nil
	m.PayloadOff = -1
	m.Anomalies = m.Anomalies[:0]
	m.Raw = b
}

func (m *Message) anomaly(off int, k AnomalyKind, id OptionID) {
	m.Anomalies = append(m.Anomalies, Anomaly{Off: off, Kind: k, Option: id})
}

// decode is Decode returning the error by value, so that the success path
// does not allocate.
func (m *Message) decode(b []byte) FormatError {
	m.reset(b)
	if len(b) > 0 {
		m.Version = b[0] >> 6
		m.Type = Type(b[0] >> 4 & 3)
	}
	if len(b) > 1 {
		m.Code = Code(b[1])
	}
	if len(b) < headerLen {
		return FormatError{Off: 0, Field: "Header", Err: ErrTruncated}
	}
	m.MessageID = uint16(b[2])<<8 | uint16(b[3])
	if m.Version != 1 {
		return FormatError{Off: 0, Field: "Header.Version", Err: ErrBadVersion}
	}
	switch m.Code.Class() {
	case 1, 3, 6:
		m.anomaly(1, AnomalyReservedCodeClass, 0)
	}
	tkl := int(b[0] & 0x0f)
	if m.Code == CodeEmpty && (tkl != 0 || len(b) > headerLen) {
		// RFC 7252 section 4.1: an Empty message is the header alone.
		off := 0
		if len(b) > headerLen {
			off = headerLen
		}
		m.anomaly(off, AnomalyEmptyWithData, 0)
	}

	tkl, off, fe := tokenLength(b, tkl)
	if fe.Err != nil {
		return fe
	}
	return m.decodeBody(b, tkl, off)
}

// decodeBody decodes the token of tkl bytes at off, then the options and
// the payload up to the end of b: the part of a message that every
// framing shares.
func (m *Message) decodeBody(b []byte, tkl, off int) FormatError {
	if len(b)-off < tkl {
		return FormatError{Off: off, Field: "Token", Err: ErrTruncated}
	}
	if tkl > 0 {
		m.Token = b[off : off+tkl : off+tkl]
	}
	off += tkl

	r := optionReader{b: b, off: off}
	prev := -1
	for {
		o, ok, fe := r.next()
		if fe.Err != nil {
			return fe
		}
		if !ok {
			break
		}
		m.Options = append(m.Options, o)
		m.checkOption(o, int(o.ID) == prev)
		prev = int(o.ID)
	}
	if r.off < len(b) {
		// r.off is at the payload marker.
		if r.off+1 == len(b) {
			m.anomaly(r.off, AnomalyPayloadMarkerOnly, 0)
		} else {
			m.PayloadOff = r.off + 1
			m.Payload = b[m.PayloadOff:len(b):len(b)]
		}
	}
	return FormatError{}
}

// tokenLength resolves the TKL nibble, including the extended forms of RFC
// 8974 section 2.1, into the token length and the token's offset.
func tokenLength(b []byte, tkl int) (n, off int, fe FormatError) {
	switch tkl {
	case 13:
		if len(b) < headerLen+1 {
			return 0, 0, FormatError{Off: headerLen, Field: "Token.Length", Err: ErrTruncated}
		}
		return int(b[headerLen]) + 13, headerLen + 1, fe
	case 14:
		if len(b) < headerLen+2 {
			return 0, 0, FormatError{Off: headerLen, Field: "Token.Length", Err: ErrTruncated}
		}
		return (int(b[headerLen])<<8 | int(b[headerLen+1])) + 269, headerLen + 2, fe
	case 15:
		return 0, 0, FormatError{Off: 0, Field: "Header.TKL", Err: ErrReserved}
	}
	return tkl, headerLen, fe
}

// checkOption records the anomalies of one decoded option. repeated says
// that the previous option had the same number. The options of a
// signaling message (class 7, RFC 8323 section 5, reliable transports
// only) are numbered per code.
func (m *Message) checkOption(o Option, repeated bool) {
	var d *OptionDef
	if m.Framing != FramingUDP && m.Code.IsSignaling() {
		d = lookupSignalOption(m.Code, o.ID)
	} else {
		d = lookupOption(o.ID)
	}
	if d == nil {
		if o.ID.Critical() {
			m.anomaly(o.Span.Off, AnomalyUnknownCritical, o.ID)
		}
		return
	}
	n := len(o.Value)
	if n < d.MinLen || n > d.MaxLen {
		m.anomaly(o.Span.Off, AnomalyOptionLength, o.ID)
	}
	if repeated && !d.Repeatable {
		m.anomaly(o.Span.Off, AnomalyOptionRepeated, o.ID)
	}
	switch d.Format {
	case FormatUint:
		if n > 0 && o.Value[0] == 0 {
			m.anomaly(o.Span.Off, AnomalyUintLeadingZero, o.ID)
		}
		// SZX 7 is reserved over UDP; over reliable transports it is BERT
		// (RFC 8323 section 6).
		if isBlock(o.ID) && n <= 3 && m.Framing == FramingUDP {
			if _, _, szx := ParseBlock(o.Value); szx == 7 {
				m.anomaly(o.Span.Off, AnomalyBlockSZX, o.ID)
			}
		}
	case FormatString:
		if !utf8.Valid(o.Value) {
			m.anomaly(o.Span.Off, AnomalyOptionFormat, o.ID)
		}
	}
	if o.ID == OptOSCORE {
		if _, fe := parseOSCORE(o.Value); fe.Err != nil {
			m.anomaly(o.Span.Off, AnomalyOSCOREValue, o.ID)
		}
	}
}

// optionReader walks the options of a message (RFC 7252 section 3.1).
type optionReader struct {
	b   []byte
	off int    // start of the next option, or of the payload marker
	num uint32 // number of the previous option
}

// next decodes the option at r.off. It returns ok == false, with r.off left
// at the payload marker or at len(r.b), when no option follows.
func (r *optionReader) next() (o Option, ok bool, fe FormatError) {
	b := r.b
	start := r.off
	if start >= len(b) || b[start] == payloadMarker {
		return o, false, fe
	}
	off := start + 1
	delta, off, fe := extendedNibble(b, b[start]>>4, off, start, "Option.Delta")
	if fe.Err != nil {
		return o, false, fe
	}
	length, off, fe := extendedNibble(b, b[start]&0x0f, off, start, "Option.Length")
	if fe.Err != nil {
		return o, false, fe
	}
	num := r.num + uint32(delta)
	if num > 0xffff {
		return o, false, FormatError{Off: start, Field: "Option.Delta", Err: ErrOptionRange}
	}
	if len(b)-off < length {
		return o, false, FormatError{Off: off, Field: "Option.Value", Err: ErrTruncated}
	}
	end := off + length
	r.num = num
	r.off = end
	return Option{
		ID:    OptionID(num),
		Value: b[off:end:end],
		Span:  Span{Off: start, Len: end - start},
	}, true, fe
}

// extendedNibble resolves an option delta or length nibble: 13 and 14 take
// one or two more bytes at off, 15 is reserved (the payload marker is
// handled before). start is the offset of the option header byte.
func extendedNibble(b []byte, nib byte, off, start int, field string) (v, next int, fe FormatError) {
	switch nib {
	case 13:
		if off >= len(b) {
			return 0, off, FormatError{Off: off, Field: field, Err: ErrTruncated}
		}
		return int(b[off]) + 13, off + 1, fe
	case 14:
		if len(b)-off < 2 {
			return 0, off, FormatError{Off: off, Field: field, Err: ErrTruncated}
		}
		return (int(b[off])<<8 | int(b[off+1])) + 269, off + 2, fe
	case 15:
		return 0, off, FormatError{Off: start, Field: field, Err: ErrReserved}
	}
	return int(nib), off, fe
}

// Option returns the value of the first option id and whether there is one.
func (m *Message) Option(id OptionID) ([]byte, bool) {
	for i := range m.Options {
		if m.Options[i].ID == id {
			return m.Options[i].Value, true
		}
	}
	return nil, false
}

// HasOption reports whether the message carries option id.
func (m *Message) HasOption(id OptionID) bool {
	_, ok := m.Option(id)
	return ok
}

// UintOption returns the first option id decoded as a uint, and whether
// there is one.
func (m *Message) UintOption(id OptionID) (uint32, bool) {
	v, ok := m.Option(id)
	if !ok {
		return 0, false
	}
	return DecodeUint(v), true
}

// URIPath appends the Uri-Path segments joined by "/" to dst, without a
// leading slash ("sensors/temp"). Segments are appended as they are, not
// percent-encoded.
func (m *Message) URIPath(dst []byte) []byte { return m.appendJoined(dst, OptURIPath, '/') }

// URIQuery appends the Uri-Query arguments joined by "&" to dst.
func (m *Message) URIQuery(dst []byte) []byte { return m.appendJoined(dst, OptURIQuery, '&') }

// LocationPath appends the Location-Path segments joined by "/" to dst.
func (m *Message) LocationPath(dst []byte) []byte {
	return m.appendJoined(dst, OptLocationPath, '/')
}

// LocationQuery appends the Location-Query arguments joined by "&" to dst.
func (m *Message) LocationQuery(dst []byte) []byte {
	return m.appendJoined(dst, OptLocationQuery, '&')
}

func (m *Message) appendJoined(dst []byte, id OptionID, sep byte) []byte {
	first := true
	for i := range m.Options {
		if m.Options[i].ID != id {
			continue
		}
		if !first {
			dst = append(dst, sep)
		}
		first = false
		dst = append(dst, m.Options[i].Value...)
	}
	return dst
}
