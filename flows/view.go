package flows

import (
	"encoding/binary"
	"hash/maphash"
	"net/netip"
	"strconv"

	"github.com/coapaudit/coapaudit/decode"
)

// blockOpt is a decoded Block1 or Block2 option.
type blockOpt struct {
	present bool
	more    bool
	szx     uint8
	num     uint32
}

// size returns the block size in bytes (szx 7, reserved over UDP, counts
// as 1024 as in BERT).
func (b blockOpt) size() uint64 {
	if b.szx >= 6 {
		return 1024
	}
	return 16 << b.szx
}

func (b blockOpt) offset() uint64 { return uint64(b.num) * b.size() }

// view holds the facts the Tracker needs from one message. It is filled
// once per packet on the stack; its slices borrow the packet.
type view struct {
	src, dst endpoint
	code     decode.Code // the method or response code (the inner one when decrypted)

	hasObserve bool
	observe    uint32
	hasMaxAge  bool
	maxAge     uint32
	block1     blockOpt
	block2     blockOpt
	size1      uint32
	size2      uint32

	proxyURI    []byte
	proxyScheme []byte
	hasProxy    bool // Proxy-Uri or Proxy-Scheme present
	oscore      []byte
	hasOSCORE   bool
	reqTag      []byte
	hasReqTag   bool

	// uriMsg is the message whose Uri-* options name the resource: the
	// inner message when decrypted, else the outer one.
	uriMsg *decode.Message
	// path is the resource in canonical form: the Uri-Path segments and
	// Uri-Query arguments, or the path and query of Proxy-Uri decoded the
	// way a proxy splits it (see appendPath). It borrows the Tracker's
	// scratch buffer. pathHash is its keyed hash.
	path     []byte
	pathHash uint64

	payload []byte // outer payload (the ciphertext for OSCORE)
}

// fill reads p into v. Options are read from the outer message; when the
// OSCORE layer decrypted the message, the code, Uri-Path, Uri-Query, Block
// and Size options come from the inner message, and Observe from the inner
// one when the outer has none.
func (v *view) fill(p *Packet, h hasher, scratch []byte) {
	m := p.Msg
	v.code = m.Code
	v.uriMsg = m
	v.payload = m.Payload
	v.scan(m, true)
	if p.OSCORE != nil && p.OSCORE.Inner != nil {
		in := p.OSCORE.Inner
		v.code = in.Code
		v.uriMsg = in
		hasObs, obs := v.hasObserve, v.observe
		v.block1, v.block2, v.size1, v.size2 = blockOpt{}, blockOpt{}, 0, 0
		v.scan(in, false)
		if hasObs {
			v.hasObserve, v.observe = true, obs
		}
	}
	if len(v.proxyURI) > 0 {
		v.path = appendProxyURIPath(scratch[:0], v.proxyURI)
	} else {
		v.path = appendPath(scratch[:0], v.uriMsg)
	}
	v.pathHash = h.bytes(v.path)
}

// scan reads the options of m. outer says whether m is the outer message;
// Proxy-*, OSCORE and Request-Tag are only taken from it.
func (v *view) scan(m *decode.Message, outer bool) {
	for i := range m.Options {
		o := &m.Options[i]
		switch o.ID {
		case decode.OptObserve:
			if !v.hasObserve {
				v.hasObserve, v.observe = true, decode.DecodeUint(o.Value)&0xffffff
			}
		case decode.OptMaxAge:
			v.hasMaxAge, v.maxAge = true, decode.DecodeUint(o.Value)
		case decode.OptBlock1:
			v.block1 = parseBlock(o.Value)
		case decode.OptBlock2:
			v.block2 = parseBlock(o.Value)
		case decode.OptSize1:
			v.size1 = decode.DecodeUint(o.Value)
		case decode.OptSize2:
			v.size2 = decode.DecodeUint(o.Value)
		case decode.OptProxyURI:
			if outer {
				v.proxyURI, v.hasProxy = o.Value, true
			}
		case decode.OptProxyScheme:
			if outer {
				v.proxyScheme, v.hasProxy = o.Value, true
			}
		case decode.OptOSCORE:
			if outer {
				v.oscore, v.hasOSCORE = o.Value, true
			}
		case decode.OptRequestTag:
			if outer && !v.hasReqTag {
				v.reqTag, v.hasReqTag = o.Value, true
			}
		}
	}
}

func parseBlock(b []byte) blockOpt {
	num, more, szx := decode.ParseBlock(b)
	return blockOpt{present: true, num: num, more: more, szx: szx}
}

// Segment markers keep "a/b" apart from "ab" and paths from queries in
// the canonical form of a resource. A segment's bytes are escaped so that
// no marker byte appears inside one.
const (
	markPath  = 0x01
	markQuery = 0x02
	markEsc   = 0x03
)

func appendSegByte(dst []byte, c byte) []byte {
	if c <= markEsc {
		return append(dst, markEsc, c)
	}
	return append(dst, c)
}

// appendPath appends the canonical form of the Uri-Path segments and
// Uri-Query arguments of m.
func appendPath(dst []byte, m *decode.Message) []byte {
	for i := range m.Options {
		mark := byte(0)
		switch m.Options[i].ID {
		case decode.OptURIPath:
			mark = markPath
		case decode.OptURIQuery:
			mark = markQuery
		default:
			continue
		}
		dst = append(dst, mark)
		for _, c := range m.Options[i].Value {
			dst = appendSegByte(dst, c)
		}
	}
	return dst
}

// appendProxyURIPath appends the canonical form of the path and query of
// a Proxy-Uri, equal to what appendPath gives for the options a proxy
// splits it into (RFC 7252 section 6.4): segments percent-decoded, an
// empty path and "/" alike.
func appendProxyURIPath(dst, u []byte) []byte {
	_, rest := splitAuthority(u)
	path, query := rest, []byte(nil)
	for i, c := range rest {
		if c == '?' {
			path, query = rest[:i], rest[i+1:]
			break
		}
	}
	if len(path) > 0 && path[0] == '/' {
		path = path[1:]
	}
	if len(path) > 0 {
		dst = appendSegments(dst, path, '/', markPath)
	}
	if query != nil {
		dst = appendSegments(dst, query, '&', markQuery)
	}
	return dst
}

func appendSegments(dst, s []byte, sep, mark byte) []byte {
	dst = append(dst, mark)
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == sep:
			dst = append(dst, mark)
		case c == '%' && i+2 < len(s) && isHex(s[i+1]) && isHex(s[i+2]):
			dst = appendSegByte(dst, unhex(s[i+1])<<4|unhex(s[i+2]))
			i += 2
		default:
			dst = appendSegByte(dst, c)
		}
	}
	return dst
}

func isHex(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
}

func unhex(c byte) byte {
	switch {
	case c <= '9':
		return c - '0'
	case c <= 'F':
		return c - 'A' + 10
	}
	return c - 'a' + 10
}

// splitAuthority splits an absolute URI into its authority and the rest
// (path and query). A URI without "//" has an empty authority.
func splitAuthority(u []byte) (auth, rest []byte) {
	for i := 0; i+2 < len(u); i++ {
		if u[i] == ':' && u[i+1] == '/' && u[i+2] == '/' {
			u = u[i+3:]
			for j, c := range u {
				if c == '/' || c == '?' || c == '#' {
					return u[:j], u[j:]
				}
			}
			return u, nil
		}
		if u[i] == '/' || u[i] == '?' {
			break
		}
	}
	return nil, u
}

// schemeOf returns the scheme of an absolute URI, lowercased, or "".
func schemeOf(u []byte) string {
	for i, c := range u {
		if c == ':' {
			switch string(u[:i]) {
			case "coap", "COAP":
				return "coap"
			case "coaps", "COAPS":
				return "coaps"
			}
			return string(u[:i])
		}
		if c == '/' {
			break
		}
	}
	return ""
}

func defaultPort(scheme string) uint16 {
	switch scheme {
	case "coaps", "coaps+tcp":
		return 5684
	case "coap+ws":
		return 80
	case "coaps+ws":
		return 443
	}
	return 5683
}

// parseTarget resolves the origin a forward-proxy request names, when it
// is an IP literal: the authority of Proxy-Uri, or Proxy-Scheme with
// Uri-Host and Uri-Port.
func parseTarget(v *view, outer *decode.Message) netip.AddrPort {
	var host []byte
	var port uint16
	var scheme string
	switch {
	case len(v.proxyURI) > 0:
		scheme = schemeOf(v.proxyURI)
		auth, _ := splitAuthority(v.proxyURI)
		host = auth
		if i := lastColonOutsideBrackets(auth); i >= 0 {
			p, err := strconv.ParseUint(string(auth[i+1:]), 10, 16)
			if err != nil {
				return netip.AddrPort{}
			}
			host, port = auth[:i], uint16(p)
		}
		if len(host) > 1 && host[0] == '[' && host[len(host)-1] == ']' {
			host = host[1 : len(host)-1]
		}
	case len(v.proxyScheme) > 0:
		scheme = string(v.proxyScheme)
		h, ok := outer.Option(decode.OptURIHost)
		if !ok {
			return netip.AddrPort{}
		}
		host = h
		if p, ok := outer.UintOption(decode.OptURIPort); ok {
			port = uint16(p)
		}
	default:
		return netip.AddrPort{}
	}
	if port == 0 {
		port = defaultPort(scheme)
	}
	a, err := netip.ParseAddr(string(host))
	if err != nil {
		return netip.AddrPort{}
	}
	return netip.AddrPortFrom(a.Unmap(), port)
}

func lastColonOutsideBrackets(b []byte) int {
	for i := len(b) - 1; i >= 0; i-- {
		switch b[i] {
		case ':':
			return i
		case ']':
			return -1
		}
	}
	return -1
}

// appendURI appends the request URI as the request shows it (RFC 7252
// section 6.5): Proxy-Uri verbatim, or the URI composed from Proxy-Scheme,
// Uri-Host, Uri-Port, the destination and the Uri-Path and Uri-Query of
// v.uriMsg.
func appendURI(dst []byte, v *view, outer *decode.Message, to netip.AddrPort, scheme string) []byte {
	if len(v.proxyURI) > 0 {
		return append(dst, v.proxyURI...)
	}
	if len(v.proxyScheme) > 0 {
		scheme = string(v.proxyScheme)
	}
	dst = append(dst, scheme...)
	dst = append(dst, "://"...)
	if h, ok := outer.Option(decode.OptURIHost); ok {
		dst = appendEscaped(dst, h, false)
	} else if to.Addr().Is6() && !to.Addr().Is4In6() {
		dst = append(dst, '[')
		dst = to.Addr().AppendTo(dst)
		dst = append(dst, ']')
	} else {
		dst = to.Addr().Unmap().AppendTo(dst)
	}
	port := to.Port()
	if p, ok := outer.UintOption(decode.OptURIPort); ok {
		port = uint16(p)
	}
	if port != defaultPort(scheme) {
		dst = append(dst, ':')
		dst = strconv.AppendUint(dst, uint64(port), 10)
	}
	m := v.uriMsg
	n := 0
	for i := range m.Options {
		if m.Options[i].ID == decode.OptURIPath {
			dst = append(dst, '/')
			dst = appendEscaped(dst, m.Options[i].Value, false)
			n++
		}
	}
	if n == 0 {
		dst = append(dst, '/')
	}
	sep := byte('?')
	for i := range m.Options {
		if m.Options[i].ID == decode.OptURIQuery {
			dst = append(dst, sep)
			dst = appendEscaped(dst, m.Options[i].Value, true)
			sep = '&'
		}
	}
	return dst
}

// appendEscaped percent-encodes the characters RFC 3986 does not allow
// in a path segment (query: also keeps '/' and '?', escapes '&').
func appendEscaped(dst, s []byte, query bool) []byte {
	const hexDigits = "0123456789ABCDEF"
	for _, c := range s {
		ok := unreservedOrSub(c) || c == ':' || c == '@'
		if query {
			ok = ok && c != '&' || c == '/' || c == '?'
		}
		if ok {
			dst = append(dst, c)
			continue
		}
		dst = append(dst, '%', hexDigits[c>>4], hexDigits[c&15])
	}
	return dst
}

func unreservedOrSub(c byte) bool {
	switch {
	case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		return true
	}
	switch c {
	case '-', '.', '_', '~', '!', '$', '\'', '(', ')', '*', '+', ',', ';', '=':
		return true
	}
	return false
}

// hasher computes the hashes the Tracker files state under in maps:
// whole messages, request link keys, response contents and long tokens.
// It is keyed with a random seed drawn when the Tracker is made, after the
// capture was written, so that whoever chose the bytes in it cannot make
// two contents collide. A hash only picks a candidate: equality is decided
// on the bytes (see content.go), except for the Message ID table, which
// keeps no bytes and compares a 128-bit keyed digest (two independent
// seeds). The fixed-size tables are placed with fixedHash instead, so that
// which entry a full set evicts, and so the output, is the same in every
// run.
type hasher struct{ seed, seed2 maphash.Seed }

func newHasher() hasher { return hasher{maphash.MakeSeed(), maphash.MakeSeed()} }

func (h hasher) bytes(b []byte) uint64 { return maphash.Bytes(h.seed, b) }

// fixedHash hashes b with a fixed function, eight bytes at a time, each
// block mixed with the finaliser of MurmurHash3. It only places entries
// in the fixed-size tables (which entry a full set evicts must not depend
// on a random key, or two runs would differ); whoever chose the bytes can
// make entries share a set and evict each other, which loses links but
// never makes two contents equal: equality is decided on the bytes.
func fixedHash(b []byte) uint64 {
	h := uint64(len(b))*0x9e3779b97f4a7c15 ^ 0x2d358dccaa6c78a5
	for len(b) >= 8 {
		h = fmix64(h ^ binary.LittleEndian.Uint64(b))
		b = b[8:]
	}
	var tail uint64
	for i, c := range b {
		tail |= uint64(c) << (8 * i)
	}
	return fmix64(h ^ tail ^ uint64(len(b))<<56)
}

func fmix64(x uint64) uint64 {
	x ^= x >> 33
	x *= 0xff51afd7ed558ccd
	x ^= x >> 33
	x *= 0xc4ceb9fe1a85ec53
	return x ^ x>>33
}

// contentSlot places a response in the table of server-leg responses:
// the code, the OSCORE option and the payload, as contentKey.
func contentSlot(m *decode.Message, v *view) uint64 {
	k := mix(uint64(m.Code)|4<<40, fixedHash(v.payload))
	if v.hasOSCORE {
		k = mix(k, fixedHash(v.oscore))
	}
	return k
}

// digest returns the 128-bit keyed digest of b.
func (h hasher) digest(b []byte) [2]uint64 {
	return [2]uint64{maphash.Bytes(h.seed, b), maphash.Bytes(h.seed2, b)}
}

func mix(a, b uint64) uint64 {
	a ^= b + 0x9e3779b97f4a7c15 + a<<6 + a>>2
	a ^= a >> 31
	a *= 0xbf58476d1ce4e5b9
	return a ^ a>>29
}

// linkKey identifies a request across a proxy. For OSCORE it is the
// option and the ciphertext, which a proxy forwards unchanged; otherwise
// the method, the resource and the payload. noPayload drops the payload,
// for proxies that reassemble or re-block a Block1 transfer.
func (h hasher) linkKey(v *view, outerCode decode.Code, noPayload bool) uint64 {
	if v.hasOSCORE {
		return mix(mix(uint64(outerCode)|1<<40, h.bytes(v.oscore)), h.bytes(v.payload))
	}
	k := mix(uint64(v.code)|2<<40, v.pathHash)
	if noPayload {
		return mix(k, 3)
	}
	return mix(k, h.bytes(v.payload))
}

// contentKey identifies a response across a proxy: the code, the OSCORE
// option and the payload; Observe, Max-Age and the rest may change on the
// way.
func (h hasher) contentKey(m *decode.Message, v *view) uint64 {
	k := mix(uint64(m.Code)|4<<40, h.bytes(v.payload))
	if v.hasOSCORE {
		k = mix(k, h.bytes(v.oscore))
	}
	return k
}
