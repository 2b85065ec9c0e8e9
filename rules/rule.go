package rules

import (
	"fmt"
	"strings"
	"time"
)

// Rule is one check against the seed's threat model, described the way
// golang.org/x/tools/go/analysis describes an Analyzer. A Rule is a
// stateless description: Run is called once per run with a fresh Pass and
// keeps its state in the closures it registers there, so one Rule value
// serves any number of concurrent runs.
type Rule struct {
	// ID is the stable name findings carry in their "rule" field
	// ("spoofed-response"). Lowercase words joined by hyphens.
	ID string
	// Doc says what the rule checks and why, first line a summary.
	Doc string
	// Threat is what the rule's findings are about: T1 to T6, replay,
	// FR1.1, FR1.2, malformed or usage.
	Threat Threat
	// Severity is the highest severity the rule reports; a finding may
	// carry a lower one (an exposure it can only call possible, an error
	// response a proxy may send on its own).
	Severity Severity
	// Seed is the section of draft-hartke-core-e2e-security-reqs-03 the
	// rule rests on ("2.1.1.1").
	Seed string
	// Requires says what the rule needs to find anything.
	Requires Requires
	// Run prepares the rule for one run: it registers the hooks it needs
	// on the Pass (OnPacket, OnExchange, OnFlush, OnClose) and returns an
	// error only when the configuration makes the rule unusable.
	Run func(*Pass) error
}

// Summary returns the first line of Doc.
func (r *Rule) Summary() string {
	s, _, _ := strings.Cut(r.Doc, "\n")
	return strings.TrimSpace(s)
}

func (r *Rule) String() string { return r.ID }

// Requires is a set of preconditions of a rule.
type Requires uint8

const (
	// RequiresKeys: the rule looks at OSCORE verification, which needs
	// --keys. Without keys the rule is not run.
	RequiresKeys Requires = 1 << iota
	// RequiresExchanges: the rule looks at exchanges, which the exchange
	// tracker builds.
	RequiresExchanges
	// RequiresProxy: the rule only reports on traffic through a proxy or
	// broker.
	RequiresProxy
)

var requiresNames = [...]string{"keys", "exchanges", "proxy"}

// String lists the preconditions joined by commas ("keys,exchanges"),
// or "" for none.
func (r Requires) String() string {
	var b strings.Builder
	for i, n := range requiresNames {
		if r&(1<<i) == 0 {
			continue
		}
		if b.Len() > 0 {
			b.WriteByte(',')
		}
		b.WriteString(n)
	}
	return b.String()
}

// Threat names what a finding is about, as the seed and docs/RULES.md name it.
type Threat string

// Threats. T1 to T6 are the seed's threats (section 2.1); replay is
// requirement A1.4/A1.8; FR1.1 and FR1.2 the functional requirements of
// forwarding (section 2.2.1.2); malformed covers messages that do not
// decode; usage covers how coapaudit was used, such as OSCORE keys that do
// not match the traffic.
const (
	T1        Threat = "T1" // spoofing
	T2        Threat = "T2" // delaying
	T3        Threat = "T3" // withholding
	T4        Threat = "T4" // flooding
	T5        Threat = "T5" // eavesdropping
	T6        Threat = "T6" // traffic analysis
	Replay    Threat = "replay"
	FR11      Threat = "FR1.1"
	FR12      Threat = "FR1.2"
	Malformed Threat = "malformed"
	Usage     Threat = "usage"
)

var threatNames = map[Threat]string{
	T1: "spoofing", T2: "delaying", T3: "withholding", T4: "flooding",
	T5: "eavesdropping", T6: "traffic analysis", Replay: "replay",
	FR11: "caching inhibited", FR12: "Proxy-Uri without path", Malformed: "malformed message",
	Usage: "usage",
}

// Name returns what the threat is called ("spoofing" for T1).
func (t Threat) Name() string { return threatNames[t] }

// Valid reports whether t is one of the threats above.
func (t Threat) Valid() bool { _, ok := threatNames[t]; return ok }

// Severity ranks findings. The zero value is not a severity: a Finding
// reported with it gets its rule's Severity.
type Severity uint8

// Severities, lowest first.
const (
	Info Severity = 1 + iota
	Low
	Medium
	High
)

var severityNames = [...]string{"", "info", "low", "medium", "high"}

// String returns "info", "low", "medium" or "high".
func (s Severity) String() string {
	if int(s) < len(severityNames) && s != 0 {
		return severityNames[s]
	}
	return fmt.Sprintf("Severity(%d)", uint8(s))
}

// GoString returns the Go constant name.
func (s Severity) GoString() string {
	if s >= Info && s <= High {
		return "rules." + [...]string{"Info", "Low", "Medium", "High"}[s-1]
	}
	return fmt.Sprintf("rules.Severity(%d)", uint8(s))
}

// MarshalText returns the name.
func (s Severity) MarshalText() ([]byte, error) { return []byte(s.String()), nil }

// ParseSeverity parses "info", "low", "medium" or "high" (any case), as
// --fail-on takes them.
func ParseSeverity(s string) (Severity, error) {
	for i := Info; i <= High; i++ {
		if strings.EqualFold(s, severityNames[i]) {
			return i, nil
		}
	}
	return 0, fmt.Errorf("unknown severity %q (want info, low, medium or high)", s)
}

// Certainty says how far the evidence goes.
type Certainty uint8

const (
	// Could: the traffic allows an attack (something is exposed, or a
	// proxy could act unnoticed), or suggests one without proving it.
	Could Certainty = 1 + iota
	// Did: the capture proves that the act happened.
	Did
)

// String returns "could" or "did".
func (c Certainty) String() string {
	switch c {
	case Could:
		return "could"
	case Did:
		return "did"
	}
	return fmt.Sprintf("Certainty(%d)", uint8(c))
}

// MarshalText returns the name.
func (c Certainty) MarshalText() ([]byte, error) { return []byte(c.String()), nil }

// Finding is one result of a rule, the contract's finding record.
type Finding struct {
	// ID numbers findings in the order they were reported ("F1").
	ID   string
	Rule string
	// Threat and Seed default to the rule's.
	Threat   Threat
	Severity Severity
	// Certainty says whether the capture proves the act (Did) or only
	// allows it (Could); Message says the same in words.
	Certainty Certainty
	// Exchange is the flows exchange ID ("X2"), or empty for findings
	// about frames or sessions.
	Exchange string
	// Frames are the evidence, ascending; never empty.
	Frames []int
	// Message is one plain sentence.
	Message string
	Seed    string
	// Time is the capture time of the latest evidence frame the rule
	// knew, or of the moment the rule decided.
	Time time.Time
}

func (f *Finding) String() string {
	return fmt.Sprintf("%s %s [%s %s %s] %s (frames %v, seed %s)", f.ID, f.Rule, f.Threat, f.Severity, f.Certainty, f.Message, f.Frames, f.Seed)
}
