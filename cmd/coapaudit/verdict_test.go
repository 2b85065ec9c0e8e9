package main

import (
	"encoding/json"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"
	"github.com/google/gopacket/pcapgo"

	"github.com/coapaudit/coapaudit/internal/testenv"
)

// malformedCapture writes n malformed CoAP messages (token length 15),
// each from a port of its own so that each is a finding of its own, an
// hour before the shared captures start.
func malformedCapture(t *testing.T, n int) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "malformed.pcap")
	f, err := os.Create(p)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	w := pcapgo.NewWriter(f)
	if err := w.WriteFileHeader(65536, layers.LinkTypeEthernet); err != nil {
		t.Fatal(err)
	}
	t0 := time.Date(2026, 11, 26, 21, 0, 0, 0, time.UTC)
	for i := range n {
		eth := &layers.Ethernet{SrcMAC: net.HardwareAddr{2, 0, 0, 0, 0, 1}, DstMAC: net.HardwareAddr{2, 0, 0, 0, 0, 2}, EthernetType: layers.EthernetTypeIPv4}
		ip := &layers.IPv4{Version: 4, TTL: 64, Protocol: layers.IPProtocolUDP, SrcIP: net.IP{10, 7, 0, 1}, DstIP: net.IP{10, 7, 0, 2}}
		udp := &layers.UDP{SrcPort: layers.UDPPort(20000 + i), DstPort: 5683}
		udp.SetNetworkLayerForChecksum(ip)
		buf := gopacket.NewSerializeBuffer()
		opts := gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true}
		coap := gopacket.Payload{0x4f, 0x01, byte(i >> 8), byte(i)}
		if err := gopacket.SerializeLayers(buf, opts, eth, ip, udp, coap); err != nil {
			t.Fatal(err)
		}
		ci := gopacket.CaptureInfo{Timestamp: t0.Add(time.Duration(i) * time.Millisecond), CaptureLength: len(buf.Bytes()), Length: len(buf.Bytes())}
		if err := w.WritePacket(ci, buf.Bytes()); err != nil {
			t.Fatal(err)
		}
	}
	return p
}

var verdictRE = regexp.MustCompile(`(?m)^(\d+) findings: (\d+) high, (\d+) medium, (\d+) low, (\d+) info$`)

// The text verdict counts every finding: those past the text listing's
// cap, and those a rule suppressed past --max-findings, as NDJSON's
// records and summary of the same run show them. 600 malformed messages
// come first, the evil relay's high findings after them.
func TestTextVerdictCountsEveryFinding(t *testing.T) {
	keys := filepath.Join(testenv.SharedDir(t), "captures", "keys", "oscore_contexts")
	evil := testenv.Capture(t, "aiocoap-oscore-evilproxy.pcap")
	mal := malformedCapture(t, 600)
	args := []string{"--keys", keys, "--no-leaks", "--max-findings", "550", mal, evil}

	code, out, stderr := runCmd(append([]string{"analyze", "--format", "ndjson"}, args...)...)
	if code != 0 {
		t.Fatalf("ndjson: exit %d: %s", code, stderr)
	}
	records := map[string]int{}
	var sum struct {
		Findings             int            `json:"findings"`
		FindingsSuppressed   int            `json:"findings_suppressed"`
		FindingsSuppressedBy map[string]int `json:"findings_suppressed_by"`
	}
	n := 0
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		var r struct{ Type, Severity string }
		if err := json.Unmarshal([]byte(line), &r); err != nil {
			t.Fatal(err)
		}
		switch r.Type {
		case "finding":
			records[r.Severity]++
			n++
		case "summary":
			if err := json.Unmarshal([]byte(line), &sum); err != nil {
				t.Fatal(err)
			}
		}
	}
	if sum.Findings != n {
		t.Errorf("summary findings %d, %d records", sum.Findings, n)
	}
	if sum.FindingsSuppressed != 50 || sum.FindingsSuppressedBy["malformed-message"] != 50 || len(sum.FindingsSuppressedBy) != 1 {
		t.Errorf("suppressed %d %v, want 50 of malformed-message", sum.FindingsSuppressed, sum.FindingsSuppressedBy)
	}
	validateNDJSON(t, "analyze --max-findings 550", []byte(out), loadSchemas(t), map[string]int{})
	if records["high"] == 0 || n <= maxTextFindings {
		t.Fatalf("want high findings after more than %d findings; records %v", maxTextFindings, records)
	}

	code, text, stderr := runCmd(append([]string{"analyze", "--format", "text"}, args...)...)
	if code != 0 {
		t.Fatalf("text: exit %d: %s", code, stderr)
	}
	m := verdictRE.FindStringSubmatch(text)
	if m == nil {
		t.Fatalf("no verdict line in:\n%.2000s", text)
	}
	want := []int{n + sum.FindingsSuppressed, records["high"], records["medium"], records["low"] + sum.FindingsSuppressed, records["info"]}
	for i, w := range want {
		if got, _ := strconv.Atoi(m[i+1]); got != w {
			t.Errorf("verdict %q: field %d is %d, want %d (records %v, suppressed %d)", m[0], i+1, got, w, records, sum.FindingsSuppressed)
		}
	}
	if !strings.Contains(text, "suppressed: 50 past the cap of findings per rule (malformed-message 50)") {
		t.Errorf("text does not show the suppressed findings:\n%.1500s", text)
	}
	// The most severe findings are listed, not the first ones.
	if got := strings.Count(text, "\nHIGH "); got != records["high"] {
		t.Errorf("%d high findings listed, %d reported", got, records["high"])
	}
	if !strings.Contains(text, fmt.Sprintf("... and %d more findings", n-maxTextFindings)) {
		t.Errorf("text does not count the findings it does not list")
	}

	for _, tc := range []struct {
		max, failOn string
		code        int
	}{{"1", "low", 1}, {"1", "medium", 0}, {"0", "low", 2}} {
		code, _, _ := runCmd("analyze", "--format", "ndjson", "--no-leaks", "--max-findings", tc.max, "--fail-on", tc.failOn, mal)
		if code != tc.code {
			t.Errorf("--max-findings %s --fail-on %s: exit %d, want %d", tc.max, tc.failOn, code, tc.code)
		}
	}
}

// A key one bit off is named, on stderr and in one keys-mismatch record,
// and makes no forgery findings; the secret is in neither.
func TestWrongKeyNamed(t *testing.T) {
	keys, err := os.ReadFile(filepath.Join(testenv.SharedDir(t), "captures", "keys", "oscore_contexts"))
	if err != nil {
		t.Fatal(err)
	}
	const secret, wrong = "0102030405060708090a0b0c0d0e0f10", "0102030405060708090a0b0c0d0e0f11"
	if !strings.Contains(string(keys), secret) {
		t.Fatalf("keys file without the expected master secret")
	}
	bad := filepath.Join(t.TempDir(), "bad_contexts")
	if err := os.WriteFile(bad, []byte(strings.ReplaceAll(string(keys), secret, wrong)), 0o600); err != nil {
		t.Fatal(err)
	}
	code, out, stderr := runCmd("analyze", "--format", "ndjson", "--no-leaks", "--keys", bad, "--fail-on", "high", testenv.Capture(t, "aiocoap-oscore-revproxy.pcap"))
	if code != 0 {
		t.Errorf("exit %d: a wrong key is no high finding (%s)", code, stderr)
	}
	validateNDJSON(t, "analyze with a wrong key", []byte(out), loadSchemas(t), map[string]int{})
	var mm []string
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		var r struct{ Type, Rule, Threat, Severity, Message string }
		if err := json.Unmarshal([]byte(line), &r); err != nil {
			t.Fatal(err)
		}
		if r.Type != "finding" {
			continue
		}
		if r.Rule != "keys-mismatch" {
			t.Errorf("finding other than keys-mismatch: %s", line)
			continue
		}
		if r.Threat != "usage" || r.Severity != "low" {
			t.Errorf("keys-mismatch record %s", line)
		}
		mm = append(mm, r.Message)
	}
	if len(mm) != 1 {
		t.Fatalf("%d keys-mismatch records, want 1", len(mm))
	}
	if want := "coapaudit: keys: " + mm[0]; !strings.Contains(stderr, want) {
		t.Errorf("stderr %q does not say %q", stderr, want)
	}
	for _, s := range []string{secret, wrong} {
		if strings.Contains(out+stderr, s) {
			t.Errorf("output shows a master secret")
		}
	}
}
