package main

import (
	"bytes"
	"context"
	"encoding/json"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/coapaudit/coapaudit/internal/testenv"
)

// lastSummary returns the summary record, the last line of NDJSON output.
func lastSummary(t *testing.T, out string) map[string]any {
	t.Helper()
	lines := strings.Split(strings.TrimSpace(out), "\n")
	var s map[string]any
	if err := json.Unmarshal([]byte(lines[len(lines)-1]), &s); err != nil || s["type"] != "summary" {
		t.Fatalf("last line is not a summary: %q (%v)", lines[len(lines)-1], err)
	}
	return s
}

// TestExitStatusOfBrokenCaptures checks that a capture with no readable
// frame (random bytes after a valid pcap header, or a first record cut
// short) is unreadable input, exit 2 with a one-line reason, while a
// capture that breaks off after some frames is analysed as far as it goes:
// exit 0, truncated in the summary and one line on stderr.
func TestExitStatusOfBrokenCaptures(t *testing.T) {
	full, err := os.ReadFile(testenv.Capture(t, "libcoap-fwdproxy.pcap"))
	if err != nil {
		t.Fatal(err)
	}
	ends := pcapRecordEnds(t, full)
	rnd := rand.New(rand.NewPCG(1, 2))
	junk := make([]byte, 3000)
	for i := range junk {
		junk[i] = byte(rnd.Uint32())
	}
	// A record whose length field is absurd, in the middle of the file.
	corrupt := bytes.Clone(full)
	mid := ends[len(ends)/2]
	copy(corrupt[mid+8:], []byte{0xff, 0xff, 0xff, 0x7f, 0xff, 0xff, 0xff, 0x7f})

	dir := t.TempDir()
	for _, tc := range []struct {
		name   string
		data   []byte
		code   int
		stderr string
	}{
		{"random-after-header", append(bytes.Clone(full[:24]), junk...), 2, "no readable frames"},
		{"first-record-cut", full[:ends[0]-3], 2, "no readable frames"},
		{"truncated", full[:mid+20], 0, "truncated"},
		{"corrupt-middle", corrupt, 0, "corrupt"},
	} {
		p := filepath.Join(dir, tc.name+".pcap")
		if err := os.WriteFile(p, tc.data, 0o644); err != nil {
			t.Fatal(err)
		}
		for _, cmd := range []string{"packets", "analyze"} {
			var stdout, stderr bytes.Buffer
			code := run(context.Background(), []string{cmd, "--format", "ndjson", p}, nil, &stdout, &stderr)
			if code != tc.code {
				t.Errorf("%s %s: exit %d, want %d (stderr %q)", cmd, tc.name, code, tc.code, stderr.String())
			}
			msg := strings.TrimSpace(stderr.String())
			if strings.Count(msg, "\n") != 0 || !strings.Contains(msg, tc.stderr) {
				t.Errorf("%s %s: stderr %q, want one line saying %q", cmd, tc.name, msg, tc.stderr)
			}
			if s := lastSummary(t, stdout.String()); s["truncated"] != true {
				t.Errorf("%s %s: summary truncated = %v, want true", cmd, tc.name, s["truncated"])
			}
		}
	}
}
