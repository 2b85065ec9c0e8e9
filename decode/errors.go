package decode

import (
	"errors"
	"strconv"
)

// Sentinel errors wrapped by FormatError.
var (
	ErrTruncated     = errors.New("truncated")
	ErrReserved      = errors.New("reserved value")
	ErrBadVersion    = errors.New("unsupported version")
	ErrBadLength     = errors.New("invalid length")
	ErrNotCoAP       = errors.New("not a CoAP message")
	ErrNotDTLS       = errors.New("not a DTLS record")
	ErrEmptyWithData = errors.New("empty message with data")
	ErrOptionRange   = errors.New("option number out of range")
)

// FormatError says where and what: the byte offset in the input, the field
// being decoded, and the underlying reason.
type FormatError struct {
	Off   int    // byte offset in the decoded input
	Field string // e.g. "Option.Length", "Token"
	Err   error
}

func (e *FormatError) Error() string {
	return e.Field + " at offset " + strconv.Itoa(e.Off) + ": " + e.Err.Error()
}

func (e *FormatError) Unwrap() error { return e.Err }

// AnomalyKind names a problem that did not stop the parse.
type AnomalyKind uint8

// Anomaly is a problem found in a message that still decoded, like an entry
// in Zeek's weird.log.
type Anomaly struct {
	Off  int
	Kind AnomalyKind
	// Option is the option concerned, when there is one.
	Option OptionID
}

// Anomaly kinds. Names are stable: they appear in output records.
const (
	AnomalyNone              AnomalyKind = iota
	AnomalyPayloadMarkerOnly             // payload marker 0xFF with no payload after it
	AnomalyOptionLength                  // option length outside the registry's range
	AnomalyOptionRepeated                // non-repeatable option repeated
	AnomalyReservedCodeClass             // code class 1, 3 or 6
	AnomalyEmptyWithData                 // Empty message (0.00) with token, options or payload
	AnomalyUintLeadingZero               // uint option value with a leading zero byte
	AnomalyUnknownCritical               // unrecognised critical option
	AnomalyOptionFormat                  // option value not valid for its format (e.g. string not UTF-8)
	AnomalyOSCOREValue                   // OSCORE option value not valid (RFC 8613 6.1)
	AnomalyDTLSTrailing                  // bytes after the last DTLS record that are no record
	AnomalyDTLSVersion                   // unexpected DTLS record version
	AnomalyDTLSLength                    // DTLS record or handshake length inconsistent
	AnomalyBlockSZX                      // Block option with the reserved size exponent 7 (RFC 7959 2.2)
	AnomalyWSLength                      // WebSocket-framed message whose Len nibble is not zero (RFC 8323 4.2)
)

var anomalyNames = [...]string{
	AnomalyNone:              "none",
	AnomalyPayloadMarkerOnly: "payload-marker-without-payload",
	AnomalyOptionLength:      "option-length",
	AnomalyOptionRepeated:    "option-repeated",
	AnomalyReservedCodeClass: "reserved-code-class",
	AnomalyEmptyWithData:     "empty-message-with-data",
	AnomalyUintLeadingZero:   "uint-leading-zero",
	AnomalyUnknownCritical:   "unknown-critical-option",
	AnomalyOptionFormat:      "option-format",
	AnomalyOSCOREValue:       "oscore-option-value",
	AnomalyDTLSTrailing:      "dtls-trailing-bytes",
	AnomalyDTLSVersion:       "dtls-version",
	AnomalyDTLSLength:        "dtls-length",
	AnomalyBlockSZX:          "block-szx-reserved",
	AnomalyWSLength:          "ws-length-nonzero",
}

func (k AnomalyKind) String() string {
	if int(k) < len(anomalyNames) {
		return anomalyNames[k]
	}
	return "Anomaly(" + strconv.Itoa(int(k)) + ")"
}
