package rules_test

import (
	"bufio"
	"encoding/json"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/coapaudit/coapaudit/analysis"
	"github.com/coapaudit/coapaudit/dissect"
	"github.com/coapaudit/coapaudit/internal/testenv"
	"github.com/coapaudit/coapaudit/rules"
)

// An expectation file (testdata/*.want) names a shared capture and the
// findings the rules must report on it, the way analysistest reads
// "// want" comments:
//
//	capture FILE                      the capture, relative to testdata/shared/captures,
//	                                  or repo:FILE for testdata/captures
//	keys FILE                         OSCORE keys for it
//	profile NAME                      --profile
//	want RULE THREAT SEVERITY CERTAINTY FRAMES [EXCHANGE]
//	                                  a finding with these fields whose
//	                                  evidence includes FRAMES (comma-separated)
//	strict SEVERITY                   every finding at or above SEVERITY is wanted
//	forbid THREAT,... SEVERITY        no finding of these threats at or above SEVERITY
//	strict-did SEVERITY               every did finding at or above SEVERITY is wanted
//
// Each want line must be matched by a finding of its own.
type expectations struct {
	capture, keys string
	profile       rules.Profile
	wants         []want
	strict        rules.Severity
	strictDid     rules.Severity
	forbid        []rules.Threat
	forbidAt      rules.Severity
}

type want struct {
	line      int
	rule      string
	threat    rules.Threat
	severity  rules.Severity
	certainty string
	frames    []int
	exchange  string
	matched   bool
}

func parseExpectations(t *testing.T, path string) *expectations {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	e := &expectations{}
	sc := bufio.NewScanner(f)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		fs := strings.Fields(line)
		bad := func(why string) { t.Fatalf("%s:%d: %s: %q", path, n, why, line) }
		sev := func(s string) rules.Severity {
			v, err := rules.ParseSeverity(s)
			if err != nil {
				bad(err.Error())
			}
			return v
		}
		switch fs[0] {
		case "capture", "keys", "profile":
			if len(fs) != 2 {
				bad("want one argument")
			}
			switch fs[0] {
			case "capture":
				e.capture = fs[1]
			case "keys":
				e.keys = fs[1]
			default:
				if e.profile, err = rules.ParseProfile(fs[1]); err != nil {
					bad(err.Error())
				}
			}
		case "want":
			if len(fs) < 6 || len(fs) > 7 {
				bad("want RULE THREAT SEVERITY CERTAINTY FRAMES [EXCHANGE]")
			}
			w := want{line: n, rule: fs[1], threat: rules.Threat(fs[2]), severity: sev(fs[3]), certainty: fs[4]}
			if rules.Lookup(w.rule) == nil || !w.threat.Valid() || (w.certainty != "could" && w.certainty != "did") {
				bad("unknown rule, threat or certainty")
			}
			for _, s := range strings.Split(fs[5], ",") {
				v, err := strconv.Atoi(s)
				if err != nil {
					bad("frames")
				}
				w.frames = append(w.frames, v)
			}
			if len(fs) == 7 {
				w.exchange = fs[6]
			}
			e.wants = append(e.wants, w)
		case "strict":
			if len(fs) != 2 {
				bad("strict SEVERITY")
			}
			e.strict = sev(fs[1])
		case "strict-did":
			if len(fs) != 2 {
				bad("strict-did SEVERITY")
			}
			e.strictDid = sev(fs[1])
		case "forbid":
			if len(fs) != 3 {
				bad("forbid THREAT,... SEVERITY")
			}
			for _, th := range strings.Split(fs[1], ",") {
				e.forbid = append(e.forbid, rules.Threat(th))
			}
			e.forbidAt = sev(fs[2])
		default:
			bad("unknown directive")
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	if e.capture == "" {
		t.Fatalf("%s: no capture line", path)
	}
	return e
}

func (w *want) matches(f *rules.Finding) bool {
	if f.Rule != w.rule || f.Threat != w.threat || f.Severity != w.severity || f.Certainty.String() != w.certainty {
		return false
	}
	if w.exchange != "" && f.Exchange != w.exchange {
		return false
	}
	for _, n := range w.frames {
		if !slices.Contains(f.Frames, n) {
			return false
		}
	}
	return true
}

func TestExpectations(t *testing.T) {
	files, err := filepath.Glob(filepath.Join("testdata", "*.want"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no expectation files: %v", err)
	}
	for _, path := range files {
		t.Run(filepath.Base(path), func(t *testing.T) {
			e := parseExpectations(t, path)
			fs, _ := runCapture(t, e.keys, rules.Config{Profile: e.profile}, e.capture)
			checkExpectations(t, e, fs)
		})
	}
}

func checkExpectations(t *testing.T, e *expectations, fs []*rules.Finding) {
	t.Helper()
	wanted := make([]bool, len(fs))
	for wi := range e.wants {
		w := &e.wants[wi]
		for i, f := range fs {
			if !wanted[i] && w.matches(f) {
				wanted[i], w.matched = true, true
				break
			}
		}
		if !w.matched {
			t.Errorf("line %d: no finding %s %s %s %s with frames %v %s", w.line, w.rule, w.threat, w.severity, w.certainty, w.frames, w.exchange)
		}
	}
	for i, f := range fs {
		if e.strict != 0 && f.Severity >= e.strict && !wanted[i] {
			t.Errorf("unexpected finding: %v", f)
		}
		if e.strictDid != 0 && f.Certainty == rules.Did && f.Severity >= e.strictDid && !wanted[i] {
			t.Errorf("unexpected did finding: %v", f)
		}
		if e.forbidAt != 0 && f.Severity >= e.forbidAt && slices.Contains(e.forbid, f.Threat) {
			t.Errorf("forbidden finding: %v", f)
		}
	}
	if t.Failed() {
		for _, f := range fs {
			t.Logf("got %v", f)
		}
	}
}

// TestEvilProxyTruth checks the findings on the evil-proxy capture against
// its ground truth, with and without keys: every act is found with the
// threat it is, and its evidence includes the frames of the act; no other
// finding reaches medium.
func TestEvilProxyTruth(t *testing.T) {
	acts := readTruth(t, testenv.Capture(t, "aiocoap-oscore-evilproxy.truth.jsonl"))
	threat := map[string]rules.Threat{"forge": rules.T1, "delay": rules.T2, "flood": rules.T4, "drop": rules.T3, "replay": rules.Replay}
	for _, keys := range []string{"keys/oscore_contexts", ""} {
		t.Run(fmt.Sprintf("keys=%q", keys), func(t *testing.T) {
			fs, e := runCapture(t, keys, rules.Config{}, "aiocoap-oscore-evilproxy.pcap")
			frames := evilFrames(t)
			explained := make([]bool, len(fs))
			for _, a := range acts {
				th, ok := threat[a.Act]
				if !ok {
					t.Fatalf("unknown act %q", a.Act)
				}
				want := a.frames(t, frames)
				found := false
				for i, f := range fs {
					if f.Threat == th && f.Severity >= rules.Medium && f.Certainty == rules.Did && containsAll(f.Frames, want) {
						found, explained[i] = true, true
					}
				}
				if !found {
					t.Errorf("act %s (mid %d): no proven %s finding at medium or above with frames %v", a.Act, a.MID, th, want)
				}
			}
			for i, f := range fs {
				if f.Severity >= rules.Medium && !explained[i] {
					t.Errorf("finding explained by no act: %v", f)
				}
			}
			if t.Failed() {
				for _, f := range fs {
					t.Logf("got %v", f)
				}
			}
			if e.Summary().Findings != len(fs) {
				t.Errorf("summary counts %d findings, got %d", e.Summary().Findings, len(fs))
			}
		})
	}
}

type act struct {
	Act    string  `json:"act"`
	MID    uint16  `json:"mid"`
	Client uint16  `json:"client"`
	Extra  int     `json:"extra"`
	T      float64 `json:"t"`
}

func readTruth(t *testing.T, path string) []act { return readJSONLines[act](t, path) }

// readJSONLines reads a file of one JSON value per line.
func readJSONLines[T any](t *testing.T, path string) []T {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var out []T
	for _, line := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		var v T
		if err := json.Unmarshal([]byte(line), &v); err != nil {
			t.Fatalf("%s: %v", line, err)
		}
		out = append(out, v)
	}
	return out
}

// frames returns the frames that carry act a: the messages the relay
// made up, held back, repeated or dropped.
func (a act) frames(t *testing.T, fs []frameRec) []int {
	t.Helper()
	var out []int
	switch a.Act {
	case "forge": // the response the relay sent the client itself
		for _, f := range fs {
			if f.mid == a.MID && f.response && f.dst.Port() == a.Client {
				out = append(out, f.n)
			}
		}
	case "delay": // the request it held, as it finally left for the server
		for _, f := range fs {
			if f.mid == a.MID && !f.response && f.dst.Addr().String() == evilServer {
				out = append(out, f.n)
				break
			}
		}
	case "flood": // the copies beyond the first
		var copies []int
		for _, f := range fs {
			if f.mid == a.MID && f.response && f.dst.Port() == a.Client {
				copies = append(copies, f.n)
			}
		}
		if len(copies) != a.Extra+1 {
			t.Fatalf("flood of mid %d: %d responses, truth says %d extra", a.MID, len(copies), a.Extra)
		}
		out = copies[1:]
	case "drop": // the server's first response after the act
		for _, f := range fs {
			if f.mid == a.MID && f.response && f.src.Addr().String() == evilServer && f.t >= a.T {
				out = append(out, f.n)
				break
			}
		}
	case "replay": // the copies of the request beyond the first
		seen := false
		for _, f := range fs {
			if f.mid == a.MID && !f.response && f.dst.Addr().String() == evilServer {
				if seen {
					out = append(out, f.n)
				}
				seen = true
			}
		}
	}
	if len(out) == 0 {
		t.Fatalf("act %s mid %d: no frames in the capture", a.Act, a.MID)
	}
	return out
}

func containsAll(have, want []int) bool {
	for _, n := range want {
		if !slices.Contains(have, n) {
			return false
		}
	}
	return true
}

// evilServer is the origin server of the aiocoap captures.
const evilServer = "127.0.0.21"

type frameRec struct {
	n        int
	t        float64 // Unix seconds, as the truth file has them
	mid      uint16
	response bool
	src, dst netip.AddrPort
}

// evilFrames lists the CoAP frames of the evil-proxy capture.
func evilFrames(t *testing.T) []frameRec {
	t.Helper()
	return captureFrames(t, testenv.Capture(t, "aiocoap-oscore-evilproxy.pcap"))
}

// captureFrames lists the CoAP frames of a capture.
func captureFrames(t *testing.T, path string) []frameRec {
	t.Helper()
	var out []frameRec
	_, err := analysis.RunFiles([]string{path}, analysis.Options{},
		func(p *analysis.Packet) {
			m := &p.F.CoAP
			if p.F.Proto != dissect.ProtoCoAP || len(m.Raw) < 4 {
				return
			}
			out = append(out, frameRec{
				n: p.D.Number, t: float64(p.D.Time.UnixNano()) / 1e9, mid: m.MessageID,
				response: m.Code.IsResponse(), src: p.D.Src, dst: p.D.Dst,
			})
		}, nil)
	if err != nil {
		t.Fatal(err)
	}
	return out
}
