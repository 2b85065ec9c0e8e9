package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/coapaudit/coapaudit/internal/testenv"
)

func TestAnalyzeReport(t *testing.T) {
	pcap := testenv.Capture(t, "aiocoap-oscore-evilproxy.pcap")
	keys := testenv.Capture(t, "keys/oscore_contexts")
	out := filepath.Join(t.TempDir(), "report.html")
	code, stdout, stderr := runCmd("analyze", "--format", "ndjson", "--keys", keys, "--report", out, pcap)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	html := string(b)
	// Each finding on stdout is in the report.
	n := 0
	for line := range strings.SplitSeq(stdout, "\n") {
		if !strings.Contains(line, `"type":"finding"`) {
			continue
		}
		i := strings.Index(line, `"id":"`)
		id := line[i+6 : i+6+strings.IndexByte(line[i+6:], '"')]
		n++
		if !strings.Contains(html, `id="finding-`+id+`"`) {
			t.Errorf("finding %s is not in the report", id)
		}
	}
	if n == 0 {
		t.Fatal("no findings on stdout")
	}
	if !strings.HasSuffix(strings.TrimSpace(html), "</html>") || strings.Count(html, "<svg") < 4 {
		t.Error("report incomplete")
	}

	code, _, stderr = runCmd("analyze", "--format", "ndjson", "--report", filepath.Join(t.TempDir(), "no", "such", "dir.html"), pcap)
	if code != 2 || !strings.Contains(stderr, "--report") {
		t.Errorf("unwritable --report: exit %d, stderr %q; want 2 and a reason", code, stderr)
	}
}
