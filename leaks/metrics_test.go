package leaks

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/coapaudit/coapaudit/internal/testenv"
)

// The metric table names every metric once, with its unit and words, and
// the record documentation lists exactly the metrics of the table.
func TestMetricTable(t *testing.T) {
	seen := map[string]bool{}
	var ids []string
	for _, m := range Metrics() {
		if seen[m.ID] || m.Unit == "" || m.Measure == "" || m.Method == "" {
			t.Errorf("metric %+v: duplicate or incomplete", m)
		}
		seen[m.ID] = true
		ids = append(ids, m.ID)
		if MetricOf(m.ID) != m {
			t.Errorf("MetricOf(%q)", m.ID)
		}
	}
	// What each result's Leak method writes is in the table, with the
	// table's unit.
	for _, l := range []Leak{
		MIResult{}.Leak("all"), BayesResult{}.Leak("all"), PaddingResult{}.Leak("all"), DelayResult{}.Leak("all"),
	} {
		m := MetricOf(l.Metric)
		if m == nil || m.Unit != l.Unit {
			t.Errorf("record %s in %s: table says %+v", l.Metric, l.Unit, m)
		}
	}
	b, err := os.ReadFile(filepath.Join(testenv.RepoRoot(), "docs", "records.md"))
	if err != nil {
		t.Fatal(err)
	}
	want := "What is measured: " + strings.Join(ids[:len(ids)-1], ", ") + " or " + ids[len(ids)-1] + "."
	if !strings.Contains(string(b), want) {
		t.Errorf("docs/records.md does not list the metrics as %q", want)
	}
	if got := MeasureName(MetricAnonymitySet, "resource"); got != "resources sharing a value (anonymity set)" {
		t.Errorf("MeasureName: %q", got)
	}
	if got := Question(MetricMutualInformation, "the request size", "resource", "inside OSCORE"); got != "What does the request size reveal about the resource, inside OSCORE?" {
		t.Errorf("Question: %q", got)
	}
}
