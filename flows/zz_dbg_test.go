package flows

import (
	"os"
	"testing"
)

func TestZZDbg(t *testing.T) {
	if os.Getenv("DBG") == "" {
		t.Skip()
	}
	dir := capturesDir(t)
	_ = dir
	res := analyzePath(t, os.Getenv("DBG"), Config{})
	n := 0
	for _, x := range res.xs {
		if string(x.Status) == os.Getenv("ST") && n < 4 {
			n++
			t.Logf("\n%s", dump([]*Exchange{x}))
		}
	}
	t.Logf("stats %+v", res.stats)
}
