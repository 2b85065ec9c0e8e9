package coaptcp

import (
	"bytes"
	"encoding/binary"

	"github.com/coapaudit/coapaudit/decode"
)

// wsState is one direction of a WebSocket connection (RFC 6455).
type wsState struct {
	upgraded bool // the HTTP header of this direction is behind
	closed   bool // a Close frame was sent this way
	// frag holds the unmasked payload of a fragmented message so far;
	// fragStart is the position of its first frame, fragText whether it
	// began as a text frame.
	frag      []byte
	fragLen   int
	fragStart int64
	fragText  bool
}

// dropFrag drops the fragmented message being gathered, if any.
func (h *half) dropFrag() {
	h.s.a.total -= h.ws.fragLen
	h.ws.frag = h.ws.frag[:0]
	h.ws.fragLen = 0
}

// frameWS takes the HTTP header of the direction, then WebSocket frames,
// and delivers each whole binary message as a CoAP message in the
// WebSocket framing. It returns the number of bytes consumed.
func (h *half) frameWS(b []byte, pos int64) int {
	a := h.s.a
	off := 0
	if !h.ws.upgraded {
		end := bytes.Index(b, []byte("\r\n\r\n"))
		if end < 0 {
			if len(b) > maxHeader {
				h.dead = true
				return len(b)
			}
			return 0
		}
		hdr := b[:end+4]
		if !h.fromClient && !bytes.HasPrefix(hdr, []byte("HTTP/1.1 101")) {
			// No upgrade: what follows is HTTP, not CoAP.
			h.dead = true
			return len(b)
		}
		h.ws.upgraded = true
		off = end + 4
	}
	for off < len(b) && !h.dead {
		var ok bool
		if off, ok = h.pass(b, off, pos, h.plausibleWS); !ok {
			return off
		}
		f, ok := parseWSHeader(b[off:])
		if !ok {
			return off
		}
		if f.bad() {
			h.resync = true
			continue
		}
		if f.length > int64(a.cfg.MaxStreamBuffer) {
			a.stats.Oversized++
			h.dropFrag()
			h.skip = int64(f.hdr) + f.length
			continue
		}
		total := f.hdr + int(f.length)
		if total > len(b)-off {
			return off
		}
		payload := b[off+f.hdr : off+total]
		start := pos + int64(off)
		off += total
		if f.op >= 8 {
			a.stats.WSControl++
			if f.op == 8 {
				h.ws.closed = true
			}
			continue
		}
		if f.op == 0 && h.ws.fragLen == 0 || f.op != 0 && h.ws.fragLen > 0 {
			// A continuation with nothing to continue, or a new message
			// in the middle of one: the peer broke RFC 6455 section 5.4.
			h.dropFrag()
			if f.op == 0 {
				continue
			}
		}
		if f.fin && f.op != 0 {
			raw := payload
			if f.masked {
				a.work = unmask(append(a.work[:0], payload...), f.key)
				raw = a.work
			}
			h.wsMessage(raw, start, pos+int64(off), f.op == 1)
			continue
		}
		if f.op != 0 {
			h.ws.fragStart = start
			h.ws.fragText = f.op == 1
		}
		if h.ws.fragLen+len(payload) > a.cfg.MaxStreamBuffer || a.total+len(payload) > a.cfg.MaxTotalBuffer {
			a.stats.BufferDrops++
			a.stats.DroppedBytes += int64(h.ws.fragLen)
			h.dropFrag()
			continue
		}
		n := len(h.ws.frag)
		h.ws.frag = append(h.ws.frag, payload...)
		if f.masked {
			unmask(h.ws.frag[n:], f.key)
		}
		h.ws.fragLen = len(h.ws.frag)
		a.total += len(payload)
		if f.fin {
			h.wsMessage(h.ws.frag, h.ws.fragStart, pos+int64(off), h.ws.fragText)
			h.dropFrag()
		}
	}
	return off
}

// wsMessage delivers one whole WebSocket message.
func (h *half) wsMessage(raw []byte, start, end int64, text bool) {
	var err error
	if text {
		err = ErrTextFrame
		_ = h.s.a.msg.CoAP.DecodeWS(raw) // the text frame is the error reported
	}
	h.s.a.deliver(h, raw, start, end, decode.FramingWebSocket, err)
}

// wsHeader is a parsed WebSocket frame header.
type wsHeader struct {
	fin, masked bool
	rsv, op     byte
	length      int64
	hdr         int // header length, mask key included
	key         [4]byte
}

// parseWSHeader parses the frame header at the start of b; false when b
// is too short to hold it.
func parseWSHeader(b []byte) (f wsHeader, ok bool) {
	if len(b) < 2 {
		return f, false
	}
	f.fin = b[0]&0x80 != 0
	f.rsv = b[0] & 0x70
	f.op = b[0] & 0x0f
	f.masked = b[1]&0x80 != 0
	f.length = int64(b[1] & 0x7f)
	f.hdr = 2
	switch f.length {
	case 126:
		if len(b) < 4 {
			return f, false
		}
		f.length = int64(binary.BigEndian.Uint16(b[2:]))
		f.hdr = 4
	case 127:
		if len(b) < 10 {
			return f, false
		}
		v := binary.BigEndian.Uint64(b[2:])
		if v > 1<<62 {
			v = 1 << 62
		}
		f.length = int64(v)
		f.hdr = 10
	}
	if f.masked {
		if len(b) < f.hdr+4 {
			return f, false
		}
		copy(f.key[:], b[f.hdr:])
		f.hdr += 4
	}
	return f, true
}

// bad reports a header no RFC 6455 endpoint without extensions sends:
// reserved bits or opcodes, or a control frame that is fragmented or
// longer than 125 bytes.
func (f *wsHeader) bad() bool {
	switch {
	case f.rsv != 0:
		return true
	case f.op >= 3 && f.op <= 7 || f.op > 10:
		return true
	case f.op >= 8 && (!f.fin || f.length > 125):
		return true
	}
	return false
}

func unmask(b []byte, key [4]byte) []byte {
	for i := range b {
		b[i] ^= key[i&3]
	}
	return b
}

// plausibleWS says whether b starts with a frame as this direction sends
// them (masked from the client only, RFC 6455 section 5.1): a whole binary
// message holding a plausible CoAP message, or a control frame.
func (h *half) plausibleWS(b []byte, follow bool) verdict {
	f, ok := parseWSHeader(b)
	if !ok {
		return wait
	}
	if f.bad() || f.masked != h.fromClient || f.op == 0 || f.op == 1 || f.length > maxResyncMessage {
		return no
	}
	total := f.hdr + int(f.length)
	if total > len(b) {
		return wait
	}
	if f.op == 2 && f.fin {
		a := h.s.a
		raw := b[f.hdr:total]
		if f.masked {
			a.work = unmask(append(a.work[:0], raw...), f.key)
			raw = a.work
		}
		if a.probe.DecodeWS(raw) != nil || len(a.probe.Anomalies) > 0 || !plausibleCode(a.probe.Code) {
			return no
		}
	}
	return followedBy(b, total, follow, h.plausibleWS)
}

// upgradeRequest reports whether hdr, a whole HTTP request header, asks
// to upgrade to WebSockets with the coap subprotocol (RFC 8323 section
// 4.1, RFC 6455 section 4.1).
func upgradeRequest(hdr []byte) bool {
	if !bytes.HasPrefix(hdr, []byte("GET ")) {
		return false
	}
	upgrade, proto := false, false
	for _, line := range bytes.Split(hdr, []byte("\r\n"))[1:] {
		name, value, ok := bytes.Cut(line, []byte(":"))
		if !ok {
			continue
		}
		name = bytes.TrimSpace(name)
		switch {
		case bytes.EqualFold(name, []byte("Upgrade")):
			upgrade = bytes.EqualFold(bytes.TrimSpace(value), []byte("websocket"))
		case bytes.EqualFold(name, []byte("Sec-WebSocket-Protocol")):
			for _, p := range bytes.Split(value, []byte(",")) {
				if bytes.EqualFold(bytes.TrimSpace(p), []byte("coap")) {
					proto = true
				}
			}
		}
	}
	return upgrade && proto
}
