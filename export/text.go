package export

import (
	"bufio"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"sort"
	"strconv"
	"time"

	"github.com/coapaudit/coapaudit/capture"
	"github.com/coapaudit/coapaudit/decode"
	"github.com/coapaudit/coapaudit/dissect"
	"github.com/coapaudit/coapaudit/internal/human"
	"github.com/coapaudit/coapaudit/oscore"
)

// TextWriter writes packets one line each, the way tshark prints frames on a
// terminal, and the summary as a short block. Other records are passed to
// Other when set.
type TextWriter struct {
	w     *bufio.Writer
	first time.Time
	buf   []byte
	err   error
	Other Writer
}

// NewTextWriter returns a text writer to w.
func NewTextWriter(w io.Writer) *TextWriter {
	return &TextWriter{w: bufio.NewWriterSize(w, 64<<10)}
}

func (t *TextWriter) Write(r Record) error {
	if t.err != nil {
		return t.err
	}
	switch r := r.(type) {
	case *Packet:
		t.buf = t.appendPacket(t.buf[:0], r)
		_, t.err = t.w.Write(t.buf)
	case *Summary:
		t.err = writeSummaryText(t.w, r)
	default:
		if t.Other != nil {
			return t.Other.Write(r)
		}
	}
	return t.err
}

// Skip notes a record that is not written (a display filter held it
// back), so that times stay relative to the capture's first frame.
func (t *TextWriter) Skip(r Record) {
	if p, ok := r.(*Packet); ok && t.first.IsZero() {
		t.first = p.D.Time
	}
}

func (t *TextWriter) Close() error {
	err := t.w.Flush()
	if t.Other != nil {
		err = errors.Join(err, t.Other.Close())
	}
	return errors.Join(t.err, err)
}

func (t *TextWriter) appendPacket(b []byte, p *Packet) []byte {
	d, f := p.D, p.F
	if t.first.IsZero() {
		t.first = d.Time
	}
	b = appendPadLeft(b, strconv.Itoa(d.Number), 6)
	b = append(b, ' ')
	b = appendPadLeft(b, strconv.FormatFloat(d.Time.Sub(t.first).Seconds(), 'f', 6, 64), 11)
	b = append(b, ' ')
	src, dst := p.Addrs()
	b = appendPadLeft(b, src, 21)
	b = append(b, " → "...)
	b = appendPadRight(b, dst, 21)
	b = append(b, ' ')
	proto := p.ProtoName()
	// A segment of a CoAP connection that completed no message.
	bare := f.Proto.Reliable() && f.NumCoAP == 0
	switch {
	case bare:
		proto = "TCP"
	case f.Proto.Clear():
		proto = "CoAP"
		if p.OSCORE != nil {
			proto = "OSCORE"
		}
	case f.Proto == dissect.ProtoDTLS:
		proto = "DTLS"
		if p.Inner() {
			// tshark shows a decrypted record's CoAP message as the frame's.
			proto = "CoAP"
			if p.OSCORE != nil {
				proto = "OSCORE"
			}
		}
	}
	b = appendPadRight(b, proto, 6)
	b = appendPadLeft(b, strconv.Itoa(d.OrigLen), 5)
	b = append(b, ' ')
	switch {
	case bare:
		b = append(b, "TCP, "...)
		b = strconv.AppendInt(b, int64(len(d.Payload)), 10)
		b = append(b, " bytes"...)
	case f.Proto.Clear():
		b = p.appendCoAPInfo(b)
	case f.Proto == dissect.ProtoDTLS:
		if p.Inner() {
			b = p.appendCoAPInfo(b)
			b = p.appendDTLSKey(append(b, " [DTLS decrypted"...))
		} else {
			b = p.appendDTLSInfo(b)
		}
	default:
		if d.Kind == capture.KindUDP {
			b = append(b, "UDP, "...)
			b = strconv.AppendInt(b, int64(len(d.Payload)), 10)
			b = append(b, " bytes"...)
		} else {
			b = append(b, d.Reason...)
		}
	}
	if n := f.NumCoAP; n > 1 && (f.Proto.Clear() || p.Inner()) {
		b = append(b, " [+"...)
		b = strconv.AppendInt(b, int64(n-1), 10)
		b = append(b, " more CoAP]"...)
	}
	if f.Err != nil {
		b = append(b, " [Malformed: "...)
		b = append(b, f.Err.Error()...)
		b = append(b, ']')
	}
	return append(b, '\n')
}

func (p *Packet) appendCoAPInfo(b []byte) []byte {
	m := &p.F.CoAP
	udp := m.Framing == decode.FramingUDP
	if len(m.Raw) == 0 || udp && len(m.Raw) < 4 {
		return b
	}
	if udp { // RFC 8323 has no type and no Message ID
		b = append(b, m.Type.String()...)
		b = append(b, ", MID:"...)
		b = strconv.AppendUint(b, uint64(m.MessageID), 10)
		b = append(b, ", "...)
	}
	b = appendCodeText(b, m.Code)
	if len(m.Token) > 0 {
		b = append(b, ", TKN:"...)
		b = hex.AppendEncode(b, m.Token)
	}
	if v, ok := m.Option(decode.OptProxyURI); ok {
		b = append(b, ", "...)
		b = append(b, v...)
	} else if u := m.URIPath(nil); len(u) > 0 {
		b = append(b, ", /"...)
		b = append(b, u...)
	}
	if q := m.URIQuery(nil); len(q) > 0 {
		b = append(b, '?')
		b = append(b, q...)
	}
	if r := p.OSCORE; r != nil {
		b = append(b, ", OSCORE"...)
		if r.Option.HasKID {
			b = append(b, " kid:"...)
			if len(r.Option.KID) == 0 {
				b = append(b, "(empty)"...)
			}
			b = hex.AppendEncode(b, r.Option.KID)
		}
		if len(r.Option.PIV) > 0 {
			b = append(b, " piv:"...)
			b = hex.AppendEncode(b, r.Option.PIV)
		}
		if r.Verified {
			b = append(b, " → "...)
			in := &r.Inner
			b = appendCodeText(b, in.Code)
			if u := in.URIPath(nil); len(u) > 0 {
				b = append(b, " /"...)
				b = append(b, u...)
			}
			b = append(b, " (verified)"...)
		} else if r.Tried {
			b = append(b, " (NOT verified: "...)
			b = append(b, r.Err...)
			b = append(b, ')')
		}
		switch {
		case r.Replay.IsReplay():
			b = append(b, " [REPLAY: "...)
			b = append(b, r.Replay.String()...)
			if r.FirstFrame > 0 {
				b = append(b, " Partial IV, first in frame "...)
				b = p.Refs.AppendName(b, r.FirstFrame)
			}
			b = append(b, ']')
		case r.Replay == oscore.Retransmission && r.FirstFrame > 0:
			b = append(b, " [retransmission of frame "...)
			b = p.Refs.AppendName(b, r.FirstFrame)
			b = append(b, ']')
		}
		if r.RequestReplay.IsReplay() {
			b = append(b, " [answers a replayed request: "...)
			b = append(b, r.Answer.String()...)
			b = append(b, ']')
		}
	}
	if len(m.Payload) > 0 {
		b = append(b, ", "...)
		b = strconv.AppendInt(b, int64(len(m.Payload)), 10)
		b = append(b, " bytes"...)
	}
	return b
}

func appendPadLeft(b []byte, s string, n int) []byte {
	for i := len([]rune(s)); i < n; i++ {
		b = append(b, ' ')
	}
	return append(b, s...)
}

func appendPadRight(b []byte, s string, n int) []byte {
	b = append(b, s...)
	for i := len([]rune(s)); i < n; i++ {
		b = append(b, ' ')
	}
	return b
}

func writeSummaryText(w io.Writer, s *Summary) error {
	c := human.Count
	_, err := fmt.Fprintf(w, "\n%s frames: %s CoAP, %s DTLS, %s malformed, %s other",
		c(s.Frames), c(s.CoAPFrames), c(s.DTLSFrames), c(s.MalformedFrames), c(s.OtherFrames))
	if len(s.OtherBy) > 0 {
		keys := make([]string, 0, len(s.OtherBy))
		for k := range s.OtherBy {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		fmt.Fprint(w, " (")
		for i, k := range keys {
			if i > 0 {
				fmt.Fprint(w, ", ")
			}
			fmt.Fprintf(w, "%s %s", k, c(s.OtherBy[k]))
		}
		fmt.Fprint(w, ")")
	}
	fmt.Fprintln(w)
	if s.Decrypted+s.DecryptFailures > 0 {
		fmt.Fprintf(w, "OSCORE: %s decrypted, %s failed verification or had no key\n", c(s.Decrypted), c(s.DecryptFailures))
	}
	if s.Exchanges > 0 || s.Findings > 0 {
		fmt.Fprintf(w, "%s exchanges, %s findings\n", c(s.Exchanges), c(s.Findings))
	}
	if len(s.Evicted) > 0 {
		fmt.Fprintf(w, "evicted: %s\n", human.Counts(s.Evicted))
	}
	if s.Truncated {
		fmt.Fprintf(w, "capture truncated: %s\n", s.TruncatedError)
	}
	return err
}

// appendDTLSInfo writes a DTLS frame's info column the way tshark does:
// the record types, handshake messages by name.
func (p *Packet) appendDTLSInfo(b []byte) []byte {
	t := &p.F.DTLS
	if len(t.Records) > 0 && !t.Records[0].Unified {
		b = append(b, "DTLS "...)
		b = append(b, dtlsVersion(t.Records[0].Version)...)
		b = append(b, ' ')
	}
	hs := 0
	for i := range t.Records {
		r := &t.Records[i]
		if i > 0 {
			b = append(b, ", "...)
		}
		switch {
		case r.Unified:
			b = append(b, "Encrypted (DTLS 1.3)"...)
		case r.ContentType == decode.ContentHandshake && r.Epoch == 0:
			first := true
			for ; hs < len(t.Handshakes) && t.Handshakes[hs].Record == i; hs++ {
				if !first {
					b = append(b, ", "...)
				}
				first = false
				b = append(b, t.Handshakes[hs].Type.String()...)
			}
			if first {
				b = append(b, "Handshake"...)
			}
		case r.ContentType == decode.ContentHandshake:
			b = append(b, "Encrypted Handshake Message"...)
		default:
			b = append(b, r.ContentType.String()...)
		}
	}
	if t.HasCipherSuite {
		b = append(b, " ["...)
		b = append(b, t.CipherSuite.String()...)
		b = append(b, ']')
	}
	if p.PSKIdentity != nil {
		b = append(b, " [PSK identity: "...)
		b = append(b, p.PSKIdentity...)
		b = append(b, ']')
	}
	if x := p.DTLSDec; x != nil {
		switch {
		case x.Failed > 0 && x.Decrypted == 0:
			b = append(b, " [not decrypted]"...)
		case x.Decrypted > 0:
			b = p.appendDTLSKey(append(b, " [decrypted"...))
		}
	}
	return b
}

// appendDTLSKey writes where a decrypted frame's key came from, and
// closes the bracket its caller opened.
func (p *Packet) appendDTLSKey(b []byte) []byte {
	if x := p.DTLSDec; x.Key != "" {
		b = append(b, ", "...)
		b = append(b, x.Key...)
		if x.Identity != "" {
			b = append(b, " identity "...)
			b = append(b, x.Identity...)
		}
	}
	return append(b, ']')
}

// appendCodeText writes a method by name ("GET") and a response code with
// its name ("2.05 Content").
func appendCodeText(b []byte, c decode.Code) []byte {
	n := c.Name()
	switch {
	case n == "":
		return append(b, c.String()...)
	case c.Class() == 0:
		return append(b, n...)
	}
	b = append(b, c.String()...)
	b = append(b, ' ')
	return append(b, n...)
}
