package main

import (
	"encoding/csv"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/coapaudit/coapaudit/export"
	"github.com/coapaudit/coapaudit/internal/testenv"
)

// ndjsonCounts counts the records of NDJSON output by type.
func ndjsonCounts(t *testing.T, out string) map[string]int {
	t.Helper()
	n := map[string]int{}
	for _, r := range recordsOf(t, out) {
		typ, _ := r["type"].(string)
		n[typ]++
	}
	return n
}

func readCSV(t *testing.T, what, s string) [][]string {
	t.Helper()
	rows, err := csv.NewReader(strings.NewReader(s)).ReadAll()
	if err != nil || len(rows) == 0 {
		t.Fatalf("%s: %d rows, %v", what, len(rows), err)
	}
	return rows
}

// TestCSVRecordsPicksTheType checks that --format csv writes the record type
// --records names (exchanges by default), with its header and as many rows
// as NDJSON has records of that type, and says on stderr what it left out.
func TestCSVRecordsPicksTheType(t *testing.T) {
	keys, path, nd := evilAnalyzed(t)
	counts := ndjsonCounts(t, nd)
	if counts["finding"] == 0 || counts["leak"] == 0 || counts["summary"] != 1 {
		t.Fatalf("ndjson record counts %v", counts)
	}
	headers := map[string][]string{
		"exchange": export.Exchange{}.CSVHeader(), "finding": export.Finding{}.CSVHeader(),
		"leak": export.Leak{}.CSVHeader(), "summary": (&export.Summary{}).CSVHeader(),
	}
	for _, records := range []string{"", "exchanges", "findings", "leaks", "summary"} {
		args := []string{"analyze", "--format", "csv", "--keys", keys, path}
		typ := "exchange"
		if records != "" {
			args = append(args, "--records", records)
			typ = strings.TrimSuffix(records, "s")
		}
		code, out, stderr := runCmd(args...)
		if code != 0 {
			t.Fatalf("%v: exit %d: %s", args, code, stderr)
		}
		rows := readCSV(t, records, out)
		if !slices.Equal(rows[0], headers[typ]) {
			t.Errorf("--records %q: header %v, want the %s header", records, rows[0], typ)
		}
		if len(rows)-1 != counts[typ] {
			t.Errorf("--records %q: %d rows, ndjson has %d %s records", records, len(rows)-1, counts[typ], typ)
		}
		msg := strings.TrimSpace(stderr)
		if strings.Count(msg, "\n") != 0 || !strings.Contains(msg, "left out") {
			t.Errorf("--records %q: stderr %q: want one line saying what was left out", records, stderr)
		}
		for _, other := range []string{"exchange", "finding", "leak", "summary"} {
			if other != typ && !strings.Contains(msg, other) {
				t.Errorf("--records %q: stderr %q does not mention the %s records left out", records, msg, other)
			}
		}
	}

	// packets: packet rows by default, the summary on request.
	code, out, stderr := runCmd("packets", "--format", "csv", path)
	if rows := readCSV(t, "packets", out); code != 0 || len(rows)-1 != 48 || !strings.Contains(stderr, "left out the summary") {
		t.Errorf("packets --format csv: exit %d, %d rows, stderr %q", code, len(rows)-1, stderr)
	}
	code, out, _ = runCmd("packets", "--format", "csv", "--records", "summary", path)
	if rows := readCSV(t, "packets summary", out); code != 0 || len(rows) != 2 || rows[1][0] != "48" {
		t.Errorf("packets --records summary: exit %d, rows %v", code, rows)
	}

	for _, args := range [][]string{
		{"analyze", "--format", "ndjson", "--records", "findings", path},
		{"analyze", "--format", "csv", "--records", "packets", path},
		{"packets", "--format", "csv", "--records", "findings", path},
	} {
		if code, _, stderr := runCmd(args...); code != exitUsage || !strings.Contains(stderr, "--records") {
			t.Errorf("%v: exit %d, stderr %q", args, code, stderr)
		}
	}
}

// TestOutDirWritesEveryCSV checks that --out writes a CSV file of every
// record type, the summary included, whose header is the type's.
func TestOutDirWritesEveryCSV(t *testing.T) {
	path := testenv.Capture(t, "libcoap-fwdproxy.pcap")
	dir := t.TempDir()
	if code, _, stderr := runCmd("analyze", "--format", "ndjson", "--out", dir, path); code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	for typ, hdr := range map[string][]string{
		"packets": (&export.Packet{}).CSVHeader(), "exchanges": export.Exchange{}.CSVHeader(),
		"findings": export.Finding{}.CSVHeader(), "leaks": export.Leak{}.CSVHeader(), "summary": (&export.Summary{}).CSVHeader(),
	} {
		b, err := os.ReadFile(filepath.Join(dir, typ+".csv"))
		if err != nil {
			t.Errorf("--out: %v", err)
			continue
		}
		rows := readCSV(t, typ, string(b))
		if !slices.Equal(rows[0], hdr) {
			t.Errorf("%s.csv header %v", typ, rows[0])
		}
		if typ == "summary" && (len(rows) != 2 || rows[1][0] != "75") {
			t.Errorf("summary.csv rows %v, want one with 75 frames", rows)
		}
	}
}
