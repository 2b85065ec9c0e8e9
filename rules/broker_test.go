package rules_test

import (
	"testing"

	"github.com/coapaudit/coapaudit/internal/testenv"
	"github.com/coapaudit/coapaudit/rules"
)

// brokerAct is one line of evil-pubsub-broker.truth.jsonl, written by
// samples/evilbroker as it misbehaved.
type brokerAct struct {
	Act        string   `json:"act"`
	Pub        int      `json:"pub"`
	Sub        int      `json:"sub"`
	Subscriber string   `json:"subscriber"`
	PubMID     uint16   `json:"pub_mid"`
	MIDs       []uint16 `json:"mids"`
}

// TestEvilBrokerTruth checks the findings on the misbehaving broker's
// capture against the truth its broker wrote: every act is proven (did)
// by the rule of its kind, with the publication's frame and the frames
// of the notifications the act concerns; every proven finding at medium
// or above is one of the acts.
func TestEvilBrokerTruth(t *testing.T) {
	const broker = "127.0.4.101"
	acts := readJSONLines[brokerAct](t, testenv.RepoCapture(t, "evil-pubsub-broker.truth.jsonl"))
	if len(acts) != 5 {
		t.Fatalf("%d acts in the truth file, want 5", len(acts))
	}
	rule := map[string]struct {
		id     string
		threat rules.Threat
	}{
		"withhold": {"publication-withheld", rules.T3},
		"alter":    {"publication-altered", rules.T1},
		"inject":   {"publication-injected", rules.T1},
		"delay":    {"publication-delayed", rules.T2},
		"flood":    {"publication-repeated", rules.T4},
	}
	frames := captureFrames(t, testenv.RepoCapture(t, "evil-pubsub-broker.pcap"))
	fs, _ := runCapture(t, "", rules.Config{}, "repo:evil-pubsub-broker.pcap")
	explained := make([]bool, len(fs))
	for _, a := range acts {
		r, ok := rule[a.Act]
		if !ok {
			t.Fatalf("unknown act %q", a.Act)
		}
		var want []int
		for _, f := range frames {
			switch {
			case f.mid == a.PubMID && !f.response && f.dst.Addr().String() == broker:
				if a.Act != "inject" {
					want = append(want, f.n)
				}
			case f.response && f.src.Addr().String() == broker && f.dst.String() == a.Subscriber:
				for _, m := range a.MIDs {
					if f.mid == m {
						want = append(want, f.n)
					}
				}
			}
		}
		if len(want) != 1+len(a.MIDs) && a.Act != "inject" || a.Act == "inject" && len(want) != len(a.MIDs) {
			t.Fatalf("act %+v: frames %v in the capture", a, want)
		}
		found := false
		for i, f := range fs {
			if f.Rule == r.id && f.Threat == r.threat && f.Certainty == rules.Did && f.Severity >= rules.Medium && containsAll(f.Frames, want) {
				found, explained[i] = true, true
			}
		}
		if !found {
			t.Errorf("act %s of publication %d on subscriber %d: no proven %s %s finding with frames %v", a.Act, a.Pub, a.Sub, r.id, r.threat, want)
		}
	}
	for i, f := range fs {
		if f.Certainty == rules.Did && f.Severity >= rules.Medium && !explained[i] {
			t.Errorf("proven finding explained by no act: %v", f)
		}
	}
	if t.Failed() {
		for _, f := range fs {
			t.Logf("got %v", f)
		}
	}
}
