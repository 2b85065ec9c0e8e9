package rules

import (
	"strconv"

	"github.com/coapaudit/coapaudit/decode"
)

// ReleaseRedirect reports Release messages that name another address.
var ReleaseRedirect = &Rule{
	ID: "release-redirect",
	Doc: `a Release asks the peer to reconnect to another address

RFC 8323 section 5.5: a 7.04 Release ends a connection, and its
Alternative-Address options tell the peer where to go instead. Unless the
connection is protected end to end (TLS to the origin), whoever can
inject this message, an intermediary included, could send a client to an
address of its choosing; and a legitimate redirection is worth knowing.
Informational.`,
	Threat:   T1,
	Severity: Info,
	Seed:     "2.1.1.1",
	Run: func(p *Pass) error {
		p.OnPacket(func(pk *Packet) {
			if pk.CoAP == nil || pk.Err != nil || pk.Transport == nil || !pk.Transport.Reliable || pk.CoAP.Code != decode.CodeRelease {
				return
			}
			var alt []string
			for _, o := range pk.CoAP.Options {
				if o.ID == decode.OptAlternativeAddress {
					alt = append(alt, strconv.Quote(string(o.Value)))
				}
			}
			if len(alt) == 0 {
				return
			}
			addrs := alt[0]
			for _, a := range alt[1:] {
				addrs += ", " + a
			}
			p.Report(Finding{
				Severity: Info, Certainty: Could, Frames: evidence(pk), Time: pk.Time,
				Message: pk.Src.String() + " sent " + pk.Dst.String() + " a Release (" + frameNo(pk.Frame) + ", over " + transportOf(pk) +
					") naming the alternative address " + addrs + ": whoever can send this on the connection could redirect " + pk.Dst.String() + " there.",
			})
		})
		return nil
	},
}
