package rules

import (
	"errors"
	"strconv"

	"github.com/coapaudit/coapaudit/decode"
)

// MalformedMessage reports CoAP and DTLS messages that do not decode.
var MalformedMessage = &Rule{
	ID: "malformed-message",
	Doc: `a CoAP or DTLS message does not decode

A message cut short or framed against RFC 7252 section 3 (or RFC 6347
for DTLS) is dropped by a conforming receiver, after it spent energy on
it (the devices' resources are the first asset of seed section 1.1); a
sender producing them is broken or probing the parser. One finding per
sender and malformed field.`,
	Threat:   Malformed,
	Severity: Low,
	Seed:     "1.1",
	Run: func(p *Pass) error {
		seen := newBoundedSet[string](p.Config.MaxState)
		p.OnPacket(func(pk *Packet) {
			if pk.Err == nil {
				return
			}
			proto := "CoAP"
			if pk.DTLS != nil {
				proto = "DTLS"
			}
			field := ""
			var fe *decode.FormatError
			if errors.As(pk.Err, &fe) {
				field = fe.Field
			}
			if !once(p, seen, proto+"|"+pk.Src.String()+"|"+field) {
				return
			}
			p.Report(Finding{
				Severity: Low, Certainty: Did, Frames: []int{pk.Frame}, Time: pk.Time,
				Message: pk.Src.String() + " did send a malformed " + proto + " message to " + pk.Dst.String() +
					" (frame " + strconv.Itoa(pk.Frame) + "): " + pk.Err.Error() + ".",
			})
		})
		return nil
	},
}
