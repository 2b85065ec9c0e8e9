package export

import (
	"net/netip"
	"strconv"

	"github.com/coapaudit/coapaudit/analysis"

	"github.com/coapaudit/coapaudit/capture"
	"github.com/coapaudit/coapaudit/decode"
	"github.com/coapaudit/coapaudit/dissect"
	"github.com/coapaudit/coapaudit/oscore"
)

// Packet is the packet record of one frame: the engine's analysis.Packet
// with what output needs besides. Everything is borrowed for the
// duration of a Write.
type Packet struct {
	*analysis.Packet
	// Refs, with several capture files analysed together, name the
	// frames OSCORE refers to (first_frame, request_frame), which are
	// then references (FrameRefs); nil otherwise.
	Refs *capture.FrameRefs
	// Times, when set, speeds up timestamp formatting; it is owned by the
	// goroutine that writes the packet.
	Times *TimeCache
}

// Addrs returns the source and destination as ip:port for UDP, as the bare
// address for other IP frames, and empty when the frame is not IP.
func (p *Packet) Addrs() (src, dst string) {
	d := p.D
	if !d.Src.IsValid() {
		return "", ""
	}
	if d.Kind == capture.KindUDP || d.Kind == capture.KindTCP {
		return d.Src.String(), d.Dst.String()
	}
	return d.Src.Addr().String(), d.Dst.Addr().String()
}

func (p *Packet) appendAddr(dst []byte, a netip.AddrPort) []byte {
	dst = append(dst, '"')
	if p.D.Kind == capture.KindUDP || p.D.Kind == capture.KindTCP {
		dst = a.AppendTo(dst)
	} else {
		dst = a.Addr().AppendTo(dst)
	}
	return append(dst, '"')
}

// AppendJSON appends the packet record as one JSON object (no newline).
func (p *Packet) AppendJSON(dst []byte) []byte {
	d, f := p.D, p.F
	dst = append(dst, `{"type":"packet"`...)
	if p.File != "" {
		dst = appendStr(dst, "file", p.File)
	}
	dst = appendInt(dst, "frame", int64(d.Number))
	dst = appendTimeC(appendKey(dst, "time"), p.Times, d.Time)
	if d.Src.IsValid() {
		dst = p.appendAddr(appendKey(dst, "src"), d.Src)
		dst = p.appendAddr(appendKey(dst, "dst"), d.Dst)
	}
	dst = appendStr(dst, "proto", p.ProtoName())
	dst = appendInt(dst, "frame_len", int64(d.OrigLen))
	switch d.Kind {
	case capture.KindUDP:
		dst = appendInt(dst, "udp_len", int64(len(d.Payload)))
	case capture.KindTCP:
		dst = appendInt(dst, "tcp_len", int64(len(d.Payload)))
	}
	if d.Kind != capture.KindUDP && d.Reason != "" {
		dst = appendStr(dst, "info", d.Reason)
	}
	if len(d.Fragments) > 0 {
		dst = appendKey(dst, "fragments")
		dst = append(dst, '[')
		for i, n := range d.Fragments {
			if i > 0 {
				dst = append(dst, ',')
			}
			dst = strconv.AppendInt(dst, int64(n), 10)
		}
		dst = append(dst, ']')
	}
	if d.Truncated {
		dst = appendBool(dst, "truncated", true)
	}
	if f.Heuristic {
		dst = appendBool(dst, "heuristic", true)
	}
	switch {
	case f.Proto.Clear():
		dst = p.appendCoAP(dst)
	case f.Proto == dissect.ProtoDTLS:
		dst = p.appendDTLS(dst)
		if p.Inner() {
			dst = p.appendCoAP(dst)
		}
	}
	if f.Err != nil {
		dst = appendStr(dst, "malformed", f.Err.Error())
		dst = appendInt(dst, "malformed_offset", int64(dissect.ErrorOffset(f.Err)))
	}
	return append(dst, '}')
}

func (p *Packet) appendCoAP(dst []byte) []byte {
	m := &p.F.CoAP
	if !hasCoAP(m) {
		return dst
	}
	dst = appendCoAPFields(dst, m)
	if p.ConnServer.IsValid() {
		dst = p.appendAddr(appendKey(dst, "conn_client"), p.ConnClient)
		dst = p.appendAddr(appendKey(dst, "conn_server"), p.ConnServer)
	}
	dst = p.appendMsgFrames(dst, 0)
	if n := p.F.NumCoAP; n > 1 {
		// The frame's other messages (several DTLS records, a layer's
		// framing): their CoAP fields, in order.
		dst = appendKey(dst, "more_coap")
		dst = append(dst, '[')
		for i := 1; i < n; i++ {
			if i > 1 {
				dst = append(dst, ',')
			}
			dst = append(dst, '{')
			dst = appendCoAPFields(dst, p.F.Clear(i))
			dst = p.appendMsgFrames(dst, i)
			dst = append(dst, '}')
		}
		dst = append(dst, ']')
	}
	return p.appendOSCORE(dst)
}

// hasCoAP reports whether m holds a decoded message: at least the 4-byte
// header over UDP, 2 bytes in RFC 8323 framing.
func hasCoAP(m *decode.Message) bool {
	return len(m.Raw) >= 4 || m.Framing != decode.FramingUDP && len(m.Raw) >= 2
}

// appendMsgFrames appends the frames that carried the frame's i-th
// message on a reliable transport, when there are several.
func (p *Packet) appendMsgFrames(dst []byte, i int) []byte {
	if i >= len(p.MsgFrames) || len(p.MsgFrames[i]) < 2 {
		return dst
	}
	dst = appendKey(dst, "frames")
	dst = append(dst, '[')
	for j, n := range p.MsgFrames[i] {
		if j > 0 {
			dst = append(dst, ',')
		}
		dst = strconv.AppendInt(dst, int64(n), 10)
	}
	return append(dst, ']')
}

// appendCoAPFields appends the CoAP fields of m, each with a leading comma.
// The type and Message ID exist only over UDP (RFC 8323 has neither).
func appendCoAPFields(dst []byte, m *decode.Message) []byte {
	udp := m.Framing == decode.FramingUDP
	if udp {
		dst = appendStr(dst, "msgtype", m.Type.String())
	}
	dst = appendKey(dst, "code")
	dst = appendCode(dst, m.Code)
	if name := m.Code.Name(); name != "" {
		dst = appendStr(dst, "code_name", name)
	}
	if udp {
		dst = appendInt(dst, "mid", int64(m.MessageID))
	}
	dst = appendHex(appendKey(dst, "token"), m.Token)
	dst = appendOptions(dst, m)
	dst = appendKey(dst, "uri_path")
	dst = appendURIPath(dst, m)
	dst = appendInt(dst, "payload_len", int64(len(m.Payload)))
	if len(m.Anomalies) > 0 {
		dst = appendAnomalies(dst, m.Anomalies)
	}
	return dst
}

// appendOSCORE appends what OSCORE found in the frame's (first) message.
func (p *Packet) appendOSCORE(dst []byte) []byte {
	if r := p.OSCORE; r != nil {
		dst = appendKey(dst, "oscore")
		dst = append(dst, '{')
		dst = appendHex(appendKey(dst, "piv"), r.Option.PIV)
		dst = appendHex(appendKey(dst, "kid"), r.Option.KID)
		dst = appendHex(appendKey(dst, "kid_context"), r.Option.KIDContext)
		if r.Tried {
			dst = appendBool(dst, "verified", r.Verified)
		}
		if r.Err != "" {
			dst = appendStr(dst, "error", r.Err)
		}
		if r.Replay != oscore.NotChecked {
			dst = appendStr(dst, "replay", r.Replay.String())
			if r.FirstFrame > 0 {
				dst = appendRefFrame(p.Refs, dst, `,"first_frame":`, `,"first_file":`, r.FirstFrame)
			}
		}
		if !r.IsRequest {
			if r.RequestFrame > 0 {
				dst = appendRefFrame(p.Refs, dst, `,"request_frame":`, `,"request_file":`, r.RequestFrame)
			}
			if r.Guessed {
				dst = appendBool(dst, "request_guessed", true)
			}
			if r.RequestReplay.IsReplay() {
				dst = appendStr(dst, "request_replay", r.RequestReplay.String())
			}
			if a := r.Answer.String(); a != "" {
				dst = appendStr(dst, "answer", a)
			}
			if r.NonceReuse {
				dst = appendBool(dst, "nonce_reuse", true)
			}
		}
		if e := r.EchoStatus.String(); e != "" {
			dst = appendStr(dst, "echo", e)
		}
		dst = append(dst, '}')
		if r.Verified {
			in := &r.Inner
			dst = appendKey(dst, "inner")
			dst = append(dst, '{')
			dst = appendKey(dst, "code")
			dst = appendCode(dst, in.Code)
			if name := in.Code.Name(); name != "" {
				dst = appendStr(dst, "code_name", name)
			}
			dst = appendOptions(dst, in)
			dst = appendKey(dst, "uri_path")
			dst = appendURIPath(dst, in)
			dst = appendInt(dst, "payload_len", int64(len(in.Payload)))
			dst = append(dst, '}')
		}
	}
	return dst
}

func appendCode(dst []byte, c decode.Code) []byte {
	return append(dst, '"', '0'+c.Class(), '.', '0'+c.Detail()/10, '0'+c.Detail()%10, '"')
}

func appendURIPath(dst []byte, m *decode.Message) []byte {
	dst = append(dst, '"')
	start := len(dst)
	dst = m.URIPath(dst)
	// Escape in place only when needed: path segments are usually plain.
	for i := start; i < len(dst); i++ {
		if c := dst[i]; c < 0x20 || c == '"' || c == '\\' || c >= 0x80 {
			seg := string(dst[start:])
			dst = appendString(dst[:start-1], seg)
			return dst
		}
	}
	return append(dst, '"')
}

func appendOptions(dst []byte, m *decode.Message) []byte {
	dst = appendKey(dst, "options")
	dst = append(dst, '[')
	for i := range m.Options {
		o := &m.Options[i]
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = append(dst, `{"number":`...)
		dst = strconv.AppendUint(dst, uint64(o.ID), 10)
		dst = append(dst, `,"name":`...)
		dst = appendOptionName(dst, o.ID)
		dst = append(dst, `,"value":"`...)
		start := len(dst)
		dst = decode.AppendOptionValue(dst, o.ID, o.Value)
		if needsEscape(dst[start:]) {
			v := string(dst[start:])
			dst = appendString(dst[:start-1], v)
		} else {
			dst = append(dst, '"')
		}
		dst = append(dst, '}')
	}
	return append(dst, ']')
}

func appendOptionName(dst []byte, id decode.OptionID) []byte {
	return appendString(dst, id.String())
}

func needsEscape(b []byte) bool {
	for _, c := range b {
		if c < 0x20 || c == '"' || c == '\\' || c >= 0x80 {
			return true
		}
	}
	return false
}

func appendAnomalies(dst []byte, as []decode.Anomaly) []byte {
	dst = appendKey(dst, "anomalies")
	dst = append(dst, '[')
	for i := range as {
		a := &as[i]
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = append(dst, `{"kind":`...)
		dst = appendString(dst, a.Kind.String())
		dst = append(dst, `,"offset":`...)
		dst = strconv.AppendInt(dst, int64(a.Off), 10)
		if a.Option != 0 {
			dst = append(dst, `,"option":`...)
			dst = appendString(dst, a.Option.String())
		}
		dst = append(dst, '}')
	}
	return append(dst, ']')
}

func (p *Packet) appendDTLS(dst []byte) []byte {
	t := &p.F.DTLS
	dst = appendKey(dst, "dtls")
	dst = append(dst, '{')
	dst = appendKey(dst, "records")
	dst = append(dst, '[')
	for i := range t.Records {
		r := &t.Records[i]
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = append(dst, '{')
		if r.Unified {
			dst = appendBool(dst, "unified", true)
		} else {
			dst = appendStr(dst, "content_type", r.ContentType.String())
			dst = appendStr(dst, "version", dtlsVersion(r.Version))
		}
		dst = appendInt(dst, "epoch", int64(r.Epoch))
		if !r.ConnIDUnknown {
			dst = appendInt(dst, "seq", int64(r.Seq))
			dst = appendInt(dst, "length", int64(r.Length))
		}
		if r.ConnID != nil {
			dst = appendHex(appendKey(dst, "cid"), r.ConnID)
		}
		if level, desc, ok := r.Alert(); ok {
			dst = appendInt(dst, "alert_level", int64(level))
			dst = appendStr(dst, "alert", desc.String())
		}
		dst = append(dst, '}')
	}
	dst = append(dst, ']')
	if len(t.Handshakes) > 0 {
		dst = appendKey(dst, "handshake")
		dst = append(dst, '[')
		for i := range t.Handshakes {
			if i > 0 {
				dst = append(dst, ',')
			}
			dst = appendString(dst, t.Handshakes[i].Type.String())
		}
		dst = append(dst, ']')
	}
	if t.HasClientHello && t.ClientHello.ServerName != nil {
		dst = appendStr(dst, "server_name", t.ClientHello.ServerName)
	}
	if t.HasCipherSuite {
		dst = appendStr(dst, "cipher_suite", t.CipherSuite.String())
	}
	if p.PSKIdentity != nil {
		dst = appendStr(dst, "psk_identity", p.PSKIdentity)
	}
	if x := p.DTLSDec; x != nil {
		dst = appendBool(dst, "decrypted", x.Decrypted > 0)
		if x.Failed > 0 {
			dst = appendInt(dst, "records_failed", int64(x.Failed))
		}
		if x.Key != "" {
			dst = appendStr(dst, "key", x.Key)
		}
		if x.Identity != "" {
			dst = appendStr(dst, "key_identity", x.Identity)
		}
		if x.CoAP > 1 {
			dst = appendInt(dst, "coap_messages", int64(x.CoAP))
		}
	}
	return append(dst, '}')
}

func dtlsVersion(v uint16) string {
	switch v {
	case 0xfeff:
		return "1.0"
	case 0xfefd:
		return "1.2"
	case 0xfefc:
		return "1.3"
	}
	return "0x" + strconv.FormatUint(uint64(v), 16)
}

// dtlsCSV returns the CSV cells for the DTLS records, handshake messages
// and cipher suite.
func (p *Packet) dtlsCSV() (records, handshake, suite string) {
	t := &p.F.DTLS
	var b []byte
	for i := range t.Records {
		r := &t.Records[i]
		if i > 0 {
			b = append(b, ';')
		}
		if r.Unified {
			b = append(b, "unified"...)
		} else {
			b = append(b, r.ContentType.String()...)
		}
		b = append(b, ':')
		b = strconv.AppendUint(b, uint64(r.Epoch), 10)
		b = append(b, ':')
		b = strconv.AppendUint(b, r.Seq, 10)
	}
	records = string(b)
	b = b[:0]
	for i := range t.Handshakes {
		if i > 0 {
			b = append(b, ';')
		}
		b = append(b, t.Handshakes[i].Type.String()...)
	}
	handshake = string(b)
	if t.HasCipherSuite {
		suite = t.CipherSuite.String()
	}
	return records, handshake, suite
}
