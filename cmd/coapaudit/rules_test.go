package main

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/coapaudit/coapaudit/export"
	"github.com/coapaudit/coapaudit/rules"
)

func TestRulesCommand(t *testing.T) {
	code, out, errOut := runCmd("rules", "--format", "text")
	if code != exitOK || errOut != "" {
		t.Fatalf("exit %d, stderr %q", code, errOut)
	}
	// Piped, the table is laid out for 80 columns: every rule starts a
	// line, and its check wraps under its column.
	checkWidth(t, out, defaultWidth)
	for _, r := range rules.All() {
		if !strings.Contains(out, "\n"+r.ID+" ") {
			t.Errorf("80 columns: no line for rule %s", r.ID)
		}
	}
	var wide strings.Builder
	if err := writeRules(&wide, rules.All(), export.FormatText, false, 200); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(wide.String()), "\n")
	if len(lines) != len(rules.All())+1 {
		t.Errorf("200 columns: %d lines for %d rules", len(lines), len(rules.All()))
	}
	for i, r := range rules.All() {
		f := strings.Fields(lines[i+1])
		if len(f) < 5 || f[0] != r.ID || f[1] != string(r.Threat) || f[2] != r.Severity.String() || f[3] != r.Seed {
			t.Errorf("line %q for rule %s", lines[i+1], r.ID)
		}
	}

	code, out, _ = runCmd("rules", "--format", "ndjson")
	if code != exitOK {
		t.Fatalf("ndjson: exit %d", code)
	}
	// Off a terminal rules writes NDJSON, as every other command does.
	if _, piped, _ := runCmd("rules"); piped != out {
		t.Errorf("rules on a pipe wrote %.80q..., not NDJSON", piped)
	}
	n := 0
	for _, l := range strings.Split(strings.TrimSpace(out), "\n") {
		var rec ruleRecord
		if err := json.Unmarshal([]byte(l), &rec); err != nil {
			t.Fatalf("%q: %v", l, err)
		}
		r := rules.Lookup(rec.ID)
		if rec.Type != "rule" || r == nil || rec.Doc != r.Doc || rec.ThreatName == "" || rec.Requires == nil {
			t.Errorf("record %+v", rec)
		}
		n++
	}
	if n != len(rules.All()) {
		t.Errorf("%d records", n)
	}

	if code, _, errOut = runCmd("rules", "--format", "yaml"); code != exitUsage || errOut == "" {
		t.Errorf("bad format: exit %d, stderr %q", code, errOut)
	}
	if code, _, _ = runCmd("rules", "extra"); code != exitUsage {
		t.Errorf("extra argument: exit %d", code)
	}
}

func TestFailOn(t *testing.T) {
	for s, want := range map[string]rules.Severity{"": 0, "none": 0, "low": rules.Low, "HIGH": rules.High} {
		got, err := parseFailOn(s)
		if err != nil || got != want {
			t.Errorf("parseFailOn(%q) = %v, %v", s, got, err)
		}
	}
	if _, err := parseFailOn("severe"); err == nil {
		t.Error("parseFailOn accepted severe")
	}
	var st rules.Stats
	st.BySeverity[rules.Medium] = 2
	if err := failOn(rules.High, st); err != nil {
		t.Errorf("high with only medium findings: %v", err)
	}
	if err := failOn(0, st); err != nil {
		t.Errorf("no --fail-on: %v", err)
	}
	err := failOn(rules.Low, st)
	ee, ok := err.(*exitError)
	if !ok || ee.code != exitFindings {
		t.Errorf("low with medium findings: %v", err)
	}
	// Findings suppressed past a rule's cap count as well.
	st.SuppressedBySeverity[rules.High] = 3
	err = failOn(rules.High, st)
	if ee, ok := err.(*exitError); !ok || ee.code != exitFindings || !strings.Contains(err.Error(), "3 findings") {
		t.Errorf("high with 3 suppressed high findings: %v", err)
	}
}
