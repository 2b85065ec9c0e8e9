package export

import (
	"encoding/hex"
	"net/netip"
	"strconv"
	"time"
	"unicode/utf8"

	"github.com/coapaudit/coapaudit/capture"
	"github.com/coapaudit/coapaudit/flows"
)

// Exchange is the exchange record: one request and everything that
// belongs to it on every leg (flows.Exchange), as docs/CONTRACT.md names it.
type Exchange struct {
	*flows.Exchange
	// Refs name the frames when several capture files are analysed
	// together: every list of frame numbers then has a list of the files
	// they are in beside it ("request_frames" and "request_files"), and
	// CSV cells name frames "file#frame". Nil for one file.
	Refs *capture.FrameRefs
}

// Type implements Record.
func (x Exchange) Type() string { return "exchange" }

// AppendJSON implements Record. It writes what encoding/json writes for
// flows.Exchange with a leading "type":"exchange" (its field tags decide
// the keys, their order and what is left out; strings escape <, > and &
// as \u003c, \u003e and \u0026), without reflection and, once dst has
// grown, without allocating. A nil Exchange writes only the type.
//
// Times outside the years 0 to 9999, which encoding/json refuses, are
// written as time.RFC3339Nano formats them.
func (x Exchange) AppendJSON(dst []byte) []byte {
	dst = append(dst, `{"type":"exchange"`...)
	e, refs := x.Exchange, x.Refs
	if e == nil {
		return append(dst, '}')
	}
	dst = appendXString(append(dst, `,"id":`...), e.ID)
	dst = appendAddrPort(append(dst, `,"client":`...), e.Client)
	dst = appendAddrPort(append(dst, `,"server":`...), e.Server)
	dst = appendAddrPort(append(dst, `,"proxy":`...), e.Proxy)
	if len(e.Proxies) > 0 {
		dst = append(dst, `,"proxies":[`...)
		for i, p := range e.Proxies {
			if i > 0 {
				dst = append(dst, ',')
			}
			dst = appendAddrPort(dst, p)
		}
		dst = append(dst, ']')
	}
	dst = appendXString(append(dst, `,"method":`...), e.Method)
	dst = appendXString(append(dst, `,"uri":`...), e.URI)
	dst = appendXString(append(dst, `,"code":`...), e.Code)
	dst = appendXString(append(dst, `,"protected":`...), e.Protected)
	dst = appendXString(append(dst, `,"status":`...), string(e.Status))
	dst = append(dst, `,"legs":`...)
	if e.Legs == nil {
		dst = append(dst, "null"...)
	} else {
		dst = append(dst, '[')
		for i := range e.Legs {
			if i > 0 {
				dst = append(dst, ',')
			}
			dst = appendLeg(dst, &e.Legs[i], refs)
		}
		dst = append(dst, ']')
	}
	dst = strconv.AppendInt(append(dst, `,"notifications":`...), int64(e.Notifications), 10)
	dst = appendRefFrames(refs, dst, `,"frames":`, `,"frame_files":`, e.Frames)
	if e.FramesOmitted != 0 {
		dst = strconv.AppendInt(append(dst, `,"frames_omitted":`...), int64(e.FramesOmitted), 10)
	}
	dst = appendRFC3339(append(dst, `,"start":`...), e.Start)
	dst = appendRFC3339(append(dst, `,"end":`...), e.End)
	if e.RTT.Valid {
		dst = appendSeconds(append(dst, `,"rtt":`...), e.RTT)
	}
	if len(e.Residence) > 0 {
		dst = append(dst, `,"residence":[`...)
		for i := range e.Residence {
			r := &e.Residence[i]
			if i > 0 {
				dst = append(dst, ',')
			}
			dst = appendAddrPort(append(dst, `{"proxy":`...), r.Proxy)
			if r.Request.Valid {
				dst = appendSeconds(append(dst, `,"request":`...), r.Request)
			}
			if r.Response.Valid {
				dst = appendSeconds(append(dst, `,"response":`...), r.Response)
			}
			if r.MaxNotification.Valid {
				dst = appendSeconds(append(dst, `,"max_notification":`...), r.MaxNotification)
			}
			dst = strconv.AppendBool(append(dst, `,"relayed":`...), r.Relayed)
			dst = append(dst, '}')
		}
		dst = append(dst, ']')
	}
	if o := e.Observe; o != nil {
		dst = strconv.AppendBool(append(dst, `,"observe":{"established":`...), o.Established)
		dst = strconv.AppendUint(append(dst, `,"first_seq":`...), uint64(o.FirstSeq), 10)
		dst = strconv.AppendUint(append(dst, `,"last_seq":`...), uint64(o.LastSeq), 10)
		dst = appendIntOmitEmpty(dst, `,"reregistrations":`, o.Reregistrations)
		dst = appendIntOmitEmpty(dst, `,"stale":`, o.Stale)
		if o.Ended != "" {
			dst = appendXString(append(dst, `,"ended":`...), o.Ended)
		}
		if o.EndFrame != 0 {
			dst = appendRefFrame(refs, dst, `,"end_frame":`, `,"end_file":`, o.EndFrame)
		}
		dst = appendIntOmitEmpty(dst, `,"late":`, o.Late)
		if o.LastCode != "" {
			dst = appendXString(append(dst, `,"last_code":`...), o.LastCode)
		}
		if o.Deregistration {
			dst = append(dst, `,"deregistration":true`...)
		}
		if len(o.Unacknowledged) > 0 {
			dst = appendInts(append(dst, `,"unacknowledged":`...), o.Unacknowledged)
		}
		dst = appendIntOmitEmpty(dst, `,"unacknowledged_more":`, o.UnacknowledgedMore)
		if o.Vanished {
			dst = append(dst, `,"vanished":true`...)
		}
		dst = append(dst, '}')
	}
	if b := e.Block; b != nil {
		dst = appendXString(append(dst, `,"block":{"option":`...), b.Option)
		dst = strconv.AppendInt(append(dst, `,"blocks":`...), int64(b.Blocks), 10)
		dst = appendIntOmitEmpty(dst, `,"repeated":`, b.Repeated)
		dst = appendIntOmitEmpty(dst, `,"missing":`, b.Missing)
		dst = strconv.AppendBool(append(dst, `,"complete":`...), b.Complete)
		dst = strconv.AppendInt(append(dst, `,"bytes":`...), int64(b.Bytes), 10)
		if b.Size1 != 0 {
			dst = strconv.AppendUint(append(dst, `,"size1":`...), uint64(b.Size1), 10)
		}
		if b.Size2 != 0 {
			dst = strconv.AppendUint(append(dst, `,"size2":`...), uint64(b.Size2), 10)
		}
		if b.SizeChanged {
			dst = append(dst, `,"size_changed":true`...)
		}
		dst = append(dst, '}')
	}
	if o := e.OSCORE; o != nil {
		dst = appendHex(append(dst, `,"oscore":{"kid":`...), o.KID)
		if len(o.KIDContext) > 0 {
			dst = appendHex(append(dst, `,"kid_context":`...), o.KIDContext)
		}
		dst = appendHex(append(dst, `,"piv":`...), o.PIV)
		if o.RequestVerified != "" {
			dst = appendXString(append(dst, `,"request_verified":`...), o.RequestVerified)
		}
		if o.ResponseVerified != "" {
			dst = appendXString(append(dst, `,"response_verified":`...), o.ResponseVerified)
		}
		dst = append(dst, '}')
	}
	if e.Evicted {
		dst = append(dst, `,"evicted":true`...)
	}
	if e.Open {
		dst = append(dst, `,"open":true`...)
	}
	if len(e.Links) > 0 {
		dst = append(dst, `,"links":[`...)
		for i := range e.Links {
			l := &e.Links[i]
			if i > 0 {
				dst = append(dst, ',')
			}
			dst = appendXString(append(dst, `{"kind":`...), l.Kind)
			dst = appendXString(append(dst, `,"exchange":`...), l.Exchange)
			dst = appendRefFrame(refs, dst, `,"frame":`, `,"file":`, l.Frame)
			if l.Peer != (netip.AddrPort{}) {
				dst = appendAddrPort(append(dst, `,"peer":`...), l.Peer)
			}
			dst = append(dst, '}')
		}
		dst = append(dst, ']')
	}
	dst = appendIntOmitEmpty(dst, `,"links_omitted":`, e.LinksOmitted)
	if e.Role != "" {
		dst = appendXString(append(dst, `,"role":`...), e.Role)
	}
	if e.RoleEvidence != "" {
		dst = appendXString(append(dst, `,"role_evidence":`...), e.RoleEvidence)
	}
	if e.Publication {
		dst = append(dst, `,"publication":true`...)
	}
	if len(e.Diff) > 0 {
		dst = append(dst, `,"diff":[`...)
		for i := range e.Diff {
			d := &e.Diff[i]
			if i > 0 {
				dst = append(dst, ',')
			}
			dst = appendXString(append(dst, `{"dir":`...), d.Dir)
			dst = appendXString(append(dst, `,"field":`...), d.Field)
			dst = appendXString(append(dst, `,"client":`...), d.Client)
			dst = appendXString(append(dst, `,"server":`...), d.Server)
			dst = appendRefFrame(refs, dst, `,"client_frame":`, `,"client_file":`, d.ClientFrame)
			dst = appendRefFrame(refs, dst, `,"server_frame":`, `,"server_file":`, d.ServerFrame)
			dst = appendAddrPort(append(dst, `,"proxy":`...), d.Proxy)
			if d.Allowed != "" {
				dst = appendXString(append(dst, `,"allowed":`...), d.Allowed)
			}
			dst = append(dst, '}')
		}
		dst = append(dst, ']')
	}
	if e.Ambiguous {
		dst = append(dst, `,"ambiguous":true`...)
	}
	return append(dst, '}')
}

func appendLeg(dst []byte, l *flows.Leg, refs *capture.FrameRefs) []byte {
	dst = appendAddrPort(append(dst, `{"from":`...), l.From)
	dst = appendAddrPort(append(dst, `,"to":`...), l.To)
	dst = appendHex(append(dst, `,"token":`...), l.Token)
	dst = appendXString(append(dst, `,"type":`...), l.Type)
	if l.Transport != "" {
		dst = appendXString(append(dst, `,"transport":`...), l.Transport)
	}
	if l.Protection != "" {
		dst = appendXString(append(dst, `,"protection":`...), l.Protection)
	}
	dst = appendRefFrames(refs, dst, `,"request_frames":`, `,"request_files":`, l.RequestFrames)
	dst = appendRefFrames(refs, dst, `,"response_frames":`, `,"response_files":`, l.ResponseFrames)
	if len(l.OtherFrames) > 0 {
		dst = appendRefFrames(refs, dst, `,"other_frames":`, `,"other_files":`, l.OtherFrames)
	}
	dst = appendRFC3339(append(dst, `,"request_time":`...), l.RequestTime)
	if !l.ResponseTime.IsZero() {
		dst = appendRFC3339(append(dst, `,"response_time":`...), l.ResponseTime)
	}
	dst = strconv.AppendInt(append(dst, `,"request_size":`...), int64(l.RequestSize), 10)
	dst = appendIntOmitEmpty(dst, `,"response_size":`, l.ResponseSize)
	dst = strconv.AppendInt(append(dst, `,"request_bytes":`...), int64(l.RequestBytes), 10)
	dst = appendIntOmitEmpty(dst, `,"response_bytes":`, l.ResponseBytes)
	if l.Code != "" {
		dst = appendXString(append(dst, `,"code":`...), l.Code)
	}
	dst = strconv.AppendInt(append(dst, `,"requests":`...), int64(l.Requests), 10)
	dst = strconv.AppendInt(append(dst, `,"responses":`...), int64(l.Responses), 10)
	dst = appendIntOmitEmpty(dst, `,"retransmissions":`, l.Retransmissions)
	dst = appendIntOmitEmpty(dst, `,"duplicates":`, l.Duplicates)
	dst = appendIntOmitEmpty(dst, `,"replays":`, l.Replays)
	dst = appendIntOmitEmpty(dst, `,"response_retransmissions":`, l.ResponseRetransmissions)
	dst = appendIntOmitEmpty(dst, `,"response_duplicates":`, l.ResponseDuplicates)
	dst = appendIntOmitEmpty(dst, `,"rejected":`, l.Rejected)
	dst = appendIntOmitEmpty(dst, `,"notifications":`, l.Notifications)
	dst = appendIntOmitEmpty(dst, `,"block_size":`, l.BlockSize)
	if l.Replay {
		dst = append(dst, `,"replay":true`...)
	}
	if l.Shared != "" {
		dst = appendXString(append(dst, `,"shared":`...), l.Shared)
	}
	if len(l.LinkEvidence) > 0 {
		dst = append(dst, `,"link_evidence":[`...)
		for i, s := range l.LinkEvidence {
			if i > 0 {
				dst = append(dst, ',')
			}
			dst = appendXString(dst, s)
		}
		dst = append(dst, ']')
	}
	return append(dst, '}')
}

// appendIntOmitEmpty appends key (a comma, the quoted name and a colon)
// and v, unless v is 0.
func appendIntOmitEmpty(dst []byte, key string, v int) []byte {
	if v == 0 {
		return dst
	}
	return strconv.AppendInt(append(dst, key...), int64(v), 10)
}

// appendInts appends v as a JSON array, or null when v is nil.
func appendInts(dst []byte, v []int) []byte {
	if v == nil {
		return append(dst, "null"...)
	}
	dst = append(dst, '[')
	for i, n := range v {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = strconv.AppendInt(dst, int64(n), 10)
	}
	return append(dst, ']')
}

// appendSeconds appends d as flows.Duration marshals it: seconds in the
// shortest decimal form, never in exponent notation.
func appendSeconds(dst []byte, d flows.Duration) []byte {
	return strconv.AppendFloat(dst, d.Seconds(), 'f', -1, 64)
}

// appendRFC3339 appends t as a JSON string in time.RFC3339Nano, in t's
// location, as time.Time marshals it.
func appendRFC3339(dst []byte, t time.Time) []byte {
	dst = append(dst, '"')
	dst = t.AppendFormat(dst, time.RFC3339Nano)
	return append(dst, '"')
}

// appendAddrPort appends a as a JSON string: ip:port, or "" for the zero
// value, as netip.AddrPort marshals itself.
func appendAddrPort(dst []byte, a netip.AddrPort) []byte {
	if a.Addr().Zone() != "" {
		// An IPv6 zone is free text that may need escaping.
		return appendXString(dst, a.String())
	}
	dst = append(dst, '"')
	dst = a.AppendTo(dst)
	return append(dst, '"')
}

// appendXString appends s as a JSON string exactly as encoding/json.Marshal
// writes it: \b, \f, \n, \r and \t, \u00XX for the other control
// characters and for <, > and &, \ufffd for each byte of invalid UTF-8,
// and U+2028 and U+2029 escaped.
func appendXString(dst []byte, s string) []byte {
	dst = append(dst, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' && c != '<' && c != '>' && c != '&' {
				i++
				continue
			}
			dst = append(dst, s[start:i]...)
			switch c {
			case '"', '\\':
				dst = append(dst, '\\', c)
			case '\b':
				dst = append(dst, '\\', 'b')
			case '\f':
				dst = append(dst, '\\', 'f')
			case '\n':
				dst = append(dst, '\\', 'n')
			case '\r':
				dst = append(dst, '\\', 'r')
			case '\t':
				dst = append(dst, '\\', 't')
			default:
				dst = append(dst, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && size == 1:
			dst = append(dst, s[start:i]...)
			dst = append(dst, `\ufffd`...)
		case r == '\u2028' || r == '\u2029':
			dst = append(dst, s[start:i]...)
			dst = append(dst, '\\', 'u', '2', '0', '2', hexDigits[r&0xf])
		default:
			i += size
			continue
		}
		i += size
		start = i
	}
	dst = append(dst, s[start:]...)
	return append(dst, '"')
}

var exchangeHeader = []string{
	"id", "client", "server", "proxy", "proxies", "method", "uri", "code", "protected", "status",
	"notifications", "start", "end", "rtt", "legs", "residence_request", "residence_response",
	"request_size", "response_size", "block", "observe", "oscore_kid", "oscore_piv",
	"oscore_request_verified", "oscore_response_verified", "links", "frames", "ambiguous", "diff",
	"role", "role_evidence", "publication", "links_omitted",
}

// CSVHeader implements Record.
func (x Exchange) CSVHeader() []string { return exchangeHeader }

// The columns of an exchange row that are not strings in flows.Exchange.
const (
	xcClient = iota
	xcServer
	xcProxy
	xcProxies
	xcNotifications
	xcStart
	xcEnd
	xcRTT
	xcLegs
	xcResidenceRequest
	xcResidenceResponse
	xcRequestSize
	xcResponseSize
	xcBlock
	xcObserve
	xcKID
	xcPIV
	xcLinks
	xcFrames
	xcDiff
	xcCount
)

// rowCells formats the cells of a CSV row into one buffer, to be cut out
// of a single string: one allocation per row rather than one per cell.
type rowCells struct {
	b    []byte
	span [xcCount][2]int
	mark int
}

// done makes what was appended since the last call cell i.
func (r *rowCells) done(i int) {
	r.span[i] = [2]int{r.mark, len(r.b)}
	r.mark = len(r.b)
}

// CSVRow implements Record. Proxies, legs, residence times and links
// are joined with ';'; a leg is "from>to req=F,F resp=F,F". Unset
// durations are "-".
func (x Exchange) CSVRow(dst []string) []string {
	e, refs := x.Exchange, x.Refs
	r := rowCells{b: make([]byte, 0, 512)}
	if e.Client.IsValid() {
		r.b = e.Client.AppendTo(r.b)
	}
	r.done(xcClient)
	if e.Server.IsValid() {
		r.b = e.Server.AppendTo(r.b)
	}
	r.done(xcServer)
	if e.Proxy.IsValid() {
		r.b = e.Proxy.AppendTo(r.b)
	}
	r.done(xcProxy)
	for i, p := range e.Proxies {
		if i > 0 {
			r.b = append(r.b, ';')
		}
		r.b = appendAddrCell(r.b, p)
	}
	r.done(xcProxies)
	r.b = strconv.AppendInt(r.b, int64(e.Notifications), 10)
	r.done(xcNotifications)
	r.b = e.Start.UTC().AppendFormat(r.b, timeLayout)
	r.done(xcStart)
	if !e.End.IsZero() {
		r.b = e.End.UTC().AppendFormat(r.b, timeLayout)
	}
	r.done(xcEnd)
	r.b = appendDurCell(r.b, e.RTT)
	r.done(xcRTT)
	for i := range e.Legs {
		l := &e.Legs[i]
		if i > 0 {
			r.b = append(r.b, ';')
		}
		r.b = appendAddrCell(r.b, l.From)
		r.b = append(r.b, '>')
		r.b = appendAddrCell(r.b, l.To)
		r.b = appendRefsJoined(refs, append(r.b, " req="...), l.RequestFrames, ',')
		r.b = appendRefsJoined(refs, append(r.b, " resp="...), l.ResponseFrames, ',')
	}
	r.done(xcLegs)
	for i := range e.Residence {
		if i > 0 {
			r.b = append(r.b, ';')
		}
		r.b = appendDurCell(r.b, e.Residence[i].Request)
	}
	r.done(xcResidenceRequest)
	for i := range e.Residence {
		if i > 0 {
			r.b = append(r.b, ';')
		}
		r.b = appendDurCell(r.b, e.Residence[i].Response)
	}
	r.done(xcResidenceResponse)
	if len(e.Legs) > 0 {
		r.b = strconv.AppendInt(r.b, int64(e.Legs[0].RequestSize), 10)
		r.done(xcRequestSize)
		if len(e.Legs[0].ResponseFrames) > 0 {
			r.b = strconv.AppendInt(r.b, int64(e.Legs[0].ResponseSize), 10)
		}
		r.done(xcResponseSize)
	} else {
		r.done(xcRequestSize)
		r.done(xcResponseSize)
	}
	if b := e.Block; b != nil {
		r.b = append(r.b, b.Option...)
		r.b = strconv.AppendInt(append(r.b, " blocks="...), int64(b.Blocks), 10)
		r.b = strconv.AppendInt(append(r.b, " bytes="...), int64(b.Bytes), 10)
		r.b = strconv.AppendBool(append(r.b, " complete="...), b.Complete)
	}
	r.done(xcBlock)
	if o := e.Observe; o != nil {
		r.b = strconv.AppendUint(append(r.b, "seq="...), uint64(o.FirstSeq), 10)
		r.b = strconv.AppendUint(append(r.b, ".."...), uint64(o.LastSeq), 10)
		if o.Ended != "" {
			r.b = append(append(r.b, " ended="...), o.Ended...)
		}
	}
	r.done(xcObserve)
	var reqVerified, respVerified string
	if o := e.OSCORE; o != nil {
		r.b = hex.AppendEncode(r.b, o.KID)
		r.done(xcKID)
		r.b = hex.AppendEncode(r.b, o.PIV)
		r.done(xcPIV)
		reqVerified, respVerified = o.RequestVerified, o.ResponseVerified
	} else {
		r.done(xcKID)
		r.done(xcPIV)
	}
	for i := range e.Links {
		l := &e.Links[i]
		if i > 0 {
			r.b = append(r.b, ';')
		}
		r.b = append(r.b, l.Kind...)
		r.b = append(append(r.b, ':'), l.Exchange...)
		r.b = refs.AppendName(append(r.b, '@'), l.Frame)
	}
	r.done(xcLinks)
	r.b = appendRefsJoined(refs, r.b, e.Frames, ';')
	r.done(xcFrames)
	for i := range e.Diff {
		d := &e.Diff[i]
		if i > 0 {
			r.b = append(r.b, ';')
		}
		r.b = append(append(append(r.b, d.Dir...), ':'), d.Field...)
		r.b = append(append(append(append(r.b, '='), d.Client...), " -> "...), d.Server...)
		r.b = refs.AppendName(append(r.b, '@'), d.ClientFrame)
		r.b = refs.AppendName(append(r.b, '/'), d.ServerFrame)
		if d.Allowed != "" {
			r.b = append(append(r.b, " allowed:"...), d.Allowed...)
		}
	}
	r.done(xcDiff)

	s := string(r.b)
	c := func(i int) string { return s[r.span[i][0]:r.span[i][1]] }
	return append(dst, e.ID, c(xcClient), c(xcServer), c(xcProxy), c(xcProxies), e.Method, e.URI,
		e.Code, e.Protected, string(e.Status), c(xcNotifications), c(xcStart), c(xcEnd), c(xcRTT),
		c(xcLegs), c(xcResidenceRequest), c(xcResidenceResponse), c(xcRequestSize), c(xcResponseSize),
		c(xcBlock), c(xcObserve), c(xcKID), c(xcPIV), reqVerified, respVerified, c(xcLinks), c(xcFrames),
		strconv.FormatBool(e.Ambiguous), c(xcDiff),
		e.Role, e.RoleEvidence, strconv.FormatBool(e.Publication), strconv.Itoa(e.LinksOmitted))
}

// appendAddrCell appends a as AddrPort.String writes it, "invalid
// AddrPort" for the zero value included.
func appendAddrCell(dst []byte, a netip.AddrPort) []byte {
	if !a.IsValid() {
		return append(dst, "invalid AddrPort"...)
	}
	return a.AppendTo(dst)
}

func appendDurCell(dst []byte, d flows.Duration) []byte {
	if !d.Valid {
		return append(dst, '-')
	}
	return strconv.AppendFloat(dst, d.Seconds(), 'f', -1, 64)
}

func joinInts(v []int, sep string) string {
	var b []byte
	for i, n := range v {
		if i > 0 {
			b = append(b, sep...)
		}
		b = strconv.AppendInt(b, int64(n), 10)
	}
	return string(b)
}

var _ Record = Exchange{}
