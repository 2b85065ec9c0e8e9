package leaks

import (
	"slices"
	"strconv"
	"strings"
)

// VerdictOptions controls Verdicts.
type VerdictOptions struct {
	// Group maps a label to the group whose labels are compared with each
	// other, such as the resource of "GET /actuators/valve" (see
	// ByResource). nil puts all labels in one group.
	Group func(label string) string
	// Observable names what is observed, as in "told apart by size";
	// default "size".
	Observable string
	// TolV is how far above the majority baseline an accuracy must be to
	// count as telling labels apart (default DefaultTolV).
	TolV float64
	// MaxNames is how many labels a sentence names before "and N more"
	// (default 4).
	MaxNames int
}

// ByResource groups labels of the form "METHOD resource" by resource: the
// text after the first space (the whole label when there is none).
func ByResource(label string) string {
	if _, r, ok := strings.Cut(label, " "); ok {
		return r
	}
	return label
}

// Verdicts returns one plain-language sentence per group of two or more
// labels, such as
//
//	GET /actuators/valve and PUT /actuators/valve are told apart by size
//	with 100% accuracy (50% by guessing); padding to 16-byte blocks costs
//	9% and leaves 0.3 bits.
//
// The accuracy is the Bayes vulnerability of the group's samples, given as
// a range from the leave-one-out estimate (what an observer would achieve
// on new exchanges) to the resubstitution estimate (on these exchanges)
// when they differ; labels count as told apart when the leave-one-out
// estimate beats the majority guess by more than TolV, and as possibly
// told apart when only the resubstitution estimate does. The padding
// clause names the recommended scheme of advice (as
// returned by AdvisePadding on t), or when none removes the leak the one
// that leaves the least; the overhead is that of the whole table, the
// bits left are the mutual information within the group after padding.
// Groups come in sorted order.
func Verdicts(t *Table, advice []PaddingResult, opt VerdictOptions) []string {
	if opt.Observable == "" {
		opt.Observable = "size"
	}
	if opt.TolV <= 0 {
		opt.TolV = DefaultTolV
	}
	if opt.MaxNames <= 0 {
		opt.MaxNames = 4
	}
	group := opt.Group
	if group == nil {
		group = func(string) string { return "" }
	}
	members := make(map[string][]string)
	for _, l := range t.labels {
		g := group(l)
		members[g] = append(members[g], l)
	}
	keys := make([]string, 0, len(members))
	for g, ls := range members {
		if len(ls) > 1 {
			keys = append(keys, g)
		}
	}
	slices.Sort(keys)

	var out []string
	for _, g := range keys {
		in := make(map[string]bool, len(members[g]))
		for _, l := range members[g] {
			in[l] = true
		}
		sub := t.Restrict(func(l string) bool { return in[l] })
		out = append(out, verdict(sub, members[g], advice, opt))
	}
	return out
}

func verdict(sub *Table, labels []string, advice []PaddingResult, opt VerdictOptions) string {
	var b strings.Builder
	b.WriteString(nameList(labels, opt.MaxNames))
	by := " by " + opt.Observable
	v := sub.Bayes()
	apart := v.V > v.V0+opt.TolV
	switch {
	case apart:
		b.WriteString(" are told apart" + by + " with " + percentRange(v.V, v.VPlugIn) + " accuracy (" + percent(v.V0) + " by guessing)")
	case v.VPlugIn > v.V0+opt.TolV:
		b.WriteString(" may be told apart" + by + ": " + percent(v.VPlugIn) + " of these " + strconv.Itoa(v.N) + " are, too few to tell")
	default:
		b.WriteString(" are not told apart" + by)
	}
	if apart && len(advice) > 0 {
		best := advice[0]
		if best.Recommended {
			b.WriteString("; ")
		} else {
			b.WriteString("; no padding scheme tried removes the leak, the best, ")
		}
		left := sub.Map(best.Scheme.Pad).MutualInformation(Options{Resamples: -1, Permutations: -1})
		b.WriteString(best.Scheme.Desc + " costs " + overhead(best.Overhead) + " and leaves " + bitsText(left.Bits))
	}
	b.WriteString(".")
	return b.String()
}

// nameList joins names as "A and B", "A, B and C" or "A, B, C and 2 more".
func nameList(names []string, maxNames int) string {
	if len(names) > maxNames {
		return strings.Join(names[:maxNames], ", ") + " and " + strconv.Itoa(len(names)-maxNames) + " more"
	}
	if len(names) == 1 {
		return names[0]
	}
	return strings.Join(names[:len(names)-1], ", ") + " and " + names[len(names)-1]
}

// percent formats a probability as a whole percentage; values just below
// 1 read "over 99%" rather than round up to 100%.
func percent(p float64) string {
	if p < 1 && p >= 0.995 {
		return "over 99%"
	}
	return strconv.FormatFloat(100*p, 'f', 0, 64) + "%"
}

// percentRange formats the accuracy range from the leave-one-out estimate
// lo to the resubstitution estimate hi, or one value when they agree.
func percentRange(lo, hi float64) string {
	a, b := percent(lo), percent(hi)
	if a == b {
		return a
	}
	return strings.TrimSuffix(a, "%") + "-" + b
}

// overhead formats an overhead in percent.
func overhead(pct float64) string {
	if pct > 0 && pct < 1 {
		return strconv.FormatFloat(pct, 'f', 1, 64) + "%"
	}
	return strconv.FormatFloat(pct, 'f', 0, 64) + "%"
}

func bitsText(bits float64) string {
	switch {
	case bits < 0.005:
		return "0 bits"
	case bits < 1:
		return strconv.FormatFloat(bits, 'g', 2, 64) + " bits"
	}
	return strconv.FormatFloat(bits, 'f', 1, 64) + " bits"
}
