package analysis

import (
	"bufio"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/coapaudit/coapaudit/dissect"
	"github.com/coapaudit/coapaudit/internal/testenv"
	"github.com/coapaudit/coapaudit/leaks"
	"github.com/coapaudit/coapaudit/leaks/collect"
	"github.com/coapaudit/coapaudit/oscore"
)

// capturesDir is the shared captures directory (testdata/shared/captures).
func capturesDir(t *testing.T) string {
	t.Helper()
	return testenv.CapturesDir(t)
}

func captureKeys(t *testing.T, dir string) *oscore.Keyring {
	t.Helper()
	return loadKeyring(t, filepath.Join(dir, "keys", "oscore_contexts"))
}

// loadKeyring derives the contexts of a key file.
func loadKeyring(tb testing.TB, path string) *oscore.Keyring {
	tb.Helper()
	params, err := oscore.LoadKeyFile(path)
	if err != nil {
		tb.Fatal(err)
	}
	ring, err := oscore.NewKeyring(params)
	if err != nil {
		tb.Fatal(err)
	}
	return ring
}

// runLeaks analyses a capture with the leak analysis on.
func runLeaks(t *testing.T, name string, keys *oscore.Keyring, cfg collect.Config, onPacket func(*Packet)) *collect.Report {
	t.Helper()
	e, err := RunFiles([]string{name}, Options{Keys: keys, TrackExchanges: true, Leaks: true, LeakConfig: cfg}, onPacket, nil)
	if err != nil {
		t.Fatal(err)
	}
	r := e.LeakReport()
	if r == nil {
		t.Fatal("no leak report")
	}
	if !reflect.DeepEqual(e.Leaks(), r.Leaks) {
		t.Error("Engine.Leaks differs from the report's records")
	}
	return r
}

// find returns the records that match metric, scope, observable and view,
// leaving out those of the method and code labels.
func find(ls []leaks.Leak, metric, scope, obs, view string) []leaks.Leak {
	var out []leaks.Leak
	for _, l := range ls {
		if l.Metric == metric && l.Scope == scope && l.Observable == obs && l.View == view &&
			l.Label != collect.LabelMethod && l.Label != collect.LabelCode {
			out = append(out, l)
		}
	}
	return out
}

func one(t *testing.T, ls []leaks.Leak, metric, scope, obs, view string) leaks.Leak {
	t.Helper()
	got := find(ls, metric, scope, obs, view)
	if len(got) != 1 {
		t.Fatalf("%s %s %s %s: %d records", metric, scope, obs, view, len(got))
	}
	return got[0]
}

// TestLeaksRevProxy: on the aiocoap OSCORE capture, decrypted with its
// keys, request and response sizes identify the resource (the mutual
// information is all of H(X), with an interval), the OSCORE messages are
// linked across the reverse proxy with certainty, and a padding scheme
// removes the size leak at a cost.
func TestLeaksRevProxy(t *testing.T) {
	dir := capturesDir(t)
	r := runLeaks(t, filepath.Join(dir, "aiocoap-oscore-revproxy.pcap"), captureKeys(t, dir), collect.Config{}, nil)
	if r.Exchanges != 10 || r.Labelled != 10 || r.Plaintext != 0 || r.Missed != 0 {
		t.Errorf("exchanges %d labelled %d plaintext %d missed %d", r.Exchanges, r.Labelled, r.Plaintext, r.Missed)
	}
	for _, obs := range []string{collect.ObsRequestSize, collect.ObsResponseSize} {
		for _, view := range []string{collect.ViewWire, collect.ViewInner} {
			mi := one(t, r.Leaks, leaks.MetricMutualInformation, collect.ScopeAll, obs, view)
			hx := mi.Extra["h_x"].(float64)
			t.Logf("%s %s: I = %.3f bits [%.3f, %.3f], H(X) = %.3f", obs, view, mi.Value, mi.CI.Lo, mi.CI.Hi, hx)
			if mi.Label != collect.LabelResource || mi.N != 10 {
				t.Errorf("%s %s: label %q n %d", obs, view, mi.Label, mi.N)
			}
			if math.Abs(mi.Value-hx) > 1e-9 || mi.CI == nil || mi.CI.Lo > mi.Value || mi.CI.Hi < mi.Value || mi.CI.Lo < 0.5*hx {
				t.Errorf("%s %s: I = %v, CI %+v, H(X) = %v", obs, view, mi.Value, mi.CI, hx)
			}
		}
		pad := find(r.Leaks, leaks.MetricPadding, collect.ScopeAll, obs, collect.ViewInner)
		if len(pad) < 2 {
			t.Fatalf("%s: %d padding records", obs, len(pad))
		}
		rec := pad[0]
		if rec.Extra["recommended"] != true || rec.Extra["removes"] != true || rec.Value <= 0 || rec.Extra["mi_ci_hi"].(float64) > leaks.DefaultTolBits {
			t.Errorf("%s: recommended padding %+v", obs, rec)
		}
		none := find(pad, leaks.MetricPadding, collect.ScopeAll, obs, collect.ViewInner)
		for _, p := range none {
			if p.Extra["scheme"] == "none" && p.Extra["removes"] != false {
				t.Errorf("%s: no padding removes the leak", obs)
			}
		}
	}
	for _, obs := range []string{collect.ObsRequests, collect.ObsResponses} {
		l := one(t, r.Leaks, leaks.MetricLinkability, "127.0.0.22:5683", obs, "")
		if l.Value != 1 || l.Extra["certain"] != l.N || l.N < 10 || l.Extra["method"] != "oscore-identical" {
			t.Errorf("linkability of %s: %+v", obs, l)
		}
	}
	// The two methods of /actuators/valve, on their own.
	mi := one(t, r.Leaks, leaks.MetricMutualInformation, "/actuators/valve", collect.ObsRequestSize, collect.ViewInner)
	if mi.Value != mi.Extra["h_x"] {
		t.Errorf("/actuators/valve: %+v", mi)
	}
	var valve bool
	for _, v := range r.Verdicts {
		t.Log(v)
		valve = valve || strings.HasPrefix(v, "GET /actuators/valve and PUT /actuators/valve are told apart by request size with ")
	}
	if !valve {
		t.Error("no verdict on /actuators/valve")
	}
}

// TestLeaksEvilProxyDelay: the relay of the evil-proxy capture held one
// request for 2 s (its ground truth names the Message ID, which the relay
// keeps on both legs); that exchange is the outlier of proxy_delay.
func TestLeaksEvilProxyDelay(t *testing.T) {
	dir := capturesDir(t)
	mid := truthDelay(t, filepath.Join(dir, "aiocoap-oscore-evilproxy.truth.jsonl"))
	mids := map[int]uint16{}
	r := runLeaks(t, filepath.Join(dir, "aiocoap-oscore-evilproxy.pcap"), captureKeys(t, dir), collect.Config{}, func(p *Packet) {
		if p.F.Proto == dissect.ProtoCoAP {
			mids[p.D.Number] = p.F.CoAP.MessageID
		}
	})
	var req []collect.DelayOutlier
	for _, o := range r.Outliers {
		if o.Direction == "request" {
			req = append(req, o)
		}
	}
	if len(req) != 1 {
		t.Fatalf("request outliers %+v", req)
	}
	o := req[0]
	t.Logf("outlier %+v", o)
	if o.Proxy.String() != "127.0.0.22:5683" || len(o.Frames) != 2 || mids[o.Frames[0]] != mid || mids[o.Frames[1]] != mid ||
		math.Abs(o.Seconds-2) > 0.05 || o.Z < leaks.OutlierThreshold {
		t.Errorf("outlier %+v, want the exchange of Message ID %d", o, mid)
	}
	l := one(t, r.Leaks, leaks.MetricProxyDelay, "127.0.0.22:5683", collect.ObsRequestResidence, "")
	out := l.Extra["outliers"].([]map[string]any)
	if len(out) != 1 || out[0]["id"] != o.Exchange || !reflect.DeepEqual(out[0]["frames"], o.Frames) || l.Value > 0.01 {
		t.Errorf("proxy_delay record %+v", l)
	}
	var said bool
	for _, v := range r.Verdicts {
		said = said || strings.Contains(v, o.Exchange+" (frames ") && strings.Contains(v, "was held 2")
	}
	if !said {
		t.Errorf("no verdict names %s: %q", o.Exchange, r.Verdicts)
	}
}

// truthDelay returns the Message ID of the delayed request.
func truthDelay(t *testing.T, name string) uint16 {
	t.Helper()
	f, err := os.Open(name)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		var act struct {
			Act string
			MID uint16
		}
		if err := json.Unmarshal(sc.Bytes(), &act); err != nil {
			t.Fatal(err)
		}
		if act.Act == "delay" {
			return act.MID
		}
	}
	t.Fatal("no delay in the ground truth")
	return 0
}

// TestLeaksNoKeys: without keys the OSCORE exchanges have no label, but
// the proxy still links them exactly and the delay outlier stands out;
// a labels file gives them labels back.
func TestLeaksNoKeys(t *testing.T) {
	dir := capturesDir(t)
	name := filepath.Join(dir, "aiocoap-oscore-revproxy.pcap")
	r := runLeaks(t, name, nil, collect.Config{}, nil)
	if r.Labelled != 0 || len(find(r.Leaks, leaks.MetricMutualInformation, collect.ScopeAll, collect.ObsRequestSize, collect.ViewWire)) != 0 {
		t.Errorf("labelled %d without keys", r.Labelled)
	}
	if l := one(t, r.Leaks, leaks.MetricLinkability, "127.0.0.22:5683", collect.ObsRequests, ""); l.Value != 1 {
		t.Errorf("linkability without keys %+v", l)
	}
	// Exchanges X3, X4 (by id) and the one of frame 25 (by frame) are
	// labelled; the others are not.
	labels, err := collect.ReadLabels(strings.NewReader("id,label\nX3,valve\nX4,valve\n# a comment\n25,firmware\nX1,temp\nX2,temp\n"))
	if err != nil {
		t.Fatal(err)
	}
	r = runLeaks(t, name, nil, collect.Config{Labels: labels}, nil)
	mi := one(t, r.Leaks, leaks.MetricMutualInformation, collect.ScopeAll, collect.ObsRequestSize, collect.ViewInner)
	if r.Labelled != 5 || mi.Label != collect.LabelFile || mi.N != 5 || mi.Value <= 0 {
		t.Errorf("labelled %d, %+v", r.Labelled, mi)
	}
}

// TestLeaksWhatIf: the libcoap forward-proxy capture is plaintext; the
// report says so and measures the sizes the messages would have under
// OSCORE, and links the two legs of the proxy by timing and size.
func TestLeaksWhatIf(t *testing.T) {
	dir := capturesDir(t)
	r := runLeaks(t, filepath.Join(dir, "libcoap-fwdproxy.pcap"), nil, collect.Config{}, nil)
	if r.Plaintext == 0 || r.Plaintext != r.Labelled {
		t.Errorf("plaintext %d of %d", r.Plaintext, r.Labelled)
	}
	w := find(r.Leaks, leaks.MetricMutualInformation, collect.ScopeAll, collect.ObsRequestSize, collect.ViewWhatIf)
	if len(w) != 1 || w[0].N == 0 {
		t.Fatalf("what-if records %+v", w)
	}
	if len(find(r.Leaks, leaks.MetricPadding, collect.ScopeAll, collect.ObsRequestSize, collect.ViewWhatIf)) == 0 {
		t.Error("no padding advice for the what-if sizes")
	}
	if len(find(r.Leaks, leaks.MetricMutualInformation, collect.ScopeAll, collect.ObsRequestSize, collect.ViewInner)) != 0 {
		t.Error("oscore-inner records for plaintext traffic")
	}
	l := one(t, r.Leaks, leaks.MetricLinkability, "127.0.0.32:5683", collect.ObsRequests, "")
	if l.Extra["method"] != "timing-size" || l.N == 0 {
		t.Errorf("timing linkability %+v", l)
	}
	if !strings.Contains(r.Verdicts[0], "in plaintext") {
		t.Errorf("first verdict %q", r.Verdicts[0])
	}
}

// TestLeaksDeterministic: equal inputs give equal records.
func TestLeaksDeterministic(t *testing.T) {
	dir := capturesDir(t)
	name := filepath.Join(dir, "aiocoap-oscore-evilproxy.pcap")
	a := runLeaks(t, name, captureKeys(t, dir), collect.Config{}, nil)
	b := runLeaks(t, name, captureKeys(t, dir), collect.Config{}, nil)
	// The typed results may hold NaN (an interval not computed), which
	// DeepEqual never finds equal: compare them printed.
	for _, r := range []*collect.Report{a, b} {
		for i := range r.Leaks {
			l := &r.Leaks[i]
			if l.Padding != nil || l.Delay != nil {
				l.Extra["typed"] = fmt.Sprintf("%+v %+v", l.Padding, l.Delay)
				l.Padding, l.Delay = nil, nil
			}
		}
	}
	if !reflect.DeepEqual(a, b) {
		t.Error("two runs differ")
	}
}

// TestLeaksOff: without Options.Leaks there is no leak analysis.
func TestLeaksOff(t *testing.T) {
	dir := capturesDir(t)
	e, err := RunFiles([]string{filepath.Join(dir, "libcoap-fwdproxy.pcap")}, Options{TrackExchanges: true}, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if e.LeakReport() != nil || e.Leaks() != nil {
		t.Error("leak report without Options.Leaks")
	}
}
