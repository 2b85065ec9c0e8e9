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
part of the evidence.

A failure proves a forgery only when its security context matches the
traffic (see keys-mismatch) and verified another message between the same
two endpoints; the finding waits until that is known. A context that
does not match the traffic reports nothing here; a failure whose context
verified nothing else between its endpoints is reported as a forgery the
message could be (medium), not one it is.`,
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
			n := b.Len()
			b.WriteString(": someone on the path did forge or alter it.")
			p.reportForgery(Finding{
				Severity: High, Certainty: Did, Frames: frames, Message: b.String(), Seed: seed, Time: pk.Time,
			}, pk, func(f *Finding) {
				f.Severity, f.Certainty = Medium, Could
				f.Message = f.Message[:n] + ": someone on the path could have forged or altered it, but its security context verified no other message between these endpoints, so the key may not be theirs."
			})
		})
		return nil
	},
}
