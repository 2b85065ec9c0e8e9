package export

import (
	"bytes"
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/coapaudit/coapaudit/leaks"
)

// Leak is the leak record: one measurement of what sizes or timing reveal
// (leaks.Leak), as docs/CONTRACT.md names it.
type Leak struct {
	*leaks.Leak
}

// Type implements Record.
func (l Leak) Type() string { return "leak" }

// AppendJSON implements Record: the fields of leaks.Leak after "type",
// with "extra" holding the metric's own fields.
func (l Leak) AppendJSON(dst []byte) []byte {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false) // scopes such as "proxy > server"
	err := enc.Encode(struct {
		Type string `json:"type"`
		*leaks.Leak
	}{"leak", l.Leak})
	if err != nil {
		// Only non-finite numbers fail, which the estimators do not
		// produce; say what failed rather than drop the record.
		dst = append(dst, `{"type":"leak"`...)
		dst = appendStr(dst, "metric", l.Metric)
		dst = appendStr(dst, "scope", l.Scope)
		dst = appendStr(dst, "error", err.Error())
		return append(dst, '}')
	}
	return append(dst, bytes.TrimSuffix(b.Bytes(), []byte("\n"))...)
}

var leakHeader = []string{
	"metric", "scope", "observable", "label", "view", "value", "unit",
	"ci_lo", "ci_hi", "ci_level", "baseline", "n", "extra", "outliers",
}

// CSVHeader implements Record.
func (l Leak) CSVHeader() []string { return leakHeader }

// CSVRow implements Record. extra is "key=value" pairs in key order joined
// with ';' (lists inside a value joined with ','); outliers, for
// proxy_delay, is "exchange frames=a,b seconds=s z=z" per outlier joined
// with ';'.
func (l Leak) CSVRow(dst []string) []string {
	var lo, hi, level, base string
	if l.CI != nil {
		lo, hi, level = num(l.CI.Lo), num(l.CI.Hi), num(l.CI.Level)
	}
	if l.Baseline != nil {
		base = num(*l.Baseline)
	}
	keys := make([]string, 0, len(l.Extra))
	for k := range l.Extra {
		if k != "outliers" {
			keys = append(keys, k)
		}
	}
	slices.Sort(keys)
	extra := make([]string, len(keys))
	for i, k := range keys {
		extra[i] = k + "=" + cell(l.Extra[k])
	}
	var outliers []string
	if list, ok := l.Extra["outliers"].([]map[string]any); ok {
		for _, o := range list {
			s := cell(o["id"])
			if f, ok := o["frames"]; ok {
				s += " frames=" + outlierFrames(f, o["files"])
			}
			outliers = append(outliers, s+" seconds="+cell(o["seconds"])+" z="+cell(o["z"]))
		}
	}
	return append(dst, l.Metric, l.Scope, l.Observable, l.Label, l.View, num(l.Value), l.Unit,
		lo, hi, level, base, strconv.Itoa(l.N), strings.Join(extra, ";"), strings.Join(outliers, ";"))
}

// outlierFrames writes an outlier's frames for a CSV cell: "7,8", or
// "a.pcap#7,b.pcap#8" when files names their files.
func outlierFrames(frames, files any) string {
	fr, _ := frames.([]int)
	names, ok := files.([]string)
	if !ok || len(names) != len(fr) {
		return cell(frames)
	}
	s := make([]string, len(fr))
	for i, n := range fr {
		s[i] = names[i] + "#" + strconv.Itoa(n)
	}
	return strings.Join(s, ",")
}

func num(f float64) string { return string(appendFloat(nil, f)) }

// cell formats a value of Extra for a CSV cell.
func cell(v any) string {
	switch v := v.(type) {
	case nil:
		return ""
	case string:
		return v
	case float64:
		return num(v)
	case int:
		return strconv.Itoa(v)
	case uint64:
		return strconv.FormatUint(v, 10)
	case []int:
		return joinInts(v, ",")
	case bool:
		return strconv.FormatBool(v)
	}
	return fmt.Sprint(v)
}

var _ Record = Leak{}
