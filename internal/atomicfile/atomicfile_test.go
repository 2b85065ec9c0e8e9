package atomicfile

import (
	"os"
	"path/filepath"
	"testing"
)

func entries(t *testing.T, dir string) []string {
	t.Helper()
	es, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range es {
		names = append(names, e.Name())
	}
	return names
}

func TestCommitReplaces(t *testing.T) {
	dir := t.TempDir()
	name := filepath.Join(dir, "out.html")
	if err := os.WriteFile(name, []byte("old"), 0o600); err != nil {
		t.Fatal(err)
	}
	f, err := Create(name)
	if err != nil {
		t.Fatal(err)
	}
	f.WriteString("new")
	if b, _ := os.ReadFile(name); string(b) != "old" {
		t.Errorf("target changed before commit: %q", b)
	}
	if err := f.Commit(); err != nil {
		t.Fatal(err)
	}
	f.Abort() // no effect after Commit
	if b, _ := os.ReadFile(name); string(b) != "new" {
		t.Errorf("after commit: %q, want new", b)
	}
	if st, _ := os.Stat(name); st.Mode().Perm() != 0o600 {
		t.Errorf("mode %v, want the old file's 0600", st.Mode().Perm())
	}
	if got := entries(t, dir); len(got) != 1 {
		t.Errorf("directory holds %v, want only out.html", got)
	}
}

func TestAbortKeepsTarget(t *testing.T) {
	dir := t.TempDir()
	name := filepath.Join(dir, "keep.pcap")
	os.WriteFile(name, []byte("precious"), 0o644)
	f, err := Create(name)
	if err != nil {
		t.Fatal(err)
	}
	f.WriteString("partial")
	f.Abort()
	if b, _ := os.ReadFile(name); string(b) != "precious" {
		t.Errorf("after abort: %q, want precious", b)
	}
	if got := entries(t, dir); len(got) != 1 {
		t.Errorf("directory holds %v, want only keep.pcap", got)
	}
	if err := f.Commit(); err == nil {
		t.Error("Commit after Abort succeeded")
	}
	if b, _ := os.ReadFile(name); string(b) != "precious" {
		t.Errorf("after commit-after-abort: %q", b)
	}
}

func TestCreateNewFileAndErrors(t *testing.T) {
	dir := t.TempDir()
	name := filepath.Join(dir, "new.csv")
	f, err := Create(name)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(name); !os.IsNotExist(err) {
		t.Errorf("target exists before commit: %v", err)
	}
	if err := f.Commit(); err != nil {
		t.Fatal(err)
	}
	if st, err := os.Stat(name); err != nil || st.Mode().Perm() != 0o644 {
		t.Errorf("new file: %v, %v", st, err)
	}
	if _, err := Create(dir); err == nil {
		t.Error("Create over a directory succeeded")
	}
	if _, err := Create(filepath.Join(dir, "no", "such", "dir", "x")); err == nil {
		t.Error("Create in a missing directory succeeded")
	}
}
