// Package testenv helps tests find the shared captures and external tools.
// The captures live in the repository, under testdata/shared/captures
// (COAPAUDIT_SHARED names another directory holding captures/). Tests that
// need a tool skip without it on a developer machine; with
// COAPAUDIT_REQUIRE_TOOLS=1 (as CI sets it) they fail instead.
package testenv

import (
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"testing"
)

// RequireTools reports whether missing tools and captures are failures.
func RequireTools() bool { return os.Getenv("COAPAUDIT_REQUIRE_TOOLS") == "1" }

func missing(t testing.TB, format string, args ...any) {
	t.Helper()
	if RequireTools() {
		t.Fatalf(format+" (COAPAUDIT_REQUIRE_TOOLS=1)", args...)
	}
	t.Skipf(format, args...)
}

// Tool returns the path of an external program, or skips (fails under
// COAPAUDIT_REQUIRE_TOOLS=1) when it is not installed.
func Tool(t testing.TB, name string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		missing(t, "%s not installed", name)
	}
	return p
}

// RepoRoot returns the repository's top directory.
func RepoRoot() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Clean(filepath.Join(filepath.Dir(file), "..", ".."))
}

func sharedRoot() string {
	if dir := os.Getenv("COAPAUDIT_SHARED"); dir != "" {
		return dir
	}
	return filepath.Join(RepoRoot(), "testdata", "shared")
}

// SharedDir returns the directory that holds captures/: testdata/shared in
// the repository, or the one COAPAUDIT_SHARED names. It fails the test when
// there are no captures there: they are part of the repository.
func SharedDir(t testing.TB) string {
	t.Helper()
	dir := sharedRoot()
	if _, err := os.Stat(filepath.Join(dir, "captures")); err != nil {
		t.Fatalf("shared captures not found at %s: %v", dir, err)
	}
	return dir
}

// CapturesDir returns the shared captures directory (SharedDir/captures).
func CapturesDir(t testing.TB) string {
	t.Helper()
	return filepath.Join(SharedDir(t), "captures")
}

// CapturesDirIfPresent returns the shared captures directory, or "" when it
// is missing; for fuzz seeds, which are optional.
func CapturesDirIfPresent() string {
	dir := filepath.Join(sharedRoot(), "captures")
	if _, err := os.Stat(dir); err != nil {
		return ""
	}
	return dir
}

// Capture returns the path of a capture: one of the shared corpus,
// relative to captures/, or else one of the project's own recordings in
// testdata/captures.
func Capture(t testing.TB, rel string) string {
	t.Helper()
	p := filepath.Join(CapturesDir(t), rel)
	if _, err := os.Stat(p); err != nil {
		// The project's own recordings (testdata/captures).
		own := filepath.Join(RepoRoot(), "testdata", "captures", rel)
		if _, err2 := os.Stat(own); err2 != nil {
			t.Fatalf("capture %s: %v", rel, err)
		}
		return own
	}
	return p
}

// Captures returns every pcap and pcapng file under shared/captures, sorted.
func Captures(t testing.TB) []string {
	t.Helper()
	root := CapturesDir(t)
	var out []string
	filepath.WalkDir(root, func(p string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() && (strings.HasSuffix(p, ".pcap") || strings.HasSuffix(p, ".pcapng")) {
			out = append(out, p)
		}
		return nil
	})
	sort.Strings(out)
	if len(out) == 0 {
		t.Fatalf("no captures under %s", root)
	}
	return out
}
