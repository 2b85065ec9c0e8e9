package rules

import (
	"strconv"

	"github.com/coapaudit/coapaudit/decode"
)

// AbortBadCSM reports connections aborted over a CSM option.
var AbortBadCSM = &Rule{
	ID: "abort-bad-csm",
	Doc: `a side aborted a CoAP connection over an option in its peer's CSM

RFC 8323 section 5.6: a 7.05 Abort with Bad-CSM-Option names the option
of the peer's CSM that the sender could not process, and ends the
connection. The peer sent a critical CSM option the other side does not
support (or one an intermediary put there): the connection and whatever
it carried are gone. The evidence is the Abort and, when captured, the
CSM it refuses. Connection state is bounded by Config.MaxState.`,
	Threat:   Malformed,
	Severity: Low,
	Seed:     "1.1",
	Run: func(p *Pass) error {
		onConn(p, func(pk *Packet, c *conn, s int) {
			if pk.CoAP.Code != decode.CodeAbort {
				return
			}
			for _, o := range pk.CoAP.Options {
				if o.ID != decode.OptBadCSMOption {
					continue
				}
				csm := c.side[1-s].csm
				where := ""
				if csm > 0 {
					where = " in " + frameNo(csm)
				}
				p.Report(Finding{
					Severity: Low, Certainty: Did, Frames: evidence(pk, csm), Time: pk.Time,
					Message: pk.Src.String() + " did abort its " + transportOf(pk) + " connection with " + pk.Dst.String() + " (" + frameNo(pk.Frame) +
						") over option " + strconv.FormatUint(uint64(decode.DecodeUint(o.Value)), 10) + " of the CSM" + where + ", which it could not process.",
				})
				return
			}
		})
		return nil
	},
}
