package rules_test

import (
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/coapaudit/coapaudit/analysis"
	"github.com/coapaudit/coapaudit/capture"
	"github.com/coapaudit/coapaudit/decode"
	"github.com/coapaudit/coapaudit/internal/testenv"
	"github.com/coapaudit/coapaudit/rules"
	"github.com/coapaudit/coapaudit/tlskeys"
)

// A scenario produces the findings of every rule over some traffic.
type scenario struct {
	name string
	run  func(t *testing.T) []*rules.Finding
}

func shared(file, keys string, cfg rules.Config) scenario {
	name := file
	if keys != "" {
		name += " with keys"
	}
	if cfg.Profile != rules.Auto {
		name += " --profile " + cfg.Profile.String()
	}
	return scenario{name, func(t *testing.T) []*rules.Finding {
		fs, _ := runCapture(t, keys, cfg, file)
		return fs
	}}
}

var (
	evilKeys   = shared("aiocoap-oscore-evilproxy.pcap", "keys/oscore_contexts", rules.Config{})
	evilNoKeys = shared("aiocoap-oscore-evilproxy.pcap", "", rules.Config{})
	revKeys    = shared("aiocoap-oscore-revproxy.pcap", "keys/oscore_contexts", rules.Config{})
	fwdProxy   = shared("libcoap-fwdproxy.pcap", "", rules.Config{})
	dtlsProxy  = shared("libcoap-dtls-proxy.pcap", "", rules.Config{})
	rawInputs  = shared("public/raw-coap-inputs.pcap", "", rules.Config{})
	// The pub-sub broker captures of testdata/captures (BROKERS.md).
	evilBroker   = shared("repo:evil-pubsub-broker.pcap", "", rules.Config{})
	honestBroker = shared("repo:aiocoap-pubsub-broker.pcap", "", rules.Config{})
)

// dtlsClientSide is libcoap-dtls-proxy.pcap without the proxy's server
// side: DTLS sessions that end at one server, which is no evidence of a
// proxy.
var dtlsClientSide = scenario{"libcoap-dtls-proxy.pcap, client side only", func(t *testing.T) []*rules.Finding {
	r, err := capture.Open(testenv.Capture(t, "libcoap-dtls-proxy.pcap"))
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	origin := "127.0.0.11"
	var out []*rules.Finding
	e, err := analysis.NewEngine(analysis.Options{Rules: rules.All(), OnFinding: func(f *rules.Finding) { out = append(out, f) }}, nil)
	if err != nil {
		t.Fatal(err)
	}
	var d capture.Datagram
	kept := 0
	for r.Next(&d) == nil {
		if d.Src.Addr().String() == origin || d.Dst.Addr().String() == origin {
			continue
		}
		kept++
		e.Frame(&d, 0, "")
	}
	e.Finish()
	if kept == 0 {
		t.Fatal("no frames kept")
	}
	return out
}}

// Synthetic scenarios for rules that no shared capture triggers.

var spoofedRequestTrace = scenario{"proxy sends an OSCORE request of its own", func(t *testing.T) []*rules.Finding {
	ctx, _ := testContext(t)
	tr := newTrace()
	srv := ctx.Reverse()
	for i, seq := range []uint64{1, 2} {
		at := time.Duration(i) * time.Second
		req, ref, err := ctx.ProtectRequest(message(decode.Confirmable, decode.CodeGET, uint16(10+i), "t"+fmt.Sprint(i), "", str(decode.OptURIPath, "temp")), seq)
		if err != nil {
			t.Fatal(err)
		}
		resp, err := srv.ProtectResponse(message(decode.Acknowledgement, decode.CodeContent, uint16(10+i), "t"+fmt.Sprint(i), "21 C"), ref, 0, false)
		if err != nil {
			t.Fatal(err)
		}
		tr.add(at, client, proxy, req)
		tr.add(at+time.Millisecond, proxyOut, server, req)
		tr.add(at+2*time.Millisecond, server, proxyOut, resp)
		tr.add(at+3*time.Millisecond, proxy, client, resp)
	}
	// A request no client sent, with a Partial IV the client never used.
	req, _, err := ctx.ProtectRequest(message(decode.Confirmable, decode.CodePUT, 99, "zz", "open", str(decode.OptURIPath, "valve")), 40)
	if err != nil {
		t.Fatal(err)
	}
	tr.add(3*time.Second, proxyOut, server, req)
	return tr.run(t, nil, rules.Config{})
}}

var lateForwardTrace = scenario{"proxy forwards after the client retransmitted", func(t *testing.T) []*rules.Finding {
	tr := newTrace()
	tr.proxied(0, 1, "a", "x", "v1")
	req := msg(decode.Confirmable, decode.CodePUT, 7, "b", "on", str(decode.OptURIPath, "valve"))
	tr.add(time.Second, client, proxy, req)
	tr.add(3500*time.Millisecond, client, proxy, req) // retransmission after ACK_TIMEOUT
	tr.add(4*time.Second, proxyOut, server, req)
	tr.add(4*time.Second+time.Millisecond, server, proxyOut, msg(decode.Acknowledgement, decode.CodeChanged, 7, "b", ""))
	tr.add(4*time.Second+2*time.Millisecond, proxy, client, msg(decode.Acknowledgement, decode.CodeChanged, 7, "b", ""))
	return tr.run(t, nil, rules.Config{})
}}

var requestFloodTrace = scenario{"proxy sends a request three times at once", func(t *testing.T) []*rules.Finding {
	tr := newTrace()
	tr.proxied(0, 1, "a", "x", "v1")
	req := msg(decode.Confirmable, decode.CodePOST, 8, "c", "go", str(decode.OptURIPath, "motor"))
	tr.add(time.Second, client, proxy, req)
	for i := range 3 {
		tr.add(time.Second+time.Duration(i+1)*10*time.Millisecond, proxyOut, server, req)
	}
	resp := msg(decode.Acknowledgement, decode.CodeChanged, 8, "c", "")
	tr.add(time.Second+50*time.Millisecond, server, proxyOut, resp)
	tr.add(time.Second+51*time.Millisecond, proxy, client, resp)
	return tr.run(t, nil, rules.Config{})
}}

var withheldRequestTrace = scenario{"proxy neither forwards nor answers", func(t *testing.T) []*rules.Finding {
	tr := newTrace()
	tr.proxied(0, 1, "a", "x", "v1")
	req := msg(decode.Confirmable, decode.CodeGET, 9, "d", "", str(decode.OptURIPath, "alarm"))
	tr.add(time.Second, client, proxy, req)
	tr.add(3*time.Second, client, proxy, req)
	tr.proxied(10*time.Second, 2, "e", "y", "v2")
	return tr.run(t, nil, rules.Config{})
}}

var unsolicitedTrace = scenario{"server sends responses to no request", func(t *testing.T) []*rules.Finding {
	tr := newTrace()
	tr.proxied(0, 1, "a", "x", "v1")
	for i := range 12 {
		at := 300*time.Second + time.Duration(i)*100*time.Millisecond
		tr.add(at, server, client, msg(decode.NonConfirmable, decode.CodeContent, uint16(100+i), fmt.Sprintf("u%02d", i), "junk"))
	}
	return tr.run(t, nil, rules.Config{})
}}

var observeReorderTrace = scenario{"notifications out of sequence", func(t *testing.T) []*rules.Finding {
	tr := newTrace()
	tr.add(0, client, server, msg(decode.Confirmable, decode.CodeGET, 1, "o", "", uintOpt(decode.OptObserve, 0), str(decode.OptURIPath, "temp")))
	tr.add(time.Millisecond, server, client, msg(decode.Acknowledgement, decode.CodeContent, 1, "o", "20", uintOpt(decode.OptObserve, 2)))
	for i, seq := range []uint32{3, 5, 4, 6} {
		tr.add(time.Duration(i+1)*time.Second, server, client,
			msg(decode.NonConfirmable, decode.CodeContent, uint16(50+i), "o", fmt.Sprint(20+seq), uintOpt(decode.OptObserve, seq)))
	}
	return tr.run(t, nil, rules.Config{})
}}

var outerOptionTrace = scenario{"OSCORE request with Uri-Path outside", func(t *testing.T) []*rules.Finding {
	ctx, keys := testContext(t)
	tr := newTrace()
	req, _, err := ctx.ProtectRequest(message(decode.Confirmable, decode.CodeGET, 5, "q", "", str(decode.OptURIPath, "secret")), 1)
	if err != nil {
		t.Fatal(err)
	}
	tr.add(0, client, server, withOption(t, req, str(decode.OptURIPath, "secret")))
	return tr.run(t, keys, rules.Config{})
}}

var burstTrace = scenario{"notifications in a burst", func(t *testing.T) []*rules.Finding {
	tr := newTrace()
	tr.add(0, client, server, msg(decode.Confirmable, decode.CodeGET, 1, "o", "", uintOpt(decode.OptObserve, 0), str(decode.OptURIPath, "temp")))
	tr.add(time.Millisecond, server, client, msg(decode.Acknowledgement, decode.CodeContent, 1, "o", "20", uintOpt(decode.OptObserve, 1)))
	at := time.Millisecond
	seq := uint32(2)
	note := func() {
		tr.add(at, server, client, msg(decode.NonConfirmable, decode.CodeContent, uint16(seq), "o", fmt.Sprint(seq), uintOpt(decode.OptObserve, seq)))
		seq++
	}
	for range 10 {
		at += 10 * time.Second
		note()
	}
	for range 8 {
		at += 10 * time.Millisecond
		note()
	}
	return tr.run(t, nil, rules.Config{})
}}

var publicationTrace = scenario{"publication through a broker, --profile pubsub", func(t *testing.T) []*rules.Finding {
	tr := newTrace()
	const broker, publisher = "10.0.0.5:5683", "10.0.0.6:40001"
	tr.add(0, client, broker, msg(decode.Confirmable, decode.CodeGET, 1, "s", "", uintOpt(decode.OptObserve, 0), str(decode.OptURIPath, "ps"), str(decode.OptURIPath, "temp")))
	tr.add(time.Millisecond, broker, client, msg(decode.Acknowledgement, decode.CodeContent, 1, "s", "21.5", uintOpt(decode.OptObserve, 1)))
	tr.add(time.Second, publisher, broker, msg(decode.Confirmable, decode.CodePUT, 2, "p", "22.0", str(decode.OptURIPath, "ps"), str(decode.OptURIPath, "temp")))
	tr.add(time.Second+time.Millisecond, broker, publisher, msg(decode.Acknowledgement, decode.CodeChanged, 2, "p", ""))
	tr.add(time.Second+2*time.Millisecond, broker, client, msg(decode.NonConfirmable, decode.CodeContent, 3, "s", "22.0", uintOpt(decode.OptObserve, 2)))
	return tr.run(t, nil, rules.Config{Profile: rules.PubSub})
}}

// alteringRelayTrace: a transparent relay (Message ID and token kept)
// relays one exchange faithfully, then changes one byte of a PUT's
// payload, then the payload and the Content-Format of a response.
var alteringRelayTrace = scenario{"relay alters a request and a response", func(t *testing.T) []*rules.Finding {
	tr := newTrace()
	tr.proxied(0, 1, "a", "valve", "open")
	in := msg(decode.Confirmable, decode.CodePUT, 2, "b", "close", str(decode.OptURIPath, "valve"))
	out := msg(decode.Confirmable, decode.CodePUT, 2, "b", "clone", str(decode.OptURIPath, "valve"))
	tr.add(time.Second, client, proxy, in)
	tr.add(time.Second+time.Millisecond, proxyOut, server, out)
	tr.add(time.Second+2*time.Millisecond, server, proxyOut, msg(decode.Acknowledgement, decode.CodeChanged, 2, "b", ""))
	tr.add(time.Second+3*time.Millisecond, proxy, client, msg(decode.Acknowledgement, decode.CodeChanged, 2, "b", ""))
	get := msg(decode.Confirmable, decode.CodeGET, 3, "c", "", str(decode.OptURIPath, "temp"))
	tr.add(2*time.Second, client, proxy, get)
	tr.add(2*time.Second+time.Millisecond, proxyOut, server, get)
	tr.add(2*time.Second+2*time.Millisecond, server, proxyOut, msg(decode.Acknowledgement, decode.CodeContent, 3, "c", "21.5"))
	tr.add(2*time.Second+3*time.Millisecond, proxy, client, msg(decode.Acknowledgement, decode.CodeContent, 3, "c", "99.5", uintOpt(decode.OptContentFormat, 50)))
	tr.proxied(3*time.Second, 4, "d", "temp", "21.6")
	// The relay sends the answered PUT again, the same bytes.
	tr.add(4*time.Second, proxyOut, server, out)
	tr.add(4*time.Second+time.Millisecond, server, proxyOut, msg(decode.Acknowledgement, decode.CodeChanged, 2, "b", ""))
	return tr.run(t, nil, rules.Config{Grace: time.Millisecond})
}}

// The altering relay's acts are reported as did, with both values and
// both frames, and nothing claims the changed response was made up or
// withheld.
func TestAlteredFindings(t *testing.T) {
	fs := alteringRelayTrace.run(t)
	req, resp := of(fs, "altered-request"), of(fs, "altered-response")
	if len(req) != 1 || len(resp) != 1 {
		t.Fatalf("altered-request %d, altered-response %d findings, want 1 each: %v", len(req), len(resp), fs)
	}
	for _, f := range append(req, resp...) {
		if f.Certainty != rules.Did || f.Severity != rules.High || f.Threat != rules.T1 {
			t.Errorf("%v", f)
		}
	}
	if m := req[0].Message; !strings.Contains(m, `payload "close" to "clone" (frame 5 in, frame 6 out)`) {
		t.Errorf("altered-request message: %s", m)
	}
	if !slices.Equal(req[0].Frames, []int{5, 6}) {
		t.Errorf("altered-request frames %v", req[0].Frames)
	}
	m := resp[0].Message
	if !strings.Contains(m, `payload "21.5" to "99.5" and Content-Format (none) to 50 (frame 11 in, frame 12 out)`) {
		t.Errorf("altered-response message: %s", m)
	}
	for _, id := range []string{"spoofed-response", "withheld-response", "spoofed-request", "withheld-request"} {
		if got := of(fs, id); len(got) > 0 {
			t.Errorf("%s on a relay that altered what it relayed: %v", id, got)
		}
	}
}

// dtlsKeyScenario runs the libcoap DTLS-through-a-proxy capture with one
// PSK for every session.
func dtlsKeyScenario(name, psk string) scenario {
	return scenario{name, func(t *testing.T) []*rules.Finding {
		k, err := tlskeys.ParsePSK(psk)
		if err != nil {
			t.Fatal(err)
		}
		opts := analysis.Options{Rules: rules.All(), TLSKeys: &tlskeys.Keys{PSKs: []tlskeys.PSK{k}}}
		var out []*rules.Finding
		opts.OnFinding = func(f *rules.Finding) { out = append(out, f) }
		path := filepath.Join(testenv.RepoRoot(), "dtlsdec", "testdata", "libcoap-psk-proxy.pcap")
		if _, err := analysis.RunFiles([]string{path}, opts, nil, nil); err != nil {
			t.Fatal(err)
		}
		return out
	}}
}

var (
	dtlsWrongPSK = dtlsKeyScenario("DTLS through a proxy, wrong PSK", "00112233")
	dtlsRightPSK = dtlsKeyScenario("DTLS through a proxy, right PSK", "686f704b6579")
)

// A wrong PSK gives one dtls-keys-mismatch per session and no CoAP.
func TestDTLSKeysMismatch(t *testing.T) {
	fs := of(dtlsWrongPSK.run(t), "dtls-keys-mismatch")
	if len(fs) != 7 {
		t.Fatalf("%d dtls-keys-mismatch findings, want one for each of the 7 sessions: %v", len(fs), fs)
	}
	for _, f := range fs {
		if strings.Contains(f.Message, "686f704b6579") || strings.Contains(f.Message, "00112233") || f.Certainty != rules.Did {
			t.Errorf("%v", f)
		}
	}
}
