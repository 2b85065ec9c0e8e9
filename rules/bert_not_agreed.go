package rules

import (
	"github.com/coapaudit/coapaudit/decode"
)

// BERTNotAgreed reports BERT blocks on connections whose CSMs did not
// both offer Block-Wise-Transfer.
var BERTNotAgreed = &Rule{
	ID: "bert-not-agreed",
	Doc: `a BERT block was sent on a connection that did not agree to BERT

RFC 8323 section 6: a Block1 or Block2 option with SZX 7 (BERT, blocks of
multiples of 1024 bytes) may be used only when both sides' CSMs carried
the Block-Wise-Transfer option. Judged only when both CSMs of the
connection are in the capture; one finding per sender and connection.
Connection state is bounded by Config.MaxState.`,
	Threat:   Malformed,
	Severity: Low,
	Seed:     "1.1",
	Run: func(p *Pass) error {
		seen := newBoundedSet[string](p.Config.MaxState)
		onConn(p, func(pk *Packet, c *conn, s int) {
			if c.side[0].csm == 0 || c.side[1].csm == 0 || c.side[0].bwt && c.side[1].bwt {
				return
			}
			opt := ""
			for _, o := range pk.CoAP.Options {
				if (o.ID == decode.OptBlock1 || o.ID == decode.OptBlock2) && decode.DecodeUint(o.Value)&7 == 7 {
					opt = decode.OptionName(pk.CoAP.Code, o.ID)
					break
				}
			}
			if opt == "" || !once(p, seen, pk.Src.String()+"|"+pk.Dst.String()) {
				return
			}
			without := c.side[s].csm
			if c.side[s].bwt {
				without = c.side[1-s].csm
			}
			p.Report(Finding{
				Severity: Low, Certainty: Did, Frames: evidence(pk, without), Time: pk.Time,
				Message: pk.Src.String() + " did send " + pk.Dst.String() + " a BERT block (" + opt + " with SZX 7, " + frameNo(pk.Frame) +
					") though the CSM in " + frameNo(without) + " did not offer Block-Wise-Transfer.",
			})
		})
		return nil
	},
}
