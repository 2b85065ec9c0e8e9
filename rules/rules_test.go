package rules_test

import (
	"regexp"
	"strings"
	"testing"

	"github.com/coapaudit/coapaudit/rules"
)

func TestRuleTable(t *testing.T) {
	ids := map[string]bool{}
	threats := map[rules.Threat]bool{}
	idRE := regexp.MustCompile(`^[a-z0-9]+(-[a-z0-9]+)*$`)
	seedRE := regexp.MustCompile(`^[1-3](\.[0-9]+)*$`)
	for _, r := range rules.All() {
		if !idRE.MatchString(r.ID) {
			t.Errorf("rule ID %q is not lowercase words joined by hyphens", r.ID)
		}
		if ids[r.ID] {
			t.Errorf("rule ID %q twice", r.ID)
		}
		ids[r.ID] = true
		threats[r.Threat] = true
		if !r.Threat.Valid() {
			t.Errorf("%s: threat %q", r.ID, r.Threat)
		}
		if r.Severity < rules.Info || r.Severity > rules.High {
			t.Errorf("%s: severity %v", r.ID, r.Severity)
		}
		if !seedRE.MatchString(r.Seed) {
			t.Errorf("%s: seed section %q", r.ID, r.Seed)
		}
		if r.Run == nil || r.Summary() == "" || !strings.Contains(r.Doc, "\n\n") {
			t.Errorf("%s: want Run, and Doc with a summary line and a body", r.ID)
		}
		if rules.Lookup(r.ID) != r {
			t.Errorf("Lookup(%q) does not return the rule", r.ID)
		}
	}
	// Every threat docs/RULES.md maps to a passive check has a rule.
	for _, th := range []rules.Threat{rules.T1, rules.T2, rules.T3, rules.T4, rules.T5, rules.Replay, rules.FR11, rules.FR12} {
		if !threats[th] {
			t.Errorf("no rule for threat %s", th)
		}
	}
	if rules.Lookup("no-such-rule") != nil {
		t.Error("Lookup of an unknown ID returned a rule")
	}
	if a, b := rules.All(), rules.All(); &a[0] == &b[0] {
		t.Error("All returns a shared slice")
	}
}

// Every rule fires on one scenario and stays quiet on another: the first
// must yield a finding of the rule, the second none.
var fireAndQuiet = map[string][2]scenario{
	"csm-not-first":        {signalingTrace, crossProxy},
	"message-too-large":    {signalingTrace, crossProxy},
	"bert-not-agreed":      {signalingTrace, crossProxy},
	"ping-pong":            {signalingTrace, crossProxy},
	"abort-bad-csm":        {signalingTrace, crossProxy},
	"release-redirect":     {signalingTrace, crossProxy},
	"oscore-unverified":    {evilKeys, revKeys},
	"altered-request":      {alteringRelayTrace, fwdProxy},
	"altered-response":     {alteringRelayTrace, fwdProxy},
	"spoofed-response":     {evilNoKeys, revKeys},
	"spoofed-request":      {spoofedRequestTrace, evilKeys},
	"observe-sequence":     {observeReorderTrace, fwdProxy},
	"no-e2e-authenticity":  {fwdProxy, revKeys},
	"proxy-delay":          {evilNoKeys, revKeys},
	"late-forward":         {lateForwardTrace, fwdProxy},
	"withheld-response":    {evilKeys, fwdProxy},
	"withheld-request":     {withheldRequestTrace, evilKeys},
	"response-flood":       {evilKeys, revKeys},
	"request-flood":        {requestFloodTrace, evilKeys},
	"notification-flood":   {fwdProxy, observeReorderTrace},
	"unsolicited-response": {unsolicitedTrace, fwdProxy},
	"plaintext-exposed":    {fwdProxy, revKeys},
	"oscore-outer-option":  {outerOptionTrace, revKeys},
	"publication-in-clear": {publicationTrace, fwdProxy},
	"publication-withheld": {evilBroker, honestBroker},
	"publication-altered":  {evilBroker, honestBroker},
	"publication-injected": {evilBroker, honestBroker},
	"publication-delayed":  {evilBroker, honestBroker},
	"publication-repeated": {evilBroker, honestBroker},
	"dtls-hop-by-hop":      {dtlsProxy, dtlsClientSide},
	"psk-identity-clear":   {dtlsProxy, fwdProxy},
	"dtls-keys-mismatch":   {dtlsWrongPSK, dtlsRightPSK},
	"oscore-replay":        {evilNoKeys, revKeys},
	"request-replay":       {alteringRelayTrace, fwdProxy},
	"cache-allowed":        {fwdProxy, revKeys},
	"proxy-uri-path":       {fwdProxy, revKeys},
	"malformed-message":    {rawInputs, revKeys},
	"keys-mismatch":        {evilWrongKey, evilKeys},
}

func TestEachRuleFiresAndStaysQuiet(t *testing.T) {
	cache := map[string][]*rules.Finding{}
	get := func(t *testing.T, s scenario) []*rules.Finding {
		if fs, ok := cache[s.name]; ok {
			return fs
		}
		fs := s.run(t)
		cache[s.name] = fs
		return fs
	}
	for _, r := range rules.All() {
		t.Run(r.ID, func(t *testing.T) {
			sc, ok := fireAndQuiet[r.ID]
			if !ok {
				t.Fatalf("no scenarios for rule %s", r.ID)
			}
			fire := of(get(t, sc[0]), r.ID)
			if len(fire) == 0 {
				t.Errorf("%s: no finding on %q", r.ID, sc[0].name)
			}
			for _, f := range fire {
				checkFinding(t, r, f)
			}
			for _, f := range of(get(t, sc[1]), r.ID) {
				t.Errorf("%s: unexpected finding on %q: %v", r.ID, sc[1].name, f)
			}
		})
	}
	for id := range fireAndQuiet {
		if rules.Lookup(id) == nil {
			t.Errorf("scenarios for unknown rule %s", id)
		}
	}
}

// checkFinding checks what every finding must carry.
func checkFinding(t *testing.T, r *rules.Rule, f *rules.Finding) {
	t.Helper()
	if f.Rule != r.ID || !f.Threat.Valid() || f.Seed == "" || f.ID == "" {
		t.Errorf("incomplete finding %+v", f)
	}
	if f.Severity > r.Severity {
		t.Errorf("%s: severity %v above the rule's %v", f.ID, f.Severity, r.Severity)
	}
	if len(f.Frames) == 0 {
		t.Errorf("%s: no evidence frames", f.ID)
	}
	for i := 1; i < len(f.Frames); i++ {
		if f.Frames[i] <= f.Frames[i-1] {
			t.Errorf("%s: frames %v not ascending and distinct", f.ID, f.Frames)
		}
	}
	word := map[rules.Certainty]string{rules.Could: "could", rules.Did: "did"}[f.Certainty]
	if word == "" || !strings.Contains(f.Message, word) {
		t.Errorf("%s: certainty %v but message %q", f.ID, f.Certainty, f.Message)
	}
	if strings.Count(strings.TrimSuffix(f.Message, "."), ". ") > 0 || !strings.HasSuffix(f.Message, ".") || strings.Contains(f.Message, "\n") {
		t.Errorf("%s: message is not one sentence: %q", f.ID, f.Message)
	}
	if f.Time.IsZero() {
		t.Errorf("%s: no time", f.ID)
	}
}
