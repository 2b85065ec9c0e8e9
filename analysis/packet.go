package analysis

import (
	"github.com/coapaudit/coapaudit/capture"
	"github.com/coapaudit/coapaudit/dissect"
	"github.com/coapaudit/coapaudit/oscore"
)

// Packet is one frame after the per-frame stages, as Engine.Frame returns
// it: the capture layer's datagram, the dissector's result, the OSCORE
// result and what DTLS decryption found. Everything is borrowed until the
// next frame.
type Packet struct {
	D      *capture.Datagram
	F      *dissect.Frame
	OSCORE *oscore.Result // nil when the message has no OSCORE option
	// File names the capture file when several are read.
	File string
	// PSKIdentity is the DTLS PSK identity found in this frame, if any.
	PSKIdentity []byte
	// DTLSDec is what decrypting a DTLS frame's protected records found;
	// nil without DTLS keys or when the frame has no protected record.
	// When it holds a CoAP message, F.CoAP is the first one (and OSCORE
	// its OSCORE result), written as for a plain CoAP frame.
	DTLSDec *DTLSDecryption
}

// DTLSDecryption is what decrypting one DTLS datagram found. It holds no
// key material: Key names where the session's key came from, and
// Identity is the PSK identity, which the handshake sends in clear.
type DTLSDecryption struct {
	// Decrypted and Failed count the datagram's protected records.
	Decrypted, Failed int
	// Key is the key source of the session: psk, keylog or resumed
	// (empty when no key applies).
	Key string
	// Identity is the PSK identity of a session decrypted with --psk.
	Identity string
	// CoAP counts the CoAP messages found in decrypted application data.
	CoAP int
}

// Inner reports whether the packet is a DTLS frame with a decrypted CoAP
// message in F.CoAP.
func (p *Packet) Inner() bool {
	return p.F.Proto == dissect.ProtoDTLS && p.DTLSDec != nil && p.DTLSDec.CoAP > 0
}

// ProtoName names what the frame is, as the packet record's proto
// field does.
func (p *Packet) ProtoName() string {
	switch p.D.Kind {
	case capture.KindUDP:
		if p.F.Proto == dissect.ProtoOther {
			return "udp"
		}
		return p.F.Proto.String()
	case capture.KindFragment:
		return "ip-fragment"
	case capture.KindTCP:
		if p.F.Proto.Reliable() {
			return p.F.Proto.String()
		}
	}
	return "other"
}
