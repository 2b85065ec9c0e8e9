package leaks

import (
	"cmp"
	"slices"

	"github.com/coapaudit/coapaudit/decode"
)

// OptionLen is an option of a message: its number and value length.
type OptionLen struct {
	ID  decode.OptionID
	Len int
}

// PlainMessage is the shape of a CoAP-over-UDP message: what its size
// depends on.
type PlainMessage struct {
	TokenLen   int
	Options    []OptionLen // in any order; repeated options repeat
	PayloadLen int
}

// PlainFromMessage returns the shape of a decoded message.
func PlainFromMessage(m *decode.Message) PlainMessage {
	p := PlainMessage{TokenLen: len(m.Token), PayloadLen: len(m.Payload)}
	p.Options = make([]OptionLen, len(m.Options))
	for i, o := range m.Options {
		p.Options[i] = OptionLen{ID: o.ID, Len: len(o.Value)}
	}
	return p
}

// Size returns the encoded size of the message (RFC 7252 section 3).
func (m PlainMessage) Size() int {
	return 4 + m.TokenLen + optionsLen(m.Options) + payloadLen(m.PayloadLen)
}

// OSCOREParams describes the OSCORE option and algorithm of the what-if
// computation.
type OSCOREParams struct {
	// PIVLen is the Partial IV length in bytes (0 to 5): requests carry
	// one (1 byte for sequence numbers below 256), most responses none.
	PIVLen int
	// HasKID and KIDLen describe the kid (requests carry it, possibly
	// empty; responses usually do not).
	HasKID bool
	KIDLen int
	// HasKIDContext and KIDContextLen describe the kid context.
	HasKIDContext bool
	KIDContextLen int
	// TagLen is the AEAD tag length; 0 means 8 (AES-CCM-16-64-128, the
	// mandatory algorithm).
	TagLen int
	// Class returns how OSCORE protects an option; nil means
	// decode.OSCOREClass (RFC 8613 section 4.1).
	Class func(decode.OptionID) decode.OSCOREClassKind
	// OuterCopy reports which options that are both inner and outer (class
	// E and U, such as Observe or Block2) also appear in the outer
	// message, with a value of the same length. nil means Observe only:
	// RFC 8613 section 4.1.3.5 keeps an outer Observe for proxies, while
	// outer Block options appear only when a proxy fragments and an outer
	// Max-Age only in some responses.
	OuterCopy func(decode.OptionID) bool
}

// OptionValueLen returns the length of the OSCORE option value these
// parameters produce (RFC 8613 section 6.1): empty when no flag is set,
// else one flag byte, the Partial IV, the kid context with its length
// byte, and the kid.
func (p OSCOREParams) OptionValueLen() int {
	if p.PIVLen == 0 && !p.HasKID && !p.HasKIDContext {
		return 0
	}
	n := 1 + p.PIVLen
	if p.HasKIDContext {
		n += 1 + p.KIDContextLen
	}
	if p.HasKID {
		n += p.KIDLen
	}
	return n
}

// OSCORESizes is the size of a message before and after OSCORE
// protection.
type OSCORESizes struct {
	// Plain is the size of the unprotected message.
	Plain int
	// Inner is the OSCORE plaintext: the code byte, the class E options,
	// and the payload marker and payload when there is a payload.
	Inner int
	// Ciphertext is Inner plus the tag: the length an observer sees.
	Ciphertext int
	// Outer is the size of the protected message: header, token, outer
	// options with the OSCORE option, payload marker and ciphertext.
	Outer int
}

// WhatIfOSCORE returns the sizes message m would have under OSCORE with
// parameters p. The code moves inside and the outer message carries POST
// or FETCH (requests) or 2.04 or 2.05 (responses) instead, which does not
// change the header size. Inner options are encoded with deltas among
// themselves, outer options (class U and I, the OSCORE option, and the
// copies OuterCopy selects) among themselves.
func WhatIfOSCORE(m PlainMessage, p OSCOREParams) OSCORESizes {
	class := p.Class
	if class == nil {
		class = decode.OSCOREClass
	}
	outerCopy := p.OuterCopy
	if outerCopy == nil {
		outerCopy = func(id decode.OptionID) bool { return id == decode.OptObserve }
	}
	tag := p.TagLen
	if tag == 0 {
		tag = 8
	}
	var inner, outer []OptionLen
	for _, o := range m.Options {
		k := class(o.ID)
		switch {
		case k.Inner():
			inner = append(inner, o)
			if k.Outer() && outerCopy(o.ID) {
				outer = append(outer, o)
			}
		default:
			outer = append(outer, o)
		}
	}
	outer = append(outer, OptionLen{ID: decode.OptOSCORE, Len: p.OptionValueLen()})
	s := OSCORESizes{Plain: m.Size()}
	s.Inner = 1 + optionsLen(inner) + payloadLen(m.PayloadLen)
	s.Ciphertext = s.Inner + tag
	s.Outer = 4 + m.TokenLen + optionsLen(outer) + payloadLen(s.Ciphertext)
	return s
}

func payloadLen(n int) int {
	if n > 0 {
		return 1 + n
	}
	return 0
}

// optionsLen returns the encoded length of opts sorted by number (stable,
// so repeated options keep their order).
func optionsLen(opts []OptionLen) int {
	sorted := slices.Clone(opts)
	slices.SortStableFunc(sorted, func(a, b OptionLen) int { return cmp.Compare(a.ID, b.ID) })
	n := 0
	prev := 0
	for _, o := range sorted {
		n += 1 + extLen(int(o.ID)-prev) + extLen(o.Len) + o.Len
		prev = int(o.ID)
	}
	return n
}

// extLen is the number of extended bytes a delta or length takes (RFC 7252
// section 3.1).
func extLen(v int) int {
	switch {
	case v < 13:
		return 0
	case v < 269:
		return 1
	}
	return 2
}
