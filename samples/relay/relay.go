package main

import (
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"sync"
	"time"

	"github.com/plgd-dev/go-coap/v3/message"
	"github.com/plgd-dev/go-coap/v3/message/codes"
)

// replayAfter is how long after relaying the response the relay sends a
// replay-scheduled request to the origin a second time.
const replayAfter = 300 * time.Millisecond

// relay holds the sockets and the state of every client. One mutex guards
// the state; handlers are short and send while holding it, so acts and
// truth lines come out in the order the relay committed them.
type relay struct {
	down   *net.UDPConn // the socket the clients talk to
	origin netip.AddrPort
	upIP   netip.Addr // address of the outgoing sockets
	sched  map[int]step
	tcp    bool          // the origin speaks CoAP over TCP (tcp.go)
	truth  *json.Encoder // written with mu held
	log    io.Writer

	mu      sync.Mutex
	n       int // requests seen so far
	nextMID uint16
	peers   map[netip.AddrPort]*peer
	wg      sync.WaitGroup
}

// peer is one client and the relay's outgoing socket for it.
type peer struct {
	addr    netip.AddrPort
	up      *net.UDPConn
	byMID   map[uint16]*request
	byToken map[string]*request
	tcp     *tcpUp // the connection to an origin over TCP
}

// request is one distinct client request and what was done to it.
type request struct {
	n     int
	step  step
	mid   uint16
	token []byte
	raw   []byte // as received, for replay

	forged          []byte // forge: the made-up response, resent to retransmissions
	respIn, respOut []byte // alter: the response as received and as sent
	flooded         bool
	replayQueued    bool
	replayed        bool // later responses answer the replay: swallowed
}

func newRelay(listen, origin string, sched map[int]step, truth io.Writer, log io.Writer) (*relay, error) {
	la, err := netip.ParseAddrPort(listen)
	if err != nil {
		return nil, fmt.Errorf("-listen: %w", err)
	}
	oa, err := netip.ParseAddrPort(origin)
	if err != nil {
		return nil, fmt.Errorf("-origin: %w", err)
	}
	down, err := net.ListenUDP("udp", net.UDPAddrFromAddrPort(la))
	if err != nil {
		return nil, err
	}
	return &relay{
		down:    down,
		origin:  oa,
		upIP:    la.Addr(),
		sched:   sched,
		truth:   json.NewEncoder(truth),
		log:     log,
		nextMID: 0x7000,
		peers:   make(map[netip.AddrPort]*peer),
	}, nil
}

// serve relays until ctx is done.
func (r *relay) serve(ctx context.Context) error {
	go func() {
		<-ctx.Done()
		r.down.Close()
	}()
	buf := make([]byte, 65536)
	var err error
	for {
		var n int
		var from netip.AddrPort
		n, from, err = r.down.ReadFromUDPAddrPort(buf)
		if err != nil {
			break
		}
		r.fromClient(from, append([]byte(nil), buf[:n]...))
	}
	r.mu.Lock()
	for _, p := range r.peers {
		p.up.Close()
		if p.tcp != nil {
			p.tcp.c.Close()
		}
	}
	r.mu.Unlock()
	r.wg.Wait()
	if ctx.Err() != nil && errors.Is(err, net.ErrClosed) {
		return nil
	}
	return err
}

// peerFor returns the state of a client, opening its outgoing socket the
// first time. Called with r.mu held.
func (r *relay) peerFor(addr netip.AddrPort) (*peer, error) {
	if p, ok := r.peers[addr]; ok {
		return p, nil
	}
	up, err := net.ListenUDP("udp", net.UDPAddrFromAddrPort(netip.AddrPortFrom(r.upIP, 0)))
	if err != nil {
		return nil, err
	}
	p := &peer{addr: addr, up: up, byMID: make(map[uint16]*request), byToken: make(map[string]*request)}
	if r.tcp {
		if err := r.dialOrigin(p); err != nil {
			up.Close()
			return nil, err
		}
	}
	r.peers[addr] = p
	r.wg.Add(1)
	go func() {
		defer r.wg.Done()
		buf := make([]byte, 65536)
		for {
			n, from, err := up.ReadFromUDPAddrPort(buf)
			if err != nil {
				return
			}
			if from != r.origin {
				continue
			}
			r.fromOrigin(p, append([]byte(nil), buf[:n]...))
		}
	}()
	return p, nil
}

func (r *relay) logf(format string, args ...any) {
	fmt.Fprintf(r.log, "relay: "+format+"\n", args...)
}

func (r *relay) toOrigin(p *peer, b []byte) {
	if p.tcp != nil {
		r.toOriginTCP(p, b)
		return
	}
	if _, err := p.up.WriteToUDPAddrPort(b, r.origin); err != nil {
		r.logf("to origin: %v", err)
	}
}

func (r *relay) toClient(p *peer, b []byte) {
	if _, err := r.down.WriteToUDPAddrPort(b, p.addr); err != nil {
		r.logf("to client %v: %v", p.addr, err)
	}
}

// record writes the truth line of an act on message m of request q.
// Called with r.mu held.
func (r *relay) record(p *peer, q *request, m *message.Message, l truthLine) {
	l.N = q.n
	l.MID = uint16(m.MessageID)
	l.Token = hex.EncodeToString(m.Token)
	l.Client = int(p.addr.Port())
	l.T = unixMicros(time.Now())
	if err := r.truth.Encode(l); err != nil {
		r.logf("truth: %v", err)
	}
}

// alterDatagram applies an alter act to the message m decoded from b and
// writes its truth line. It returns the datagram to send: the altered one,
// or b when the act does not apply.
func (r *relay) alterDatagram(p *peer, q *request, m *message.Message, b []byte) []byte {
	a, err := alter(q.step, m, make([]byte, 512))
	var out []byte
	if err == nil {
		out, err = encode(*m)
	}
	if err != nil {
		r.logf("request %d: %s: %v; relayed unchanged", q.n, q.step.Act, err)
		return b
	}
	l := truthLine{Act: q.step.Act, Dir: q.step.direction(), Field: a.Field, Before: a.Before, After: a.After}
	if a.Field == fieldPayload {
		l.Offset = &a.Offset
	}
	r.record(p, q, m, l)
	return out
}

func isRequest(m *message.Message) bool { return m.Code != codes.Empty && m.Code < 32 }

func isResponse(m *message.Message) bool { return m.Code >= 64 }

// fromClient handles a datagram from a client.
func (r *relay) fromClient(from netip.AddrPort, b []byte) {
	r.mu.Lock()
	defer r.mu.Unlock()
	p, err := r.peerFor(from)
	if err != nil {
		r.logf("client %v: %v", from, err)
		return
	}
	m, err := parse(b)
	if err != nil || !isRequest(m) {
		r.toOrigin(p, b)
		return
	}
	mid := uint16(m.MessageID)
	q, retx := p.byMID[mid]
	if !retx {
		r.n++
		q = &request{n: r.n, step: r.sched[r.n], mid: mid, token: append([]byte(nil), m.Token...), raw: b}
		p.byMID[mid] = q
		p.byToken[string(m.Token)] = q
	}
	if q.step.Act == "" || q.step.direction() != dirRequest {
		r.toOrigin(p, b)
		return
	}
	switch q.step.Act {
	case actForge:
		if q.forged == nil {
			r.nextMID++
			if q.forged, err = forge(m, r.nextMID); err != nil {
				r.logf("request %d: forge: %v", q.n, err)
				return
			}
		}
		r.record(p, q, m, truthLine{Act: actForge, Dir: dirRequest, Field: fieldPayload,
			After: hex.EncodeToString([]byte(forgedPayload))})
		r.toClient(p, q.forged)
	case actDelay:
		if retx {
			return // still held, or already sent: the origin answers the first copy
		}
		d := q.step.seconds()
		r.record(p, q, m, truthLine{Act: actDelay, Dir: dirRequest, Seconds: d})
		time.AfterFunc(time.Duration(d*float64(time.Second)), func() {
			r.mu.Lock()
			defer r.mu.Unlock()
			r.toOrigin(p, b)
		})
	case actReplay:
		r.toOrigin(p, b)
	default:
		r.toOrigin(p, r.alterDatagram(p, q, m, b))
	}
}

// fromOrigin handles a datagram from the origin to client p.
func (r *relay) fromOrigin(p *peer, b []byte) {
	r.mu.Lock()
	defer r.mu.Unlock()
	m, err := parse(b)
	if err != nil {
		r.toClient(p, b)
		return
	}
	var q *request
	if m.Type == message.Acknowledgement || m.Type == message.Reset {
		q = p.byMID[uint16(m.MessageID)]
	}
	if q == nil && isResponse(m) {
		q = p.byToken[string(m.Token)]
	}
	if q == nil || !isResponse(m) {
		r.toClient(p, b)
		return
	}
	if q.replayed && uint16(m.MessageID) == q.mid {
		r.logf("request %d: response to the replay withheld", q.n)
		return
	}
	switch {
	case q.step.Act == actDrop:
		r.record(p, q, m, truthLine{Act: actDrop, Dir: dirResponse})
	case q.step.Act == actFlood && !q.flooded:
		q.flooded = true
		k := q.step.extra()
		r.record(p, q, m, truthLine{Act: actFlood, Dir: dirResponse, Extra: k})
		for range k + 1 {
			r.toClient(p, b)
		}
	case q.step.direction() == dirResponse && q.step.Act != actFlood && q.respIn == nil:
		q.respIn = b
		q.respOut = r.alterDatagram(p, q, m, b)
		r.toClient(p, q.respOut)
	case q.respIn != nil && bytes.Equal(b, q.respIn):
		// The origin repeated the response it sent before (the client
		// retransmitted): alter it the same way.
		q.respOut = r.alterDatagram(p, q, m, b)
		r.toClient(p, q.respOut)
	default:
		r.toClient(p, b)
		if q.step.Act == actReplay && !q.replayQueued {
			q.replayQueued = true
			time.AfterFunc(replayAfter, func() { r.replay(p, q) })
		}
	}
}

// replay sends request q to the origin a second time.
func (r *relay) replay(p *peer, q *request) {
	r.mu.Lock()
	defer r.mu.Unlock()
	m, err := parse(q.raw)
	if err != nil {
		return
	}
	q.replayed = true
	r.record(p, q, m, truthLine{Act: actReplay, Dir: dirRequest})
	r.toOrigin(p, q.raw)
}
