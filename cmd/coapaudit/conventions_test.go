package main

import (
	"bytes"
	"context"
	"net/netip"
	"os"
	"runtime"
	"runtime/debug"
	"strings"
	"testing"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/coapaudit/coapaudit/analysis"
	"github.com/coapaudit/coapaudit/export"
	"github.com/coapaudit/coapaudit/flows"
	"github.com/coapaudit/coapaudit/internal/testenv"
)

func TestDurationFlagTakesSecondsOrUnits(t *testing.T) {
	for in, want := range map[string]time.Duration{
		"25": 25 * time.Second, "0.5": 500 * time.Millisecond, "0": 0,
		"25s": 25 * time.Second, "5m": 5 * time.Minute, "1h30m": 90 * time.Minute, "250ms": 250 * time.Millisecond,
	} {
		var d time.Duration
		if err := (durationValue{&d}).Set(in); err != nil || d != want {
			t.Errorf("%q: %v, %v; want %v", in, d, err, want)
		}
	}
	for _, in := range []string{"", "abc", "25x", "-3", "-1s", "1e300"} {
		var d time.Duration
		if err := (durationValue{&d}).Set(in); err == nil {
			t.Errorf("%q accepted as %v", in, d)
		}
	}
	// On the command line: --duration 25 parses (live then asks for -i).
	code, _, stderr := runCmd("live", "--duration", "25", "--linger", "2")
	if code != exitUsage || !strings.Contains(stderr, "-i IFACE") {
		t.Errorf("live --duration 25: exit %d, stderr %q; want the missing interface only", code, stderr)
	}
}

func TestVersion(t *testing.T) {
	code, stdout, stderr := runCmd("--version")
	if code != exitOK || stderr != "" || !strings.HasPrefix(stdout, "coapaudit ") || !strings.Contains(stdout, runtime.Version()) {
		t.Errorf("--version: exit %d, stdout %q, stderr %q", code, stdout, stderr)
	}
	bi := &debug.BuildInfo{GoVersion: "go1.26.0", Main: debug.Module{Path: "github.com/coapaudit/coapaudit", Version: "v1.2.3"},
		Settings: []debug.BuildSetting{{Key: "vcs.revision", Value: "0123456789abcdef0123"}, {Key: "vcs.time", Value: "2026-12-01T10:00:00Z"}, {Key: "vcs.modified", Value: "true"}}}
	if got, want := version(bi, true), "v1.2.3 0123456789ab+modified 2026-12-01T10:00:00Z go1.26.0"; got != want {
		t.Errorf("version = %q, want %q", got, want)
	}
	if got := version(nil, false); !strings.Contains(got, "unknown") {
		t.Errorf("no build info: %q", got)
	}
}

func TestPacketsWithoutFileReadsStdin(t *testing.T) {
	path := testenv.Capture(t, "libcoap-fwdproxy.pcap")
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var fromFile, fromStdin, stderr bytes.Buffer
	if code := run(context.Background(), []string{"packets", "--format", "ndjson", path}, nil, &fromFile, &stderr); code != 0 {
		t.Fatalf("file: exit %d: %s", code, stderr.String())
	}
	if code := run(context.Background(), []string{"packets", "--format", "ndjson"}, bytes.NewReader(raw), &fromStdin, &stderr); code != 0 {
		t.Fatalf("stdin: exit %d: %s", code, stderr.String())
	}
	// The same records; the summary names the input and its run time.
	strip := func(s string) string { return s[:strings.LastIndex(s, `{"type":"summary"`)] }
	if strip(fromFile.String()) != strip(fromStdin.String()) || !strings.Contains(fromStdin.String(), `"files":["stdin"]`) {
		t.Error("packets with no file wrote something else than packets FILE")
	}
	// A terminal on stdin is not a capture: say so instead of waiting.
	tty, err := os.Open("/dev/tty")
	if err != nil {
		return
	}
	defer tty.Close()
	if code := run(context.Background(), []string{"packets"}, tty, &fromStdin, &stderr); code != exitUsage || !strings.Contains(stderr.String(), "stdin") {
		t.Errorf("packets with a terminal on stdin: exit %d, %q", code, stderr.String())
	}
}

func TestFlagValuesRefusedClearly(t *testing.T) {
	path := testenv.Capture(t, "libcoap-fwdproxy.pcap")
	for _, tc := range []struct {
		args []string
		msg  string
	}{
		{[]string{"packets", "--port", "abc", path}, "--port abc: not a UDP port"},
		{[]string{"packets", "--dtls-port", "70000", path}, "--dtls-port 70000: not a UDP port"},
		{[]string{"analyze", "--top", "abc", path}, "--top abc: not a number"},
		{[]string{"analyze", "--top", "-1", path}, "--top -1"},
		{[]string{"live", "-i", "lo", "--top", "-1"}, "--top -1"},
		{[]string{"live", "--duration", "soon"}, "--duration soon: want seconds"},
		{[]string{"live", "-i", "lo", "--buffer-size", "-1"}, "--buffer-size -1: want MiB"},
		{[]string{"view", "-i", "lo", "--buffer-size", "5000"}, "--buffer-size 5000: want MiB"},
		{[]string{"packets", "--profile", "bogus", path}, "unknown flag: --profile"},
		{[]string{"analyze", "--profile", "bogus", path}, "--profile"},
		{[]string{"view", "--profile", "bogus", path}, "--profile"},
	} {
		code, _, stderr := runCmd(tc.args...)
		msg := strings.TrimSpace(stderr)
		if code != exitUsage || strings.Contains(msg, "\n") || !strings.Contains(msg, tc.msg) || strings.Contains(msg, "strconv") {
			t.Errorf("%v: exit %d, stderr %q; want 2 and one line with %q", tc.args, code, stderr, tc.msg)
		}
	}
}

// TestEveryCommandHasTheFlagsREADMEGives checks the flags the README
// promises per command, and the placeholders help shows for them.
func TestEveryCommandHasTheFlagsREADMEGives(t *testing.T) {
	e := &env{ctx: context.Background()}
	cmds := map[string]*cobra.Command{"analyze": analyzeCmd(e), "live": liveCmd(e), "view": viewCmd(e), "packets": packetsCmd(e), "rules": rulesCmd(e)}
	want := map[string][]string{
		"analyze": {"keys", "format", "port", "dtls-port", "no-heuristics", "profile", "out", "proxy", "fail-on", "no-leaks", "labels", "top", "report"},
		"live":    {"keys", "format", "port", "dtls-port", "no-heuristics", "profile", "out", "proxy", "fail-on", "no-leaks", "labels", "top", "interface", "duration", "write", "bpf", "all-udp", "snaplen", "buffer-size", "linger"},
		"view":    {"keys", "port", "dtls-port", "no-heuristics", "profile", "proxy", "interface", "bpf", "snaplen", "buffer-size", "all-udp", "linger"},
		"packets": {"keys", "format", "port", "dtls-port", "no-heuristics", "out"},
		"rules":   {"format", "doc"},
	}
	placeholder := map[string]string{"keys": "FILE", "out": "DIR", "labels": "FILE", "report": "FILE", "write": "FILE", "port": "N", "dtls-port": "N", "top": "N", "duration": "DURATION", "linger": "DURATION", "interface": "IFACE", "bpf": "EXPR", "proxy": "ADDR", "fail-on": "SEVERITY", "format": "FORMAT", "profile": "LEVEL", "buffer-size": "MiB"}
	for name, flags := range want {
		c := cmds[name]
		for _, f := range flags {
			fl := c.Flags().Lookup(f)
			if fl == nil {
				t.Errorf("%s has no --%s", name, f)
				continue
			}
			if p, ok := placeholder[f]; ok {
				if got, _ := pflag.UnquoteUsage(fl); got != p {
					t.Errorf("%s --%s: help shows %q, want %s", name, f, got, p)
				}
			}
		}
	}
	readme, err := os.ReadFile(testenv.RepoRoot() + "/README.md")
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{"--no-leaks", "--labels FILE", "--top N"} {
		if !bytes.Contains(readme, []byte(f)) {
			t.Errorf("README does not mention %s", f)
		}
	}
}

// TestLiveTextTopTables checks that live's text output ends with the
// tables of the capture, cut to --top rows, as analyze's does.
func TestLiveTextTopTables(t *testing.T) {
	var b bytes.Buffer
	lt := &liveText{w: &b}
	rep := flows.Report{Exchanges: 3}
	for _, c := range []string{"10.0.0.1:1000", "10.0.0.2:1000", "10.0.0.3:1000"} {
		rep.Clients = append(rep.Clients, flows.EndpointCount{Addr: netip.MustParseAddrPort(c), Exchanges: 1})
	}
	lt.tables(rep, nil, 2)
	if err := lt.Write(&export.Summary{Summary: &analysis.Summary{Frames: 9}}); err != nil {
		t.Fatal(err)
	}
	out := b.String()
	if !strings.Contains(out, "10.0.0.2:1000") || strings.Contains(out, "10.0.0.3:1000") || !strings.Contains(out, "9 frames") {
		t.Errorf("live text with --top 2:\n%s", out)
	}
}
