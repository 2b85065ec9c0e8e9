package rules

import (
	"strconv"
	"strings"
)

// OSCOREUnverified reports OSCORE messages that fail verification with the
// supplied keys.
var OSCOREUnverified = &Rule{
	ID: "oscore-unverified",
	Doc: `an OSCORE message fails verification with the supplied keys

A request or response whose authentication tag does not check out under
the security context of its kid (for a response: of the request it
answers) was forged or altered on the way. Only messages a key was tried
on count: a response whose request is not in the capture, or a kid
without a context, proves nothing. The request of a failed response is
part of the evidence.`,
	Threat:   T1,
	Severity: High,
	Seed:     "2.1.1.1",
	Requires: RequiresKeys,
	Run: func(p *Pass) error {
		p.OnPacket(func(pk *Packet) {
			r := pk.OSCORE
			if r == nil || !r.Tried || r.Verified || pk.CoAP == nil {
				return
			}
			if !r.IsRequest && r.RequestFrame == 0 {
				return // its request was not seen: nothing to verify against
			}
			kind, seed := "response", "2.1.1.1"
			frames := []int{pk.Frame}
			if r.IsRequest {
				kind, seed = "request", "2.1.2.1"
			} else {
				frames = append(frames, r.RequestFrame)
			}
			var b strings.Builder
			b.WriteString("The OSCORE ")
			b.WriteString(kind)
			b.WriteString(" in frame ")
			b.WriteString(strconv.Itoa(pk.Frame))
			b.WriteString(" from ")
			b.WriteString(pk.Src.String())
			b.WriteString(" fails verification (")
			b.WriteString(r.Err)
			b.WriteString(")")
			if !r.IsRequest {
				b.WriteString(" against its request in frame ")
				b.WriteString(strconv.Itoa(r.RequestFrame))
			}
			b.WriteString(": someone on the path did forge or alter it.")
			p.Report(Finding{
				Severity: High, Certainty: Did, Frames: frames, Message: b.String(), Seed: seed, Time: pk.Time,
			})
		})
		return nil
	},
}
