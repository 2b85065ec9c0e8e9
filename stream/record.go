// Package stream carries the CoAP messages a sensor has decoded and
// decrypted to analyzers on other machines, through a NATS JetStream
// stream. A sensor runs the per-packet stages (capture, dissection,
// decoding, OSCORE and DTLS decryption) where the packets are and
// publishes every CoAP message as a Record on subject
// coapaudit.msg.<partition>; an analyzer consumes one or more partitions
// through a durable consumer, merges the sensors' records by capture time
// and runs the exchange tracker, the rules and the leak analysis.
package stream

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net/netip"
	"time"

	"github.com/fxamacker/cbor/v2"

	"github.com/coapaudit/coapaudit/analysis"
	"github.com/coapaudit/coapaudit/decode"
	"github.com/coapaudit/coapaudit/oscore"
)

// Version is the record format version. A reader rejects records of a
// version it does not know.
const Version = 1

// Transports of a record.
const (
	TransportUDP  = 0 // plain CoAP over UDP
	TransportDTLS = 1 // CoAP decrypted from DTLS records (Secure)
)

// Record is one CoAP message as published: CBOR, a map with small
// integer keys. Raw is the CoAP message as it was on the wire (the DTLS
// plaintext for TransportDTLS): the analyzer decodes it again, which is
// cheap; the expensive and key-bound work (decryption) travels as its
// result.
type Record struct {
	V      int    `cbor:"0,keyasint"`
	Sensor string `cbor:"1,keyasint"`
	// Time is the capture time in nanoseconds since the Unix epoch.
	Time  int64  `cbor:"2,keyasint"`
	File  string `cbor:"3,keyasint"`
	Frame int    `cbor:"4,keyasint"`
	// Src and Dst are netip.AddrPort in their binary form.
	Src       []byte `cbor:"5,keyasint"`
	Dst       []byte `cbor:"6,keyasint"`
	Transport int    `cbor:"7,keyasint"`
	// Size is the UDP payload length of the frame (see
	// analysis.CoAPMessage.Size).
	Size   int     `cbor:"8,keyasint"`
	Raw    []byte  `cbor:"9,keyasint"`
	OSCORE *OSCORE `cbor:"10,keyasint,omitempty"`
}

// OSCORE is the decryptor's result for a message with an OSCORE option
// (oscore.Result): the analyzer needs the verdict and, when verified, the
// inner message; the outer option is parsed again from Raw.
type OSCORE struct {
	IsRequest bool   `cbor:"0,keyasint,omitempty"`
	Tried     bool   `cbor:"1,keyasint,omitempty"`
	Verified  bool   `cbor:"2,keyasint,omitempty"`
	Err       string `cbor:"3,keyasint,omitempty"`
	Context   string `cbor:"4,keyasint,omitempty"`
	// Inner is the unprotected message's bytes (oscore.Result.Inner.Raw)
	// when verified.
	Inner      []byte `cbor:"5,keyasint,omitempty"`
	RequestKID []byte `cbor:"6,keyasint,omitempty"`
	RequestPIV []byte `cbor:"7,keyasint,omitempty"`
	// RequestFrame is the frame of the request a response answers, in
	// the same file (0 when not seen there).
	RequestFrame int `cbor:"8,keyasint,omitempty"`
}

var encMode, _ = cbor.CoreDetEncOptions().EncMode()

// NewRecord makes the record of a message of file fileName seen by
// sensor.
func NewRecord(sensor, fileName string, m *analysis.CoAPMessage) *Record {
	r := &Record{V: Version, Sensor: sensor, Time: m.Time.UnixNano(), File: fileName, Frame: m.Frame,
		Size: m.Size, Raw: append([]byte(nil), m.Msg.Raw...)}
	r.Src, _ = m.Src.MarshalBinary()
	r.Dst, _ = m.Dst.MarshalBinary()
	if m.Secure {
		r.Transport = TransportDTLS
	}
	if o := m.OSCORE; o != nil {
		r.OSCORE = &OSCORE{IsRequest: o.IsRequest, Tried: o.Tried, Verified: o.Verified, Err: o.Err, Context: o.Context,
			RequestKID: o.RequestKID, RequestPIV: o.RequestPIV}
		if o.Verified {
			r.OSCORE.Inner = o.Inner.Raw
		}
		if o.RequestFrame > 0 {
			// The sensor's frame references equal frame numbers with one
			// file; with several only the frame in the message's file is
			// kept.
			r.OSCORE.RequestFrame = o.RequestFrame
		}
	}
	return r
}

// Marshal encodes r.
func (r *Record) Marshal() ([]byte, error) { return encMode.Marshal(r) }

// Unmarshal decodes a record, checking its version.
func Unmarshal(b []byte) (*Record, error) {
	var r Record
	if err := cbor.Unmarshal(b, &r); err != nil {
		return nil, err
	}
	if r.V != Version {
		return nil, fmt.Errorf("record version %d, want %d", r.V, Version)
	}
	return &r, nil
}

// ID is the record's identity, derived from its content: the sensor,
// file, frame, time and message bytes. The sensor sends it as the
// Nats-Msg-Id header, so that JetStream drops a record published twice
// (a sensor run again over a capture) within the stream's duplicate
// window.
func (r *Record) ID() string {
	h := sha256.New()
	fmt.Fprintf(h, "%s\x00%s\x00%d\x00%d\x00%d\x00", r.Sensor, r.File, r.Frame, r.Time, r.Transport)
	h.Write(r.Raw)
	return hex.EncodeToString(h.Sum(nil)[:16])
}

// Source names the capture a record comes from: "sensor/file".
func (r *Record) Source() string {
	if r.File == "" {
		return r.Sensor
	}
	return r.Sensor + "/" + r.File
}

// Message turns the record back into a message for
// analysis.Engine.Message, with file as its file index.
func (r *Record) Message(file int) (*analysis.CoAPMessage, error) {
	m := &analysis.CoAPMessage{File: file, Frame: r.Frame, Time: time.Unix(0, r.Time), Size: r.Size,
		Secure: r.Transport == TransportDTLS, Msg: &decode.Message{}}
	if err := m.Src.UnmarshalBinary(r.Src); err != nil {
		return nil, fmt.Errorf("src: %w", err)
	}
	if err := m.Dst.UnmarshalBinary(r.Dst); err != nil {
		return nil, fmt.Errorf("dst: %w", err)
	}
	if err := m.Msg.Decode(r.Raw); err != nil {
		return nil, err
	}
	if o := r.OSCORE; o != nil {
		res := &oscore.Result{IsRequest: o.IsRequest, Tried: o.Tried, Verified: o.Verified, Err: o.Err, Context: o.Context,
			RequestKID: o.RequestKID, RequestPIV: o.RequestPIV, RequestFrame: o.RequestFrame}
		if v, ok := m.Msg.Option(decode.OptOSCORE); ok {
			opt, err := decode.ParseOSCORE(v)
			if err != nil {
				return nil, fmt.Errorf("oscore option: %w", err)
			}
			res.Option = opt
		}
		if o.Verified {
			if len(o.Inner) == 0 {
				return nil, errors.New("verified OSCORE message without its inner message")
			}
			res.Inner.Decode(o.Inner)
		}
		m.OSCORE = res
	}
	return m, nil
}

// Endpoints returns the record's source and destination.
func (r *Record) Endpoints() (src, dst netip.AddrPort) {
	src.UnmarshalBinary(r.Src)
	dst.UnmarshalBinary(r.Dst)
	return
}

// Subject is the subject records of partition are published on.
func Subject(partition string) string { return SubjectPrefix + partition }

// SubjectPrefix starts every record subject; SubjectPrefix+">" is the
// stream's subject.
const SubjectPrefix = "coapaudit.msg."
