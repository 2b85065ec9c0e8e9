package coaptcp

import (
	"github.com/coapaudit/coapaudit/decode"
)

// maxResyncMessage bounds the length of a message that may end a resync:
// after lost bytes, a candidate boundary announcing more than this is
// taken for a false one rather than waited for.
const maxResyncMessage = 1 << 16

// frameTCP frames RFC 8323 section 3 messages from b (at position pos) and
// returns the number of bytes consumed; an incomplete message at the end
// is left for the caller to keep.
func (h *half) frameTCP(b []byte, pos int64) int {
	a := h.s.a
	off := 0
	for off < len(b) {
		var ok bool
		if off, ok = h.pass(b, off, pos, a.plausibleTCP); !ok {
			return off
		}
		n, err := decode.TCPHeader(b[off:])
		switch {
		case err == decode.ErrNeedMore:
			return off
		case err != nil:
			// TKL 15 or an absurd length: the framing is lost.
			h.resync = true
			continue
		case n > len(b)-off:
			if n > a.cfg.MaxStreamBuffer {
				a.stats.Oversized++
				h.skip = int64(n)
				continue
			}
			return off
		}
		a.deliver(h, b[off:off+n], pos+int64(off), pos+int64(off+n), decode.FramingTCP, nil)
		off += n
	}
	return off
}

// pass moves off over what is not to be framed: the rest of an oversized
// message, and after lost bytes whatever comes before a place plausible
// says is a message boundary. It returns the new offset and false when
// nothing is left to frame for now.
func (h *half) pass(b []byte, off int, pos int64, plausible func([]byte, bool) verdict) (int, bool) {
	if h.skip > 0 {
		k := int(min(h.skip, int64(len(b)-off)))
		off += k
		h.skip -= int64(k)
	}
	if off == len(b) {
		return off, false
	}
	if h.resync {
		a := h.s.a
		i, ok := h.findBoundary(b[off:], pos+int64(off), plausible)
		a.stats.SkippedBytes += int64(i)
		off += i
		if !ok {
			return off, false
		}
		h.resync = false
		a.stats.Resyncs++
	}
	return off, true
}

// verdict is what a candidate message boundary looks like.
type verdict uint8

const (
	no verdict = iota
	yes
	wait // too few bytes to tell
)

// findBoundary returns the offset of a place in b (at position pos of
// the direction) that plausible says is a message boundary, and true; or
// the number of bytes that can be dropped for sure and false, when it
// needs more bytes to tell. Stacks write messages whole, so a segment
// usually begins with one: the places where captured segments begin are
// tried first, then every byte.
func (h *half) findBoundary(b []byte, pos int64, plausible func([]byte, bool) verdict) (int, bool) {
	end := pos + int64(len(b))
	for _, r := range h.segs {
		if r.start < pos || r.start >= end {
			continue
		}
		i := int(r.start - pos)
		switch plausible(b[i:], true) {
		case yes:
			return i, true
		case wait:
			if r.end >= end {
				return i, false // the last segment: wait for the rest
			}
		}
	}
	for i := range b {
		switch plausible(b[i:], true) {
		case yes:
			return i, true
		case wait:
			return i, false
		}
	}
	return len(b), false
}

// followedBy finishes a plausibility check of a candidate n bytes long at
// the start of b: when follow is set and bytes remain after it, they
// must not start with something implausible.
func followedBy(b []byte, n int, follow bool, plausible func([]byte, bool) verdict) verdict {
	if !follow || n == len(b) || plausible(b[n:], false) != no {
		return yes
	}
	return no
}

// plausibleTCP says whether b starts with a message as a CoAP endpoint
// would send it: a known code, a token of at most 8 bytes, a length
// within bounds, options and payload that decode without anomalies, and
// (when follow is set and bytes remain) another plausible message after
// it.
func (a *Assembler) plausibleTCP(b []byte, follow bool) verdict {
	if len(b) == 0 {
		return wait
	}
	if b[0]&0x0f > 8 {
		return no
	}
	n, err := decode.TCPHeader(b)
	if err == decode.ErrNeedMore {
		return wait
	}
	if err != nil || n > maxResyncMessage || n > a.cfg.MaxStreamBuffer {
		return no
	}
	if c, ok := decode.TCPCode(b); !ok || !plausibleCode(c) {
		return no
	}
	if n > len(b) {
		return wait
	}
	if _, err := a.probe.DecodeTCP(b[:n]); err != nil || len(a.probe.Anomalies) > 0 {
		return no
	}
	return followedBy(b, n, follow, a.plausibleTCP)
}

// plausibleCode reports whether c is a code endpoints send: a method,
// Empty, a registered response code or a signaling code.
func plausibleCode(c decode.Code) bool {
	switch c.Class() {
	case 0:
		return c.Detail() <= 7
	case 2, 4, 5:
		return c.Name() != ""
	case 7:
		return c >= decode.CodeCSM && c <= decode.CodeAbort
	}
	return false
}
