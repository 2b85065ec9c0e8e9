package main

import (
	"bytes"
	"context"
	"net/netip"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/coapaudit/coapaudit/analysis"
	"github.com/coapaudit/coapaudit/export"
	"github.com/coapaudit/coapaudit/flows"
	"github.com/coapaudit/coapaudit/internal/testenv"
	"github.com/coapaudit/coapaudit/rules"
)

// checkWidth fails for every line of out wider than width cells.
func checkWidth(t *testing.T, out string, width int) {
	t.Helper()
	for i, l := range strings.Split(out, "\n") {
		if n := utf8.RuneCountInString(l); n > width {
			t.Errorf("width %d: line %d has %d cells: %q", width, i+1, n, l)
		}
	}
}

// TestAnalyzeTextWidth lays the text out at fixed widths: every line
// fits, URIs keep their path, messages are wrapped whole and the
// summary reads as sentences, not Go maps.
func TestAnalyzeTextWidth(t *testing.T) {
	now := time.Unix(1700000000, 0)
	a := netip.MustParseAddrPort("[2001:db8::1234:5678:9abc]:56830")
	p := netip.MustParseAddrPort("[2001:db8::feed:beef:cafe]:5683")
	uri := "coap://gateway.building-7.example.net/sensors/temperature/outside"
	msg := "Proxy " + p.String() + " did send the client a response to GET " + uri + " (frame 6) that the server never sent: it fails OSCORE verification."
	recs := []export.Record{
		export.Finding{Finding: &rules.Finding{ID: "F1", Rule: "spoofed-response", Threat: "T1", Severity: rules.High,
			Certainty: rules.Did, Exchange: "X1", Frames: []int{5, 6}, Message: msg, Time: now}},
		export.Exchange{Exchange: &flows.Exchange{ID: "X1", Client: a, Server: a, Proxy: p, Method: "GET", URI: uri,
			Code: "2.05", Protected: "oscore", Status: flows.Complete, Frames: []int{1, 2, 3, 4}, Start: now}},
		&export.Summary{Summary: &analysis.Summary{Frames: 1234567, CoAPFrames: 1234567, Exchanges: 203041,
			Evicted: map[string]int{"exchanges-early": 203040, "message-ids": 12}}},
	}
	for _, width := range []int{80, 120, 200} {
		var b bytes.Buffer
		w := &analyzeText{w: &b, width: width}
		for _, r := range recs {
			if err := w.Write(r); err != nil {
				t.Fatal(err)
			}
		}
		out := b.String()
		checkWidth(t, out, width)
		if strings.Contains(out, "map[") {
			t.Errorf("width %d: Go map syntax:\n%s", width, out)
		}
		words := strings.Join(strings.Fields(out), " ")
		for _, want := range []string{"/sensors/temperature/outside", "evicted: 203,040 exchanges early, 12 message IDs",
			"1,234,567 frames", "fails OSCORE verification."} {
			if !strings.Contains(words, want) {
				t.Errorf("width %d: text lacks %q:\n%s", width, want, out)
			}
		}
		if !strings.Contains(words, strings.Join(strings.Fields(msg), " ")) {
			t.Errorf("width %d: the finding's message is not whole:\n%s", width, out)
		}
		if width >= 200 && !strings.Contains(out, uri) {
			t.Errorf("width %d: the URI was cut though it fits:\n%s", width, out)
		}
	}
}

// TestAnalyzeTextPiped checks that analyze's text to a pipe is laid out
// for 80 columns.
func TestAnalyzeTextPiped(t *testing.T) {
	pcap := testenv.RepoRoot() + "/samples/aiocoap-oscore-evilproxy.pcap"
	var stdout, stderr bytes.Buffer
	code := run(context.Background(), []string{"analyze", "--format", "text", pcap, "--keys", testenv.RepoRoot() + "/samples/aiocoap.oscore_contexts"}, nil, &stdout, &stderr)
	if code != 2 && code != 0 && code != 1 {
		t.Fatalf("exit %d: %s", code, stderr.String())
	}
	checkWidth(t, stdout.String(), defaultWidth)
	if !strings.Contains(stdout.String(), "/actuators/valve") {
		t.Errorf("paths lost:\n%s", stdout.String())
	}
}

// TestLiveTextWidth checks that live events wrap to the terminal under
// their time stamp, whole.
func TestLiveTextWidth(t *testing.T) {
	now := time.Unix(1700000000, 0)
	msg := strings.Repeat("Proxy 192.0.2.1:5683 did withhold a response, ", 5)
	var b bytes.Buffer
	lt := &liveText{w: &b, width: 80}
	if err := lt.Write(export.Finding{Finding: &rules.Finding{ID: "F1", Rule: "withheld-response", Threat: "T3", Severity: rules.Medium,
		Certainty: rules.Did, Exchange: "X1", Frames: []int{1, 2}, Message: msg, Time: now}}); err != nil {
		t.Fatal(err)
	}
	out := b.String()
	checkWidth(t, out, 80)
	if !strings.Contains(strings.Join(strings.Fields(out), " "), strings.TrimSpace(msg)) {
		t.Errorf("message not whole:\n%s", out)
	}
	if strings.Count(out, "\n") < 3 || !strings.HasPrefix(strings.Split(out, "\n")[1], strings.Repeat(" ", 13)) {
		t.Errorf("not wrapped under the time stamp:\n%s", out)
	}
}
