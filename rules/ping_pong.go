package rules

import (
	"time"

	"github.com/coapaudit/coapaudit/decode"
)

// maxPendingPings bounds the unanswered Pings kept per connection.
const maxPendingPings = 4

// PingPong reports Pongs that answer no Ping and Pings never answered.
var PingPong = &Rule{
	ID: "ping-pong",
	Doc: `a Pong answers no Ping, or a Ping is never answered

RFC 8323 section 5.4: a 7.02 Ping must be answered by a 7.03 Pong with
the Ping's token. A Pong whose token matches no Ping the peer sent is
reported when the peer's side of the connection is in the capture from
its start; a Ping the peer never answered although it went on sending
other messages after it is reported at the end of the capture (a peer
that stops sending may be gone). Connection state is bounded by
Config.MaxState, and at most four unanswered Pings are kept per
connection.`,
	Threat:   Malformed,
	Severity: Low,
	Seed:     "1.1",
	Run: func(p *Pass) error {
		cs := onConn(p, func(pk *Packet, c *conn, s int) {
			switch pk.CoAP.Code {
			case decode.CodePing:
				if len(c.pings) < maxPendingPings {
					c.pings = append(c.pings, pendingPing{from: s, token: string(pk.CoAP.Token), frame: pk.Frame, ns: pk.Time.UnixNano()})
				} else {
					p.Drop(1)
				}
			case decode.CodePong:
				for i, pg := range c.pings {
					if pg.from != s && pg.token == string(pk.CoAP.Token) {
						c.pings = append(c.pings[:i], c.pings[i+1:]...)
						return
					}
				}
				if !c.side[1-s].fromStart {
					return
				}
				p.Report(Finding{
					Severity: Low, Certainty: Did, Frames: evidence(pk), Time: pk.Time,
					Message: pk.Src.String() + " did send " + pk.Dst.String() + " a Pong (" + frameNo(pk.Frame) + ", over " + transportOf(pk) +
						") that answers no Ping with its token.",
				})
			}
		})
		p.OnClose(func() {
			for k := range cs.order.all() {
				c := cs.m[k]
				for _, pg := range c.pings {
					peer := &c.side[1-pg.from]
					if peer.lastNs <= pg.ns {
						continue
					}
					from, to := c.a, c.b
					if pg.from == 1 {
						from, to = to, from
					}
					p.Report(Finding{
						Severity: Low, Certainty: Did, Frames: []int{pg.frame, peer.lastFrame}, Time: time.Unix(0, pg.ns).UTC(),
						Message: to.String() + " did not answer the Ping " + from.String() + " sent (" + frameNo(pg.frame) +
							") though it sent other messages after it, up to " + frameNo(peer.lastFrame) + ".",
					})
				}
			}
		})
		return nil
	},
}
