package flows

import (
	"fmt"
	"os"
	"reflect"
	"testing"
)

// TestMain fails the package's tests when any of them wrote to noExt, the
// shared zero hopExt that hop.rd gives legs without one: every write must
// go through Tracker.ext.
func TestMain(m *testing.M) {
	code := m.Run()
	if code == 0 && !reflect.DeepEqual(noExt, hopExt{}) {
		fmt.Fprintf(os.Stderr, "noExt was written: %+v\n", noExt)
		code = 1
	}
	if code == 0 && !reflect.DeepEqual(noMore, hopMore{}) {
		fmt.Fprintf(os.Stderr, "noMore was written: %+v\n", noMore)
		code = 1
	}
	os.Exit(code)
}
