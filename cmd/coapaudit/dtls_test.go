package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/coapaudit/coapaudit/internal/testenv"
)

func dtlsTestdata(name string) string {
	return filepath.Join(testenv.RepoRoot(), "dtlsdec", "testdata", name)
}

// TestAnalyzeDTLS decrypts a libcoap capture through a DTLS forward proxy
// and checks that its exchanges are linked across both hops, marked as
// protected by DTLS; without keys there are none.
func TestAnalyzeDTLS(t *testing.T) {
	pcap := dtlsTestdata("libcoap-psk-proxy.pcap")
	xs, sum := runAnalyzeNDJSON(t, pcap)
	if len(xs) != 0 || sum["dtls_decrypted"] != nil {
		t.Errorf("without keys: %d exchanges, %v DTLS records decrypted", len(xs), sum["dtls_decrypted"])
	}
	for _, keys := range [][]string{
		{"--psk", "alice=686f704b6579", "--psk", "proxyid=686f704b6579"},
		{"--psk", "686f704b6579"},
		{"--keylog", dtlsTestdata("libcoap-psk-proxy.keylog")},
	} {
		xs, sum = runAnalyzeNDJSON(t, append(keys, pcap)...)
		got := []string{}
		for _, x := range xs {
			got = append(got, x.Method+" "+x.URI+" "+x.Code+" "+x.Protected+" proxy="+x.Proxy)
		}
		want := []string{
			"GET coaps://127.0.3.11/time 2.05 dtls proxy=127.0.3.12:5684",
			"PUT coaps://127.0.3.11/example_data 2.01 dtls proxy=127.0.3.12:5684",
			"GET coaps://127.0.3.11/example_data 2.05 dtls proxy=127.0.3.12:5684",
			"GET coaps://127.0.3.11/example_data 2.05 dtls proxy=",
		}
		if strings.Join(got, "\n") != strings.Join(want, "\n") {
			t.Errorf("%v: exchanges\n%s\nwant\n%s", keys, strings.Join(got, "\n"), strings.Join(want, "\n"))
		}
		if sum["dtls_coap"] != 20.0 || sum["dtls_decrypt_failures"] != nil {
			t.Errorf("%v: summary %v", keys, sum)
		}
	}
}

// TestAnalyzeDTLSWrongKey checks the one-line-per-session report of a key
// that does not fit, and that no secret reaches the output.
func TestAnalyzeDTLSWrongKey(t *testing.T) {
	var stdout, stderr bytes.Buffer
	code := run(context.Background(), []string{"analyze", "--format", "ndjson", "--psk", "alice=0badc0ffee",
		dtlsTestdata("libcoap-psk-proxy.pcap")}, nil, &stdout, &stderr)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr.String())
	}
	lines := strings.Split(strings.TrimSpace(stderr.String()), "\n")
	if len(lines) != 7 {
		t.Errorf("%d stderr lines, want one per session (7):\n%s", len(lines), stderr.String())
	}
	for _, l := range lines {
		if !strings.Contains(l, "key does not match this session") {
			t.Errorf("line %q", l)
		}
	}
	if out := stdout.String() + stderr.String(); strings.Contains(out, "0badc0ffee") {
		t.Error("the PSK reached the output")
	}
	if !strings.Contains(stdout.String(), `"dtls_sessions":{"key does not match this session":7}`) {
		t.Errorf("summary: %s", stdout.String()[strings.LastIndex(stdout.String(), "{"):])
	}
}

// TestAnalyzeKeyErrors checks that malformed key inputs are usage errors
// that say where and what, never the secret.
func TestAnalyzeKeyErrors(t *testing.T) {
	kl := filepath.Join(t.TempDir(), "bad.keylog")
	secret := "5ec7e75ec7e75ec7e75ec7e75ec7e75ec7e75ec7e75ec7e75ec7e75ec7e75ec7e75ec7e75ec7e75ec7e75ec7e75ec7"
	os.WriteFile(kl, []byte("# ok\nCLIENT_RANDOM 00 "+secret+"\n"), 0o600)
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--keylog", kl}, kl + ":2: client random is not 32 bytes of hex"},
		{[]string{"--psk", "alice=5ec7e75ec7e"}, "--psk #1: bad pre-shared key: key is not an even number of hex digits"},
	} {
		var stdout, stderr bytes.Buffer
		code := run(context.Background(), append(append([]string{"analyze"}, tc.args...), dtlsTestdata("libcoap-psk-proxy.pcap")), nil, &stdout, &stderr)
		if code == 0 || !strings.Contains(stderr.String(), tc.want) {
			t.Errorf("%v: exit %d, stderr %q; want %q", tc.args, code, stderr.String(), tc.want)
		}
		if strings.Contains(stderr.String(), "5ec7e75ec7e") {
			t.Errorf("%v: secret in %q", tc.args, stderr.String())
		}
	}
}

// TestAnalyzeDTLSAlteredByProxy reads a capture of both DTLS hops in which
// the proxy relayed the origin's response with a changed payload (the
// record sealed again with the hop's keys, see dtlsdec/testdata): with the
// keys, the change is a proven finding; the faithful capture has none.
func TestAnalyzeDTLSAlteredByProxy(t *testing.T) {
	find := func(pcap string, keys ...string) []string {
		var stdout, stderr bytes.Buffer
		args := append(append([]string{"analyze", "--format", "ndjson"}, keys...), dtlsTestdata(pcap))
		if code := run(context.Background(), args, nil, &stdout, &stderr); code != 0 {
			t.Fatalf("%v: exit %d: %s", args, code, stderr.String())
		}
		var out []string
		for _, l := range strings.Split(stdout.String(), "\n") {
			var f struct {
				Type, Rule, Certainty, Exchange string
				Frames                          []int
			}
			if json.Unmarshal([]byte(l), &f) == nil && f.Type == "finding" && strings.HasPrefix(f.Rule, "altered") {
				out = append(out, fmt.Sprintf("%s %s %s %v", f.Rule, f.Certainty, f.Exchange, f.Frames))
			}
		}
		return out
	}
	psk := []string{"--psk", "686f704b6579"}
	if got := find("libcoap-psk-proxy-altered.pcap", psk...); strings.Join(got, ";") != "altered-response did X1 [26 27]" {
		t.Errorf("altered capture: %q", got)
	}
	if got := find("libcoap-psk-proxy-altered.pcap", "--keylog", dtlsTestdata("libcoap-psk-proxy.keylog")); strings.Join(got, ";") != "altered-response did X1 [26 27]" {
		t.Errorf("altered capture, key log: %q", got)
	}
	if got := find("libcoap-psk-proxy.pcap", psk...); len(got) != 0 {
		t.Errorf("faithful capture: %q", got)
	}
	if got := find("libcoap-psk-proxy-altered.pcap"); len(got) != 0 {
		t.Errorf("without keys: %q", got)
	}
}

// TestAnalyzeDTLSThroughProxy holds the exchanges of both libcoap captures
// through a DTLS forward proxy, decrypted with the keys of both hops,
// against the truth in dtlsdec/testdata/README.md: three exchanges through
// the proxy (client 127.0.3.10 to 127.0.3.12:5684, then the proxy from
// 127.0.3.13 to the origin 127.0.3.11:5684), each with both legs linked,
// and one straight to the origin; 20 CoAP messages, every one in an
// exchange; the client received the time, then {"t":21.5} twice.
func TestAnalyzeDTLSThroughProxy(t *testing.T) {
	for _, tc := range []struct {
		pcap string
		keys []string
	}{
		{"libcoap-psk-proxy.pcap", []string{"--psk", "alice=686f704b6579", "--psk", "proxyid=686f704b6579"}},
		{"libcoap-psk-proxy.pcap", []string{"--keylog", dtlsTestdata("libcoap-psk-proxy.keylog")}},
		{"libcoap-ecdhe-psk-proxy.pcap", []string{"--keylog", dtlsTestdata("libcoap-ecdhe-psk-proxy.keylog")}},
	} {
		pcap := dtlsTestdata(tc.pcap)
		xs, _ := runAnalyzeNDJSON(t, append(tc.keys, pcap)...)
		ps, _ := dtlsPackets(t, append(tc.keys, pcap)...)
		byFrame := map[int]dtlsPacket{}
		coap := map[int]bool{}
		for _, p := range ps {
			byFrame[p.Frame] = p
			if p.MID != nil {
				coap[p.Frame] = true
			}
		}
		var got []string
		inExchange := map[int]bool{}
		for _, x := range xs {
			s := x.Method + " " + x.URI
			for _, l := range x.Legs {
				from, _, _ := strings.Cut(l.From, ":")
				s += fmt.Sprintf(" | %s>%s req %d resp %d", from, l.To, len(l.RequestFrames), len(l.ResponseFrames))
			}
			l0 := x.Legs[0]
			if len(l0.ResponseFrames) > 0 {
				s += fmt.Sprintf(" | client got %d bytes", byFrame[l0.ResponseFrames[0]].Payload)
			}
			got = append(got, s)
			for _, f := range x.Frames {
				inExchange[f] = true
			}
		}
		want := []string{
			"GET coaps://127.0.3.11/time | 127.0.3.10>127.0.3.12:5684 req 1 resp 1 | 127.0.3.13>127.0.3.11:5684 req 1 resp 1 | client got 15 bytes",
			"PUT coaps://127.0.3.11/example_data | 127.0.3.10>127.0.3.12:5684 req 1 resp 1 | 127.0.3.13>127.0.3.11:5684 req 1 resp 1 | client got 0 bytes",
			`GET coaps://127.0.3.11/example_data | 127.0.3.10>127.0.3.12:5684 req 1 resp 1 | 127.0.3.13>127.0.3.11:5684 req 1 resp 1 | client got 10 bytes`,
			`GET coaps://127.0.3.11/example_data | 127.0.3.10>127.0.3.11:5684 req 1 resp 1 | client got 10 bytes`,
		}
		if strings.Join(got, "\n") != strings.Join(want, "\n") {
			t.Errorf("%s %v: exchanges\n%s\nwant\n%s", tc.pcap, tc.keys, strings.Join(got, "\n"), strings.Join(want, "\n"))
		}
		if len(coap) != 20 {
			t.Errorf("%s %v: %d frames with CoAP, want 20", tc.pcap, tc.keys, len(coap))
		}
		for f := range coap {
			if !inExchange[f] {
				t.Errorf("%s %v: CoAP frame %d is in no exchange", tc.pcap, tc.keys, f)
			}
		}
	}
}

// TestDTLSHopByHopDid checks that dtls-hop-by-hop says what the proxy read
// once both hops are decrypted, and stays a could otherwise.
func TestDTLSHopByHopDid(t *testing.T) {
	hop := func(keys ...string) (certainty, message string) {
		var stdout, stderr bytes.Buffer
		args := append(append([]string{"analyze", "--format", "ndjson", "--no-leaks"}, keys...), dtlsTestdata("libcoap-psk-proxy.pcap"))
		if code := run(context.Background(), args, nil, &stdout, &stderr); code != 0 {
			t.Fatalf("%v: exit %d: %s", args, code, stderr.String())
		}
		n := 0
		for _, l := range strings.Split(stdout.String(), "\n") {
			var f struct{ Type, Rule, Certainty, Message string }
			if json.Unmarshal([]byte(l), &f) == nil && f.Type == "finding" && f.Rule == "dtls-hop-by-hop" {
				certainty, message = f.Certainty, f.Message
				n++
			}
		}
		if n != 1 {
			t.Fatalf("%v: %d dtls-hop-by-hop findings, want 1", keys, n)
		}
		return certainty, message
	}
	read := "With both hops decrypted: the proxy did decrypt the request (frame 12: options Hop-Limit, Proxy-Uri, 0 payload bytes)" +
		" and the answer (frame 26: options Max-Age, 15 payload bytes)."
	for _, keys := range [][]string{
		{"--psk", "686f704b6579"},
		{"--keylog", dtlsTestdata("libcoap-psk-proxy.keylog")},
	} {
		if c, m := hop(keys...); c != "did" || !strings.HasSuffix(m, read) {
			t.Errorf("%v: %s %q", keys, c, m)
		}
	}
	// No keys, or the proxy's onward hop not decrypted: it could.
	for _, keys := range [][]string{
		nil,
		{"--psk", "alice=686f704b6579", "--psk", "proxyid=0badc0ffee"},
	} {
		if c, m := hop(keys...); c != "could" || strings.Contains(m, "did decrypt") {
			t.Errorf("%v: %s %q", keys, c, m)
		}
	}
}
