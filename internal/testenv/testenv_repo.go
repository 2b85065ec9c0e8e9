package testenv

import (
	"os"
	"path/filepath"
	"testing"
)

// RepoCapture returns the path of a capture committed with the project,
// relative to testdata/captures at the repository's top (see BROKERS.md
// there).
func RepoCapture(t testing.TB, rel string) string {
	t.Helper()
	p := filepath.Join(RepoRoot(), "testdata", "captures", rel)
	if _, err := os.Stat(p); err != nil {
		t.Fatalf("capture %s: %v", rel, err)
	}
	return p
}
