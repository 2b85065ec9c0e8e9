// Package testenv helps tests find the shared captures and external tools.
// Tests that need a tool skip without it on a developer machine; with
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

// SharedDir returns the shared/ directory beside the repository (or named
// by COAPAUDIT_SHARED), or skips when it is not there.
func SharedDir(t testing.TB) string {
	t.Helper()
	dir := os.Getenv("COAPAUDIT_SHARED")
	if dir == "" {
		dir = filepath.Join(RepoRoot(), "..", "shared")
	}
	if _, err := os.Stat(filepath.Join(dir, "captures")); err != nil {
		missing(t, "shared captures not found at %s", dir)
	}
	return dir
}

// Capture returns the path of a shared capture, relative to captures/.
func Capture(t testing.TB, rel string) string {
	t.Helper()
	p := filepath.Join(SharedDir(t), "captures", rel)
	if _, err := os.Stat(p); err != nil {
		missing(t, "capture %s: %v", rel, err)
	}
	return p
}

// Captures returns every pcap and pcapng file under shared/captures, sorted.
func Captures(t testing.TB) []string {
	t.Helper()
	root := filepath.Join(SharedDir(t), "captures")
	var out []string
	filepath.WalkDir(root, func(p string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() && (strings.HasSuffix(p, ".pcap") || strings.HasSuffix(p, ".pcapng")) {
			out = append(out, p)
		}
		return nil
	})
	sort.Strings(out)
	if len(out) == 0 {
		missing(t, "no captures under %s", root)
	}
	return out
}
