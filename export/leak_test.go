package export

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/coapaudit/coapaudit/leaks"
)

func delayLeak() *leaks.Leak {
	r := leaks.DelayStats([]string{"X1@1,2;3,4", "X2@5,6;7,8", "X3@9,10;11,12", "X4@13,14;15,16", "X5@17,18;19,20"},
		[]float64{0.001, 0.0011, 0.0009, 0.001, 2})
	l := r.Leak("127.0.0.22:5683 > 127.0.0.21:5683")
	l.Observable = "request_residence"
	// As the collector rewrites them: the exchange and its frames.
	for _, o := range l.Extra["outliers"].([]map[string]any) {
		o["id"], o["frames"] = "X5", []int{17, 18}
	}
	return &l
}

func TestLeakJSON(t *testing.T) {
	tb := leaks.NewDiscrete(leaks.Limits{})
	for i := range 40 {
		tb.Add([]string{"GET /a", "PUT /a"}[i%2], uint64(20+20*(i%2)))
	}
	mi := tb.Table().MutualInformation(leaks.Options{Seed: 1}).Leak("all")
	mi.Observable, mi.Label, mi.View = "request_size", "resource", "wire"
	for _, l := range []*leaks.Leak{&mi, delayLeak()} {
		b := Leak{l}.AppendJSON(nil)
		if bytes.ContainsRune(b, '\n') {
			t.Errorf("newline in %s", b)
		}
		var got map[string]any
		if err := json.Unmarshal(b, &got); err != nil {
			t.Fatalf("invalid JSON %s: %v", b, err)
		}
		if got["type"] != "leak" || got["metric"] != l.Metric || got["scope"] != l.Scope || got["value"] != l.Value || got["unit"] != l.Unit || got["n"] != float64(l.N) {
			t.Errorf("record %s", b)
		}
		if strings.Contains(string(b), `\u003e`) {
			t.Errorf("escaped '>' in %s", b)
		}
		if l.CI != nil {
			ci := got["ci"].(map[string]any)
			if ci["lo"] != l.CI.Lo || ci["hi"] != l.CI.Hi || ci["level"] != 0.95 {
				t.Errorf("ci %v", ci)
			}
		}
	}
	bad := leaks.Leak{Metric: "mutual_information", Scope: "all", Value: 1, Extra: map[string]any{"x": math.NaN()}}
	var got map[string]any
	if err := json.Unmarshal(Leak{&bad}.AppendJSON(nil), &got); err != nil || got["error"] == nil || got["type"] != "leak" {
		t.Errorf("non-finite value: %v %v", got, err)
	}
}

func TestLeakCSV(t *testing.T) {
	l := delayLeak()
	row := Leak{l}.CSVRow(nil)
	hdr := Leak{l}.CSVHeader()
	if len(row) != len(hdr) {
		t.Fatalf("%d cells, %d columns", len(row), len(hdr))
	}
	cell := map[string]string{}
	for i, h := range hdr {
		cell[h] = row[i]
	}
	if cell["metric"] != "proxy_delay" || cell["observable"] != "request_residence" || cell["unit"] != "seconds" || cell["n"] != "5" || cell["ci_lo"] != "" {
		t.Errorf("row %v", cell)
	}
	if !strings.HasPrefix(cell["outliers"], "X5 frames=17,18 seconds=2 z=") || strings.Contains(cell["outliers"], ";") {
		t.Errorf("outliers %q", cell["outliers"])
	}
	for _, kv := range strings.Split(cell["extra"], ";") {
		if k, _, ok := strings.Cut(kv, "="); !ok || k == "outliers" {
			t.Errorf("extra %q", cell["extra"])
		}
	}
	if !strings.Contains(cell["extra"], "fallback=false;mad=") {
		t.Errorf("extra %q not in key order", cell["extra"])
	}

	// Through a CSV writer: one header, one row, readable back.
	var b bytes.Buffer
	w := NewCSVWriter(&b, "leak")
	if err := w.Write(Leak{l}); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	recs, err := csv.NewReader(&b).ReadAll()
	if err != nil || len(recs) != 2 || strings.Join(recs[0], ",") != strings.Join(leakHeader, ",") {
		t.Errorf("csv %q %v", recs, err)
	}
}

// TestLeakDirHeader: an analysis without leaks still writes leaks.csv
// with its header.
func TestLeakDirHeader(t *testing.T) {
	dir := t.TempDir()
	d, err := NewDirWriter(dir, "leak")
	if err != nil {
		t.Fatal(err)
	}
	if err := d.Close(); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(filepath.Join(dir, "leaks.csv"))
	if err != nil || strings.TrimSpace(string(b)) != strings.Join(leakHeader, ",") {
		t.Errorf("leaks.csv %q %v", b, err)
	}
}
