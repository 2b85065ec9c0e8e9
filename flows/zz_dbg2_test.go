package flows

import (
	"os"
	"strings"
	"testing"
)

func TestZZDbg2(t *testing.T) {
	if os.Getenv("DBG") == "" {
		t.Skip()
	}
	res := analyzePath(t, os.Getenv("DBG"), Config{})
	for _, id := range strings.Split(os.Getenv("IDS"), ",") {
		t.Logf("\n%s", dump([]*Exchange{res.byID[id]}))
	}
}
