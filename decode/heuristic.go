package decode

import "unicode/utf8"

// LooksLikeCoAP reports whether b is, with high confidence, a CoAP-over-UDP
// message. It is meant for UDP payloads on ports not known to carry CoAP,
// so it accepts only messages that a conforming endpoint would send:
//
//   - version 1 and a token of at most 8 bytes (RFC 7252), or of the
//     extended lengths that RFC 8974 codes with TKL 13 or 14;
//   - a registered request, response or Empty code (classes 0, 2, 4, 5);
//   - a type that fits the code: an Empty message is exactly the 4-byte
//     header and is not NON; a request is CON or NON; RST is always Empty;
//   - options that decode without any framing error, in which every
//     critical option is known, known options have lengths within the
//     registry's range, strings are UTF-8, non-repeatable options appear
//     once, an OSCORE value parses, and unknown elective options are
//     at most a third of all options;
//   - no option that only requests carry (Uri-*, Proxy-*, Accept, If-*)
//     in a response, and no Location-* option in a request;
//   - no payload marker without a payload.
//
// LooksLikeCoAP does not allocate. Whatever it accepts, Message.Decode
// decodes without error.
func LooksLikeCoAP(b []byte) bool {
	if len(b) < headerLen || b[0]>>6 != 1 {
		return false
	}
	typ := Type(b[0] >> 4 & 3)
	code := Code(b[1])
	if code.Name() == "" {
		return false
	}
	switch code.Class() {
	case 0:
		if code == CodeEmpty {
			return len(b) == headerLen && b[0]&0x0f == 0 && typ != NonConfirmable
		}
		if typ == Acknowledgement || typ == Reset {
			return false
		}
	case 2, 4, 5:
		if typ == Reset {
			return false
		}
	default:
		return false
	}

	nib := int(b[0] & 0x0f)
	if nib > 8 && nib < 13 {
		return false
	}
	tkl, off, fe := tokenLength(b, nib)
	if fe.Err != nil || len(b)-off < tkl {
		return false
	}
	r := optionReader{b: b, off: off + tkl}
	known, unknown := 0, 0
	prev := -1
	for {
		o, ok, fe := r.next()
		if fe.Err != nil {
			return false
		}
		if !ok {
			break
		}
		d := lookupOption(o.ID)
		switch {
		case d == nil:
			if o.ID.Critical() {
				return false
			}
			unknown++
		case len(o.Value) < d.MinLen || len(o.Value) > d.MaxLen,
			!d.Repeatable && int(o.ID) == prev,
			d.Format == FormatString && !utf8.Valid(o.Value),
			code.IsResponse() && requestOnly(o.ID),
			code.IsRequest() && responseOnly(o.ID):
			return false
		default:
			if o.ID == OptOSCORE {
				if _, fe := parseOSCORE(o.Value); fe.Err != nil {
					return false
				}
			}
			known++
		}
		prev = int(o.ID)
	}
	if unknown > 0 && 2*unknown > known {
		return false
	}
	// At the end, r.off is len(b) or the payload marker, which must be
	// followed by a payload.
	return r.off != len(b)-1
}

// requestOnly reports whether option id is defined for requests only.
func requestOnly(id OptionID) bool {
	switch id {
	case OptURIHost, OptURIPort, OptURIPath, OptURIQuery, OptProxyURI, OptProxyScheme,
		OptProxyCRI, OptProxySchemeNumber, OptAccept, OptIfMatch, OptIfNoneMatch:
		return true
	}
	return false
}

// responseOnly reports whether option id is defined for responses only.
func responseOnly(id OptionID) bool {
	return id == OptLocationPath || id == OptLocationQuery
}
