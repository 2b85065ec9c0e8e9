package export

import (
	"bytes"
	"strings"
	"testing"

	"github.com/coapaudit/coapaudit/analysis"
)

// TestSummaryTextForPeople checks that the packets summary writes counts
// with thousands separators and evictions in words.
func TestSummaryTextForPeople(t *testing.T) {
	var b bytes.Buffer
	w := NewTextWriter(&b)
	if err := w.Write(&Summary{&analysis.Summary{Frames: 1234567, CoAPFrames: 1234000, OtherFrames: 567, OtherBy: map[string]int{"udp": 567},
		Exchanges: 203041, Evicted: map[string]int{"exchanges-early": 203040}}}); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	out := b.String()
	for _, want := range []string{"1,234,567 frames: 1,234,000 CoAP", "203,041 exchanges", "evicted: 203,040 exchanges early"} {
		if !strings.Contains(out, want) {
			t.Errorf("summary lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "map[") {
		t.Errorf("Go map syntax:\n%s", out)
	}
}
