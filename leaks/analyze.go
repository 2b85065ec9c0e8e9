package leaks

// Analysis bundles the table metrics of one scope: M1 to M4.
type Analysis struct {
	Scope     string
	MI        MIResult
	Bayes     BayesResult
	Anonymity AnonymityResult
	// Padding is AdvisePadding's list, recommended scheme first.
	Padding []PaddingResult
}

// Analyze computes mutual information, Bayes vulnerability, anonymity sets
// and padding advice for a table of sizes. When popt.MI is the zero value
// the padded tables are resampled with opt's seed and level (and
// DefaultPaddingResamples resamples); schemes that pad nothing reuse the
// mutual information of t.
func Analyze(scope string, t *Table, opt Options, popt PaddingOptions) Analysis {
	if popt.MI == (Options{}) {
		popt.MI = Options{Seed: opt.Seed, Level: opt.Level}
	}
	mi := t.MutualInformation(opt)
	return Analysis{
		Scope:     scope,
		MI:        mi,
		Bayes:     t.Bayes(),
		Anonymity: t.Anonymity(),
		Padding:   advisePadding(t, popt, &mi),
	}
}

// Leaks returns the analysis as leak records: mutual_information,
// bayes_vulnerability, the anonymity_set records and one padding record
// per scheme, recommended first.
func (a Analysis) Leaks() []Leak {
	out := []Leak{a.MI.Leak(a.Scope), a.Bayes.Leak(a.Scope)}
	out = append(out, a.Anonymity.Leaks(a.Scope)...)
	for _, p := range a.Padding {
		out = append(out, p.Leak(a.Scope))
	}
	return out
}
