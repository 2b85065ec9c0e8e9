package main

import (
	"github.com/spf13/cobra"

	"github.com/coapaudit/coapaudit/analysis"
	"github.com/coapaudit/coapaudit/export"
	"github.com/coapaudit/coapaudit/leaks/collect"
)

// registerAudit adds the flags analyze and live share: those of every
// command, --profile, --fail-on, --proxy, --top, --no-leaks and --labels.
func (af *analyzeFlags) registerAudit(cmd *cobra.Command) {
	af.commonFlags.register(cmd)
	af.commonFlags.registerProfile(cmd, profileUsage)
	af.auditFlags.register(cmd)
	af.commonFlags.registerRecords(cmd, "exchanges", "findings", "leaks", "summary")
	f := cmd.Flags()
	f.StringArrayVar(&af.proxies, "proxy", nil, "`ADDR` (ip or ip:port) of a proxy, in addition to those found in the traffic (repeatable)")
	f.IntVar(&af.top, "top", 10, "`N` rows per table in the text summary (0: all)")
	f.BoolVar(&af.noLeaks, "no-leaks", false, "skip the leak analysis (what sizes and timing reveal)")
	f.StringVar(&af.labels, "labels", "", "CSV `FILE` of id,label lines giving the hidden label of exchanges for the leak analysis (id: exchange id such as X12, or frame number; file#frame with several files)")
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
