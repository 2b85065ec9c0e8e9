package main

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/coapaudit/coapaudit/analysis"
	"github.com/coapaudit/coapaudit/dissect"
)

// clockFlags are analyze's flags for captures taken with several clocks.
type clockFlags struct {
	maxSkew    time.Duration
	offsetArgs []string
}

func (c *clockFlags) register(cmd *cobra.Command) {
	f := cmd.Flags()
	f.DurationVar(&c.maxSkew, "max-skew", 5*time.Second, "largest clock offset between capture files that is estimated and applied (0: apply no estimate)")
	f.StringArrayVar(&c.offsetArgs, "clock-offset", nil, "set the clock offset of a capture file by hand, added to its frame times: `FILE=OFFSET` such as b.pcap=-50ms or b.pcap=-0.05 (seconds); repeatable")
}

// manualOffsets parses --clock-offset against the files: a FILE is the
// argument as given or its name as shown. The first file is the
// reference and takes no offset.
func (c *clockFlags) manualOffsets(files, names []string) (map[int]time.Duration, error) {
	out := map[int]time.Duration{}
	for _, s := range c.offsetArgs {
		name, val, ok := strings.Cut(s, "=")
		if !ok {
			return nil, usageErr("--clock-offset %q: want FILE=OFFSET", s)
		}
		d, err := parseOffset(val)
		if err != nil {
			return nil, usageErr("--clock-offset %q: %v", s, err)
		}
		i := -1
		for j := range files {
			if name == files[j] || name == names[j] {
				i = j
				break
			}
		}
		switch {
		case i < 0:
			return nil, usageErr("--clock-offset %q: %s is not one of the files", s, name)
		case i == 0:
			return nil, usageErr("--clock-offset %q: the first file is the reference clock; set the others' offsets", s)
		}
		out[i] = d
	}
	return out, nil
}

// parseOffset reads a duration ("-50ms", "1.5s") or a number of seconds.
func parseOffset(s string) (time.Duration, error) {
	if d, err := time.ParseDuration(s); err == nil {
		return d, nil
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil || math.IsNaN(f) || math.IsInf(f, 0) || math.Abs(f) > 1e9 {
		return 0, fmt.Errorf("%q is not a duration such as -50ms or a number of seconds", s)
	}
	return time.Duration(f * float64(time.Second)), nil
}

// clockOffsets estimates (or takes from --clock-offset) the clock offset
// of every file after the first, warns about those not applied, and
// returns them; nil for one file.
func (c *clockFlags) estimate(e *env, files, names []string, dcfg dissect.Config) ([]analysis.ClockOffset, error) {
	if len(files) < 2 {
		if len(c.offsetArgs) > 0 {
			return nil, usageErr("--clock-offset needs several capture files")
		}
		return nil, nil
	}
	manual, err := c.manualOffsets(files, names)
	if err != nil {
		return nil, err
	}
	in := make([]analysis.SkewInput, len(files))
	for i := range files {
		in[i] = analysis.SkewInput{Name: names[i], Path: files[i]}
		if d, ok := manual[i]; ok {
			in[i].Manual, in[i].Offset = true, d
		}
	}
	cfg := analysis.SkewConfig{Dissect: dcfg, MaxSkew: c.maxSkew}
	if c.maxSkew <= 0 {
		cfg.MaxSkew = -1 // apply no estimate
	}
	offs, err := analysis.EstimateOffsets(in, cfg)
	if err != nil {
		return nil, err
	}
	for _, o := range offs {
		if !o.Applied {
			warnf(e, "clock of %s: %s", o.File, o.Note)
		}
	}
	return offs, nil
}

// applyOffsets sets the applied offsets on the merge.
func applyOffsets(m *analysis.Merge, offs []analysis.ClockOffset) {
	for i, o := range offs {
		if o.Applied {
			m.SetOffset(i+1, time.Duration(math.Round(o.Offset*float64(time.Second))))
		}
	}
}

// formatOffsets writes the clock offsets for the text summary:
// "clock offsets: b.pcap -50.012 ms (14 pairs)".
func formatOffsets(offs []analysis.ClockOffset) string {
	var b strings.Builder
	for i, o := range offs {
		if i == 0 {
			b.WriteString("clock offsets: ")
		} else {
			b.WriteString(", ")
		}
		d := time.Duration(math.Round(o.Offset * float64(time.Second)))
		fmt.Fprintf(&b, "%s %+.3f ms", o.File, float64(d)/float64(time.Millisecond))
		switch {
		case o.Source == "manual":
			b.WriteString(" (set by hand)")
		case !o.Applied && o.Offset == 0:
			fmt.Fprintf(&b, " (no estimate, %d pairs)", o.Pairs)
		case !o.Applied:
			fmt.Fprintf(&b, " (%d pairs, not applied)", o.Pairs)
		default:
			fmt.Fprintf(&b, " (%d pairs, ±%.3f ms)", o.Pairs, o.Uncertainty*1000)
		}
	}
	return b.String()
}
