package flows

import "github.com/coapaudit/coapaudit/decode"

// Reliable transports (RFC 8323: TCP, TLS, WebSockets) carry no Message
// IDs and no message types: the transport neither loses, duplicates nor
// reorders, so every message is new, requests and responses are matched
// by token on the connection, and Empty messages (code 0.00) are ignored
// (RFC 8323 section 3.4). Signaling messages (7.xx) belong to the
// connection, not to an exchange.

func (t *Tracker) reliable(p *Packet, v *view, now int64) {
	switch c := p.Msg.Code; {
	case c.IsRequest():
		t.touch(t.newRequest(p, v, now).x)
	case c.IsResponse():
		t.touch(t.newResponse(p, v, now).x)
	default:
		t.stats.Other++
	}
}

// canonical returns p with its message in UDP framing (Message ID 0, the
// type CON, which reliable transports do not use): the tracker keeps the
// bytes of messages to compare and decode again later, and keeps them in
// one framing whatever carried them, so that a proxy between transports
// is compared field by field. The message is t.canon, valid until the
// next call.
func (t *Tracker) canonical(p *Packet) *Packet {
	c := *p.Msg
	c.Framing, c.Version, c.Type, c.MessageID = decode.FramingUDP, 1, decode.Confirmable, 0
	t.canonBuf = c.Append(t.canonBuf[:0])
	t.canon.Decode(t.canonBuf) // what decoded once decodes again
	t.canonPkt = *p
	t.canonPkt.Msg = &t.canon
	return &t.canonPkt
}

// carrier is how the messages of a hop travelled.
type carrier struct {
	transport string // empty for UDP and DTLS
	security  string // empty in clear
	reliable  bool
}

// carry records on h how p travelled.
func (t *Tracker) carry(h *hop, p *Packet) {
	h.secure = p.Secure
	c := carrier{transport: p.Transport, reliable: p.Reliable}
	if p.Secure {
		c.security = p.Security
		if c.security == "" {
			c.security = "dtls"
		}
	}
	if c == (carrier{}) {
		h.carrier = 0
		return
	}
	if len(t.carriers) == 0 {
		t.carriers = append(t.carriers, carrier{})
	}
	for i, o := range t.carriers {
		if o == c {
			h.carrier = uint8(i)
			return
		}
	}
	if len(t.carriers) < 256 {
		t.carriers = append(t.carriers, c)
		h.carrier = uint8(len(t.carriers) - 1)
	}
}

// carrierOf returns how h's messages travelled.
func (t *Tracker) carrierOf(h *hop) carrier {
	if int(h.carrier) < len(t.carriers) {
		return t.carriers[h.carrier]
	}
	return carrier{}
}

// scheme is the URI scheme of a request sent on c (RFC 7252, RFC 8323).
func (c carrier) scheme(secure bool) string {
	switch c.transport {
	case "tcp":
		return "coap+tcp"
	case "tls":
		return "coaps+tcp"
	case "ws":
		return "coap+ws"
	case "wss":
		return "coaps+ws"
	}
	if secure {
		return "coaps"
	}
	return "coap"
}
