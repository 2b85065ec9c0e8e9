package oscore

import (
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strconv"
	"strings"

	"github.com/coapaudit/coapaudit/decode"
)

// CoAP codes OSCORE puts in the outer message (RFC 8613 section 4.2).
const (
	codePOST    decode.Code = 0x02
	codeFETCH   decode.Code = 0x05
	codeChanged decode.Code = 0x44 // 2.04
	codeContent decode.Code = 0x45 // 2.05
)

// RequestRef is what a response is bound to: the request's kid (the
// requester's Sender ID) and Partial IV (RFC 8613 section 5.4).
type RequestRef struct {
	KID, PIV []byte
}

// Errors from protecting and unprotecting messages.
var (
	ErrNotRequest      = errors.New("message is not a request")
	ErrAlreadyOSCORE   = errors.New("message already has an OSCORE option")
	ErrNoOSCORE        = errors.New("message has no OSCORE option")
	ErrTokenLength     = errors.New("token longer than 8 bytes")
	ErrNoPartialIV     = errors.New("request has no Partial IV")
	ErrKIDMismatch     = errors.New("kid is not the recipient ID of this context")
	ErrRequestKIDShape = errors.New("request kid does not fit the nonce")
)

// seal protects plaintext as party pt: the nonce is built from idPIV and
// piv, the AAD from the request's kid and Partial IV.
func (c *Context) seal(dst []byte, pt party, idPIV, piv, reqKID, reqPIV, plaintext []byte) ([]byte, error) {
	sc := new(scratch)
	n, aad, err := c.nonceAAD(sc, idPIV, piv, reqKID, reqPIV)
	if err != nil {
		return nil, err
	}
	return c.sec.aeads[pt].Seal(dst, n, plaintext, aad), nil
}

// scratch holds a nonce and an AAD while an AEAD uses them. The AEAD is an
// interface, so buffers passed to it escape: a Decryptor keeps one scratch
// and reuses it.
type scratch struct {
	nonce [maxNonceLen]byte
	aad   [64]byte
}

// nonceAAD builds the nonce and the AAD in sc.
func (c *Context) nonceAAD(sc *scratch, idPIV, piv, reqKID, reqPIV []byte) (nonce, aad []byte, err error) {
	nonce = sc.nonce[:len(c.sec.commonIV)]
	if err := makeNonce(nonce, c.sec.commonIV, idPIV, piv); err != nil {
		return nil, nil, err
	}
	return nonce, appendAAD(sc.aad[:0], c.alg, reqKID, reqPIV), nil
}

// open verifies and decrypts ciphertext protected by party pt, using sc
// (nil: a new one) for the nonce and AAD.
func (c *Context) open(dst []byte, sc *scratch, pt party, idPIV, piv, reqKID, reqPIV, ciphertext []byte) ([]byte, error) {
	if len(ciphertext) < c.alg.TagLen() {
		return nil, ErrCiphertextShort
	}
	if sc == nil {
		sc = new(scratch)
	}
	n, aad, err := c.nonceAAD(sc, idPIV, piv, reqKID, reqPIV)
	if err != nil {
		return nil, err
	}
	out, err := c.sec.aeads[pt].Open(dst, n, ciphertext, aad)
	if err != nil {
		return nil, ErrAuthentication
	}
	return out, nil
}

// ProtectRequest returns the wire form of the CoAP request m protected by
// this context's sender with Partial IV seq (the Sender Sequence Number),
// and the values a response to it is bound to. The OSCORE option carries
// the Sender ID as kid and, when the context has one, the ID Context as
// kid context. m's options need not be sorted; a Proxy-Uri is split into
// its outer and inner parts (RFC 8613 section 4.1.3.3).
func (c *Context) ProtectRequest(m *decode.Message, seq uint64) ([]byte, RequestRef, error) {
	if m.Code.Class() != 0 || m.Code == 0 {
		return nil, RequestRef{}, ErrNotRequest
	}
	piv, err := encodePIV(seq)
	if err != nil {
		return nil, RequestRef{}, err
	}
	kid := c.ids[partySender]
	opt := []byte{byte(len(piv)) | 0x08}
	opt = append(opt, piv...)
	if c.hasIDContext {
		if len(c.idContext) > 255 {
			return nil, RequestRef{}, errors.New("ID Context longer than 255 bytes")
		}
		opt[0] |= 0x10
		opt = append(opt, byte(len(c.idContext)))
		opt = append(opt, c.idContext...)
	}
	opt = append(opt, kid...)
	ref := RequestRef{KID: clone(kid), PIV: piv}
	out, err := c.protect(m, partySender, opt, kid, piv, kid, piv, true)
	return out, ref, err
}

// ProtectResponse returns the wire form of the CoAP response m protected
// by this context's sender as the answer to req. With ownPIV the response
// carries its own Partial IV seq (as notifications must, RFC 8613 section
// 4.1.3.5); without, it reuses the request's nonce and seq is ignored.
func (c *Context) ProtectResponse(m *decode.Message, req RequestRef, seq uint64, ownPIV bool) ([]byte, error) {
	if m.Code.Class() == 0 {
		return nil, errors.New("message is not a response")
	}
	if !ownPIV {
		return c.protect(m, partySender, nil, req.KID, req.PIV, req.KID, req.PIV, false)
	}
	piv, err := encodePIV(seq)
	if err != nil {
		return nil, err
	}
	opt := append([]byte{byte(len(piv))}, piv...)
	return c.protect(m, partySender, opt, c.ids[partySender], piv, req.KID, req.PIV, false)
}

// protect splits m into the outer message and the plaintext (code, Class E
// options, payload), encrypts the plaintext and encodes the result.
func (c *Context) protect(m *decode.Message, pt party, optValue, idPIV, piv, reqKID, reqPIV []byte, request bool) ([]byte, error) {
	if len(m.Token) > 8 {
		return nil, ErrTokenLength
	}
	var inner, outer []decode.Option
	observe := false
	for _, o := range m.Options {
		switch o.ID {
		case decode.OptOSCORE:
			return nil, ErrAlreadyOSCORE
		case decode.OptProxyURI:
			in, out, err := splitProxyURI(string(o.Value))
			if err != nil {
				return nil, err
			}
			inner = append(inner, in...)
			outer = append(outer, out...)
			continue
		case decode.OptObserve:
			observe = true
		}
		cl := decode.OSCOREClass(o.ID)
		if cl.Inner() {
			inner = append(inner, decode.Option{ID: o.ID, Value: o.Value})
		}
		// Observe is also outer so that proxies can serve it (RFC 8613
		// section 4.1.3.5); other E+U options stay inner only.
		if !cl.Inner() || o.ID == decode.OptObserve {
			outer = append(outer, decode.Option{ID: o.ID, Value: o.Value})
		}
	}
	outer = append(outer, decode.Option{ID: decode.OptOSCORE, Value: optValue})
	sortOptions(inner)
	sortOptions(outer)

	plain := []byte{byte(m.Code)}
	plain = decode.AppendOptions(plain, inner)
	if len(m.Payload) > 0 {
		plain = append(plain, 0xff)
		plain = append(plain, m.Payload...)
	}

	code := codeChanged
	switch {
	case request && observe:
		code = codeFETCH
	case request:
		code = codePOST
	case observe:
		code = codeContent
	}
	out := []byte{0x40 | byte(m.Type&3)<<4 | byte(len(m.Token)), byte(code), byte(m.MessageID >> 8), byte(m.MessageID)}
	out = append(out, m.Token...)
	out = decode.AppendOptions(out, outer)
	out = append(out, 0xff)
	return c.seal(out, pt, idPIV, piv, reqKID, reqPIV, plain)
}

// UnprotectRequest verifies and decrypts a request sent to this context's
// point of view: its kid must be the Recipient ID. It returns the
// plaintext (code, Class E options, payload) and the values the response
// is bound to. The plaintext is newly allocated.
func (c *Context) UnprotectRequest(m *decode.Message) ([]byte, RequestRef, error) {
	o, ct, err := oscoreParts(m)
	if err != nil {
		return nil, RequestRef{}, err
	}
	if len(o.PIV) == 0 {
		return nil, RequestRef{}, ErrNoPartialIV
	}
	kid := o.KID
	if !o.HasKID || string(kid) != string(c.ids[partyRecipient]) {
		return nil, RequestRef{}, ErrKIDMismatch
	}
	pt, err := c.open(nil, nil, partyRecipient, kid, o.PIV, kid, o.PIV, ct)
	if err != nil {
		return nil, RequestRef{}, err
	}
	return pt, RequestRef{KID: clone(kid), PIV: clone(o.PIV)}, nil
}

// UnprotectResponse verifies and decrypts a response to the request req,
// sent by this context's recipient.
func (c *Context) UnprotectResponse(m *decode.Message, req RequestRef) ([]byte, error) {
	o, ct, err := oscoreParts(m)
	if err != nil {
		return nil, err
	}
	idPIV, piv := req.KID, req.PIV
	if len(o.PIV) > 0 {
		idPIV, piv = c.ids[partyRecipient], o.PIV
	}
	return c.open(nil, nil, partyRecipient, idPIV, piv, req.KID, req.PIV, ct)
}

// oscoreParts returns m's parsed OSCORE option and ciphertext (payload).
func oscoreParts(m *decode.Message) (decode.OSCOREOption, []byte, error) {
	for _, opt := range m.Options {
		if opt.ID == decode.OptOSCORE {
			o, err := decode.ParseOSCORE(opt.Value)
			return o, m.Payload, err
		}
	}
	return decode.OSCOREOption{}, nil, ErrNoOSCORE
}

// splitProxyURI decomposes a Proxy-Uri into Proxy-Scheme, Uri-Host and
// Uri-Port (outer) and Uri-Path and Uri-Query (inner), RFC 8613 section
// 4.1.3.3 and RFC 7252 section 6.4.
func splitProxyURI(s string) (inner, outer []decode.Option, err error) {
	u, err := url.Parse(s)
	if err != nil || u.Scheme == "" || u.Host == "" {
		return nil, nil, fmt.Errorf("Proxy-Uri is not an absolute URI")
	}
	outer = append(outer, decode.Option{ID: decode.OptProxyScheme, Value: []byte(u.Scheme)})
	outer = append(outer, decode.Option{ID: decode.OptURIHost, Value: []byte(u.Hostname())})
	if p := u.Port(); p != "" {
		n, err := strconv.ParseUint(p, 10, 16)
		if err != nil {
			return nil, nil, fmt.Errorf("Proxy-Uri port: %w", err)
		}
		outer = append(outer, decode.Option{ID: decode.OptURIPort, Value: uintBytes(n)})
	}
	if path := strings.TrimPrefix(u.EscapedPath(), "/"); path != "" {
		for _, seg := range strings.Split(path, "/") {
			v, err := url.PathUnescape(seg)
			if err != nil {
				return nil, nil, fmt.Errorf("Proxy-Uri path: %w", err)
			}
			inner = append(inner, decode.Option{ID: decode.OptURIPath, Value: []byte(v)})
		}
	}
	if u.RawQuery != "" {
		for _, q := range strings.Split(u.RawQuery, "&") {
			v, err := url.QueryUnescape(q)
			if err != nil {
				return nil, nil, fmt.Errorf("Proxy-Uri query: %w", err)
			}
			inner = append(inner, decode.Option{ID: decode.OptURIQuery, Value: []byte(v)})
		}
	}
	return inner, outer, nil
}

// uintBytes encodes v as a CoAP uint option value: big-endian, no leading
// zeros, empty for 0.
func uintBytes(v uint64) []byte {
	var b []byte
	for ; v != 0; v >>= 8 {
		b = append([]byte{byte(v)}, b...)
	}
	return b
}

func sortOptions(opts []decode.Option) {
	slices.SortStableFunc(opts, func(a, b decode.Option) int { return int(a.ID) - int(b.ID) })
}
