package rules_test

import (
	"bytes"
	"maps"
	"net/netip"
	"testing"
	"time"

	"github.com/coapaudit/coapaudit/analysis"
	"github.com/coapaudit/coapaudit/capture"
	"github.com/coapaudit/coapaudit/decode"
	"github.com/coapaudit/coapaudit/dissect"
	"github.com/coapaudit/coapaudit/internal/testenv"
	"github.com/coapaudit/coapaudit/oscore"
	"github.com/coapaudit/coapaudit/rules"
)

// loadCapture reads a shared capture into memory, copying every
// datagram.
func loadCapture(t testing.TB, rel string) []capture.Datagram {
	t.Helper()
	r, err := capture.Open(testenv.Capture(t, rel))
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	var out []capture.Datagram
	var d capture.Datagram
	for r.Next(&d) == nil {
		c := d
		c.Payload = bytes.Clone(d.Payload)
		c.Data, c.Fragments = nil, nil
		c.PayloadOff = -1
		out = append(out, c)
	}
	return out
}

// TestStreaming checks that findings come out while the capture is read:
// packet-level ones with the frame that proves them, exchange-level ones
// as soon as the tracker lets go of the exchange, long before the end.
func TestStreaming(t *testing.T) {
	ds := loadCapture(t, "aiocoap-oscore-evilproxy.pcap")
	last := ds[len(ds)-1]
	// A CoAP ping of an unrelated pair five minutes later (beyond
	// EXCHANGE_LIFETIME): the tracker expires every exchange of the
	// capture when it arrives.
	late := last
	late.Number++
	late.Time = last.Time.Add(5 * time.Minute)
	late.Src, late.Dst = netip.MustParseAddrPort("10.9.9.9:40000"), netip.MustParseAddrPort("10.9.9.8:5683")
	late.Payload = msg(decode.Confirmable, decode.CodeEmpty, 1, "", "")
	ds = append(ds, late)

	at := map[string]int{} // rule -> frames fed when its first finding came
	fed := 0
	opts := analysis.Options{Keys: keyring(t, "keys/oscore_contexts"), Rules: rules.All()}
	opts.OnFinding = func(f *rules.Finding) {
		if _, ok := at[f.Rule]; !ok {
			at[f.Rule] = fed
		}
	}
	e, err := analysis.NewEngine(opts, nil)
	if err != nil {
		t.Fatal(err)
	}
	for i := range ds {
		fed++
		e.Frame(&ds[i], 0, "")
	}
	before := maps.Clone(at)
	e.Finish()
	for rule := range at {
		if _, ok := before[rule]; !ok {
			t.Errorf("%s reported only at the end", rule)
		}
	}
	want := map[string]int{
		"oscore-unverified": 6,  // with the forged response
		"oscore-replay":     48, // with the server's answer to the replay
	}
	for rule, n := range want {
		if at[rule] != n {
			t.Errorf("%s reported after %d frames, want %d", rule, at[rule], n)
		}
	}
	for _, rule := range []string{"spoofed-response", "proxy-delay", "response-flood", "withheld-response"} {
		if n, ok := at[rule]; !ok || n != len(ds) {
			t.Errorf("%s reported after %d frames (ok %v), want with the frame that expires the exchanges (%d)", rule, n, ok, len(ds))
		}
	}
}

// TestFlush checks that a live capture's Flush lets held decisions go.
func TestFlush(t *testing.T) {
	tr := newTrace()
	tr.proxied(0, 1, "a", "x", "v1")
	tr.add(time.Second, client, proxy, msg(decode.Confirmable, decode.CodeGET, 9, "d", "", str(decode.OptURIPath, "alarm")))
	var got []*rules.Finding
	e, err := analysis.NewEngine(analysis.Options{Rules: []*rules.Rule{rules.WithheldRequest},
		OnFinding: func(f *rules.Finding) { got = append(got, f) }}, nil)
	if err != nil {
		t.Fatal(err)
	}
	for i := range tr.ds {
		e.Frame(&tr.ds[i], 0, "")
	}
	e.Flush(tr.t0.Add(10 * time.Minute))
	if len(got) != 1 || got[0].Certainty != rules.Did {
		t.Fatalf("after Flush: %v", got)
	}
	e.Finish()
	if len(got) != 1 {
		t.Errorf("reported again at the end: %v", got)
	}
}

// TestBoundedState checks that full tables are counted, not grown.
func TestBoundedState(t *testing.T) {
	var got []*rules.Finding
	paths := []string{testenv.Capture(t, "libcoap-dtls-proxy.pcap")}
	opts := analysis.Options{Rules: []*rules.Rule{rules.PSKIdentityClear, rules.DTLSHopByHop}, RulesConfig: rules.Config{MaxState: 1},
		OnFinding: func(f *rules.Finding) { got = append(got, f) }}
	e, err := analysis.RunFiles(paths, opts, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	st := e.Rules().Stats()
	if st.Dropped["psk-identity-clear"] == 0 || st.Dropped["dtls-hop-by-hop"] == 0 {
		t.Errorf("no dropped state counted: %+v", st.Dropped)
	}
	// With one remembered identity the two alternate, and each session
	// reports again: more findings than with room for both.
	if n := len(of(got, "psk-identity-clear")); n <= 2 {
		t.Errorf("%d identity findings with MaxState 1", n)
	}

	fs, e := runCapture(t, "", rules.Config{MaxFrames: 4}, "libcoap-fwdproxy.pcap")
	if e.Rules().Stats().FramesForgotten == 0 {
		t.Error("no forgotten frames counted with MaxFrames 4")
	}
	for _, f := range fs {
		if len(f.Frames) == 0 {
			t.Errorf("finding without frames: %v", f)
		}
	}
}

// hotPackets returns rule packets of the kinds the per-frame path sees:
// a verified OSCORE request, a plain CoAP request and a DTLS record.
func hotPackets(t testing.TB) []*rules.Packet {
	ctx, keys := testContext(t)
	wire, _, err := ctx.ProtectRequest(message(decode.Confirmable, decode.CodeGET, 5, "q", "", str(decode.OptURIPath, "temp")), 1)
	if err != nil {
		t.Fatal(err)
	}
	src, dst := netip.MustParseAddrPort(client), netip.MustParseAddrPort(server)
	var om decode.Message
	if err := om.Decode(wire); err != nil {
		t.Fatal(err)
	}
	dec := oscore.NewDecryptor(keys)
	res := dec.Process(time.Unix(1, 0), 1, src, dst, &om)
	if res == nil || !res.Verified {
		t.Fatalf("test request did not verify: %+v", res)
	}
	var pm decode.Message
	if err := pm.Decode(msg(decode.Confirmable, decode.CodeGET, 6, "p", "", str(decode.OptURIPath, "a"), str(decode.OptURIQuery, "b=1"))); err != nil {
		t.Fatal(err)
	}
	ds := loadCapture(t, "libcoap-dtls-proxy.pcap")
	var f dissect.Frame
	dissect.New(dissect.Config{}).Dissect(&ds[6], &f) // application data
	if f.Proto != dissect.ProtoDTLS {
		t.Fatal("frame 7 is not DTLS")
	}
	dtls := f.DTLS
	return []*rules.Packet{
		{Frame: 1, Time: time.Unix(1, 0), Src: src, Dst: dst, Size: len(wire), CoAP: &om, OSCORE: res},
		{Frame: 2, Time: time.Unix(2, 0), Src: src, Dst: dst, Size: 20, CoAP: &pm},
		{Frame: 3, Time: time.Unix(3, 0), Src: ds[6].Src, Dst: ds[6].Dst, Size: len(ds[6].Payload), DTLS: &dtls},
	}
}

func TestPacketHooksDoNotAllocate(t *testing.T) {
	pks := hotPackets(t)
	r, err := rules.NewRunner(rules.All(), rules.Config{Keys: true}, func(f *rules.Finding) { t.Errorf("unexpected finding %v", f) })
	if err != nil {
		t.Fatal(err)
	}
	n := 10
	feed := func() {
		for _, pk := range pks {
			n++
			pk.Frame = n
			pk.Time = time.Unix(int64(n), 0)
			r.Packet(pk)
		}
	}
	feed() // first sight of the DTLS session allocates its state
	if a := testing.AllocsPerRun(200, feed); a != 0 {
		t.Errorf("%v allocations per round of %d packets", a, len(pks))
	}
}

func BenchmarkRunnerPacket(b *testing.B) {
	pks := hotPackets(b)
	r, err := rules.NewRunner(rules.All(), rules.Config{Keys: true}, nil)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	n := 0
	for b.Loop() {
		pk := pks[n%len(pks)]
		n++
		pk.Frame = n
		r.Packet(pk)
	}
}

// BenchmarkEngine runs a 10,000-frame capture through the whole pipeline
// with and without the rules.
func BenchmarkEngine(b *testing.B) {
	ds := loadCapture(b, "public/microschc-leshan-thermostat-readings.pcapng")
	for _, withRules := range []bool{false, true} {
		name := "without-rules"
		if withRules {
			name = "with-rules"
		}
		b.Run(name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				opts := analysis.Options{TrackExchanges: true}
				if withRules {
					opts.Rules = rules.All()
				}
				e := analysis.New(opts, nil)
				for i := range ds {
					e.Frame(&ds[i], 0, "")
				}
				e.Finish()
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(ds)), "ns/frame")
		})
	}
}
