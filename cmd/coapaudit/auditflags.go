package main

import (
	"os"
	"runtime/debug"

	"github.com/spf13/cobra"

	"github.com/coapaudit/coapaudit/analysis"
	"github.com/coapaudit/coapaudit/export"
	"github.com/coapaudit/coapaudit/leaks/collect"
)

// registerAudit adds the flags analyze and live share: those of every
// command, --profile, --fail-on, --proxy, --top, --no-leaks, --labels and
// --memory-limit.
func (af *analyzeFlags) registerAudit(cmd *cobra.Command) {
	af.commonFlags.register(cmd)
	af.commonFlags.registerProfile(cmd, profileUsage)
	af.auditFlags.register(cmd)
	af.commonFlags.registerRecords(cmd, "exchanges", "findings", "leaks", "summary")
	f := cmd.Flags()
	f.StringArrayVar(&af.proxies, "proxy", nil, "`ADDR` (ip or ip:port) of a proxy, in addition to those found in the traffic (repeatable)")
	f.IntVar(&af.top, "top", 10, "`N` rows per table in the text summary (0: all)")
	f.BoolVar(&af.noLeaks, "no-leaks", false, "skip the leak analysis (what sizes and timing reveal)")
	registerMemoryLimit(cmd, &af.memLimit, defaultMemoryLimit)
	f.StringVar(&af.labels, "labels", "", "CSV `FILE` of id,label lines giving the hidden label of exchanges for the leak analysis (id: exchange id such as X12, or frame number; file#frame with several files)")
}

// defaultMemoryLimit is the soft heap limit, in MiB, that analyze and
// live set: above what the analysis holds at the tracker's default caps
// (about 90 MB on dense proxied traffic, 60 MB on a flood of unanswered
// requests; BENCHMARKS.md), so that the collector keeps the heap near it
// instead of letting it grow to twice the live data. Closer to the live
// data the collector runs more often: 128 MiB costs no CPU on that
// traffic, 112 MiB doubles it; the margin is for state heavier per
// exchange (OSCORE, block-wise transfers, observations).
const defaultMemoryLimit = 144

// viewMemoryLimit is view's: the viewer holds about 40 MiB more than the
// analysis at a million frames (a reference and a header per frame, a
// row per exchange), and a lower limit keeps the whole process near 190
// MiB at the price of more collections while the capture loads.
const viewMemoryLimit = 176

// registerMemoryLimit adds --memory-limit, in MiB, to cmd.
func registerMemoryLimit(cmd *cobra.Command, mib *int, def int) {
	cmd.Flags().IntVar(mib, "memory-limit", def, "soft limit of the Go heap in `MiB` (0: none); GOMEMLIMIT in the environment takes precedence")
}

// setMemoryLimit applies --memory-limit and returns the function that
// restores the previous limit.
func (af *analyzeFlags) setMemoryLimit() (restore func(), err error) {
	return setMemoryLimit(af.memLimit)
}

// setMemoryLimit sets the soft heap limit to mib MiB, unless it is 0 or
// GOMEMLIMIT is set, and returns the function that restores the previous
// limit.
func setMemoryLimit(mib int) (restore func(), err error) {
	switch {
	case mib < 0:
		return nil, usageErr("--memory-limit %d: want MiB, 0 for none", mib)
	case mib == 0 || os.Getenv("GOMEMLIMIT") != "":
		return func() {}, nil
	}
	old := debug.SetMemoryLimit(int64(mib) << 20)
	return func() { debug.SetMemoryLimit(old) }, nil
}

// leakOptions sets the leak analysis of opts from --no-leaks and --labels.
func (af *analyzeFlags) leakOptions(opts *analysis.Options) error {
	opts.Leaks = !af.noLeaks
	if af.labels == "" {
		return nil
	}
	var err error
	if opts.LeakConfig.Labels, err = collect.ReadLabelsFile(af.labels); err != nil {
		return usageErr("--labels: %v", err)
	}
	return nil
}

// writeLeaks writes the leak measurements of a finished engine.
func writeLeaks(w export.Writer, eng *analysis.Engine) error {
	ls := eng.Leaks()
	for i := range ls {
		if err := w.Write(export.Leak{Leak: &ls[i]}); err != nil {
			return err
		}
	}
	return nil
}
