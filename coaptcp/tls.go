package coaptcp

import "bytes"

// tlsInput feeds TCP bytes of a TLS connection to its decrypter, and the
// plaintext it gives to the direction's plaintext half.
func (h *half) tlsInput(data []byte, pos int64) {
	s := h.s
	a := s.a
	if s.tls == nil && a.cfg.TLS != nil {
		s.tls = a.cfg.TLS(s.client, s.server)
		if !s.tentative {
			s.confirmTLS()
		}
	}
	if s.tls == nil {
		a.stats.TLSBytes += int64(len(data))
		h.tlsMark = pos + int64(len(data))
		return
	}
	if h.inner == nil {
		h.inner = &half{s: s, fromClient: h.fromClient, outer: h, started: true}
		h.plainFn = h.plaintext
		h.tlsBase = pos
	}
	h.feedEnd = pos + int64(len(data))
	h.emitted = false
	s.tls.Feed(h.fromClient, data, h.plainFn)
	if h.emitted {
		h.tlsMark = h.feedEnd
	}
}

// plaintext takes the decrypted application data of a record of h's
// direction.
func (h *half) plaintext(r TLSRecord) {
	p := r.Plaintext
	if len(p) == 0 {
		return
	}
	s := h.s
	in := h.inner
	h.emitted = true
	pos := in.next
	in.next += int64(len(p))
	rec := plainRec{start: pos, end: in.next, outStart: h.tlsMark, outEnd: h.feedEnd}
	if r.Len > 0 {
		// The record's place among the bytes fed, which follow the TCP
		// positions from the first one fed, lost bytes included.
		rec.outStart = h.tlsBase + h.tlsLost + r.Off
		rec.outEnd = rec.outStart + int64(r.Len)
	}
	in.plain = append(in.plain, rec)
	if s.kind != kindTLS {
		return // found not to carry CoAP
	}
	if !s.innerKnown {
		// The first plaintext tells: an HTTP request from the client is a
		// WebSocket handshake (coaps+ws), anything else RFC 8323 framing.
		s.innerKnown = true
		s.innerWS = h.fromClient && bytes.HasPrefix(p, []byte("GET "))
		if s.tentative {
			// Found by its ClientHello alone: CoAP only if it begins as
			// CoAP does.
			end := bytes.Index(p, []byte("\r\n\r\n"))
			if s.innerWS && (end < 0 || !upgradeRequest(p[:end+4])) || !s.innerWS && s.a.firstCSM(p) != yes {
				s.setKind(kindNone)
				return
			}
			s.tentative = false
			s.confirmTLS()
		}
		s.a.count(s)
	}
	if in.dead {
		return
	}
	in.push(p, pos)
}

// confirmTLS tells the decrypter, if it asks, that its connection carries
// CoAP.
func (s *stream) confirmTLS() {
	if c, ok := s.tls.(coapConfirmer); ok {
		c.carriesCoAP()
	}
}
