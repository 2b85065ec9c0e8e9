package export

import (
	"encoding/hex"
	"strconv"
	"strings"

	"github.com/coapaudit/coapaudit/capture"
	"github.com/coapaudit/coapaudit/decode"
	"github.com/coapaudit/coapaudit/dissect"
	"github.com/coapaudit/coapaudit/oscore"
)

// Type implements Record.
func (p *Packet) Type() string { return "packet" }

var packetHeader = []string{
	"frame", "time", "src", "dst", "proto", "frame_len", "udp_len",
	"msgtype", "code", "code_name", "mid", "token", "options", "uri_path", "payload_len",
	"oscore_piv", "oscore_kid", "oscore_kid_context", "oscore_verified", "oscore_error", "oscore_replay",
	"inner_code", "inner_options", "inner_uri_path", "inner_payload_len",
	"dtls_records", "dtls_handshake", "dtls_cipher_suite", "psk_identity",
	"dtls_decrypted", "dtls_key", "dtls_key_identity",
	"malformed", "malformed_offset", "anomalies", "info", "heuristic", "truncated", "fragments", "file",
	"tcp_len", "conn_client", "conn_server", "frames",
}

// CSVHeader implements Record.
func (p *Packet) CSVHeader() []string { return packetHeader }

// CSVRow implements Record. Lists are joined with ';', options as
// number:name=value.
func (p *Packet) CSVRow(dst []string) []string {
	d, f := p.D, p.F
	src, dstAddr := p.Addrs()
	udpLen := ""
	if d.Kind == capture.KindUDP {
		udpLen = strconv.Itoa(len(d.Payload))
	}
	dst = append(dst, strconv.Itoa(d.Number), d.Time.UTC().Format(timeLayout), src, dstAddr,
		p.ProtoName(), strconv.Itoa(d.OrigLen), udpLen)
	var msgtype, code, codeName, mid, token, opts, uri, plen string
	if f.Proto.Clear() && hasCoAP(&f.CoAP) || p.Inner() {
		m := &f.CoAP
		code, codeName, token = m.Code.String(), m.Code.Name(), hex.EncodeToString(m.Token)
		if m.Framing == decode.FramingUDP { // RFC 8323 has no type and no Message ID
			msgtype, mid = m.Type.String(), strconv.Itoa(int(m.MessageID))
		}
		opts, uri, plen = csvOptions(m), string(m.URIPath(nil)), strconv.Itoa(len(m.Payload))
	}
	dst = append(dst, msgtype, code, codeName, mid, token, opts, uri, plen)
	var piv, kid, kidc, ver, oerr, replay, icode, iopts, iuri, iplen string
	if r := p.OSCORE; r != nil {
		piv, kid, kidc = hex.EncodeToString(r.Option.PIV), hex.EncodeToString(r.Option.KID), hex.EncodeToString(r.Option.KIDContext)
		if r.Tried {
			ver = strconv.FormatBool(r.Verified)
		}
		oerr = r.Err
		if r.Replay != oscore.NotChecked {
			replay = r.Replay.String()
		}
		if r.Verified {
			icode, iopts = r.Inner.Code.String(), csvOptions(&r.Inner)
			iuri, iplen = string(r.Inner.URIPath(nil)), strconv.Itoa(len(r.Inner.Payload))
		}
	}
	dst = append(dst, piv, kid, kidc, ver, oerr, replay, icode, iopts, iuri, iplen)
	var recs, hs, suite, psk string
	if f.Proto == dissect.ProtoDTLS {
		recs, hs, suite = p.dtlsCSV()
		psk = string(p.PSKIdentity)
	}
	dst = append(dst, recs, hs, suite, psk)
	var dec, key, keyID string
	if x := p.DTLSDec; x != nil && f.Proto == dissect.ProtoDTLS {
		dec, key, keyID = strconv.FormatBool(x.Decrypted > 0), x.Key, x.Identity
	}
	dst = append(dst, dec, key, keyID)
	var mal, moff, anom string
	if f.Err != nil {
		mal, moff = f.Err.Error(), strconv.Itoa(dissect.ErrorOffset(f.Err))
	}
	if f.Proto.Clear() || p.Inner() {
		anom = csvAnomalies(f.CoAP.Anomalies)
	}
	info := ""
	if d.Kind != capture.KindUDP {
		info = d.Reason
	}
	var frags []string
	for _, n := range d.Fragments {
		frags = append(frags, strconv.Itoa(n))
	}
	tcpLen := ""
	if d.Kind == capture.KindTCP {
		tcpLen = strconv.Itoa(len(d.Payload))
	}
	var client, server, frames string
	if p.ConnServer.IsValid() {
		client, server = p.ConnClient.String(), p.ConnServer.String()
	}
	if len(p.MsgFrames) > 0 && len(p.MsgFrames[0]) > 1 {
		frames = joinInts(p.MsgFrames[0], ";")
	}
	return append(dst, mal, moff, anom, info, boolCell(f.Heuristic), boolCell(d.Truncated), strings.Join(frags, ";"), p.File,
		tcpLen, client, server, frames)
}

const timeLayout = "2006-01-02T15:04:05.000000000Z07:00"

func boolCell(b bool) string {
	if b {
		return "true"
	}
	return ""
}

func csvOptions(m *decode.Message) string {
	var b []byte
	for i, o := range m.Options {
		if i > 0 {
			b = append(b, ';')
		}
		b = strconv.AppendUint(b, uint64(o.ID), 10)
		b = append(b, ':')
		b = append(b, o.ID.String()...)
		b = append(b, '=')
		b = decode.AppendOptionValue(b, o.ID, o.Value)
	}
	return string(b)
}

func csvAnomalies(as []decode.Anomaly) string {
	var parts []string
	for _, a := range as {
		parts = append(parts, a.Kind.String()+"@"+strconv.Itoa(a.Off))
	}
	return strings.Join(parts, ";")
}
