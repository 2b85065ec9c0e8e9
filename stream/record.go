// Package stream carries the CoAP messages a sensor has decoded and
// decrypted to analyzers on other machines, through a NATS JetStream
// stream. A sensor runs the per-packet stages (capture, dissection,
// decoding, OSCORE and DTLS decryption) where the packets are and
// publishes every CoAP message as a Record on subject
// coapaudit.msg.<partition>; an analyzer reads one or more partitions
// (leased, so that one analyzer reads a partition at a time) from its
// checkpoints, merges the sensors' records by capture time, and runs the
// exchange tracker, the rules and the leak analysis; it may publish its
// exchanges and findings back (results.go).
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
	"github.com/coapaudit/coapaudit/capture"
	"github.com/coapaudit/coapaudit/decode"
	"github.com/coapaudit/coapaudit/dissect"
	"github.com/coapaudit/coapaudit/oscore"
)

// Version is the record format version. A reader rejects records of a
// version it does not know.
const Version = 1

// Transports of a record.
const (
	TransportUDP  = 0 // plain CoAP over UDP
	TransportDTLS = 1 // CoAP decrypted from DTLS records (Secure)
	// TransportDTLSDatagram: Raw is a whole DTLS datagram (the UDP
	// payload), for the handshake and record rules; the CoAP messages
	// the sensor decrypted from it follow as TransportDTLS records.
	TransportDTLSDatagram = 2
	// CoAP over TCP, TLS, WebSockets and WebSockets in TLS (RFC 8323):
	// Raw is the message as framed on its transport (decrypted for TLS
	// and WSS), Frames the frames its bytes came in when several did.
	TransportTCP = 3
	TransportTLS = 4
	TransportWS  = 5
	TransportWSS = 6
)

// reliableNames are the names of the reliable transports, by record
// transport.
var reliableNames = map[int]string{TransportTCP: "tcp", TransportTLS: "tls", TransportWS: "ws", TransportWSS: "wss"}

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
	// Keyed: the sensor had OSCORE keys, so the rules that need them
	// apply (analyze --sensor-keys).
	Keyed bool `cbor:"11,keyasint,omitempty"`
	// Frames lists the frames a message on a reliable transport came in,
	// Frame last, when there were several.
	Frames []int `cbor:"12,keyasint,omitempty"`
	// Partition is the partition the analyzer received the record on
	// (not published: the subject says it).
	Partition string `cbor:"-"`
}

// OSCORE is the decryptor's result for a message with an OSCORE option
// (oscore.Result): the verdict, the inner message when verified, and the
// replay, echo and nonce state the rules read. The outer option is parsed
// again from Raw.
type OSCORE struct {
	IsRequest bool   `cbor:"0,keyasint,omitempty"`
	Tried     bool   `cbor:"1,keyasint,omitempty"`
	Verified  bool   `cbor:"2,keyasint,omitempty"`
	Err       string `cbor:"3,keyasint,omitempty"`
	Context   string `cbor:"4,keyasint,omitempty"`
	// Inner is the unprotected message's bytes (oscore.Result.Inner.Raw)
	// when verified.
	Inner         []byte    `cbor:"5,keyasint,omitempty"`
	RequestKID    []byte    `cbor:"6,keyasint,omitempty"`
	RequestPIV    []byte    `cbor:"7,keyasint,omitempty"`
	RequestFrame  *FrameRef `cbor:"8,keyasint,omitempty"`
	Guessed       bool      `cbor:"9,keyasint,omitempty"`
	Replay        uint8     `cbor:"10,keyasint,omitempty"`
	FirstFrame    *FrameRef `cbor:"11,keyasint,omitempty"`
	RequestReplay uint8     `cbor:"12,keyasint,omitempty"`
	Answer        uint8     `cbor:"13,keyasint,omitempty"`
	NonceReuse    bool      `cbor:"14,keyasint,omitempty"`
	Echo          []byte    `cbor:"15,keyasint,omitempty"`
	EchoStatus    uint8     `cbor:"16,keyasint,omitempty"`
}

// FrameRef names another frame the sensor saw: its number, in File
// (empty: the record's file).
type FrameRef struct {
	File  string `cbor:"0,keyasint,omitempty"`
	Frame int    `cbor:"1,keyasint"`
}

var encMode, _ = cbor.CoreDetEncOptions().EncMode()

// NewRecord makes the record of a message seen by sensor. refs are the
// sensor's frame references (nil for one file): they name its files and
// the frames the OSCORE result refers to.
func NewRecord(sensor string, refs *capture.FrameRefs, m *analysis.CoAPMessage) *Record {
	r := &Record{V: Version, Sensor: sensor, Time: m.Time.UnixNano(), File: refs.FileName(m.File), Frame: m.Frame, Size: m.Size}
	r.Src, _ = m.Src.MarshalBinary()
	r.Dst, _ = m.Dst.MarshalBinary()
	switch {
	case m.Datagram != nil:
		r.Transport = TransportDTLSDatagram
		r.Raw = append([]byte(nil), m.Datagram...)
		return r
	case m.Transport != nil && m.Transport.Reliable:
		for k, v := range reliableNames {
			if v == m.Transport.Name {
				r.Transport = k
			}
		}
		if len(m.Frames) > 1 {
			r.Frames = append([]int(nil), m.Frames...)
		}
	case m.Secure:
		r.Transport = TransportDTLS
	}
	r.Raw = append([]byte(nil), m.Msg.Raw...)
	if o := m.OSCORE; o != nil {
		ref := func(n int) *FrameRef {
			if n <= 0 {
				return nil
			}
			f, num := refs.FileFrame(n)
			if f == r.File {
				f = ""
			}
			return &FrameRef{File: f, Frame: num}
		}
		r.OSCORE = &OSCORE{IsRequest: o.IsRequest, Tried: o.Tried, Verified: o.Verified, Err: o.Err, Context: o.Context,
			RequestKID: o.RequestKID, RequestPIV: o.RequestPIV, RequestFrame: ref(o.RequestFrame), Guessed: o.Guessed,
			Replay: uint8(o.Replay), FirstFrame: ref(o.FirstFrame), RequestReplay: uint8(o.RequestReplay),
			Answer: uint8(o.Answer), NonceReuse: o.NonceReuse, Echo: o.Echo, EchoStatus: uint8(o.EchoStatus)}
		if o.Verified {
			r.OSCORE.Inner = o.Inner.Raw
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
// analysis.Engine.Message, with file as its file index. ref returns the
// frame reference of a frame of another file of the same sensor (0 when
// unknown).
func (r *Record) Message(file int, ref func(file string, frame int) int) (*analysis.CoAPMessage, error) {
	m := &analysis.CoAPMessage{File: file, Frame: r.Frame, Time: time.Unix(0, r.Time), Size: r.Size,
		Secure: r.Transport == TransportDTLS}
	if err := m.Src.UnmarshalBinary(r.Src); err != nil {
		return nil, fmt.Errorf("src: %w", err)
	}
	if err := m.Dst.UnmarshalBinary(r.Dst); err != nil {
		return nil, fmt.Errorf("dst: %w", err)
	}
	switch r.Transport {
	case TransportDTLSDatagram:
		m.Datagram = r.Raw
		return m, nil
	case TransportUDP, TransportDTLS:
	default:
		name, ok := reliableNames[r.Transport]
		if !ok {
			return nil, fmt.Errorf("transport %d unknown", r.Transport)
		}
		m.Transport = dissect.TransportNamed(name)
		m.Secure = m.Transport.Security != ""
		m.Frames = r.Frames
	}
	m.Msg = &decode.Message{}
	if err := analysis.DecodeOn(m.Transport, r.Raw, m.Msg); err != nil {
		return nil, err
	}
	if o := r.OSCORE; o != nil {
		frame := func(f *FrameRef) int {
			switch {
			case f == nil:
				return 0
			case f.File == "":
				return ref(r.File, f.Frame)
			}
			return ref(f.File, f.Frame)
		}
		res := &oscore.Result{IsRequest: o.IsRequest, Tried: o.Tried, Verified: o.Verified, Err: o.Err, Context: o.Context,
			RequestKID: o.RequestKID, RequestPIV: o.RequestPIV, RequestFrame: frame(o.RequestFrame), Guessed: o.Guessed,
			Replay: oscore.ReplayStatus(o.Replay), FirstFrame: frame(o.FirstFrame), RequestReplay: oscore.ReplayStatus(o.RequestReplay),
			Answer: oscore.ReplayAnswer(o.Answer), NonceReuse: o.NonceReuse, Echo: o.Echo, EchoStatus: oscore.EchoStatus(o.EchoStatus)}
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
			if err := res.Inner.Decode(o.Inner); err != nil {
				return nil, fmt.Errorf("inner message: %w", err)
			}
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
