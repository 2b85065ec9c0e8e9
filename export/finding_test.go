package export

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/coapaudit/coapaudit/rules"
)

func TestFindingRecord(t *testing.T) {
	f := &rules.Finding{
		ID: "F3", Rule: "spoofed-response", Threat: rules.T1, Severity: rules.High, Certainty: rules.Did,
		Exchange: "X2", Frames: []int{5, 6}, Message: `Proxy "p" did send a response\nthe server never sent.`,
		Seed: "2.1.1.1", Time: time.Date(2026, 11, 26, 21, 59, 37, 523445000, time.UTC),
	}
	b := Finding{Finding: f}.AppendJSON(nil)
	var got map[string]any
	if err := json.Unmarshal(b, &got); err != nil {
		t.Fatalf("invalid JSON %s: %v", b, err)
	}
	want := map[string]any{
		"type": "finding", "id": "F3", "rule": "spoofed-response", "threat": "T1", "severity": "high",
		"certainty": "did", "exchange": "X2", "frames": []any{5.0, 6.0}, "message": f.Message,
		"seed": "2.1.1.1", "time": "2026-11-26T21:59:37.523445000Z",
	}
	for k, v := range want {
		gb, _ := json.Marshal(got[k])
		wb, _ := json.Marshal(v)
		if !bytes.Equal(gb, wb) {
			t.Errorf("%s = %s, want %s", k, gb, wb)
		}
	}
	if len(got) != len(want) {
		t.Errorf("keys %v, want %d keys", got, len(want))
	}

	// Without exchange and time: exchange stays, time goes.
	f2 := *f
	f2.Exchange, f2.Time = "", time.Time{}
	got = nil
	if err := json.Unmarshal(Finding{Finding: &f2}.AppendJSON(nil), &got); err != nil {
		t.Fatal(err)
	}
	if v, ok := got["exchange"]; !ok || v != "" {
		t.Errorf("exchange = %v (present %v), want empty string", v, ok)
	}
	if _, ok := got["time"]; ok {
		t.Error("time present for a zero time")
	}

	var buf bytes.Buffer
	w := NewCSVWriter(&buf, "finding")
	if err := w.Write(Finding{Finding: f}); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	rows, err := csv.NewReader(strings.NewReader(buf.String())).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != 2 || len(rows[0]) != len(rows[1]) {
		t.Fatalf("rows = %q", rows)
	}
	row := map[string]string{}
	for i, h := range rows[0] {
		row[h] = rows[1][i]
	}
	if row["frames"] != "5;6" || row["severity"] != "high" || row["message"] != f.Message || row["exchange"] != "X2" {
		t.Errorf("csv row = %v", row)
	}
}
