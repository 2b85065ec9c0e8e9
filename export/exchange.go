package export

import (
	"encoding/json"
	"strconv"
	"strings"

	"github.com/coapaudit/coapaudit/flows"
)

// Exchange is the exchange record: one request and everything that
// belongs to it on every leg (flows.Exchange), as CONTRACT.md names it.
type Exchange struct {
	*flows.Exchange
}

// Type implements Record.
func (x Exchange) Type() string { return "exchange" }

// AppendJSON implements Record.
func (x Exchange) AppendJSON(dst []byte) []byte {
	b, err := json.Marshal(struct {
		Type string `json:"type"`
		*flows.Exchange
	}{"exchange", x.Exchange})
	if err != nil {
		// flows.Exchange holds only marshalable values.
		panic("export: exchange: " + err.Error())
	}
	return append(dst, b...)
}

var exchangeHeader = []string{
	"id", "client", "server", "proxy", "proxies", "method", "uri", "code", "protected", "status",
	"notifications", "start", "end", "rtt", "legs", "residence_request", "residence_response",
	"request_size", "response_size", "block", "observe", "oscore_kid", "oscore_piv",
	"oscore_request_verified", "oscore_response_verified", "links", "frames",
}

// CSVHeader implements Record.
func (x Exchange) CSVHeader() []string { return exchangeHeader }

// CSVRow implements Record. Legs are "from>to" with their request and
// response frames, joined with ';'.
func (x Exchange) CSVRow(dst []string) []string {
	e := x.Exchange
	addr := func(a interface{ IsValid() bool }, s string) string {
		if !a.IsValid() {
			return ""
		}
		return s
	}
	var proxies, legs, resReq, resResp, links []string
	for _, p := range e.Proxies {
		proxies = append(proxies, p.String())
	}
	for _, l := range e.Legs {
		legs = append(legs, l.From.String()+">"+l.To.String()+" req="+joinInts(l.RequestFrames, ",")+" resp="+joinInts(l.ResponseFrames, ","))
	}
	for _, r := range e.Residence {
		resReq = append(resReq, durCell(r.Request))
		resResp = append(resResp, durCell(r.Response))
	}
	for _, l := range e.Links {
		links = append(links, l.Kind+":"+l.Exchange+"@"+strconv.Itoa(l.Frame))
	}
	var reqSize, respSize string
	if len(e.Legs) > 0 {
		reqSize = strconv.Itoa(e.Legs[0].RequestSize)
		if len(e.Legs[0].ResponseFrames) > 0 {
			respSize = strconv.Itoa(e.Legs[0].ResponseSize)
		}
	}
	var block, observe string
	if b := e.Block; b != nil {
		block = b.Option + " blocks=" + strconv.Itoa(b.Blocks) + " bytes=" + strconv.Itoa(b.Bytes) + " complete=" + strconv.FormatBool(b.Complete)
	}
	if o := e.Observe; o != nil {
		observe = "seq=" + strconv.FormatUint(uint64(o.FirstSeq), 10) + ".." + strconv.FormatUint(uint64(o.LastSeq), 10)
		if o.Ended != "" {
			observe += " ended=" + o.Ended
		}
	}
	var kid, piv, rqv, rsv string
	if o := e.OSCORE; o != nil {
		kid, piv, rqv, rsv = o.KID.String(), o.PIV.String(), o.RequestVerified, o.ResponseVerified
	}
	end := ""
	if !e.End.IsZero() {
		end = e.End.UTC().Format(timeLayout)
	}
	return append(dst, e.ID, addr(e.Client, e.Client.String()), addr(e.Server, e.Server.String()),
		addr(e.Proxy, e.Proxy.String()), strings.Join(proxies, ";"), e.Method, e.URI, e.Code, e.Protected,
		string(e.Status), strconv.Itoa(e.Notifications), e.Start.UTC().Format(timeLayout), end,
		durCell(e.RTT), strings.Join(legs, ";"), strings.Join(resReq, ";"), strings.Join(resResp, ";"),
		reqSize, respSize, block, observe, kid, piv, rqv, rsv, strings.Join(links, ";"), joinInts(e.Frames, ";"))
}

func durCell(d flows.Duration) string {
	if !d.Valid {
		return "-"
	}
	return strconv.FormatFloat(d.Seconds(), 'f', -1, 64)
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
