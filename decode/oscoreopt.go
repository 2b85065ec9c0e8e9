package decode

import "strconv"

// OSCOREOption is the decoded value of the OSCORE option (RFC 8613 section
// 6.1). The slices borrow the option value.
type OSCOREOption struct {
	Flags      byte   // the flag byte; 0 when the value is empty
	PIV        []byte // Partial IV, 0 to 5 bytes
	KIDContext []byte // kid context, present when HasKIDContext
	KID        []byte // kid, present when HasKID (it may be empty)
	// HasKIDContext and HasKID mirror flag bits h and k: a present but
	// empty kid is not the same as an absent one.
	HasKIDContext, HasKID bool
}

// OSCORE option flag bits (RFC 8613 section 6.1).
const (
	oscoreFlagReserved = 0xe0 // bits 0-2 (most significant) are reserved
	oscoreFlagH        = 0x10 // kid context present
	oscoreFlagK        = 0x08 // kid present
	oscoreFlagN        = 0x07 // Partial IV length
)

// ParseOSCORE decodes an OSCORE option value. An empty value is valid and
// means no flags (a response that reuses the request's nonce). Errors are
// *FormatError with offsets relative to v.
func ParseOSCORE(v []byte) (OSCOREOption, error) {
	o, fe := parseOSCORE(v)
	if fe.Err != nil {
		err := fe
		return o, &err
	}
	return o, nil
}

// parseOSCORE is ParseOSCORE without the allocation of an error value.
func parseOSCORE(v []byte) (o OSCOREOption, fe FormatError) {
	if len(v) == 0 {
		return o, fe
	}
	o.Flags = v[0]
	if o.Flags&oscoreFlagReserved != 0 {
		return o, FormatError{Off: 0, Field: "OSCORE.Flags", Err: ErrReserved}
	}
	if o.Flags == 0 {
		// "If all flag bits are zero, the OSCORE option value SHALL be empty."
		return o, FormatError{Off: 0, Field: "OSCORE.Flags", Err: ErrBadLength}
	}
	n := int(o.Flags & oscoreFlagN)
	if n > 5 {
		return o, FormatError{Off: 0, Field: "OSCORE.PIVLength", Err: ErrReserved}
	}
	off := 1
	if len(v)-off < n {
		return o, FormatError{Off: off, Field: "OSCORE.PIV", Err: ErrTruncated}
	}
	o.PIV = v[off : off+n : off+n]
	off += n
	if o.Flags&oscoreFlagH != 0 {
		if off >= len(v) {
			return o, FormatError{Off: off, Field: "OSCORE.KIDContextLength", Err: ErrTruncated}
		}
		s := int(v[off])
		off++
		if len(v)-off < s {
			return o, FormatError{Off: off, Field: "OSCORE.KIDContext", Err: ErrTruncated}
		}
		o.KIDContext = v[off : off+s : off+s]
		o.HasKIDContext = true
		off += s
	}
	if o.Flags&oscoreFlagK != 0 {
		o.KID = v[off:len(v):len(v)]
		o.HasKID = true
		off = len(v)
	}
	if off != len(v) {
		return o, FormatError{Off: off, Field: "OSCORE", Err: ErrBadLength}
	}
	return o, fe
}

// OSCOREClassKind says how OSCORE treats an option (RFC 8613 section 4.1):
// Class E options are encrypted and integrity-protected inside the OSCORE
// message (Inner), Class U options stay unprotected in the outer message
// for proxies, Class I options are outer but integrity-protected. Some
// options are used both ways (E|U), e.g. Observe, Max-Age and Block.
type OSCOREClassKind uint8

const (
	OSCOREClassE OSCOREClassKind = 1 << iota // encrypted and integrity-protected (inner)
	OSCOREClassI                             // integrity-protected only (outer)
	OSCOREClassU                             // unprotected (outer)
)

// Inner reports whether the option belongs inside the protected message.
func (k OSCOREClassKind) Inner() bool { return k&OSCOREClassE != 0 }

// Outer reports whether the option may appear in the outer message.
func (k OSCOREClassKind) Outer() bool { return k&(OSCOREClassU|OSCOREClassI) != 0 }

func (k OSCOREClassKind) String() string {
	switch k {
	case OSCOREClassE:
		return "E"
	case OSCOREClassI:
		return "I"
	case OSCOREClassU:
		return "U"
	case OSCOREClassE | OSCOREClassU:
		return "E+U"
	case OSCOREClassE | OSCOREClassI:
		return "E+I"
	}
	return "OSCOREClassKind(" + strconv.Itoa(int(k)) + ")"
}

// OSCOREClass returns how OSCORE protects option id. Options that RFC 8613
// and later documents do not classify, and unknown options, are Class E
// (RFC 8613 section 4.1).
func OSCOREClass(id OptionID) OSCOREClassKind {
	if d := lookupOption(id); d != nil {
		return d.OSCORE
	}
	return OSCOREClassE
}
