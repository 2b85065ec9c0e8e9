// Package decode parses CoAP, OSCORE option values and DTLS records from
// plain byte slices.
//
// decode works on []byte only: it imports no gopacket, UI or export code.
// Decoding fills storage that the caller owns (Message, DTLS) and every
// slice in a decoded value borrows the input buffer: copy anything that must
// outlive the buffer.
package decode

// Type is the CoAP message type (RFC 7252 section 3).
type Type uint8

const (
	Confirmable     Type = 0 // CON
	NonConfirmable  Type = 1 // NON
	Acknowledgement Type = 2 // ACK
	Reset           Type = 3 // RST
)

// Code is a CoAP code: class in the top 3 bits, detail in the low 5.
type Code uint8

// Class returns the code class (0 request, 2 success, 4 client error, 5 server error, 7 signalling).
func (c Code) Class() uint8 { return uint8(c) >> 5 }

// Detail returns the code detail.
func (c Code) Detail() uint8 { return uint8(c) & 0x1f }

// OptionID is a CoAP option number.
type OptionID uint16

// Span is a byte range of the decoded input, for hex views and evidence.
type Span struct {
	Off int // offset from the start of the message
	Len int
}

// Option is one option as it appears on the wire. Value borrows the input.
type Option struct {
	ID    OptionID
	Value []byte
	// Span covers the whole option: header, extended delta/length and value.
	Span Span
}

// Message is a decoded CoAP message (over UDP unless Framing says
// otherwise). All slices borrow the buffer
// given to Decode; Options is reused across calls (Decode truncates it to
// zero length and appends), so a Message reused in a loop allocates only
// when a message has more options than any before it.
type Message struct {
	// Framing says how the message was framed: over UDP (Decode), TCP or
	// TLS (DecodeTCP) or WebSockets (DecodeWS). Version, Type and
	// MessageID exist only in the UDP framing; they are zero otherwise.
	Framing   Framing
	Version   uint8
	Type      Type
	Code      Code
	MessageID uint16
	Token     []byte
	Options   []Option
	// Payload is the bytes after the payload marker (nil when absent).
	Payload []byte
	// PayloadOff is the offset of the payload in the message, or -1.
	PayloadOff int
	// Anomalies are problems that did not stop the parse (Zeek's weird.log).
	Anomalies []Anomaly
	// Raw is the whole input that was decoded.
	Raw []byte
}
