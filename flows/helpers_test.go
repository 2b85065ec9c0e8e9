package flows

import (
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/coapaudit/coapaudit/decode"
)

// cm builds a CoAP message for tests (RFC 7252 section 3).
type cm struct {
	typ     decode.Type
	code    decode.Code
	mid     uint16
	tok     []byte
	opts    []testOpt
	payload []byte
}

type testOpt struct {
	id decode.OptionID
	v  []byte
}

func con(code decode.Code, mid uint16, tok string) *cm {
	return &cm{typ: decode.Confirmable, code: code, mid: mid, tok: []byte(tok)}
}

func non(code decode.Code, mid uint16, tok string) *cm {
	return &cm{typ: decode.NonConfirmable, code: code, mid: mid, tok: []byte(tok)}
}

func ack(code decode.Code, mid uint16, tok string) *cm {
	return &cm{typ: decode.Acknowledgement, code: code, mid: mid, tok: []byte(tok)}
}

func emptyACK(mid uint16) *cm { return &cm{typ: decode.Acknowledgement, mid: mid} }
func rst(mid uint16) *cm      { return &cm{typ: decode.Reset, mid: mid} }

func (c *cm) opt(id decode.OptionID, v []byte) *cm {
	c.opts = append(c.opts, testOpt{id, v})
	return c
}

func (c *cm) uint(id decode.OptionID, n uint32) *cm {
	var b []byte
	for n > 0 {
		b = append([]byte{byte(n)}, b...)
		n >>= 8
	}
	return c.opt(id, b)
}

func (c *cm) str(id decode.OptionID, s string) *cm { return c.opt(id, []byte(s)) }

func (c *cm) path(p string) *cm {
	for _, s := range strings.Split(strings.Trim(p, "/"), "/") {
		c.str(decode.OptURIPath, s)
	}
	return c
}

func (c *cm) observe(n uint32) *cm { return c.uint(decode.OptObserve, n) }

func (c *cm) block2(num uint32, more bool, szx uint8) *cm {
	return c.uint(decode.OptBlock2, blockValue(num, more, szx))
}

func (c *cm) block1(num uint32, more bool, szx uint8) *cm {
	return c.uint(decode.OptBlock1, blockValue(num, more, szx))
}

func blockValue(num uint32, more bool, szx uint8) uint32 {
	v := num<<4 | uint32(szx)
	if more {
		v |= 8
	}
	return v
}

func (c *cm) body(b string) *cm { c.payload = []byte(b); return c }

// bytes encodes the message, options sorted by number.
func (c *cm) bytes() []byte {
	m := decode.Message{Type: c.typ, Code: c.code, MessageID: c.mid, Token: c.tok, Payload: c.payload}
	for _, o := range c.opts {
		m.Options = append(m.Options, decode.Option{ID: o.id, Value: o.v})
	}
	return m.Append(nil)
}

// sim feeds messages to a Tracker one frame at a time, the way
// cmd/coapaudit does: one reused Message, a buffer that is scribbled over
// after Add.
type sim struct {
	t     testing.TB
	tr    *Tracker
	now   time.Time
	frame int
	file  int
	out   []*Exchange
	m     decode.Message
	buf   []byte
	// transport, when set, names a reliable transport the next messages
	// travel on ("tcp"); empty for UDP.
	transport string
}

var epoch = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)

func newSim(t testing.TB, cfg Config) *sim {
	s := &sim{t: t, now: epoch}
	s.tr = NewTracker(cfg, func(x *Exchange) { s.out = append(s.out, x) })
	return s
}

// after advances capture time.
func (s *sim) after(d time.Duration) *sim {
	s.now = s.now.Add(d)
	return s
}

// send feeds one message from src to dst and returns its frame number.
func (s *sim) send(src, dst string, c *cm) int {
	return s.sendOSCORE(src, dst, c, nil)
}

func (s *sim) sendOSCORE(src, dst string, c *cm, o *OSCOREInfo) int {
	s.t.Helper()
	s.frame++
	s.buf = append(s.buf[:0], c.bytes()...)
	if err := s.m.Decode(s.buf); err != nil {
		s.t.Fatalf("frame %d: decode: %v", s.frame, err)
	}
	s.tr.Add(&Packet{
		Frame: s.frame, File: s.file, Time: s.now,
		Src: netip.MustParseAddrPort(src), Dst: netip.MustParseAddrPort(dst),
		Msg: &s.m, Size: len(s.buf), OSCORE: o,
		Transport: s.transport, Reliable: s.transport != "",
	})
	clear(s.buf)
	return s.frame
}

// close emits everything and returns the exchanges in ID order.
func (s *sim) close() []*Exchange {
	s.tr.Close()
	xs := slices.Clone(s.out)
	slices.SortFunc(xs, func(a, b *Exchange) int { return idNum(a.ID) - idNum(b.ID) })
	return xs
}

func idNum(id string) int {
	n := 0
	for _, c := range id[1:] {
		n = n*10 + int(c-'0')
	}
	return n
}

func ap(s string) netip.AddrPort { return netip.MustParseAddrPort(s) }
