package rules_test

import (
	"net/netip"
	"testing"
	"time"

	"github.com/coapaudit/coapaudit/analysis"
	"github.com/coapaudit/coapaudit/capture"
	"github.com/coapaudit/coapaudit/decode"
	"github.com/coapaudit/coapaudit/oscore"
	"github.com/coapaudit/coapaudit/rules"
)

// A trace is a capture built in memory: datagrams with times, fed to an
// analysis.Engine as a capture reader would.
type trace struct {
	t0 time.Time
	ds []capture.Datagram
}

func newTrace() *trace { return &trace{t0: time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)} }

// add appends a datagram sent at offset at from src to dst and returns
// its frame number.
func (tr *trace) add(at time.Duration, src, dst string, payload []byte) int {
	n := len(tr.ds) + 1
	tr.ds = append(tr.ds, capture.Datagram{
		Frame:      capture.Frame{Number: n, Time: tr.t0.Add(at), CapLen: len(payload), OrigLen: len(payload)},
		Kind:       capture.KindUDP,
		Src:        netip.MustParseAddrPort(src),
		Dst:        netip.MustParseAddrPort(dst),
		Payload:    payload,
		PayloadOff: -1,
		UDPLength:  8 + len(payload),
	})
	return n
}

// run feeds the trace to an engine running every rule and returns the
// findings.
func (tr *trace) run(t testing.TB, keys *oscore.Keyring, cfg rules.Config) []*rules.Finding {
	t.Helper()
	var out []*rules.Finding
	opts := analysis.Options{Keys: keys, Rules: rules.All(), RulesConfig: cfg, OnFinding: func(f *rules.Finding) { out = append(out, f) }}
	e, err := analysis.NewEngine(opts, nil)
	if err != nil {
		t.Fatal(err)
	}
	for i := range tr.ds {
		e.Frame(&tr.ds[i], 0, "")
	}
	e.Finish()
	if st := e.Rules().Stats(); st.Invalid > 0 {
		t.Errorf("%d invalid findings", st.Invalid)
	}
	return out
}

// opt is an option for msg.
type opt struct {
	id decode.OptionID
	v  []byte
}

func str(id decode.OptionID, s string) opt { return opt{id, []byte(s)} }

func uintOpt(id decode.OptionID, v uint32) opt {
	var b []byte
	for v > 0 {
		b = append([]byte{byte(v)}, b...)
		v >>= 8
	}
	return opt{id, b}
}

// message builds a decode.Message (for OSCORE protection).
func message(typ decode.Type, code decode.Code, mid uint16, token string, payload string, opts ...opt) *decode.Message {
	m := &decode.Message{Version: 1, Type: typ, Code: code, MessageID: mid, Token: []byte(token)}
	for _, o := range opts {
		m.Options = append(m.Options, decode.Option{ID: o.id, Value: o.v})
	}
	if payload != "" {
		m.Payload = []byte(payload)
	}
	return m
}

// msg encodes a CoAP message (RFC 7252 section 3).
func msg(typ decode.Type, code decode.Code, mid uint16, token string, payload string, opts ...opt) []byte {
	return encode(message(typ, code, mid, token, payload, opts...))
}

func encode(m *decode.Message) []byte { return m.Append(nil) }

// withOption decodes wire, adds an option to the outer message and
// encodes it again.
func withOption(t testing.TB, wire []byte, o opt) []byte {
	t.Helper()
	var m decode.Message
	if err := m.Decode(wire); err != nil {
		t.Fatal(err)
	}
	m.Options = append(m.Options, decode.Option{ID: o.id, Value: o.v})
	return encode(&m)
}

// testContext returns an OSCORE context of a client (Sender ID empty,
// Recipient ID 01) and the keyring that verifies it.
func testContext(t testing.TB) (*oscore.Context, *oscore.Keyring) {
	t.Helper()
	p := testParams()
	c, err := oscore.NewContext(p)
	if err != nil {
		t.Fatal(err)
	}
	k, err := oscore.NewKeyring([]oscore.Params{p})
	if err != nil {
		t.Fatal(err)
	}
	return c, k
}

// testParams returns testContext's parameters, in storage of their own.
func testParams() oscore.Params {
	return oscore.Params{
		Name: "test", SenderID: []byte{}, RecipientID: []byte{1},
		MasterSecret: oscore.Secret{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16},
		MasterSalt:   oscore.Secret{0x9e, 0x7c, 0xa9, 0x22, 0x23, 0x78, 0x63, 0x40},
	}
}

// Addresses of the synthetic traces.
const (
	client   = "10.0.0.1:40000"
	proxy    = "10.0.0.2:5683"
	proxyOut = "10.0.0.2:41000"
	server   = "10.0.0.3:5683"
)

// proxied adds one proxied exchange at offset at: client -> proxy ->
// server and back, the proxy keeping token and Message ID (as the relay
// in the aiocoap captures does). It returns the four frame numbers.
func (tr *trace) proxied(at time.Duration, mid uint16, token, path, body string) [4]int {
	req := msg(decode.Confirmable, decode.CodeGET, mid, token, "", str(decode.OptURIPath, path))
	resp := msg(decode.Acknowledgement, decode.CodeContent, mid, token, body)
	return [4]int{
		tr.add(at, client, proxy, req),
		tr.add(at+time.Millisecond, proxyOut, server, req),
		tr.add(at+3*time.Millisecond, server, proxyOut, resp),
		tr.add(at+4*time.Millisecond, proxy, client, resp),
	}
}

// of returns the findings of one rule.
func of(fs []*rules.Finding, rule string) []*rules.Finding {
	var out []*rules.Finding
	for _, f := range fs {
		if f.Rule == rule {
			out = append(out, f)
		}
	}
	return out
}
