package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/coapaudit/coapaudit/internal/testenv"
)

// recordsOf parses NDJSON output into generic records.
func recordsOf(t *testing.T, out string) []map[string]any {
	t.Helper()
	var recs []map[string]any
	for _, l := range strings.Split(strings.TrimSpace(out), "\n") {
		var m map[string]any
		if err := json.Unmarshal([]byte(l), &m); err != nil {
			t.Fatalf("bad line %q: %v", l, err)
		}
		recs = append(recs, m)
	}
	return recs
}

// evilAnalyzed returns the keys and the evil proxy capture, and the NDJSON
// analyze writes for them.
func evilAnalyzed(t *testing.T) (keys, path, ndjson string) {
	t.Helper()
	keys = filepath.Join(testenv.CapturesDir(t), "keys", "oscore_contexts")
	path = testenv.Capture(t, "aiocoap-oscore-evilproxy.pcap")
	code, out, stderr := runCmd("analyze", "--format", "ndjson", "--keys", keys, path)
	if code != 0 {
		t.Fatalf("analyze: exit %d: %s", code, stderr)
	}
	return keys, path, out
}

// TestFilterFlag checks --filter on analyze and packets against the same
// selection made on the unfiltered records: only what matches is written,
// the summary always is, and --out is filtered the same way.
func TestFilterFlag(t *testing.T) {
	keys, path, all := evilAnalyzed(t)
	sevRank := map[string]int{"info": 1, "low": 2, "medium": 3, "high": 4}
	for _, tc := range []struct {
		expr string
		keep func(r map[string]any) bool
	}{
		{`uri contains "/sensors" && code == "2.05"`, func(r map[string]any) bool {
			u, _ := r["uri"].(string)
			return r["type"] == "exchange" && strings.Contains(u, "/sensors") && r["code"] == "2.05"
		}},
		{`severity >= "medium"`, func(r map[string]any) bool {
			s, _ := r["severity"].(string)
			return r["type"] == "finding" && sevRank[s] >= 3
		}},
		{`proxy == "127.0.0.22:5683" && method == "PUT"`, func(r map[string]any) bool {
			return r["type"] == "exchange" && r["proxy"] == "127.0.0.22:5683" && r["method"] == "PUT"
		}},
		{`type == "leak" && metric == "proxy_delay"`, func(r map[string]any) bool {
			return r["type"] == "leak" && r["metric"] == "proxy_delay"
		}},
	} {
		var want []string
		for _, r := range recordsOf(t, all) {
			if r["type"] != "summary" && tc.keep(r) {
				b, _ := json.Marshal(r)
				want = append(want, string(b))
			}
		}
		if len(want) == 0 {
			t.Errorf("%s: nothing to keep: a poor test", tc.expr)
			continue
		}
		dir := t.TempDir()
		code, out, stderr := runCmd("analyze", "--format", "ndjson", "--keys", keys, "--filter", tc.expr, "--out", dir, path)
		if code != 0 {
			t.Fatalf("%s: exit %d: %s", tc.expr, code, stderr)
		}
		recs := recordsOf(t, out)
		if last := recs[len(recs)-1]; last["type"] != "summary" || last["frames"] != float64(48) {
			t.Errorf("%s: last record %v, want the whole summary", tc.expr, last)
		}
		var got []string
		for _, r := range recs[:len(recs)-1] {
			b, _ := json.Marshal(r)
			got = append(got, string(b))
		}
		if !slices.Equal(got, want) {
			t.Errorf("%s: wrote %d records, want %d:\n%s", tc.expr, len(got), len(want), strings.Join(got, "\n"))
		}
		// --out holds the same selection (packets: none of them match).
		n := 0
		for _, f := range []string{"exchanges", "findings", "leaks", "packets"} {
			b, err := os.ReadFile(filepath.Join(dir, f+".ndjson"))
			if err != nil {
				t.Fatal(err)
			}
			n += strings.Count(string(b), "\n")
		}
		if n != len(want) {
			t.Errorf("%s: --out holds %d records, want %d", tc.expr, n, len(want))
		}
	}

	// packets: frames by number and by OSCORE result.
	code, out, _ := runCmd("packets", "--format", "ndjson", "--keys", keys, "--filter", `frame > 44 || oscore.verified == false`, path)
	var frames []float64
	for _, r := range recordsOf(t, out) {
		if r["type"] == "packet" {
			frames = append(frames, r["frame"].(float64))
		}
	}
	if code != 0 || !slices.Equal(frames, []float64{6, 45, 46, 47, 48}) {
		t.Errorf("packets --filter: exit %d, frames %v, want 6 45 46 47 48", code, frames)
	}

	// Text keeps times relative to the capture's first frame.
	_, out, _ = runCmd("packets", "--format", "text", "--filter", `frame == 47`, path)
	if f := strings.Fields(out); len(f) < 2 || f[0] != "47" || f[1] != "9.667317" {
		t.Errorf("packets --format text --filter 'frame == 47': %q", out)
	}

	for _, args := range [][]string{
		{"analyze", "--filter", `uri contains "/x" && cod == 1`, path},
		{"packets", "--filter", `cod == 1`, path},
		{"live", "-i", "lo", "--filter", `cod == 1`},
	} {
		code, _, stderr := runCmd(args...)
		if code != exitUsage || !strings.Contains(stderr, "--filter: column") || !strings.Contains(stderr, "unknown field cod") {
			t.Errorf("%v: exit %d, stderr %q", args, code, stderr)
		}
	}
}
