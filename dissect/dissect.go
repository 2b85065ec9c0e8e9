// Package dissect decides what each captured frame carries (CoAP, DTLS or
// something else) and decodes it into storage the caller reuses, the way
// Wireshark's port table and heuristic dissectors pick a dissector.
package dissect

import (
	"errors"

	"github.com/coapaudit/coapaudit/capture"
	"github.com/coapaudit/coapaudit/decode"
)

// Proto is what a frame was dissected as.
type Proto uint8

const (
	ProtoOther Proto = iota // not CoAP or DTLS (or not UDP at all)
	ProtoCoAP               // CoAP over UDP
	ProtoDTLS               // DTLS records (CoAP over DTLS, encrypted)
	// A TCP segment of a connection carrying CoAP (RFC 8323), by what
	// the messages it completed travelled on: TCP, TLS, WebSockets or
	// WebSockets in TLS (ProtoTCP when it completed none).
	ProtoTCP
	ProtoTLS
	ProtoWS
	ProtoWSS
)

var protoNames = [...]string{ProtoOther: "other", ProtoCoAP: "coap", ProtoDTLS: "dtls",
	ProtoTCP: "tcp", ProtoTLS: "tls", ProtoWS: "ws", ProtoWSS: "wss"}

func (p Proto) String() string {
	if int(p) < len(protoNames) {
		return protoNames[p]
	}
	if l := layer(p); l != nil {
		return l.Transport.Name
	}
	return "other"
}

// Default ports (RFC 7252 section 12.7).
const (
	PortCoAP  = 5683
	PortCoAPS = 5684
)

// Config says which UDP ports carry what. Ports not listed are tried with
// the strict heuristics of package decode.
type Config struct {
	CoAPPorts []uint16 // in addition to 5683
	DTLSPorts []uint16 // in addition to 5684
	// NoHeuristics turns off detection on other ports.
	NoHeuristics bool
}

// Dissector classifies and decodes frames. It is not safe for concurrent use.
type Dissector struct {
	coap [65536 / 64]uint64 // bitmap of CoAP ports
	dtls [65536 / 64]uint64 // bitmap of DTLS ports
	reg  [65536 / 64]uint64 // bitmap of the ports of registered layers
	heur bool
	// layers are the registered layers when the Dissector was made, with
	// their Protos.
	layers []regLayer
	cur    *Frame
	emit   func([]byte)
}

type regLayer struct {
	*Layer
	proto Proto
}

// New returns a Dissector for cfg.
func New(cfg Config) *Dissector {
	d := &Dissector{heur: !cfg.NoHeuristics}
	d.setPort(&d.coap, PortCoAP)
	d.setPort(&d.dtls, PortCoAPS)
	for _, p := range cfg.CoAPPorts {
		d.setPort(&d.coap, p)
	}
	for _, p := range cfg.DTLSPorts {
		d.setPort(&d.dtls, p)
	}
	registry.RLock()
	for i, l := range registry.layers {
		d.layers = append(d.layers, regLayer{l, protoBase + Proto(i)})
		for _, p := range l.Ports {
			d.setPort(&d.reg, p)
		}
	}
	registry.RUnlock()
	d.emit = d.split
	return d
}

func (d *Dissector) setPort(m *[1024]uint64, p uint16) { m[p>>6] |= 1 << (p & 63) }

func has(m *[1024]uint64, p uint16) bool { return m[p>>6]&(1<<(p&63)) != 0 }

// Frame is the result of dissecting one captured frame. Reuse one Frame
// across calls: its decode storage is reused and nothing allocates once the
// slices have grown. Everything in it borrows the capture buffer.
type Frame struct {
	Proto Proto
	// Heuristic is true when the protocol was found by a heuristic rather
	// than by port.
	Heuristic bool
	// CoAP is the first CoAP message of a frame that carries CoAP in
	// clear (Proto.Clear); a registered layer may find more, in
	// More[:NumCoAP-1].
	CoAP    decode.Message
	More    []decode.Message
	NumCoAP int
	DTLS    decode.DTLS
	// Err is the decode error of a malformed message (a *decode.FormatError),
	// nil when the message decoded whole.
	Err error
}

// Malformed reports whether the frame was meant to be CoAP or DTLS but did
// not decode whole.
func (f *Frame) Malformed() bool { return f.Err != nil }

// Dissect classifies d and decodes its payload into f.
func (ds *Dissector) Dissect(d *capture.Datagram, f *Frame) {
	f.Proto = ProtoOther
	f.Heuristic = false
	f.Err = nil
	f.NumCoAP = 0
	if d.Kind != capture.KindUDP {
		return
	}
	sp, dp := d.Src.Port(), d.Dst.Port()
	switch {
	case has(&ds.reg, sp) || has(&ds.reg, dp):
		for i := range ds.layers {
			l := &ds.layers[i]
			for _, p := range l.Ports {
				if p == sp || p == dp {
					ds.layerFrame(l, d.Payload, f)
					return
				}
			}
		}
	case has(&ds.coap, sp) || has(&ds.coap, dp):
		ds.coapFrame(d.Payload, f)
	case has(&ds.dtls, sp) || has(&ds.dtls, dp):
		ds.dtlsFrame(d.Payload, f)
	case !ds.heur:
	case decode.LooksLikeCoAP(d.Payload):
		f.Heuristic = true
		ds.coapFrame(d.Payload, f)
	case decode.LooksLikeDTLS(d.Payload):
		f.Heuristic = true
		ds.dtlsFrame(d.Payload, f)
	default:
		for i := range ds.layers {
			if l := &ds.layers[i]; l.Heuristic != nil && l.Heuristic(d.Payload) {
				f.Heuristic = true
				ds.layerFrame(l, d.Payload, f)
				return
			}
		}
	}
}

// layerFrame splits a registered layer's datagram into CoAP messages.
func (ds *Dissector) layerFrame(l *regLayer, b []byte, f *Frame) {
	f.Proto = l.proto
	ds.cur = f
	if err := l.Split(b, ds.emit); err != nil && f.Err == nil {
		f.Err = err
	}
	ds.cur = nil
}

// split decodes one message of a registered layer into the current frame.
func (ds *Dissector) split(b []byte) {
	f := ds.cur
	m := f.Slot(f.NumCoAP)
	f.NumCoAP++
	if err := m.Decode(b); err != nil && f.Err == nil {
		f.Err = err
	}
}

// Slot returns the storage of the frame's i-th CoAP message (i <=
// len(More)), growing More when needed: the decrypters decode the
// messages they find into it.
func (f *Frame) Slot(i int) *decode.Message {
	if i == 0 {
		return &f.CoAP
	}
	if i > len(f.More) {
		f.More = append(f.More, decode.Message{})
	}
	return &f.More[i-1]
}

// Clear returns the i-th CoAP message of a frame carrying CoAP in clear,
// i < NumCoAP.
func (f *Frame) Clear(i int) *decode.Message {
	if i == 0 {
		return &f.CoAP
	}
	return &f.More[i-1]
}

func (ds *Dissector) coapFrame(b []byte, f *Frame) {
	f.Proto = ProtoCoAP
	f.NumCoAP = 1
	if err := f.CoAP.Decode(b); err != nil {
		f.Err = err
	}
}

func (ds *Dissector) dtlsFrame(b []byte, f *Frame) {
	f.Proto = ProtoDTLS
	if err := f.DTLS.Decode(b); err != nil {
		f.Err = err
	}
}

// ErrorOffset returns the byte offset of a decode error, or -1.
func ErrorOffset(err error) int {
	var fe *decode.FormatError
	if errors.As(err, &fe) {
		return fe.Off
	}
	return -1
}
