//go:build !unix

package libcoaptest

import "testing"

// lock does nothing where there is no flock; runs in parallel test
// processes may then collide on their addresses.
func lock(t testing.TB) {}
