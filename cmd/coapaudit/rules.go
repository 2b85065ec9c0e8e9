package main

import (
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"strings"

	"github.com/spf13/cobra"

	"github.com/coapaudit/coapaudit/export"
	"github.com/coapaudit/coapaudit/internal/human"
	"github.com/coapaudit/coapaudit/rules"
)

func rulesCmd(e *env) *cobra.Command {
	var format string
	var doc bool
	cmd := &cobra.Command{
		Use:   "rules",
		Short: "list every audit rule: id, threat, severity, seed section",
		Long: `rules lists the checks analyze, live and view run, one per line: the rule
ID that findings carry, the threat it addresses (T1 spoofing, T2 delaying,
T3 withholding, T4 flooding, T5 eavesdropping, replay, FR1.1, FR1.2,
malformed, usage), the highest severity it reports, the section of
draft-hartke-core-e2e-security-reqs-03 it rests on, and what it needs
(keys: OSCORE keys; exchanges: exchange tracking; proxy: traffic through
a proxy). --doc prints each rule's whole documentation.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			f, err := resolveFormat(format, e.stdout)
			if err != nil {
				return err
			}
			return writeRules(e.stdout, rules.All(), f, doc, termWidth(e.stdout))
		},
	}
	cmd.Flags().StringVar(&format, "format", "", "output `FORMAT` on stdout: text, json, ndjson or csv (default text on a terminal, ndjson otherwise)")
	cmd.Flags().BoolVar(&doc, "doc", false, "with text: print each rule's documentation")
	return cmd
}

// ruleRecord is one rule as json, ndjson and csv list it.
type ruleRecord struct {
	Type       string   `json:"type"`
	ID         string   `json:"id"`
	Threat     string   `json:"threat"`
	ThreatName string   `json:"threat_name"`
	Severity   string   `json:"severity"`
	Seed       string   `json:"seed"`
	Requires   []string `json:"requires"`
	Summary    string   `json:"summary"`
	Doc        string   `json:"doc"`
}

func newRuleRecord(r *rules.Rule) ruleRecord {
	req := []string{}
	if s := r.Requires.String(); s != "" {
		req = strings.Split(s, ",")
	}
	return ruleRecord{"rule", r.ID, string(r.Threat), r.Threat.Name(), r.Severity.String(), r.Seed, req, r.Summary(), r.Doc}
}

func writeRules(w io.Writer, rs []*rules.Rule, f export.Format, doc bool, width int) error {
	switch f {
	case export.FormatJSON:
		recs := make([]ruleRecord, len(rs))
		for i, r := range rs {
			recs[i] = newRuleRecord(r)
		}
		b, err := json.MarshalIndent(struct {
			Rules []ruleRecord `json:"rules"`
		}{recs}, "", "  ")
		if err != nil {
			return err
		}
		_, err = fmt.Fprintf(w, "%s\n", b)
		return err
	case export.FormatNDJSON:
		enc := json.NewEncoder(w)
		for _, r := range rs {
			if err := enc.Encode(newRuleRecord(r)); err != nil {
				return err
			}
		}
		return nil
	case export.FormatCSV:
		c := csv.NewWriter(w)
		c.Write([]string{"id", "threat", "threat_name", "severity", "seed", "requires", "summary"})
		for _, r := range rs {
			rec := newRuleRecord(r)
			c.Write([]string{rec.ID, rec.Threat, rec.ThreatName, rec.Severity, rec.Seed, strings.Join(rec.Requires, ";"), rec.Summary})
		}
		c.Flush()
		return c.Error()
	}
	if err := writeRuleTable(w, rs, width); err != nil {
		return err
	}
	if !doc {
		return nil
	}
	for _, r := range rs {
		if _, err := fmt.Fprintf(w, "\n%s (%s %s, %s, seed %s)\n\n%s\n", r.ID, r.Threat, r.Threat.Name(), r.Severity, r.Seed, indent(r.Doc)); err != nil {
			return err
		}
	}
	return nil
}

// writeRuleTable lists the rules in columns that fit width cells: the
// seed and requirement columns leave a narrow terminal first, and the
// check each rule makes wraps under its own column.
func writeRuleTable(w io.Writer, rs []*rules.Rule, width int) error {
	head := []string{"RULE", "THREAT", "SEVERITY", "SEED", "REQUIRES"}
	rows := make([][]string, len(rs))
	for i, r := range rs {
		req := r.Requires.String()
		if req == "" {
			req = "-"
		}
		rows[i] = []string{r.ID, string(r.Threat), r.Severity.String(), r.Seed, req}
	}
	colW := make([]int, len(head))
	for c := range head {
		colW[c] = human.Width(head[c])
		for _, row := range rows {
			colW[c] = max(colW[c], human.Width(row[c]))
		}
	}
	cols := len(head)
	used := func() int {
		n := 0
		for _, cw := range colW[:cols] {
			n += cw + 2
		}
		return n
	}
	// The checks keep at least 40 cells while columns can go.
	for cols > 3 && width-used() < 40 {
		cols--
	}
	line := func(cells []string, checks string) string {
		var b strings.Builder
		for c, cell := range cells[:cols] {
			b.WriteString(cell)
			b.WriteString(strings.Repeat(" ", colW[c]+2-human.Width(cell)))
		}
		lines := human.WrapAfter(checks, used(), width, used())
		return b.String() + strings.Join(lines, "\n") + "\n"
	}
	var b strings.Builder
	b.WriteString(line(head, "CHECKS"))
	for i, r := range rs {
		b.WriteString(line(rows[i], r.Summary()))
	}
	_, err := io.WriteString(w, b.String())
	return err
}

func indent(s string) string {
	return "    " + strings.ReplaceAll(s, "\n", "\n    ")
}

// parseFailOn parses --fail-on: a severity, or "none" (the default:
// findings never change the exit status).
func parseFailOn(s string) (rules.Severity, error) {
	if s == "" || strings.EqualFold(s, "none") {
		return 0, nil
	}
	sev, err := rules.ParseSeverity(s)
	if err != nil {
		return 0, usageErr("--fail-on: %v", err)
	}
	return sev, nil
}

// failOn returns the exit error for findings at or above sev (none when
// sev is 0 or no finding reached it).
func failOn(sev rules.Severity, st rules.Stats) error {
	if sev == 0 {
		return nil
	}
	n, total := 0, st.Total()
	for s := sev; s <= rules.High; s++ {
		n += total[s]
	}
	if n == 0 {
		return nil
	}
	return &exitError{code: exitFindings, err: fmt.Errorf("%d findings at or above %s", n, sev)}
}
