package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"
	"github.com/google/gopacket/pcapgo"

	"github.com/coapaudit/coapaudit/capture"
	"github.com/coapaudit/coapaudit/internal/testenv"
)

type exchangeRec struct {
	Type      string `json:"type"`
	ID        string `json:"id"`
	Client    string `json:"client"`
	Server    string `json:"server"`
	Proxy     string `json:"proxy"`
	Method    string `json:"method"`
	URI       string `json:"uri"`
	Code      string `json:"code"`
	Protected string `json:"protected"`
	Status    string `json:"status"`
	Legs      []struct {
		From, To       string
		RequestFrames  []int `json:"request_frames"`
		ResponseFrames []int `json:"response_frames"`
	} `json:"legs"`
	Notifications int   `json:"notifications"`
	Frames        []int `json:"frames"`
	// summary
	Exchanges int `json:"exchanges"`
	Frames_   int `json:"-"`
}

func runAnalyzeNDJSON(t *testing.T, args ...string) (exchanges []exchangeRec, summary map[string]any) {
	t.Helper()
	var stdout, stderr bytes.Buffer
	code := run(context.Background(), append([]string{"analyze", "--format", "ndjson"}, args...), nil, &stdout, &stderr)
	if code != 0 {
		t.Fatalf("analyze %v: exit %d: %s", args, code, stderr.String())
	}
	sc := bufio.NewScanner(&stdout)
	sc.Buffer(nil, 1<<24)
	for sc.Scan() {
		var head struct{ Type string }
		json.Unmarshal(sc.Bytes(), &head)
		switch head.Type {
		case "exchange":
			var x exchangeRec
			if err := json.Unmarshal(sc.Bytes(), &x); err != nil {
				t.Fatal(err)
			}
			exchanges = append(exchanges, x)
		case "summary":
			json.Unmarshal(sc.Bytes(), &summary)
		case "finding", "leak":
		default:
			t.Fatalf("unexpected record %s", sc.Text())
		}
	}
	if summary == nil {
		t.Fatal("no summary")
	}
	if int(summary["exchanges"].(float64)) != len(exchanges) {
		t.Errorf("summary exchanges %v, %d exchange records", summary["exchanges"], len(exchanges))
	}
	return exchanges, summary
}

// splitCapture writes the frames of a capture into two pcap files: those
// that touch addr go to the first, the rest to the second, keeping
// timestamps (as two capture points on either side of a proxy would).
func splitCapture(t *testing.T, src, addr string) (string, string) {
	r, err := capture.Open(src)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	dir := t.TempDir()
	var files [2]*os.File
	var ws [2]*pcapgo.Writer
	for i := range files {
		files[i], _ = os.Create(filepath.Join(dir, []string{"a.pcap", "b.pcap"}[i]))
		ws[i] = pcapgo.NewWriter(files[i])
		ws[i].WriteFileHeader(262144, layers.LinkType(1))
	}
	var d capture.Datagram
	for r.Next(&d) == nil {
		i := 1
		if d.Src.Addr().String() == addr || d.Dst.Addr().String() == addr {
			i = 0
		}
		ci := gopacket.CaptureInfo{Timestamp: d.Time, CaptureLength: len(d.Data), Length: d.OrigLen}
		if err := ws[i].WritePacket(ci, d.Data); err != nil {
			t.Fatal(err)
		}
	}
	for _, f := range files {
		f.Close()
	}
	return files[0].Name(), files[1].Name()
}

func exchangeKeys(xs []exchangeRec) []string {
	var out []string
	for _, x := range xs {
		out = append(out, strings.Join([]string{x.Method, x.URI, x.Code, x.Status, x.Client, x.Proxy, x.Server}, " "))
	}
	sort.Strings(out)
	return out
}

func TestAnalyzeMergesCapturesFromBothSidesOfAProxy(t *testing.T) {
	keys := filepath.Join(testenv.SharedDir(t), "captures", "keys", "oscore_contexts")
	for _, tc := range []struct{ file, clientAddr string }{
		{"aiocoap-oscore-evilproxy.pcap", "127.0.0.1"},
		{"libcoap-fwdproxy.pcap", "127.0.0.31"},
	} {
		path := testenv.Capture(t, tc.file)
		whole, _ := runAnalyzeNDJSON(t, "--keys", keys, path)
		if len(whole) == 0 {
			t.Fatalf("%s: no exchanges", tc.file)
		}
		a, b := splitCapture(t, path, tc.clientAddr)
		merged, sum := runAnalyzeNDJSON(t, "--keys", keys, a, b)
		if got, want := strings.Join(exchangeKeys(merged), "\n"), strings.Join(exchangeKeys(whole), "\n"); got != want {
			t.Errorf("%s: split in two files and merged:\n%s\nwant as from one file:\n%s", tc.file, got, want)
		}
		if files := sum["files"].([]any); len(files) != 2 {
			t.Errorf("summary files = %v", files)
		}
	}
}

func TestAnalyzeFormats(t *testing.T) {
	path := testenv.Capture(t, "libcoap-fwdproxy.pcap")
	xs, sum := runAnalyzeNDJSON(t, path)
	if int(sum["frames"].(float64)) != 75 {
		t.Errorf("frames = %v, want 75", sum["frames"])
	}
	code, out, stderr := runCmd("analyze", "--format", "csv", path)
	if code != 0 {
		t.Fatal(stderr)
	}
	rows, err := csv.NewReader(strings.NewReader(out)).ReadAll()
	if err != nil {
		t.Fatalf("csv: %v", err)
	}
	if len(rows)-1 != len(xs) {
		t.Fatalf("csv has %d rows, ndjson %d exchanges", len(rows)-1, len(xs))
	}
	col := map[string]int{}
	for i, h := range rows[0] {
		col[h] = i
	}
	for i, x := range xs {
		for k, v := range map[string]string{"id": x.ID, "method": x.Method, "uri": x.URI, "status": x.Status, "code": x.Code, "proxy": x.Proxy} {
			if rows[i+1][col[k]] != v {
				t.Errorf("exchange %s: csv %s = %q, ndjson %q", x.ID, k, rows[i+1][col[k]], v)
			}
		}
	}
	code, out, _ = runCmd("analyze", "--format", "json", path)
	var doc struct {
		Exchanges []exchangeRec  `json:"exchanges"`
		Findings  []any          `json:"findings"`
		Leaks     []any          `json:"leaks"`
		Summary   map[string]any `json:"summary"`
	}
	if err := json.Unmarshal([]byte(out), &doc); err != nil || code != 0 {
		t.Fatalf("json: %v", err)
	}
	if len(doc.Exchanges) != len(xs) || doc.Findings == nil || doc.Leaks == nil || doc.Summary == nil {
		t.Errorf("json: %d exchanges (want %d), findings %v, leaks %v", len(doc.Exchanges), len(xs), doc.Findings, doc.Leaks)
	}
	code, out, _ = runCmd("analyze", "--format", "text", path)
	if code != 0 || !strings.Contains(out, "coap://127.0.0.31:5683/time") || !strings.Contains(out, "75 frames") {
		t.Errorf("text output lacks the exchanges or the summary:\n%s", out)
	}
}

func TestAnalyzeUsageErrors(t *testing.T) {
	path := testenv.Capture(t, "libcoap-fwdproxy.pcap")
	for _, args := range [][]string{
		{"analyze", "--proxy", "not-an-address", path},
		{"analyze", "-", "-"},
		{"analyze", filepath.Join(t.TempDir(), "missing.pcap")},
	} {
		if code, _, stderr := runCmd(args...); code != 2 || strings.Count(strings.TrimSpace(stderr), "\n") != 0 {
			t.Errorf("%v: exit %d, stderr %q; want 2 and one line", args, code, stderr)
		}
	}
}

// TestAnalyzeOutDir checks that --out writes every record type as NDJSON
// and CSV, consistent with each other and with stdout.
func TestAnalyzeOutDir(t *testing.T) {
	keys := filepath.Join(testenv.SharedDir(t), "captures", "keys", "oscore_contexts")
	path := testenv.Capture(t, "aiocoap-oscore-evilproxy.pcap")
	dir := t.TempDir()
	xs, sum := runAnalyzeNDJSON(t, "--keys", keys, "--out", dir, path)
	lines := func(name string) []string {
		b, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		s := strings.TrimSpace(string(b))
		if s == "" {
			return nil
		}
		return strings.Split(s, "\n")
	}
	for _, kind := range []string{"packets", "exchanges", "findings", "leaks"} {
		nd := lines(kind + ".ndjson")
		f, err := os.Open(filepath.Join(dir, kind+".csv"))
		if err != nil {
			t.Fatal(err)
		}
		rows, err := csv.NewReader(f).ReadAll()
		f.Close()
		if err != nil {
			t.Fatalf("%s.csv: %v", kind, err)
		}
		if len(nd) > 0 && len(rows) != len(nd)+1 {
			t.Errorf("%s: %d ndjson lines, %d csv rows (with header)", kind, len(nd), len(rows))
		}
		for _, l := range nd {
			var v map[string]any
			if err := json.Unmarshal([]byte(l), &v); err != nil || v["type"] != strings.TrimSuffix(kind, "s") {
				t.Errorf("%s.ndjson: bad line %q", kind, l)
			}
		}
	}
	if n := len(lines("packets.ndjson")); n != int(sum["frames"].(float64)) {
		t.Errorf("packets.ndjson has %d lines, summary frames %v", n, sum["frames"])
	}
	if n := len(lines("exchanges.ndjson")); n != len(xs) {
		t.Errorf("exchanges.ndjson has %d lines, stdout %d exchanges", n, len(xs))
	}
	var fileSum map[string]any
	json.Unmarshal([]byte(lines("summary.json")[0]), &fileSum)
	if fileSum["frames"] != sum["frames"] || fileSum["exchanges"] != sum["exchanges"] {
		t.Errorf("summary.json %v differs from stdout's %v", fileSum, sum)
	}
}

// TestAnalyzeFindingsAndFailOn checks that analyze reports the evil
// relay's acts as findings and that --fail-on sets the exit status.
func TestAnalyzeFindingsAndFailOn(t *testing.T) {
	keys := filepath.Join(testenv.SharedDir(t), "captures", "keys", "oscore_contexts")
	evil := testenv.Capture(t, "aiocoap-oscore-evilproxy.pcap")
	honest := testenv.Capture(t, "aiocoap-oscore-revproxy.pcap")
	code, out, _ := runCmd("analyze", "--format", "ndjson", "--keys", keys, evil)
	if code != 0 {
		t.Fatalf("exit %d without --fail-on", code)
	}
	threats := map[string]bool{}
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		var f struct {
			Type, Threat, Severity string
			Frames                 []int
		}
		json.Unmarshal([]byte(line), &f)
		if f.Type == "finding" {
			if len(f.Frames) == 0 {
				t.Errorf("finding without evidence frames: %s", line)
			}
			threats[f.Threat] = true
		}
	}
	for _, th := range []string{"T1", "T2", "T3", "T4", "replay"} {
		if !threats[th] {
			t.Errorf("no %s finding on the evil-proxy capture; got %v", th, threats)
		}
	}
	for _, tc := range []struct {
		file, failOn string
		code         int
	}{
		{evil, "high", 1}, {evil, "none", 0}, {honest, "medium", 0}, {evil, "bogus", 2},
	} {
		code, _, stderr := runCmd("analyze", "--format", "ndjson", "--keys", keys, "--fail-on", tc.failOn, tc.file)
		if code != tc.code {
			t.Errorf("%s --fail-on %s: exit %d, want %d (%s)", filepath.Base(tc.file), tc.failOn, code, tc.code, stderr)
		}
	}
	if code, _, _ := runCmd("analyze", "--profile", "nonsense", evil); code != 2 {
		t.Errorf("--profile nonsense: exit %d, want 2", code)
	}
}
