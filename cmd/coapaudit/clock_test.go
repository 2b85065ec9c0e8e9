package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/coapaudit/coapaudit/internal/testenv"
)

// proxyCapture is a sample capture of traffic through a proxy, and the
// address whose frames make up one side of it.
type proxyCapture struct {
	file, keys, side string
}

var proxyCaptures = []proxyCapture{
	// Forward proxy 127.0.0.32 between client 127.0.0.33 and origin
	// 127.0.0.31, in plain CoAP.
	{file: "libcoap-fwdproxy.pcap", side: "127.0.0.31"},
	// Reverse proxy 127.0.0.22 in front of origin 127.0.0.21, OSCORE.
	{file: "aiocoap-oscore-revproxy.pcap", keys: "aiocoap.oscore_contexts", side: "127.0.0.21"},
	// The same, the proxy misbehaving: it forges, floods, withholds,
	// replays and holds a request 2 s.
	{file: "aiocoap-oscore-evilproxy.pcap", keys: "aiocoap.oscore_contexts", side: "127.0.0.21"},
}

func samplePath(name string) string { return filepath.Join(testenv.RepoRoot(), "samples", name) }

func (c proxyCapture) args(files ...string) []string {
	args := []string{"--no-leaks"}
	if c.keys != "" {
		args = append(args, "--keys", samplePath(c.keys))
	}
	return append(args, files...)
}

// shiftClock writes a copy of a capture whose clock runs d ahead, with
// editcap, as b.pcap in a new directory.
func shiftClock(t *testing.T, editcap, src string, d time.Duration) string {
	t.Helper()
	dst := filepath.Join(t.TempDir(), "b.pcap")
	out, err := exec.Command(editcap, "-F", "pcap", "-t", strconv.FormatFloat(d.Seconds(), 'f', -1, 64), src, dst).CombinedOutput()
	if err != nil {
		t.Fatalf("editcap: %v\n%s", err, out)
	}
	return dst
}

// analyzeRecords runs analyze with NDJSON output, validates it against
// the JSON Schemas, and returns the records by type, as generic JSON, and
// stderr.
func analyzeRecords(t *testing.T, stdin []byte, args ...string) (map[string][]map[string]any, string) {
	t.Helper()
	var o, e bytes.Buffer
	code := run(context.Background(), append([]string{"analyze", "--format", "ndjson"}, args...), bytes.NewReader(stdin), &o, &e)
	if code != 0 {
		t.Fatalf("analyze %v: exit %d: %s", args, code, e.String())
	}
	validateNDJSON(t, "analyze "+strings.Join(args, " "), o.Bytes(), loadSchemas(t), map[string]int{})
	recs := map[string][]map[string]any{}
	sc := bufio.NewScanner(&o)
	sc.Buffer(nil, 1<<24)
	for sc.Scan() {
		var r map[string]any
		if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
			t.Fatal(err)
		}
		recs[r["type"].(string)] = append(recs[r["type"].(string)], r)
	}
	if len(recs["summary"]) != 1 {
		t.Fatalf("want one summary, got %d", len(recs["summary"]))
	}
	return recs, e.String()
}

// exchangeShapes describes exchanges by what must not depend on how the
// traffic was captured: method, URI, code, status, and the endpoints of
// every leg (so also their number), sorted.
func exchangeShapes(xs []map[string]any) []string {
	var out []string
	for _, x := range xs {
		s := []string{x["method"].(string), x["uri"].(string), x["code"].(string), x["status"].(string), x["client"].(string), x["proxy"].(string), x["server"].(string)}
		legs, _ := x["legs"].([]any)
		s = append(s, strconv.Itoa(len(legs))+" legs:")
		for _, l := range legs {
			l := l.(map[string]any)
			s = append(s, l["from"].(string)+">"+l["to"].(string))
		}
		out = append(out, strings.Join(s, " "))
	}
	slices.Sort(out)
	return out
}

// clockOffset returns the summary's clock offset entry for file.
func clockOffset(t *testing.T, recs map[string][]map[string]any, file string) map[string]any {
	t.Helper()
	offs, _ := recs["summary"][0]["clock_offsets"].([]any)
	for _, o := range offs {
		if o := o.(map[string]any); o["file"] == file {
			return o
		}
	}
	t.Fatalf("no clock offset for %s in %v", file, recs["summary"][0])
	return nil
}

var bareFrame = regexp.MustCompile(`\bframes? [0-9]`)

// checkFramesNamed checks that every frame reference of every record
// names one of files: each list of frame numbers has a list of files of
// the same length beside it, and messages write "frame a.pcap#3".
func checkFramesNamed(t *testing.T, recs map[string][]map[string]any, files ...string) {
	t.Helper()
	check := func(what string, obj map[string]any, framesKey, filesKey string) {
		frames, ok := obj[framesKey]
		if !ok || frames == nil {
			return
		}
		var nf int
		switch v := frames.(type) {
		case []any:
			nf = len(v)
		case float64:
			nf = 1
		}
		var names []any
		switch v := obj[filesKey].(type) {
		case []any:
			names = v
		case string:
			names = []any{v}
		}
		if len(names) != nf {
			t.Errorf("%s: %s %v has files %v", what, framesKey, frames, obj[filesKey])
			return
		}
		for _, n := range names {
			if s, _ := n.(string); !slices.Contains(files, s) {
				t.Errorf("%s: %s names file %v, not one of %v", what, filesKey, n, files)
			}
		}
	}
	for _, x := range recs["exchange"] {
		id := x["id"].(string)
		check(id, x, "frames", "frame_files")
		for _, l := range x["legs"].([]any) {
			l := l.(map[string]any)
			check(id+" leg", l, "request_frames", "request_files")
			check(id+" leg", l, "response_frames", "response_files")
			check(id+" leg", l, "other_frames", "other_files")
		}
		if o, ok := x["observe"].(map[string]any); ok {
			check(id+" observe", o, "end_frame", "end_file")
		}
		if links, ok := x["links"].([]any); ok {
			for _, l := range links {
				check(id+" link", l.(map[string]any), "frame", "file")
			}
		}
	}
	for _, l := range recs["leak"] {
		extra, _ := l["extra"].(map[string]any)
		outliers, _ := extra["outliers"].([]any)
		for _, o := range outliers {
			check(l["metric"].(string)+" outlier", o.(map[string]any), "frames", "files")
		}
	}
	for _, f := range recs["finding"] {
		check(f["id"].(string), f, "frames", "frame_files")
		if m := f["message"].(string); bareFrame.MatchString(m) {
			t.Errorf("%s: message has a frame without its file: %s", f["id"], m)
		}
	}
}

func TestAnalyzeEstimatesClockOffsetAcrossProxy(t *testing.T) {
	editcap := testenv.Tool(t, "editcap")
	for _, c := range proxyCaptures {
		path := samplePath(c.file)
		whole, _ := analyzeRecords(t, nil, c.args(path)...)
		want := exchangeShapes(whole["exchange"])
		if len(want) < 5 {
			t.Fatalf("%s: only %d exchanges", c.file, len(want))
		}
		a, b := splitCapture(t, path, c.side)
		for _, shift := range []time.Duration{50 * time.Millisecond, 2 * time.Second} {
			name := c.file + " +" + shift.String()
			bs := shiftClock(t, editcap, b, shift)
			recs, stderr := analyzeRecords(t, nil, c.args(a, bs)...)
			if got := exchangeShapes(recs["exchange"]); !slices.Equal(got, want) {
				t.Errorf("%s: exchanges\n%s\nwant as from one capture\n%s", name, strings.Join(got, "\n"), strings.Join(want, "\n"))
			}
			o := clockOffset(t, recs, "b.pcap")
			off := o["offset"].(float64)
			if math.Abs(off+shift.Seconds()) > 0.001 || o["applied"] != true || o["source"] != "estimate" || o["pairs"].(float64) < 3 {
				t.Errorf("%s: clock offset %v, want %v applied (stderr %q)", name, o, -shift.Seconds(), stderr)
			}
			if u, _ := o["uncertainty"].(float64); math.Abs(off+shift.Seconds()) > u+1e-6 {
				t.Errorf("%s: offset %v is %v off the true one, beyond its uncertainty %v", name, off, off+shift.Seconds(), u)
			}
			if stderr != "" {
				t.Errorf("%s: stderr %q", name, stderr)
			}
			again, _ := analyzeRecords(t, nil, c.args(a, bs)...)
			if o2 := clockOffset(t, again, "b.pcap"); o2["offset"] != o["offset"] || o2["pairs"] != o["pairs"] {
				t.Errorf("%s: a second run estimates %v, the first %v", name, o2, o)
			}
			checkFramesNamed(t, recs, "a.pcap", "b.pcap")
		}
	}
}

func TestAnalyzeClockOffsetBeyondMaxSkew(t *testing.T) {
	editcap := testenv.Tool(t, "editcap")
	c := proxyCaptures[0]
	path := samplePath(c.file)
	whole, _ := analyzeRecords(t, nil, c.args(path)...)
	a, b := splitCapture(t, path, c.side)
	bs := shiftClock(t, editcap, b, 2*time.Second)

	recs, stderr := analyzeRecords(t, nil, append([]string{"--max-skew", "1s"}, c.args(a, bs)...)...)
	o := clockOffset(t, recs, "b.pcap")
	if o["applied"] != false || math.Abs(o["offset"].(float64)+2) > 0.001 {
		t.Errorf("clock offset %v: want the estimate -2 s reported and not applied", o)
	}
	if !strings.Contains(stderr, "b.pcap") || !strings.Contains(stderr, "--max-skew") {
		t.Errorf("stderr %q does not say the estimate was not applied", stderr)
	}
	if slices.Equal(exchangeShapes(recs["exchange"]), exchangeShapes(whole["exchange"])) {
		t.Error("exchanges linked as from one capture although the 2 s offset was not corrected")
	}
	var text bytes.Buffer
	run(context.Background(), append([]string{"analyze", "--format", "text", "--max-skew", "1s"}, c.args(a, bs)...), bytes.NewReader(nil), &text, new(bytes.Buffer))
	// The text is wrapped to the terminal: compare its words.
	if words := strings.Join(strings.Fields(text.String()), " "); !regexp.MustCompile(`clock offsets: b\.pcap -(1999|2000)\.[0-9]+ ms`).MatchString(words) || !strings.Contains(words, "not applied") {
		t.Errorf("text summary lacks the offset not applied:\n%s", text.String())
	}

	// Set by hand, the offset is applied.
	recs, stderr = analyzeRecords(t, nil, append([]string{"--max-skew", "1s", "--clock-offset", "b.pcap=-2s"}, c.args(a, bs)...)...)
	if o := clockOffset(t, recs, "b.pcap"); o["applied"] != true || o["source"] != "manual" || o["offset"].(float64) != -2 {
		t.Errorf("clock offset %v: want -2 set by hand", o)
	}
	if got, want := exchangeShapes(recs["exchange"]), exchangeShapes(whole["exchange"]); !slices.Equal(got, want) || stderr != "" {
		t.Errorf("with --clock-offset: exchanges\n%s\nwant\n%s\n(stderr %q)", strings.Join(got, "\n"), strings.Join(want, "\n"), stderr)
	}
}

func TestAnalyzeClockOffsetNeedsEvidence(t *testing.T) {
	// Two unrelated captures share no message: no estimate, said so.
	a := samplePath("libcoap-fwdproxy.pcap")
	b := samplePath("aiocoap-oscore-revproxy.pcap")
	recs, stderr := analyzeRecords(t, nil, "--no-leaks", a, b)
	o := clockOffset(t, recs, "aiocoap-oscore-revproxy.pcap")
	if o["applied"] != false || o["offset"].(float64) != 0 || !strings.Contains(o["note"].(string), "too little evidence") {
		t.Errorf("clock offset %v: want none applied for too little evidence", o)
	}
	if !strings.Contains(stderr, "too little evidence") {
		t.Errorf("stderr %q", stderr)
	}

	// Standard input cannot be read twice.
	data, err := os.ReadFile(b)
	if err != nil {
		t.Fatal(err)
	}
	recs, stderr = analyzeRecords(t, data, "--no-leaks", a, "-")
	if o := clockOffset(t, recs, "stdin"); o["applied"] != false || !strings.Contains(o["note"].(string), "standard input") {
		t.Errorf("clock offset %v: want no estimate for stdin", o)
	}
	if !strings.Contains(stderr, "standard input cannot be read twice") {
		t.Errorf("stderr %q", stderr)
	}
}

func TestAnalyzeClockOffsetUsage(t *testing.T) {
	a := samplePath("libcoap-fwdproxy.pcap")
	b := samplePath("aiocoap-oscore-revproxy.pcap")
	for _, args := range [][]string{
		{"analyze", "--clock-offset", "x.pcap=1s", a, b},
		{"analyze", "--clock-offset", "libcoap-fwdproxy.pcap=1s", a, b},
		{"analyze", "--clock-offset", "aiocoap-oscore-revproxy.pcap=soon", a, b},
		{"analyze", "--clock-offset", "aiocoap-oscore-revproxy.pcap", a, b},
		{"analyze", "--clock-offset", "libcoap-fwdproxy.pcap=1s", a},
	} {
		if code, _, stderr := runCmd(args...); code != 2 || !strings.Contains(stderr, "--clock-offset") {
			t.Errorf("%v: exit %d, stderr %q; want a usage error about --clock-offset", args, code, stderr)
		}
	}
}

func TestAnalyzeOutDirNamesFilesOfFrames(t *testing.T) {
	c := proxyCaptures[1] // OSCORE: responses refer to their request's frame
	a, b := splitCapture(t, samplePath(c.file), c.side)
	dir := t.TempDir()
	analyzeRecords(t, nil, append([]string{"--out", dir}, c.args(a, b)...)...)
	out, err := os.ReadFile(filepath.Join(dir, "packets.ndjson"))
	if err != nil {
		t.Fatal(err)
	}
	validateNDJSON(t, "packets.ndjson", out, loadSchemas(t), map[string]int{})
	requests := 0
	for _, line := range bytes.Split(bytes.TrimSpace(out), []byte("\n")) {
		var p struct {
			File   string `json:"file"`
			OSCORE struct {
				RequestFrame int    `json:"request_frame"`
				RequestFile  string `json:"request_file"`
			} `json:"oscore"`
		}
		if err := json.Unmarshal(line, &p); err != nil {
			t.Fatal(err)
		}
		if p.File != "a.pcap" && p.File != "b.pcap" {
			t.Errorf("packet without its file: %s", line)
		}
		if p.OSCORE.RequestFrame > 0 {
			requests++
			// The request of a response is seen on the same leg, in the same file.
			if p.OSCORE.RequestFile != p.File {
				t.Errorf("request_frame %d in file %q, want %q: %s", p.OSCORE.RequestFrame, p.OSCORE.RequestFile, p.File, line)
			}
		}
	}
	if requests == 0 {
		t.Error("no OSCORE response refers to its request")
	}
}

func TestAnalyzeDelayOutliersNameFiles(t *testing.T) {
	c := proxyCaptures[2] // the proxy holds one request 2 s
	a, b := splitCapture(t, samplePath(c.file), c.side)
	args := []string{"--keys", samplePath(c.keys), a, b}
	recs, _ := analyzeRecords(t, nil, args...)
	outliers := 0
	for _, l := range recs["leak"] {
		if extra, _ := l["extra"].(map[string]any); l["metric"] == "proxy_delay" {
			o, _ := extra["outliers"].([]any)
			outliers += len(o)
		}
	}
	if outliers == 0 {
		t.Fatal("no proxy_delay outlier: the held request went unnoticed")
	}
	checkFramesNamed(t, recs, "a.pcap", "b.pcap")
	code, out, stderr := runCmd(append([]string{"analyze", "--format", "text"}, args...)...)
	if code != 0 {
		t.Fatal(stderr)
	}
	if !regexp.MustCompile(`X3 \(frames [ab]\.pcap#[0-9]+, [ab]\.pcap#[0-9]+\) was held 2`).MatchString(strings.Join(strings.Fields(out), " ")) {
		t.Errorf("the text summary does not name the files of the held request's frames:\n%s", out)
	}
}
