package coaptcp

import (
	"bytes"
	"encoding/binary"

	"github.com/coapaudit/coapaudit/decode"
)

// detect settles what a connection carries from the bytes its directions
// hold, or leaves it unknown until more come.
func (s *stream) detect() {
	if s.kind != kindUnknown && s.kind != kindPortTCP {
		return
	}
	a := s.a
	c, sv := s.half[0].buf, s.half[1].buf
	port := s.kind == kindPortTCP
	switch {
	case len(c) > 0 && c[0] == 22:
		switch {
		case port:
			s.setKind(kindTLS)
		case !a.cfg.Heuristics:
			s.setKind(kindNone)
		default:
			switch v, hello := clientHelloALPN(c, "coap"); {
			case v == yes:
				s.setKind(kindTLS)
			case v == no && hello && a.cfg.TLS != nil:
				// Any other TLS connection may carry CoAP (libcoap offers
				// no ALPN; coaps+ws offers http/1.1): its first plaintext
				// tells.
				s.tentative = true
				s.setKind(kindTLS)
			case v == no:
				s.setKind(kindNone)
			}
		}
	case len(c) > 0 && (bytes.HasPrefix(c, []byte("GET ")) || len(c) < 4 && bytes.HasPrefix([]byte("GET "), c)):
		end := bytes.Index(c, []byte("\r\n\r\n"))
		if end < 0 {
			return // the rest of the header is to come
		}
		if upgradeRequest(c[:end+4]) {
			s.setKind(kindWS)
		} else {
			s.setKind(kindNone)
		}
	case port && (len(c) > 0 || len(sv) > 0 && !bytes.HasPrefix(sv, []byte("HTTP/"))):
		s.setKind(kindTCP)
	case port:
		s.setKind(kindNone)
	case !a.cfg.Heuristics:
		s.setKind(kindNone)
	default:
		b := c
		if len(b) == 0 {
			b = sv
		}
		switch a.firstCSM(b) {
		case yes:
			s.setKind(kindTCP)
		case no:
			s.setKind(kindNone)
		}
	}
}

// firstCSM says whether b starts with a whole CSM that decodes without
// anomalies: how every coap+tcp connection begins (RFC 8323 section 5.3).
func (a *Assembler) firstCSM(b []byte) verdict {
	_, err := a.probe.DecodeTCP(b)
	switch {
	case err == decode.ErrNeedMore:
		if len(b) > 64 {
			return no
		}
		return wait
	case err != nil || a.probe.Code != decode.CodeCSM || len(a.probe.Anomalies) > 0:
		return no
	}
	return yes
}

// clientHelloALPN says whether b starts with a TLS record holding a
// ClientHello that offers the ALPN protocol proto (RFC 7301), and when
// it does not, whether b starts with a ClientHello at all.
func clientHelloALPN(b []byte, proto string) (verdict, bool) {
	v := helloALPN(b, proto)
	return v, v != wait && len(b) >= 9 && b[0] == 22 && b[1] == 3 && b[5] == 1
}

func helloALPN(b []byte, proto string) verdict {
	if len(b) < 9 {
		return wait
	}
	if b[0] != 22 || b[1] != 3 || b[5] != 1 {
		return no
	}
	rec := int(binary.BigEndian.Uint16(b[3:]))
	if len(b) < 5+rec {
		if rec > maxHeader {
			return no
		}
		return wait
	}
	p := b[9 : 5+rec]
	// version, random, session ID, cipher suites, compression methods
	skip := func(n int) bool {
		if len(p) < n {
			return false
		}
		p = p[n:]
		return true
	}
	vec := func(lenBytes int) bool {
		if len(p) < lenBytes {
			return false
		}
		n := int(p[0])
		if lenBytes == 2 {
			n = int(binary.BigEndian.Uint16(p))
		}
		return skip(lenBytes + n)
	}
	if !skip(34) || !vec(1) || !vec(2) || !vec(1) || len(p) < 2 {
		return no
	}
	ext := p[2:]
	for len(ext) >= 4 {
		typ, n := binary.BigEndian.Uint16(ext), int(binary.BigEndian.Uint16(ext[2:]))
		if len(ext) < 4+n {
			return no
		}
		if typ == 16 && n >= 2 { // application_layer_protocol_negotiation
			list := ext[6 : 4+n]
			for len(list) > 0 {
				l := int(list[0])
				if len(list) < 1+l {
					return no
				}
				if string(list[1:1+l]) == proto {
					return yes
				}
				list = list[1+l:]
			}
		}
		ext = ext[4+n:]
	}
	return no
}
