package main

import (
	"bytes"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/coapaudit/coapaudit/internal/testenv"
)

// TestBuiltBinary runs the command as users do, a built binary in its own
// process, on what the in-process tests check in detail: the exit codes,
// files left alone after a bad command, --version, and CSV on stdout.
func TestBuiltBinary(t *testing.T) {
	goTool := testenv.Tool(t, "go")
	dir := t.TempDir()
	bin := filepath.Join(dir, "coapaudit")
	if out, err := exec.Command(goTool, "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	sample := testenv.Capture(t, "libcoap-fwdproxy.pcap")
	runBin := func(args ...string) (int, string, string) {
		var o, e bytes.Buffer
		c := exec.Command(bin, args...)
		c.Stdout, c.Stderr = &o, &e
		err := c.Run()
		var ee *exec.ExitError
		switch {
		case errors.As(err, &ee):
			return ee.ExitCode(), o.String(), e.String()
		case err != nil:
			t.Fatal(err)
		}
		return 0, o.String(), e.String()
	}

	if code, out, _ := runBin("--version"); code != 0 || !strings.Contains(out, "coapaudit") {
		t.Errorf("--version: exit %d, %q", code, out)
	}

	keep := filepath.Join(dir, "keep.html")
	if err := os.WriteFile(keep, []byte("<p>last week</p>"), 0o644); err != nil {
		t.Fatal(err)
	}
	if code, _, errOut := runBin("analyze", "--report", keep, "--fail-on", "bogus", sample); code != 2 || !strings.Contains(errOut, "--fail-on") {
		t.Errorf("bad --fail-on: exit %d, %q", code, errOut)
	}
	if b, _ := os.ReadFile(keep); string(b) != "<p>last week</p>" {
		t.Errorf("a bad command changed %s: %q", keep, b)
	}

	full, err := os.ReadFile(sample)
	if err != nil {
		t.Fatal(err)
	}
	junk := filepath.Join(dir, "junk.pcap")
	if err := os.WriteFile(junk, append(full[:24:24], bytes.Repeat([]byte{0xa5}, 500)...), 0o644); err != nil {
		t.Fatal(err)
	}
	if code, _, errOut := runBin("analyze", "--format", "ndjson", junk); code != 2 || !strings.Contains(errOut, "no readable frames") {
		t.Errorf("no readable frame: exit %d, %q", code, errOut)
	}
	code, out, errOut := runBin("analyze", "--format", "csv", "--records", "findings", sample)
	if code != 0 || !strings.HasPrefix(out, "id,") || !strings.Contains(errOut, "left out") {
		t.Errorf("CSV findings: exit %d, stdout %.60q, stderr %q", code, out, errOut)
	}
}
