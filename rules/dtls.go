package rules

import (
	"net/netip"
	"strconv"
	"strings"
	"time"

	"github.com/coapaudit/coapaudit/decode"
	"github.com/coapaudit/coapaudit/dissect"
)

// PSKIdentityClear reports DTLS PSK identities sent in clear.
var PSKIdentityClear = &Rule{
	ID: "psk-identity-clear",
	Doc: `a DTLS client sends its PSK identity in clear

In DTLS 1.2 PSK handshakes (RFC 4279) the ClientKeyExchange carries the
PSK identity unencrypted: every observer on the path, proxies included,
learns which client (or which proxy, on its server side) is talking and
can link its sessions. One finding per identity and server address.`,
	Threat:   T5,
	Severity: Low,
	Seed:     "2.1.1.5",
	Run: func(p *Pass) error {
		seen := newBoundedSet[string](p.Config.MaxState)
		p.OnPacket(func(pk *Packet) {
			if len(pk.PSKIdentity) == 0 {
				return
			}
			if !once(p, seen, string(pk.PSKIdentity)+"|"+pk.Dst.Addr().String()) {
				return
			}
			p.Report(Finding{
				Severity: Low, Certainty: Could, Frames: []int{pk.Frame}, Time: pk.Time,
				Message: "DTLS client " + pk.Src.String() + " sent the PSK identity " + strconv.Quote(string(pk.PSKIdentity)) +
					" in clear to " + pk.Dst.String() + " (frame " + strconv.Itoa(pk.Frame) +
					"): any observer on the path could identify the client and link its sessions.",
			})
		})
		return nil
	},
}

// DTLSHopByHop reports DTLS sessions that end at a proxy which carries
// the request on in a DTLS session of its own.
var DTLSHopByHop = &Rule{
	ID: "dtls-hop-by-hop",
	Doc: `DTLS ends at a proxy: security is hop-by-hop only

A DTLS endpoint that, between a client's application data and its own
answer, opens or uses another DTLS session to a different server, whose
answer comes back just before its own, is a proxy terminating DTLS on
both sides (seed section 1, Figure 1). It decrypts every CoAP message
and could read and change all of it. Each such nesting scores 1, plus 1
when the onward session was opened for the request, plus 1 when it starts
from the proxy's own address, plus 1 when both answers have the same
size, plus 2 when the user named the endpoint as a proxy; a proxy and
server pair is reported once it scores 3. Nestings are looked for within
10 s among the 32 sessions that last carried requests.

With the keys of both hops (--psk, --keylog) the finding is a "did": the
proxy decrypted the client's request and the server's answer, and the
finding names their options and payload bytes, with the frames.`,
	Threat:   T5,
	Severity: Medium,
	Seed:     "2.1.1.5",
	Run: func(p *Pass) error {
		h := &hopByHop{p: p, sessions: map[dtlsPair]*dtlsSession{}, pairs: map[dtlsPair]*nesting{}}
		p.OnPacket(h.packet)
		return nil
	},
}

const (
	nestWindow = 10 * time.Second
	nestRecent = 32
	nestReport = 3
)

type dtlsPair struct{ a, b netip.AddrPort }

func makeDTLSPair(x, y netip.AddrPort) dtlsPair {
	if x.Compare(y) > 0 {
		x, y = y, x
	}
	return dtlsPair{x, y}
}

type dtlsSession struct {
	client, server netip.AddrPort
	hello          int // first ClientHello frame
	helloT         int64
	req, resp      int // latest application data each way
	reqT, respT    int64
	respLen        int
	// the latest decrypted request from the client and response to it
	dreq, dresp plainMsg
}

// plainMsg is what a CoAP message decrypted from DTLS showed whoever
// held the session's keys.
type plainMsg struct {
	frame   int
	options string // option names in order, repeats once
	payload int
}

func makePlainMsg(frame int, m *decode.Message) plainMsg {
	var names []string
	for i := range m.Options {
		n := m.Options[i].ID.String()
		if len(names) == 0 || names[len(names)-1] != n {
			names = append(names, n)
		}
	}
	return plainMsg{frame: frame, options: strings.Join(names, ", "), payload: len(m.Payload)}
}

func (m plainMsg) String() string {
	s := "frame " + strconv.Itoa(m.frame) + ": "
	if m.options == "" {
		s += "no options"
	} else {
		s += "options " + m.options
	}
	return s + ", " + strconv.Itoa(m.payload) + " payload bytes"
}

type nesting struct {
	score    int
	reported bool
}

type hopByHop struct {
	p        *Pass
	sessions map[dtlsPair]*dtlsSession
	order    keyQueue[dtlsPair] // for eviction
	recent   [nestRecent]*dtlsSession
	next     int
	pairs    map[dtlsPair]*nesting
}

func (h *hopByHop) session(pk *Packet) *dtlsSession {
	k := makeDTLSPair(pk.Src, pk.Dst)
	if s := h.sessions[k]; s != nil {
		return s
	}
	s := &dtlsSession{client: pk.Src, server: pk.Dst}
	if pk.Src.Port() == dissect.PortCoAPS && pk.Dst.Port() != dissect.PortCoAPS {
		s.client, s.server = pk.Dst, pk.Src
	}
	if old, full := h.order.push(k, h.p.Config.MaxState); full {
		delete(h.sessions, old)
		h.p.Drop(1)
	}
	h.sessions[k] = s
	return s
}

func (h *hopByHop) packet(pk *Packet) {
	d := pk.DTLS
	if d == nil {
		if pk.Secure && pk.CoAP != nil && (pk.Transport == nil || pk.Transport == dissect.DTLS) {
			h.plain(pk)
		}
		return
	}
	s := h.session(pk)
	ns := pk.Time.UnixNano()
	if d.HasClientHello {
		s.client, s.server = pk.Src, pk.Dst
		if s.hello == 0 {
			s.hello, s.helloT = pk.Frame, ns
		}
	}
	size := 0
	for i := range d.Records {
		r := &d.Records[i]
		if r.ContentType == decode.ContentApplicationData || r.ContentType == decode.ContentTLS12CID || r.Unified {
			size += r.Length
		}
	}
	if size == 0 {
		return
	}
	if pk.Src == s.client {
		s.req, s.reqT = pk.Frame, ns
		for i, r := range h.recent {
			if r == s {
				h.recent[i] = nil
			}
		}
		h.recent[h.next%nestRecent] = s
		h.next++
		return
	}
	if s.req == 0 {
		return
	}
	h.answer(pk, s, ns, size)
	s.resp, s.respT, s.respLen = pk.Frame, ns, size
}

// plain records a CoAP message decrypted from a session's record: what
// the session's endpoints, a proxy among them, read.
func (h *hopByHop) plain(pk *Packet) {
	s := h.sessions[makeDTLSPair(pk.Src, pk.Dst)]
	if s == nil {
		return
	}
	switch c := pk.CoAP.Code; {
	case pk.Src == s.client && c.IsRequest():
		s.dreq = makePlainMsg(pk.Frame, pk.CoAP)
	case pk.Src == s.server && c.IsResponse():
		s.dresp = makePlainMsg(pk.Frame, pk.CoAP)
	}
}

// answer looks for the onward session that a proxy used between s's
// request and this answer of size bytes.
func (h *hopByHop) answer(pk *Packet, s *dtlsSession, ns int64, size int) {
	if ns-s.reqT > int64(nestWindow) {
		return
	}
	var best *dtlsSession
	score := 0
	for _, b := range h.recent {
		if b == nil || b == s || b.server == s.server || b.server == s.client || b.resp == 0 ||
			b.reqT < s.reqT || b.respT < b.reqT || b.respT > ns {
			continue
		}
		sc := 1
		if b.hello != 0 && b.helloT >= s.reqT {
			sc++
		}
		if b.client.Addr() == s.server.Addr() {
			sc++
		}
		if b.respLen == size {
			sc++
		}
		if h.p.ConfiguredProxy(s.server) {
			sc += 2
		}
		if sc > score {
			best, score = b, sc
		}
	}
	if best == nil {
		return
	}
	k := dtlsPair{s.server, best.server}
	n := h.pairs[k]
	if n == nil {
		if len(h.pairs) >= h.p.Config.MaxState {
			h.p.Drop(1)
			return
		}
		n = &nesting{}
		h.pairs[k] = n
	}
	n.score += score
	if n.reported || n.score < nestReport {
		return
	}
	n.reported = true
	var frames []int
	for _, f := range [...]int{s.hello, s.req, best.hello, best.req, best.resp, pk.Frame} {
		if f != 0 {
			frames = append(frames, f)
		}
	}
	msg := "DTLS from " + s.client.String() + " ends at " + s.server.String() + ", which carries the request on in its own DTLS session from " +
		best.client.String() + " to " + best.server.String() + " (" + frameList(frames) +
		"): security is hop-by-hop only, and the proxy could read and change every CoAP message."
	certainty := Could
	// With both hops decrypted, what the proxy read is known: the
	// client's request and the server's answer, each decrypted with the
	// keys of the session the proxy terminates.
	if s.dreq.frame == s.req && best.dresp.frame == best.resp {
		certainty = Did
		msg += " With both hops decrypted: the proxy did decrypt the request (" + s.dreq.String() +
			") and the answer (" + best.dresp.String() + ")."
	}
	h.p.Report(Finding{Severity: Medium, Certainty: certainty, Frames: frames, Time: pk.Time, Message: msg})
}
