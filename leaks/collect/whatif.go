package collect

import (
	"github.com/coapaudit/coapaudit/decode"
	"github.com/coapaudit/coapaudit/leaks"
)

// What-if OSCORE parameters: the smallest common shape of the OSCORE
// option. Requests carry a 1-byte Partial IV and a 1-byte kid (flag byte,
// PIV, kid: 3 bytes); responses carry an empty option, as they do when
// they use the request's nonce. The tag is AES-CCM-16-64-128's 8 bytes.
var (
	whatIfRequest  = leaks.OSCOREParams{PIVLen: 1, HasKID: true, KIDLen: 1}
	whatIfResponse = leaks.OSCOREParams{}
)

// tagLen is the tag length assumed when an OSCORE message was not
// decrypted: AES-CCM-16-64-128, the algorithm every OSCORE endpoint
// implements (RFC 8613 section 3.2.1).
const tagLen = 8

// whatIf returns what leaks.WhatIfOSCORE(leaks.PlainFromMessage(m), p)
// returns for a message whose options are in ascending order (as decoded
// messages are), without allocating: the OSCORE plaintext length (code,
// class E options, payload) and the size of the protected message. p must
// use the default Class and OuterCopy. ok is false for options out of
// order, which the caller sends to the reference implementation.
func whatIf(m *decode.Message, p *leaks.OSCOREParams) (inner, outer int, ok bool) {
	tag := p.TagLen
	if tag == 0 {
		tag = tagLen
	}
	oscoreLen := p.OptionValueLen()
	inner = 1
	outer = 4 + len(m.Token)
	prevIn, prevOut := 0, 0
	last := decode.OptionID(0)
	oscoreDone := false
	addOuter := func(id, n int) {
		outer += 1 + extLen(id-prevOut) + extLen(n) + n
		prevOut = id
	}
	for _, o := range m.Options {
		if o.ID < last {
			return 0, 0, false
		}
		last = o.ID
		if !oscoreDone && o.ID > decode.OptOSCORE {
			addOuter(int(decode.OptOSCORE), oscoreLen)
			oscoreDone = true
		}
		n := len(o.Value)
		k := oscoreClass(o.ID)
		if k.Inner() {
			inner += 1 + extLen(int(o.ID)-prevIn) + extLen(n) + n
			prevIn = int(o.ID)
			if !k.Outer() || o.ID != decode.OptObserve {
				continue
			}
		}
		addOuter(int(o.ID), n)
	}
	if !oscoreDone {
		addOuter(int(decode.OptOSCORE), oscoreLen)
	}
	if len(m.Payload) > 0 {
		inner += 1 + len(m.Payload)
	}
	outer += 1 + inner + tag
	return inner, outer, true
}

// classes caches decode.OSCOREClass for the option numbers below 512,
// which hold every option in use.
var classes = func() (t [512]decode.OSCOREClassKind) {
	for i := range t {
		t[i] = decode.OSCOREClass(decode.OptionID(i))
	}
	return t
}()

func oscoreClass(id decode.OptionID) decode.OSCOREClassKind {
	if int(id) < len(classes) {
		return classes[id]
	}
	return decode.OSCOREClass(id)
}

// extLen is the number of extended bytes an option delta or length takes
// (RFC 7252 section 3.1).
func extLen(v int) int {
	switch {
	case v < 13:
		return 0
	case v < 269:
		return 1
	}
	return 2
}
