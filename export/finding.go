package export

import (
	"github.com/coapaudit/coapaudit/capture"
	"github.com/coapaudit/coapaudit/rules"
)

// Finding is the finding record: one result of an audit rule
// (rules.Finding), as docs/CONTRACT.md names it.
type Finding struct {
	*rules.Finding
	// Refs name the frames when several capture files are analysed
	// together (see Exchange.Refs); nil for one file.
	Refs *capture.FrameRefs
}

// Type implements Record.
func (f Finding) Type() string { return "finding" }

// AppendJSON implements Record. exchange is always present (empty for
// findings about frames or sessions); time is left out when unknown.
func (f Finding) AppendJSON(dst []byte) []byte {
	x := f.Finding
	dst = append(dst, `{"type":"finding"`...)
	dst = appendStr(dst, "id", x.ID)
	dst = appendStr(dst, "rule", x.Rule)
	dst = appendStr(dst, "threat", string(x.Threat))
	dst = appendStr(dst, "severity", x.Severity.String())
	dst = appendStr(dst, "certainty", x.Certainty.String())
	dst = appendStr(dst, "exchange", x.Exchange)
	if x.Frames == nil {
		dst = append(appendKey(dst, "frames"), "[]"...)
	} else {
		dst = appendRefFrames(f.Refs, dst, `,"frames":`, `,"frame_files":`, x.Frames)
	}
	dst = appendStr(dst, "message", x.Message)
	dst = appendStr(dst, "seed", x.Seed)
	if !x.Time.IsZero() {
		dst = appendTime(appendKey(dst, "time"), x.Time)
	}
	return append(dst, '}')
}

var findingHeader = []string{"id", "rule", "threat", "severity", "certainty", "exchange", "frames", "message", "seed", "time"}

// CSVHeader implements Record.
func (f Finding) CSVHeader() []string { return findingHeader }

// CSVRow implements Record. Frames are joined with ';'.
func (f Finding) CSVRow(dst []string) []string {
	x := f.Finding
	t := ""
	if !x.Time.IsZero() {
		t = x.Time.UTC().Format(timeLayout)
	}
	return append(dst, x.ID, x.Rule, string(x.Threat), x.Severity.String(), x.Certainty.String(), x.Exchange,
		f.Refs.Join(x.Frames, ";"), x.Message, x.Seed, t)
}

var _ Record = Finding{}
