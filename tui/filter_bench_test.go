package tui

import (
	"testing"

	"github.com/coapaudit/coapaudit/analysis"
)

// BenchmarkFilterExpression filters the exchanges of a loaded capture of
// 200,000 generated frames by expressions over the list's columns, which
// the rows give, and over other fields, which are read from every
// exchange's record in the store.
func BenchmarkFilterExpression(b *testing.B) {
	name := genCapture(b, 200_000)
	h := start(b, 120, 36, Config{}, fileLoad(b, analysis.Options{}, name))
	h.loaded()
	for _, bc := range []struct {
		name  string
		exprs []string
	}{
		{"columns", []string{`status != "complete"`, `method == "GET" && code == "2.05"`}},
		{"record", []string{`len(legs) > 1`, `rtt > 0.01`}},
	} {
		b.Run(bc.name, func(b *testing.B) {
			var rows, shown int
			for i := 0; b.Loop(); i++ {
				h.onUI(func() {
					h.a.xt.setFilter(bc.exprs[i%2])
					rows, shown = h.a.xs.count(), len(h.a.xt.view)
				})
			}
			b.ReportMetric(float64(rows), "exchanges")
			b.ReportMetric(float64(shown), "shown")
		})
	}
	if err := h.quit(); err != nil {
		b.Fatal(err)
	}
}
