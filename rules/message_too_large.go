package rules

import (
	"strconv"
)

// MessageTooLarge reports messages larger than the receiver's
// Max-Message-Size.
var MessageTooLarge = &Rule{
	ID: "message-too-large",
	Doc: `a message on a CoAP connection is larger than its receiver accepts

RFC 8323 section 5.3.1: a CSM's Max-Message-Size tells the peer the
largest message its sender accepts (1152 bytes when the CSM does not
carry the option). A larger message costs the receiver the bytes before
it can refuse them, and a receiver may abort the connection. Judged only
once the receiver's CSM is in the capture; one finding per sender and
connection. Connection state is bounded by Config.MaxState, the oldest
connection forgotten first.`,
	Threat:   Malformed,
	Severity: Low,
	Seed:     "1.1",
	Run: func(p *Pass) error {
		seen := newBoundedSet[string](p.Config.MaxState)
		onConn(p, func(pk *Packet, c *conn, s int) {
			peer := &c.side[1-s]
			if peer.csm == 0 || pk.Size <= int(peer.maxSize) || !once(p, seen, pk.Src.String()+"|"+pk.Dst.String()) {
				return
			}
			limit := "the Max-Message-Size of " + strconv.FormatUint(uint64(peer.maxSize), 10) + " bytes its CSM announced (" + frameNo(peer.csm) + ")"
			if !peer.maxSet {
				limit = "the " + strconv.Itoa(defaultMaxMessageSize) + " bytes it accepts by default, its CSM (" + frameNo(peer.csm) + ") naming no Max-Message-Size"
			}
			p.Report(Finding{
				Severity: Low, Certainty: Did, Frames: evidence(pk, peer.csm), Time: pk.Time,
				Message: pk.Src.String() + " did send " + pk.Dst.String() + " a " + strconv.Itoa(pk.Size) + "-byte " + codeName(pk.CoAP.Code) +
					" message (" + frameNo(pk.Frame) + ") over " + transportOf(pk) + ", larger than " + limit + ".",
			})
		})
		return nil
	},
}
