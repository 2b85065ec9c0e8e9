package main

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/binary"
	"encoding/csv"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/coapaudit/coapaudit/internal/testenv"
)

func runCmd(args ...string) (code int, stdout, stderr string) {
	var o, e bytes.Buffer
	code = run(context.Background(), args, strings.NewReader(""), &o, &e)
	return code, o.String(), e.String()
}

// pcapRecordEnds returns the end offset of every record of a classic pcap
// file, read independently of package capture.
func pcapRecordEnds(t *testing.T, b []byte) []int {
	t.Helper()
	if len(b) < 24 {
		t.Fatal("short pcap")
	}
	var bo binary.ByteOrder = binary.LittleEndian
	if binary.BigEndian.Uint32(b) == 0xa1b2c3d4 || binary.BigEndian.Uint32(b) == 0xa1b23c4d {
		bo = binary.BigEndian
	}
	var ends []int
	for off := 24; off+16 <= len(b); {
		n := int(bo.Uint32(b[off+8:]))
		if off+16+n > len(b) {
			break
		}
		off += 16 + n
		ends = append(ends, off)
	}
	return ends
}

func summaryOf(t *testing.T, recs []record) record {
	t.Helper()
	if len(recs) == 0 || recs[len(recs)-1].Type != "summary" {
		t.Fatal("no summary record last")
	}
	s := recs[len(recs)-1]
	if sum := s.CoAPFrames + s.DTLSFrames + s.MalformedFrames + s.OtherFrames; sum != s.Frames {
		t.Errorf("summary: coap %d + dtls %d + malformed %d + other %d = %d, frames = %d",
			s.CoAPFrames, s.DTLSFrames, s.MalformedFrames, s.OtherFrames, sum, s.Frames)
	}
	if s.Frames != len(recs)-1 {
		t.Errorf("summary frames = %d, but %d packet records", s.Frames, len(recs)-1)
	}
	return s
}

func TestPacketsTruncatedCapture(t *testing.T) {
	full, err := os.ReadFile(testenv.Capture(t, "libcoap-fwdproxy.pcap"))
	if err != nil {
		t.Fatal(err)
	}
	ends := pcapRecordEnds(t, full)
	dir := t.TempDir()
	for _, cut := range []int{ends[0] + 5, ends[len(ends)/2], ends[len(ends)/2] + 3, ends[len(ends)/2] + 17, len(full) - 1} {
		want := 0
		for _, e := range ends {
			if e <= cut {
				want++
			}
		}
		p := filepath.Join(dir, "cut-"+strconv.Itoa(cut)+".pcap")
		os.WriteFile(p, full[:cut], 0o644)
		var stdout, stderr bytes.Buffer
		code := run(context.Background(), []string{"packets", "--format", "ndjson", p}, nil, &stdout, &stderr)
		if code != 0 {
			t.Errorf("cut at %d: exit %d: %s", cut, code, stderr.String())
			continue
		}
		var recs []record
		var truncated struct {
			Truncated bool `json:"truncated"`
		}
		for _, line := range strings.Split(strings.TrimSpace(stdout.String()), "\n") {
			var r record
			if err := json.Unmarshal([]byte(line), &r); err != nil {
				t.Fatalf("cut at %d: %v", cut, err)
			}
			recs = append(recs, r)
			if r.Type == "summary" {
				json.Unmarshal([]byte(line), &truncated)
			}
		}
		s := summaryOf(t, recs)
		if s.Frames != want {
			t.Errorf("cut at %d: %d frames, want %d complete records", cut, s.Frames, want)
		}
		atEnd := cut == ends[want-1]
		if truncated.Truncated == atEnd {
			t.Errorf("cut at %d (record boundary %v): summary truncated = %v", cut, atEnd, truncated.Truncated)
		}
		if !atEnd && !strings.Contains(stderr.String(), "truncated") {
			t.Errorf("cut at %d: stderr does not say the capture is truncated: %q", cut, stderr.String())
		}
	}
}

func TestPacketsCorruptedCaptureCountsEveryFrame(t *testing.T) {
	editcap := testenv.Tool(t, "editcap")
	capinfos := testenv.Tool(t, "capinfos")
	dir := t.TempDir()
	for _, name := range []string{"libcoap-fwdproxy.pcap", "aiocoap-oscore-evilproxy.pcap", "libcoap-dtls-proxy.pcap", "public/fuzzcoap-conversation.pcapng"} {
		for _, seed := range []string{"1", "2", "3"} {
			out := filepath.Join(dir, strings.ReplaceAll(name, "/", "_")+"."+seed)
			if b, err := exec.Command(editcap, "-E", "0.02", "--seed", seed, testenv.Capture(t, name), out).CombinedOutput(); err != nil {
				t.Fatalf("editcap: %v: %s", err, b)
			}
			b, err := exec.Command(capinfos, "-c", "-M", out).Output()
			if err != nil {
				t.Fatalf("capinfos: %v", err)
			}
			fields := strings.Fields(string(b))
			want, _ := strconv.Atoi(fields[len(fields)-1])
			recs, _ := runPacketsNDJSON(t, "--keys", filepath.Join(testenv.SharedDir(t), "captures", "keys", "oscore_contexts"), out)
			s := summaryOf(t, recs)
			if s.Frames != want {
				t.Errorf("%s seed %s: summary frames %d, capinfos %d", name, seed, s.Frames, want)
			}
			t.Logf("%s seed %s: %d frames: coap %d, dtls %d, malformed %d, other %d", name, seed, s.Frames, s.CoAPFrames, s.DTLSFrames, s.MalformedFrames, s.OtherFrames)
		}
	}
}

func TestPacketsMalformedRecordsReasonAndOffset(t *testing.T) {
	recs, _ := runPacketsNDJSON(t, testenv.Capture(t, "public/raw-coap-inputs.pcap"))
	s := summaryOf(t, recs)
	if s.MalformedFrames != 3 || s.CoAPFrames != 3 {
		t.Errorf("raw-coap-inputs: %d malformed, %d coap; want 3 and 3", s.MalformedFrames, s.CoAPFrames)
	}
	for _, r := range recs[:len(recs)-1] {
		if r.Malformed != "" && !strings.Contains(r.Malformed, "offset") {
			t.Errorf("frame %d: malformed reason %q does not say where", r.Frame, r.Malformed)
		}
	}
}

func TestPacketsExitCodes(t *testing.T) {
	dir := t.TempDir()
	notCapture := filepath.Join(dir, "x.pcap")
	os.WriteFile(notCapture, []byte("this is not a capture file at all"), 0o644)
	for _, tc := range []struct {
		args []string
		code int
		msg  string
	}{
		{[]string{"packets", filepath.Join(dir, "missing.pcap")}, 2, "no such file"},
		{[]string{"packets", notCapture}, 2, "not a pcap"},
		{[]string{"packets", "--format", "xml", notCapture}, 2, "format"},
		{[]string{"packets", "--port", "70000", notCapture}, 2, "port"},
		{[]string{"packets"}, 2, "not a pcap"}, // no file: stdin, empty here
		{[]string{"nosuchcommand"}, 2, "unknown command"},
		{[]string{"packets", "--keys", notCapture, testenv.Capture(t, "libcoap-fwdproxy.pcap")}, 2, "keys"},
	} {
		code, _, stderr := runCmd(tc.args...)
		if code != tc.code {
			t.Errorf("%v: exit %d, want %d (stderr %q)", tc.args, code, tc.code, stderr)
		}
		if strings.Count(strings.TrimSpace(stderr), "\n") != 0 || !strings.Contains(strings.ToLower(stderr), tc.msg) {
			t.Errorf("%v: stderr %q: want one line mentioning %q", tc.args, stderr, tc.msg)
		}
	}
}

func TestPacketsStdinAndGzip(t *testing.T) {
	path := testenv.Capture(t, "libcoap-fwdproxy.pcap")
	want, _ := runPacketsNDJSON(t, path)
	raw, _ := os.ReadFile(path)
	var o, e bytes.Buffer
	if code := run(context.Background(), []string{"packets", "--format", "ndjson", "-"}, bytes.NewReader(raw), &o, &e); code != 0 {
		t.Fatalf("stdin: exit %d: %s", code, e.String())
	}
	if got := strings.Count(o.String(), `"type":"packet"`); got != len(want)-1 {
		t.Errorf("stdin: %d packets, want %d", got, len(want)-1)
	}
	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	zw.Write(raw)
	zw.Close()
	gzPath := filepath.Join(t.TempDir(), "x.pcap.gz")
	os.WriteFile(gzPath, gz.Bytes(), 0o644)
	for _, src := range []string{gzPath, "-"} {
		o.Reset()
		e.Reset()
		if code := run(context.Background(), []string{"packets", "--format", "ndjson", src}, bytes.NewReader(gz.Bytes()), &o, &e); code != 0 {
			t.Fatalf("gzip %s: exit %d: %s", src, code, e.String())
		}
		if got := strings.Count(o.String(), `"type":"packet"`); got != len(want)-1 {
			t.Errorf("gzip %s: %d packets, want %d", src, got, len(want)-1)
		}
	}
}

// TestPacketsFormatsAgree checks that CSV and NDJSON carry the same frames
// and values, and that JSON holds the same packets and summary.
func TestPacketsFormatsAgree(t *testing.T) {
	keys := filepath.Join(testenv.SharedDir(t), "captures", "keys", "oscore_contexts")
	for _, name := range []string{"libcoap-fwdproxy.pcap", "aiocoap-oscore-evilproxy.pcap", "libcoap-dtls-proxy.pcap"} {
		path := testenv.Capture(t, name)
		recs, _ := runPacketsNDJSON(t, "--keys", keys, path)
		code, out, stderr := runCmd("packets", "--format", "csv", "--keys", keys, path)
		if code != 0 {
			t.Fatalf("csv: %s", stderr)
		}
		rows, err := csv.NewReader(strings.NewReader(out)).ReadAll()
		if err != nil {
			t.Fatalf("%s: csv does not parse: %v", name, err)
		}
		if len(rows)-1 != len(recs)-1 {
			t.Fatalf("%s: %d csv rows, %d ndjson packets", name, len(rows)-1, len(recs)-1)
		}
		col := map[string]int{}
		for i, h := range rows[0] {
			col[h] = i
		}
		for i, r := range recs[:len(recs)-1] {
			row := rows[i+1]
			mid := ""
			if r.MID != nil {
				mid = strconv.Itoa(*r.MID)
			}
			for field, want := range map[string]string{
				"frame": strconv.Itoa(r.Frame), "proto": r.Proto, "src": r.Src, "dst": r.Dst,
				"msgtype": r.MsgType, "code": r.Code, "mid": mid, "token": r.Token, "uri_path": r.URIPath,
			} {
				if got := row[col[field]]; got != want {
					t.Errorf("%s frame %d: csv %s = %q, ndjson %q", name, r.Frame, field, got, want)
				}
			}
		}
		code, out, _ = runCmd("packets", "--format", "json", "--keys", keys, path)
		var doc struct {
			Packets   []record        `json:"packets"`
			Exchanges []any           `json:"exchanges"`
			Summary   json.RawMessage `json:"summary"`
		}
		if err := json.Unmarshal([]byte(out), &doc); err != nil || code != 0 {
			t.Fatalf("%s: json output does not parse: %v", name, err)
		}
		if len(doc.Packets) != len(recs)-1 || len(doc.Summary) == 0 || doc.Exchanges == nil {
			t.Errorf("%s: json has %d packets (want %d), summary %d bytes", name, len(doc.Packets), len(recs)-1, len(doc.Summary))
		}
	}
}

// TestPacketsNeverPrintKeys runs every output format with keys and checks
// that no key material reaches stdout or stderr.
func TestPacketsNeverPrintKeys(t *testing.T) {
	keys := filepath.Join(testenv.SharedDir(t), "captures", "keys", "oscore_contexts")
	secrets := []string{"0102030405060708090a0b0c0d0e0f10", "9e7ca92223786340", "0102030405060708", "9e7ca922"}
	path := testenv.Capture(t, "aiocoap-oscore-revproxy.pcap")
	for _, format := range []string{"text", "json", "ndjson", "csv"} {
		_, out, stderr := runCmd("packets", "--format", format, "--keys", keys, path)
		for _, s := range secrets {
			if strings.Contains(strings.ToLower(out+stderr), s) {
				t.Errorf("--format %s: output contains key material %s", format, s)
			}
		}
	}
}
