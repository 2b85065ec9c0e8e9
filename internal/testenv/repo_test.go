package testenv

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// noBinaries runs .ci/no-binaries on a checkout.
func noBinaries(t *testing.T, dir string) (string, error) {
	t.Helper()
	bash := Tool(t, "bash")
	Tool(t, "git")
	out, err := exec.Command(bash, filepath.Join(RepoRoot(), ".ci", "no-binaries"), dir).CombinedOutput()
	return string(out), err
}

// TestNoCommittedBinaries checks the repository tracks no executable, and
// that the check catches one.
func TestNoCommittedBinaries(t *testing.T) {
	if _, err := os.Stat(filepath.Join(RepoRoot(), ".git")); err != nil {
		t.Skipf("not a git checkout: %v", err)
	}
	if out, err := noBinaries(t, RepoRoot()); err != nil {
		t.Fatalf("repository tracks binaries: %v\n%s", err, out)
	}

	dir := t.TempDir()
	git := func(args ...string) {
		t.Helper()
		cmd := exec.Command("git", append([]string{"-C", dir, "-c", "user.name=t", "-c", "user.email=t@t"}, args...)...)
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("git %v: %v\n%s", args, err, out)
		}
	}
	git("init", "-q")
	write := func(name string, b []byte, mode os.FileMode) {
		t.Helper()
		if err := os.WriteFile(filepath.Join(dir, name), b, mode); err != nil {
			t.Fatal(err)
		}
	}
	write("script.sh", []byte("#!/bin/sh\necho hi\n"), 0o755)
	write("notes.txt", []byte("text\n"), 0o644)
	git("add", ".")
	if out, err := noBinaries(t, dir); err != nil {
		t.Fatalf("a script and a text file are not binaries: %v\n%s", err, out)
	}
	for _, c := range []struct {
		name string
		data []byte
		mode os.FileMode
		why  string
	}{
		{"tool", []byte("\x7fELF\x02\x01\x01\x00"), 0o644, "ELF"},
		{"tool.exe", []byte("MZ\x90\x00\x03\x00"), 0o644, "PE"},
		{"macho", []byte{0xcf, 0xfa, 0xed, 0xfe, 7, 0, 0, 1}, 0o644, "Mach-O"},
		{"run", []byte("echo no shebang\n"), 0o755, "executable bit"},
	} {
		write(c.name, c.data, c.mode)
		git("add", c.name)
		out, err := noBinaries(t, dir)
		if err == nil || !strings.Contains(out, c.name) || !strings.Contains(out, c.why) {
			t.Errorf("%s (%s) not rejected: err %v, output %q", c.name, c.why, err, out)
		}
		git("rm", "-q", "--cached", c.name)
	}
}
