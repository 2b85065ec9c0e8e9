package main

import (
	"bufio"

	"github.com/coapaudit/coapaudit/analysis"
	"github.com/coapaudit/coapaudit/capture"
	"github.com/coapaudit/coapaudit/export"
	"github.com/coapaudit/coapaudit/flows"
	"github.com/coapaudit/coapaudit/internal/atomicfile"
	"github.com/coapaudit/coapaudit/report"
	"github.com/coapaudit/coapaudit/rules"
)

// htmlReport is the --report output of analyze. A nil *htmlReport (no
// --report) ignores every call.
type htmlReport struct {
	name string
	f    *atomicfile.File
	b    *report.Builder
}

// openReport creates the report's temporary file at once, so that a path
// that cannot be written fails before the analysis runs; finish renames it
// into place, and a run that fails leaves the file that was there.
func openReport(name string, refs *capture.FrameRefs) (*htmlReport, error) {
	if name == "" {
		return nil, nil
	}
	f, err := atomicfile.Create(name)
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
func (r *htmlReport) finish(eng *analysis.Engine, sum *analysis.Summary) error {
	if r == nil {
		return nil
	}
	r.b.SetLeakReport(eng.LeakReport())
	if run := eng.Rules(); run != nil {
		st := run.Stats()
		r.b.SetSuppressed(st.SuppressedBySeverity, st.Suppressed)
	}
	r.b.SetSummary(&export.Summary{Summary: sum})
	w := bufio.NewWriter(r.f)
	err := r.b.WriteHTML(w)
	if err == nil {
		err = w.Flush()
	}
	if err != nil {
		r.f.Abort()
		return usageErr("--report %s: %v", r.name, err)
	}
	if err := r.f.Commit(); err != nil {
		return usageErr("--report %s: %v", r.name, err)
	}
	return nil
}

// close discards the report when the run ends before finish.
func (r *htmlReport) close() {
	if r != nil {
		r.f.Abort()
	}
}
