package main

import (
	"bytes"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/coapaudit/coapaudit/analysis"
	"github.com/coapaudit/coapaudit/export"
	"github.com/coapaudit/coapaudit/flows"
	"github.com/coapaudit/coapaudit/internal/testenv"
	"github.com/coapaudit/coapaudit/rules"
)

const esc = "\x1b["

// TestTextNoColorOffTerminal checks that text written anywhere but a
// terminal is plain.
func TestTextNoColorOffTerminal(t *testing.T) {
	path := testenv.Capture(t, "aiocoap-oscore-evilproxy.pcap")
	code, out, stderr := runCmd("analyze", "--format", "text", path)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	if !strings.Contains(out, "HIGH") {
		t.Fatalf("no HIGH finding in the evil proxy's summary:\n%s", out)
	}
	if strings.Contains(out, esc) || strings.Contains(stderr, esc) {
		t.Errorf("escape sequences in output to a buffer:\n%q", out)
	}
	if paletteFor(&bytes.Buffer{}).on {
		t.Error("colour turned on for a bytes.Buffer")
	}
}

// TestNoColorEnv checks that a non-empty NO_COLOR turns colour off on a
// terminal.
func TestNoColorEnv(t *testing.T) {
	for _, tc := range []struct {
		terminal bool
		noColor  string
		want     bool
	}{
		{true, "", true},
		{true, "1", false},
		{false, "", false},
		{false, "1", false},
	} {
		if got := newPalette(tc.terminal, tc.noColor).on; got != tc.want {
			t.Errorf("terminal %v, NO_COLOR=%q: colour %v, want %v", tc.terminal, tc.noColor, got, tc.want)
		}
	}
}

func colorRecords() (finding [3]export.Finding, exchanges [2]export.Exchange) {
	now := time.Unix(1700000000, 0)
	for i, sev := range []rules.Severity{rules.High, rules.Medium, rules.Low} {
		finding[i] = export.Finding{Finding: &rules.Finding{ID: "F1", Rule: "r", Threat: "T1", Severity: sev,
			Certainty: rules.Did, Exchange: "X1", Frames: []int{1}, Message: "m", Time: now}}
	}
	a := netip.MustParseAddrPort("192.0.2.1:5683")
	for i, st := range []flows.Status{flows.Withheld, flows.Complete} {
		exchanges[i] = export.Exchange{Exchange: &flows.Exchange{ID: "X1", Client: a, Server: a, Method: "GET",
			Protected: "none", Status: st, Frames: []int{1, 2}, Start: now}}
	}
	return
}

// TestTextForcedColor checks the colours themselves, and that colouring
// keeps the columns where they were.
func TestTextForcedColor(t *testing.T) {
	fs, xs := colorRecords()
	for _, on := range []bool{false, true} {
		var b bytes.Buffer
		w := &analyzeText{w: &b, color: palette{on: on}}
		for _, r := range []export.Record{fs[0], fs[1], fs[2], xs[0], xs[1], &export.Summary{Summary: &analysis.Summary{}}} {
			if err := w.Write(r); err != nil {
				t.Fatal(err)
			}
		}
		out := b.String()
		if !on {
			if strings.Contains(out, esc) {
				t.Errorf("escape sequences without colour:\n%q", out)
			}
			continue
		}
		for _, want := range []string{
			esc + "1;31mHIGH  " + esc + "0m",
			esc + "33mMEDIUM" + esc + "0m",
			esc + "36mLOW   " + esc + "0m",
			esc + "31mwithheld",
		} {
			if !strings.Contains(out, want) {
				t.Errorf("coloured analyze text lacks %q:\n%q", want, out)
			}
		}
		if strings.Contains(out, esc+"31mcomplete") || strings.Count(out, esc+"0m") != 4 {
			t.Errorf("want exactly the 3 severities and the withheld status coloured:\n%q", out)
		}
		plain := strings.NewReplacer(esc+"1;31m", "", esc+"33m", "", esc+"36m", "", esc+"31m", "", esc+"0m", "").Replace(out)
		var ref bytes.Buffer
		w = &analyzeText{w: &ref}
		for _, r := range []export.Record{fs[0], fs[1], fs[2], xs[0], xs[1], &export.Summary{Summary: &analysis.Summary{}}} {
			w.Write(r)
		}
		if plain != ref.String() {
			t.Errorf("colour changed the layout:\n%s\nwant\n%s", plain, ref.String())
		}
	}

	var b bytes.Buffer
	lt := &liveText{w: &b, color: palette{on: true}}
	lt.Write(fs[0])
	lt.Write(xs[0])
	lt.Write(xs[1])
	out := b.String()
	if !strings.Contains(out, esc+"1;31mHIGH"+esc+"0m") || !strings.Contains(out, esc+"31mwithheld"+esc+"0m") || strings.Contains(out, esc+"31mcomplete") {
		t.Errorf("live text colours:\n%q", out)
	}
	b.Reset()
	lt = &liveText{w: &b}
	lt.Write(fs[0])
	lt.Write(xs[0])
	if strings.Contains(b.String(), esc) {
		t.Errorf("live text without colour has escapes:\n%q", b.String())
	}
}
