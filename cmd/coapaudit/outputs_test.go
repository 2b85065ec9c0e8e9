package main

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/coapaudit/coapaudit/internal/testenv"
)

// snapshot returns every file under dir with its content.
func snapshot(t *testing.T, dir string) map[string]string {
	t.Helper()
	out := map[string]string{}
	filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err != nil {
			t.Fatal(err)
		}
		if !d.IsDir() {
			b, err := os.ReadFile(p)
			if err != nil {
				t.Fatal(err)
			}
			rel, _ := filepath.Rel(dir, p)
			out[rel] = string(b)
		}
		return nil
	})
	return out
}

func sameFiles(t *testing.T, what string, got, want map[string]string) {
	t.Helper()
	var diff []string
	for k, v := range want {
		if got[k] != v {
			diff = append(diff, k+" changed")
		}
	}
	for k := range got {
		if _, ok := want[k]; !ok {
			diff = append(diff, k+" appeared")
		}
	}
	sort.Strings(diff)
	if len(diff) > 0 {
		t.Errorf("%s: %s", what, strings.Join(diff, ", "))
	}
}

// TestBadFlagLeavesFilesAlone checks that a command refused for a bad flag
// creates, truncates and overwrites nothing: not --report, not the files
// in --out, not live's -w.
func TestBadFlagLeavesFilesAlone(t *testing.T) {
	path := testenv.Capture(t, "libcoap-fwdproxy.pcap")
	dir := t.TempDir()
	old := map[string]string{
		"keep.html":            "<p>last week's report</p>",
		"old.pcap":             "last week's capture",
		"out/exchanges.ndjson": "{\"type\":\"exchange\"}\n",
		"out/summary.json":     "{\"type\":\"summary\"}\n",
	}
	for name, content := range old {
		p := filepath.Join(dir, name)
		os.MkdirAll(filepath.Dir(p), 0o755)
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	report := filepath.Join(dir, "keep.html")
	out := filepath.Join(dir, "out")
	newOut := filepath.Join(dir, "new-out")
	pcap := filepath.Join(dir, "old.pcap")
	for _, args := range [][]string{
		{"analyze", "--report", report, "--fail-on", "bogus", path},
		{"analyze", "--report", report, "--profile", "bogus", path},
		{"analyze", "--report", report, "--top", "-1", path},
		{"analyze", "--report", report, "--format", "xml", path},
		{"analyze", "--report", report, "--labels", filepath.Join(dir, "missing.csv"), path},
		{"analyze", "--report", report, path, filepath.Join(dir, "missing.pcap")},
		{"analyze", "--out", out, "--fail-on", "bogus", path},
		{"analyze", "--out", newOut, "--profile", "bogus", path},
		{"analyze", "--out", out, "--report", filepath.Join(dir, "no", "such", "dir", "r.html"), path},
		{"packets", "--out", out, "--port", "0", path},
		{"packets", "--out", out, path, filepath.Join(dir, "missing.pcap")},
		{"live", "-i", "lo", "-w", pcap, "--fail-on", "bogus"},
		{"live", "-i", "lo", "-w", pcap, "--profile", "bogus"},
		{"live", "-i", "lo", "-w", pcap, "--out", out, "--format", "xml"},
	} {
		code, _, stderr := runCmd(args...)
		if code != exitUsage {
			t.Errorf("%v: exit %d, want 2 (stderr %q)", args, code, stderr)
		}
		sameFiles(t, strings.Join(args, " "), snapshot(t, dir), old)
	}
}

// failingWriter fails every write after the first n bytes, as a closed
// pipe does.
type failingWriter struct{ n int }

func (f *failingWriter) Write(p []byte) (int, error) {
	if len(p) > f.n {
		n := f.n
		f.n = 0
		return n, errors.New("broken pipe")
	}
	f.n -= len(p)
	return len(p), nil
}

// TestFailedRunLeavesFilesAlone checks that outputs are written under a
// temporary name and renamed only when the run succeeds: a run whose stdout
// breaks keeps the old report and --out files and leaves no temporary file.
func TestFailedRunLeavesFilesAlone(t *testing.T) {
	path := testenv.Capture(t, "aiocoap-oscore-evilproxy.pcap")
	dir := t.TempDir()
	report := filepath.Join(dir, "keep.html")
	out := filepath.Join(dir, "out")
	os.MkdirAll(out, 0o755)
	os.WriteFile(report, []byte("old report"), 0o644)
	os.WriteFile(filepath.Join(out, "findings.csv"), []byte("old findings"), 0o644)
	old := snapshot(t, dir)

	var stderr bytes.Buffer
	code := run(context.Background(), []string{"analyze", "--format", "ndjson", "--report", report, "--out", out, path},
		strings.NewReader(""), &failingWriter{n: 100}, &stderr)
	if code == exitOK {
		t.Fatalf("a run whose stdout broke exited 0")
	}
	sameFiles(t, "failed run", snapshot(t, dir), old)

	// The same run with a working stdout replaces them.
	code = run(context.Background(), []string{"analyze", "--format", "ndjson", "--report", report, "--out", out, path},
		strings.NewReader(""), &bytes.Buffer{}, &stderr)
	if code != exitOK {
		t.Fatalf("exit %d: %s", code, stderr.String())
	}
	now := snapshot(t, dir)
	if strings.HasPrefix(now["keep.html"], "old") || strings.HasPrefix(now[filepath.Join("out", "findings.csv")], "old") {
		t.Errorf("a successful run kept the old files")
	}
	for name := range now {
		if strings.Contains(name, ".tmp-") {
			t.Errorf("temporary file %s left behind", name)
		}
	}
	if _, ok := now[filepath.Join("out", "exchanges.ndjson")]; !ok {
		t.Errorf("--out wrote %v", now)
	}
}
