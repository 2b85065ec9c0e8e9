package main

import (
	"bufio"
	"errors"
	"io"
	"net"
	"net/netip"

	"github.com/coapaudit/coapaudit/decode"
)

// With -origin-tcp the relay speaks CoAP over TCP (RFC 8323) to the
// origin: one connection per client, opened with a CSM, each request
// sent on without its Message ID and type, each response turned back
// into a datagram for the client (a piggybacked ACK to a CON request
// not yet acknowledged, else a CON of the relay's own Message ID). The
// client's empty ACKs and RSTs, and the origin's signaling messages, stay
// on their side. Acts apply to the datagram forms, as over UDP.

// tcpUp is a client's connection to the origin.
type tcpUp struct {
	c    *net.TCPConn
	reqs map[string]*upReq // by token
}

// upReq is what the relay needs to turn the origin's responses to a
// request back into datagrams.
type upReq struct {
	mid   uint16
	con   bool
	acked bool // the client's CON was answered with an ACK
}

// dialOrigin opens p's connection to the origin and reads from it until
// it closes. Called with r.mu held.
func (r *relay) dialOrigin(p *peer) error {
	c, err := net.DialTCP("tcp", net.TCPAddrFromAddrPort(netip.AddrPortFrom(r.upIP, 0)), net.TCPAddrFromAddrPort(r.origin))
	if err != nil {
		return err
	}
	csm := decode.Message{Framing: decode.FramingTCP, Code: decode.CodeCSM}
	if _, err := c.Write(csm.AppendTCP(nil)); err != nil {
		c.Close()
		return err
	}
	p.tcp = &tcpUp{c: c, reqs: map[string]*upReq{}}
	r.wg.Add(1)
	go func() {
		defer r.wg.Done()
		rd := bufio.NewReader(c)
		buf := make([]byte, 0, 1<<16)
		for {
			b, err := readTCPMessage(rd, buf[:0])
			if err != nil {
				if !errors.Is(err, io.EOF) && !errors.Is(err, net.ErrClosed) {
					r.logf("origin connection of %v: %v", p.addr, err)
				}
				return
			}
			if d := r.datagramOf(p, b); d != nil {
				r.fromOrigin(p, d)
			}
		}
	}()
	return nil
}

// readTCPMessage reads one RFC 8323 message into buf.
func readTCPMessage(rd *bufio.Reader, buf []byte) ([]byte, error) {
	for {
		hdr, _ := rd.Peek(rd.Buffered())
		if n, err := decode.TCPHeader(hdr); err == nil && n <= len(hdr) {
			buf = append(buf, hdr[:n]...)
			_, err := rd.Discard(n)
			return buf, err
		} else if err != nil && err != decode.ErrNeedMore {
			return nil, err
		}
		if _, err := rd.Peek(rd.Buffered() + 1); err != nil {
			return nil, err
		}
	}
}

// datagramOf turns a message from the origin into the datagram the
// client gets (nil for signaling and what does not decode).
func (r *relay) datagramOf(p *peer, b []byte) []byte {
	var m decode.Message
	if _, err := m.DecodeTCP(b); err != nil || m.Code.IsSignaling() || m.Code == decode.CodeEmpty {
		return nil
	}
	r.mu.Lock()
	q := p.tcp.reqs[string(m.Token)]
	m.Framing, m.Version = decode.FramingUDP, 1
	switch {
	case q != nil && q.con && !q.acked:
		q.acked = true
		m.Type, m.MessageID = decode.Acknowledgement, q.mid
	case q != nil && !q.con:
		r.nextMID++
		m.Type, m.MessageID = decode.NonConfirmable, r.nextMID
	default:
		r.nextMID++
		m.Type, m.MessageID = decode.Confirmable, r.nextMID
	}
	r.mu.Unlock()
	return m.Append(nil)
}

// toOriginTCP sends the datagram b from p's client on p's connection.
// Called with r.mu held.
func (r *relay) toOriginTCP(p *peer, b []byte) {
	var m decode.Message
	if err := m.Decode(b); err != nil || m.Code == decode.CodeEmpty {
		return
	}
	if m.Code.IsRequest() {
		tok := string(m.Token)
		if q := p.tcp.reqs[tok]; q == nil || q.mid != m.MessageID {
			p.tcp.reqs[tok] = &upReq{mid: m.MessageID, con: m.Type == decode.Confirmable}
		}
	}
	m.Framing = decode.FramingTCP
	if _, err := p.tcp.c.Write(m.AppendTCP(nil)); err != nil {
		r.logf("to origin over TCP: %v", err)
	}
}
