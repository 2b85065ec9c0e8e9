package main

import (
	"os"
	"path/filepath"
	"runtime/debug"
	"strings"
	"testing"

	"github.com/coapaudit/coapaudit/internal/testenv"
)

// TestMemoryLimit: --memory-limit sets the soft heap limit for the run
// and restores the previous one afterwards; a negative value is a usage
// error, and GOMEMLIMIT in the environment wins.
func TestMemoryLimit(t *testing.T) {
	if os.Getenv("GOMEMLIMIT") != "" {
		t.Skip("GOMEMLIMIT is set")
	}
	before := debug.SetMemoryLimit(-1)
	af := &analyzeFlags{memLimit: 100}
	restore, err := af.setMemoryLimit()
	if err != nil {
		t.Fatal(err)
	}
	if got := debug.SetMemoryLimit(-1); got != 100<<20 {
		t.Errorf("limit during the run %d, want %d", got, 100<<20)
	}
	restore()
	if got := debug.SetMemoryLimit(-1); got != before {
		t.Errorf("limit after the run %d, want %d restored", got, before)
	}
	pcap := filepath.Join(testenv.RepoRoot(), "samples", "libcoap-fwdproxy.pcap")
	if code, _, stderr := runCmd("analyze", "--memory-limit", "-1", pcap); code != exitUsage || !strings.Contains(stderr, "--memory-limit") {
		t.Errorf("--memory-limit -1: exit %d, %q", code, stderr)
	}
	if code, _, _ := runCmd("analyze", "--format", "ndjson", "--memory-limit", "64", pcap); code != exitOK {
		t.Errorf("--memory-limit 64: exit %d", code)
	}
	if got := debug.SetMemoryLimit(-1); got != before {
		t.Errorf("limit after analyze %d, want %d restored", got, before)
	}
	t.Setenv("GOMEMLIMIT", "1GiB")
	restore, _ = (&analyzeFlags{memLimit: 100}).setMemoryLimit()
	if got := debug.SetMemoryLimit(-1); got != before {
		t.Errorf("with GOMEMLIMIT set the limit changed to %d", got)
	}
	restore()
}
