package rules

import (
	"net/netip"
	"strconv"

	"github.com/coapaudit/coapaudit/decode"
)

// OSCOREOuterOption reports OSCORE messages that carry class E options in
// the outer, unprotected message.
var OSCOREOuterOption = &Rule{
	ID: "oscore-outer-option",
	Doc: `an OSCORE message carries an option in clear that belongs inside

RFC 8613 section 4.1 puts every option of class E (Uri-Path, Uri-Query,
Content-Format, ETag, Accept, Location-*, If-Match, unknown options, ...)
inside the protected message, where only the endpoints read it. One in
the outer message is readable, and changeable, by every proxy on the path
(seed 2.2.1.5). Options that are E and U at once (Observe, Block, Max-Age,
Size) may appear outside and are not reported. One finding per sender,
receiver and option.`,
	Threat:   T5,
	Severity: Medium,
	Seed:     "2.2.1.5",
	Run: func(p *Pass) error {
		seen := newBoundedSet[outerKey](p.Config.MaxState)
		p.OnPacket(func(pk *Packet) {
			if pk.OSCORE == nil || pk.CoAP == nil {
				return
			}
			for i := range pk.CoAP.Options {
				id := pk.CoAP.Options[i].ID
				if cls := decode.OSCOREClass(id); !cls.Inner() || cls.Outer() {
					continue
				}
				before := seen.evicted
				if !seen.add(outerKey{pk.Src, pk.Dst, id}) {
					continue
				}
				if seen.evicted > before {
					p.Drop(seen.evicted - before)
				}
				kind := "response"
				if pk.CoAP.Code.IsRequest() {
					kind = "request"
				}
				p.Report(Finding{
					Severity: Medium, Certainty: Could, Frames: []int{pk.Frame}, Time: pk.Time,
					Message: "The OSCORE " + kind + " in frame " + strconv.Itoa(pk.Frame) + " from " + pk.Src.String() +
						" carries " + optionName(id) + " in the outer message, where RFC 8613 says it must be protected: every proxy could read and change it.",
				})
			}
		})
		return nil
	},
}

type outerKey struct {
	src, dst netip.AddrPort
	id       decode.OptionID
}
