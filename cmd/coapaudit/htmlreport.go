package main

import (
	"bufio"
	"os"

	"github.com/coapaudit/coapaudit/analysis"
	"github.com/coapaudit/coapaudit/export"
	"github.com/coapaudit/coapaudit/flows"
	"github.com/coapaudit/coapaudit/report"
	"github.com/coapaudit/coapaudit/rules"
)

// htmlReport is the --report output of analyze. A nil *htmlReport (no
// --report) ignores every call.
type htmlReport struct {
	name string
	f    *os.File
	b    *report.Builder
}

// openReport creates the report file at once, so that a path that cannot
// be written fails before the analysis runs.
func openReport(name string, refs *export.FrameRefs) (*htmlReport, error) {
	if name == "" {
		return nil, nil
	}
	f, err := os.Create(name)
	if err != nil {
		return nil, usageErr("--report: %v", err)
	}
	return &htmlReport{name: name, f: f, b: report.New(report.Options{FrameRefs: refs})}, nil
}

func (r *htmlReport) exchange(x *flows.Exchange) {
	if r != nil {
		r.b.AddExchange(x)
	}
}

func (r *htmlReport) finding(f *rules.Finding) {
	if r != nil {
		r.b.AddFinding(f)
	}
}

// finish writes the report once the engine has finished.
func (r *htmlReport) finish(eng *analysis.Engine, sum *export.Summary) error {
	if r == nil {
		return nil
	}
	r.b.SetLeakReport(eng.LeakReport())
	r.b.SetSummary(sum)
	w := bufio.NewWriter(r.f)
	err := r.b.WriteHTML(w)
	if err == nil {
		err = w.Flush()
	}
	if cerr := r.f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return usageErr("--report %s: %v", r.name, err)
	}
	return nil
}

// close closes the file when the run ends before finish.
func (r *htmlReport) close() {
	if r != nil {
		r.f.Close()
	}
}
