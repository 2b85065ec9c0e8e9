package rules

import (
	"net/netip"
	"slices"
	"strconv"

	"github.com/coapaudit/coapaudit/decode"
)

// The RFC 8323 signaling rules keep what they need of each connection on
// a reliable transport in a conns table of their own: the endpoint pair,
// and per side what its CSM (7.01) said.

// defaultMaxMessageSize is the Max-Message-Size a peer is assumed to
// accept before and without its CSM saying otherwise (RFC 8323 section
// 5.3.1).
const defaultMaxMessageSize = 1152

// connSide is what one end of a connection announced.
type connSide struct {
	csm      int    // frame of its first CSM (0: none seen)
	maxSize  uint32 // its Max-Message-Size (valid with csm)
	bwt      bool   // its CSM carried Block-Wise-Transfer
	maxSet   bool   // its CSM carried Max-Message-Size
	messages int    // messages it sent
	// fromStart: its first message seen was its first on the connection
	// (Packet.ConnFirst); lastNs and lastFrame are its latest message.
	fromStart bool
	lastNs    int64
	lastFrame int
}

// conn is one connection, its ends ordered as first seen (a sent first).
type conn struct {
	a, b netip.AddrPort
	side [2]connSide
	// pings are the Pings not answered yet, sent by side pingFrom[i]
	// with token pingTok[i] at frame pings[i] (a few at most).
	pings []pendingPing
}

type pendingPing struct {
	from  int // side
	token string
	frame int
	ns    int64
}

type connKey struct{ lo, hi netip.AddrPort }

func keyOf(x, y netip.AddrPort) connKey {
	if x.Compare(y) > 0 {
		x, y = y, x
	}
	return connKey{x, y}
}

// conns is a bounded table of connections; when full the least recently
// added connection is forgotten and counted as dropped state.
type conns struct {
	m     map[connKey]*conn
	order keyQueue[connKey]
	max   int
}

func newConns(max int) *conns {
	if max <= 0 {
		max = 1 << 16
	}
	return &conns{m: map[connKey]*conn{}, max: max}
}

// signal returns p's connection and the side that sent p, or nil when p
// is no well-formed message on a reliable transport. A message its sender
// sends first on the connection starts the connection's state afresh.
func (cs *conns) signal(pass *Pass, p *Packet) (*conn, int) {
	if p.CoAP == nil || p.Err != nil || p.Transport == nil || !p.Transport.Reliable {
		return nil, 0
	}
	k := keyOf(p.Src, p.Dst)
	c := cs.m[k]
	if c != nil && p.ConnFirst && c.side[c.sideOf(p.Src)].messages > 0 {
		// A new connection between the same endpoints.
		*c = conn{a: c.a, b: c.b}
	}
	if c == nil {
		if old, full := cs.order.push(k, cs.max); full {
			delete(cs.m, old)
			pass.Drop(1)
		}
		c = &conn{a: p.Src, b: p.Dst}
		cs.m[k] = c
	}
	s := c.sideOf(p.Src)
	if c.side[s].messages == 0 {
		c.side[s].fromStart = p.ConnFirst
	}
	c.side[s].messages++
	c.side[s].lastNs, c.side[s].lastFrame = p.Time.UnixNano(), p.Frame
	if p.CoAP.Code == decode.CodeCSM && c.side[s].csm == 0 {
		sd := &c.side[s]
		sd.csm = p.Frame
		sd.maxSize = defaultMaxMessageSize
		for _, o := range p.CoAP.Options {
			switch o.ID {
			case decode.OptMaxMessageSize:
				sd.maxSize, sd.maxSet = decode.DecodeUint(o.Value), true
			case decode.OptBlockWiseTransfer:
				sd.bwt = true
			}
		}
	}
	return c, s
}

// onConn runs f on every well-formed message of a reliable transport,
// with its connection and the side that sent it, and returns the table.
func onConn(p *Pass, f func(pk *Packet, c *conn, side int)) *conns {
	cs := newConns(p.Config.MaxState)
	p.OnPacket(func(pk *Packet) {
		if c, s := cs.signal(p, pk); c != nil {
			f(pk, c, s)
		}
	})
	return cs
}

func (c *conn) sideOf(a netip.AddrPort) int {
	if a == c.a {
		return 0
	}
	return 1
}

// transportOf names the reliable transport of p for findings.
func transportOf(p *Packet) string {
	if n := transportName(p.Transport.Name); n != "" {
		return n
	}
	return p.Transport.Name
}

func frameNo(n int) string { return "frame " + strconv.Itoa(n) }

// evidence returns the frames that carried p, and more, ascending and
// distinct.
func evidence(p *Packet, more ...int) []int {
	out := append([]int(nil), p.Frames...)
	if len(out) == 0 {
		out = append(out, p.Frame)
	}
	for _, n := range more {
		if n > 0 {
			out = append(out, n)
		}
	}
	slices.Sort(out)
	return slices.Compact(out)
}
