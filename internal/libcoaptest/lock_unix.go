//go:build unix

package libcoaptest

import (
	"os"
	"path/filepath"
	"syscall"
	"testing"
)

// lockFile serialises runs across test processes: go test runs the tests
// of several packages at once, and every run binds the same addresses.
var lockFile = filepath.Join(os.TempDir(), "coapaudit-libcoaptest.lock")

// lock takes the lock file until the test ends.
func lock(t testing.TB) {
	t.Helper()
	// Read-only, so that any user can lock a file another user created.
	f, err := os.OpenFile(lockFile, os.O_CREATE|os.O_RDONLY, 0o644)
	if err != nil {
		t.Fatalf("libcoaptest: %v", err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX); err != nil {
		f.Close()
		t.Fatalf("libcoaptest: locking %s: %v", lockFile, err)
	}
	t.Cleanup(func() { f.Close() }) // closing releases the lock
}
