package rules_test

import (
	"bufio"
	"encoding/json"
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/coapaudit/coapaudit/internal/testenv"
	"github.com/coapaudit/coapaudit/rules"
)

// relayAct is one line of a truth file written by samples/relay.
type relayAct struct {
	Act    string `json:"act"`
	N      int    `json:"n"`
	Dir    string `json:"dir"`
	Frames []int  `json:"frames"`
}

func readRelayTruth(t *testing.T, rel string) []relayAct {
	t.Helper()
	f, err := os.Open(testenv.Capture(t, rel))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var acts []relayAct
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		var a relayAct
		if err := json.Unmarshal(sc.Bytes(), &a); err != nil {
			t.Fatalf("%s: %v", rel, err)
		}
		acts = append(acts, a)
	}
	return acts
}

// expected says which rule proves an act of the relay, and which of the
// act's frames its evidence must include.
func expected(a relayAct, oscore bool) (rule string, frames []int) {
	last := a.Frames[len(a.Frames)-1]
	switch {
	case strings.HasPrefix(a.Act, "alter-") && a.Dir == "request":
		return "altered-request", a.Frames
	case strings.HasPrefix(a.Act, "alter-"):
		return "altered-response", a.Frames
	case a.Act == "forge":
		return "spoofed-response", []int{last}
	case a.Act == "delay":
		return "proxy-delay", a.Frames
	case a.Act == "drop":
		return "withheld-response", []int{a.Frames[0]}
	case a.Act == "flood":
		return "response-flood", []int{last}
	case a.Act == "replay" && oscore:
		return "oscore-replay", []int{last}
	case a.Act == "replay":
		return "request-replay", []int{last}
	}
	return "", nil
}

// TestRelayTruth: every act of the misbehaving relay, in plain CoAP, under
// OSCORE, and relaying to an origin over TCP, is reported as did with its frames; and no did finding
// of medium or higher severity is left that no act explains.
func TestRelayTruth(t *testing.T) {
	for _, c := range []struct{ capture, truth, keys string }{
		{"relay-plain.pcap", "relay-plain.truth.jsonl", ""},
		{"relay-oscore.pcap", "relay-oscore.truth.jsonl", "relay-oscore.oscore_contexts"},
		// The relay between a UDP client and a coap+tcp origin
		// (testdata/captures/record/record-relay-tcp.sh).
		{"relay-tcp.pcap", "relay-tcp.truth.jsonl", ""},
	} {
		t.Run(c.capture, func(t *testing.T) {
			acts := readRelayTruth(t, c.truth)
			fs, _ := runCapture(t, c.keys, rules.Config{}, c.capture)
			explained := make([]bool, len(fs))
			for _, a := range acts {
				rule, frames := expected(a, c.keys != "")
				if rule == "" {
					t.Fatalf("act %q has no rule", a.Act)
				}
				found := false
				for i, f := range fs {
					if f.Rule == rule && f.Certainty == rules.Did && containsAll(f.Frames, frames) {
						explained[i], found = true, true
					}
				}
				if !found {
					t.Errorf("act %s (n %d, frames %v): no did %s finding with frames %v", a.Act, a.N, a.Frames, rule, frames)
				}
			}
			for i, f := range fs {
				if explained[i] || f.Certainty != rules.Did || f.Severity < rules.Medium {
					continue
				}
				// A forged or altered OSCORE message also fails
				// verification where it arrives.
				if f.Rule == "oscore-unverified" && slices.ContainsFunc(acts, func(a relayAct) bool { return containsAll(a.Frames, f.Frames[len(f.Frames)-1:]) }) {
					continue
				}
				t.Errorf("did finding no act explains: %v", f)
			}
		})
	}
}
