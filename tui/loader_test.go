package tui

import (
	"slices"
	"testing"

	"github.com/coapaudit/coapaudit/leaks"
	"github.com/coapaudit/coapaudit/rules"
)

func TestFindingAndLeakRows(t *testing.T) {
	f := &rules.Finding{ID: "F3", Rule: "proxy-delay", Threat: rules.T2, Severity: rules.Medium,
		Exchange: "X3", Frames: []int{7, 8}, Message: "Held.", Seed: "2.1.1.2"}
	r := FindingFrom(f)
	f.Frames[0] = 99 // the row owns its frames
	if r.ID != "F3" || r.Severity != "medium" || r.Threat != "T2" || r.Exchange != "X3" || !slices.Equal(r.Frames, []int{7, 8}) || r.Seed != "2.1.1.2" {
		t.Errorf("FindingFrom = %+v", r)
	}
	base := 1.0
	l := LeakFrom(leaks.Leak{Metric: "mutual_information", Scope: "resource", Value: 0.123456, Unit: "bits",
		CI: &leaks.Interval{Lo: 0.1, Hi: 0.2, Level: 0.95}, Baseline: &base, N: 40})
	if l.Value != "0.1235" || l.Detail != "95% CI [0.1, 0.2], baseline 1, n=40" {
		t.Errorf("LeakFrom = %+v", l)
	}
}
