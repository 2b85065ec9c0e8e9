package rules

import (
	"github.com/coapaudit/coapaudit/decode"
)

// CSMNotFirst reports a side of a connection whose first message is not
// its CSM.
var CSMNotFirst = &Rule{
	ID: "csm-not-first",
	Doc: `a side of a CoAP connection sent a message before its CSM

RFC 8323 section 5.3: each side of a connection over TCP, TLS or
WebSockets must send a Capabilities and Settings Message (7.01 CSM) as its
first message; a peer may abort a connection whose first message is
anything else. Only connections captured from their start (the SYN, no
bytes lost before the message) are judged: a capture that begins later
proves nothing about the first message.`,
	Threat:   Malformed,
	Severity: Low,
	Seed:     "1.1",
	Run: func(p *Pass) error {
		p.OnPacket(func(pk *Packet) {
			if !pk.ConnFirst || pk.CoAP == nil || pk.Err != nil || pk.Transport == nil || !pk.Transport.Reliable ||
				pk.CoAP.Code == decode.CodeCSM {
				return
			}
			p.Report(Finding{
				Severity: Low, Certainty: Did, Frames: evidence(pk), Time: pk.Time,
				Message: pk.Src.String() + " did send " + codeName(pk.CoAP.Code) + " (" + frameNo(pk.Frame) + ") to " + pk.Dst.String() +
					" as its first message on the " + transportOf(pk) + " connection, before its CSM, which RFC 8323 section 5.3 wants first.",
			})
		})
		return nil
	},
}

// codeName is a code with its name ("2.05 Content", "7.02 Ping").
func codeName(c decode.Code) string {
	if n := c.Name(); n != "" {
		return c.String() + " " + n
	}
	return c.String()
}
