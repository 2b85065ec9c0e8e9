package analysis

import (
	"fmt"
	"net/netip"
	"time"

	"github.com/coapaudit/coapaudit/capture"
	"github.com/coapaudit/coapaudit/decode"
	"github.com/coapaudit/coapaudit/dissect"
	"github.com/coapaudit/coapaudit/oscore"
)

// CoAPMessage is one CoAP message as the per-packet stages leave it:
// decoded, OSCORE processed, ready for the exchange tracker and the
// rules. A sensor gets them from Options.OnCoAP and publishes them; an
// analyzer elsewhere feeds them back with Engine.Message.
type CoAPMessage struct {
	// File is the index of the capture file; Frame the frame number in
	// that file (not a FrameRefs reference).
	File, Frame int
	Time        time.Time
	Src, Dst    netip.AddrPort
	// Msg is the decoded message (Msg.Raw its bytes). Size is the UDP
	// payload length of the frame that carried it: the message's length,
	// or the DTLS datagram's when Secure.
	Msg  *decode.Message
	Size int
	// Transport is what carried the message (nil is read as UDP, or as
	// DTLS when Secure); Frames, for a message that came in several
	// frames, lists them all, Frame last.
	Transport *dissect.Transport
	Frames    []int
	Secure    bool
	// OSCORE is the decryptor's result, nil when the message has no
	// OSCORE option.
	OSCORE *oscore.Result
	// Datagram, when not nil, is a whole DTLS datagram (the UDP payload)
	// instead of a CoAP message (Msg is nil): the DTLS rules read its
	// handshake. The CoAP messages decrypted from it follow, Secure.
	Datagram []byte
}

// coap hands a decoded message to Options.OnCoAP.
func (e *Engine) coap(file int, m *dissect.Message, res *oscore.Result) {
	if e.onCoAP == nil {
		return
	}
	e.cm = CoAPMessage{File: file, Frame: m.Frame, Frames: m.Frames, Time: m.Time, Src: m.Src, Dst: m.Dst,
		Msg: m.CoAP, Size: m.Size, Transport: m.Transport, Secure: m.Secure(), OSCORE: res}
	e.onCoAP(&e.cm)
}

// dtlsDatagram hands a DTLS datagram to Options.OnCoAP.
func (e *Engine) dtlsDatagram(d *capture.Datagram, file int) {
	if e.onCoAP == nil {
		return
	}
	e.cm = CoAPMessage{File: file, Frame: d.Number, Time: d.Time, Src: d.Src, Dst: d.Dst, Size: len(d.Payload), Datagram: d.Payload}
	e.onCoAP(&e.cm)
}

// Message runs a message decoded and decrypted elsewhere through the
// stages after decryption: the rules, the tracker and the leak analysis,
// as Frame does for a CoAP frame. m.Msg is decoded again from m.Msg.Raw
// into the Engine's storage; m.OSCORE is used as given (the Engine's
// keys are not tried). Messages come in capture-time order; m.File
// indexes Options.FrameRefs.
func (e *Engine) Message(m *CoAPMessage) error {
	if m.Datagram != nil {
		d := &capture.Datagram{Frame: capture.Frame{Number: m.Frame, Time: m.Time}, Kind: capture.KindUDP,
			Src: m.Src, Dst: m.Dst, Payload: m.Datagram, PayloadOff: -1, UDPLength: 8 + len(m.Datagram)}
		if e.Frame(d, m.File, "").F.Proto != dissect.ProtoDTLS {
			return fmt.Errorf("frame %d: not a DTLS datagram here (check the port options)", m.Frame)
		}
		return nil
	}
	num, ok := e.refs.Ref(m.File, m.Frame)
	if !ok {
		e.unreferenced++
		return nil
	}
	f := &e.f
	t := m.Transport
	if t == nil {
		t = dissect.UDP
		if m.Secure {
			t = dissect.DTLS
		}
	}
	if err := DecodeOn(t, m.Msg.Raw, &f.CoAP); err != nil {
		return fmt.Errorf("frame %d: not a CoAP message: %v", m.Frame, err)
	}
	f.Proto, f.Err = dissect.ProtoCoAP, nil
	s := &e.sum
	if e.first.IsZero() {
		e.first = m.Time
	}
	e.last = m.Time
	switch {
	case t.Reliable:
		if s.ReliableMessages == nil {
			s.ReliableMessages = map[string]int{}
		}
		s.ReliableMessages[t.Name]++
	case m.Secure:
		s.DTLSCoAP++
	default:
		s.Frames++
		s.CoAPFrames++
		s.Anomalies += len(f.CoAP.Anomalies)
	}
	if r := m.OSCORE; r != nil && r.Tried {
		if r.Verified {
			s.Decrypted++
		} else {
			s.DecryptFailures++
		}
	}
	e.msg = dissect.Message{Transport: t, Src: m.Src, Dst: m.Dst, Time: m.Time, Frame: m.Frame, Frames: m.Frames, Size: m.Size, CoAP: &f.CoAP}
	e.stages(m.File, num, e.refFrames(m.File, m.Frames), &e.msg, m.OSCORE)
	return nil
}

// DecodeOn decodes raw as framed on transport t (nil: UDP): RFC 8323 framing on TCP
// and TLS, a WebSocket message's payload on WS and WSS, RFC 7252
// otherwise.
func DecodeOn(t *dissect.Transport, raw []byte, m *decode.Message) error {
	switch t {
	case dissect.TCP, dissect.TLS:
		n, err := m.DecodeTCP(raw)
		if err == nil && n != len(raw) {
			err = fmt.Errorf("%d bytes after the message", len(raw)-n)
		}
		return err
	case dissect.WS, dissect.WSS:
		return m.DecodeWS(raw)
	}
	if err := m.Decode(raw); err != nil {
		return err
	}
	if m.Version != 1 {
		return fmt.Errorf("version %d", m.Version)
	}
	return nil
}
