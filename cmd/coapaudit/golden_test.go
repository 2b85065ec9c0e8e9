package main

import (
	"bytes"
	"compress/gzip"
	"flag"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/coapaudit/coapaudit/internal/testenv"
)

var updateGolden = flag.Bool("update-golden", false, "rewrite testdata/golden from the current analyze output")

// goldenCase is one analyze run whose NDJSON output is kept in
// cmd/coapaudit/testdata/golden.
type goldenCase struct {
	name string   // golden file name, without extension
	args []string // after "analyze --format ndjson"
}

// goldenCases runs analyze on every capture under samples/ and testdata/,
// without keys, and again with the keys that come with the captures
// that have them.
func goldenCases(t *testing.T) []goldenCase {
	root := testenv.RepoRoot()
	var files []string
	for _, dir := range []string{"samples", "testdata"} {
		err := filepath.WalkDir(filepath.Join(root, dir), func(p string, d os.DirEntry, err error) error {
			if err != nil {
				return err
			}
			if !d.IsDir() && (strings.HasSuffix(p, ".pcap") || strings.HasSuffix(p, ".pcapng")) {
				files = append(files, p)
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	slices.Sort(files)
	var cs []goldenCase
	for _, f := range files {
		rel, _ := filepath.Rel(root, f)
		name := strings.NewReplacer("/", "_", "\\", "_").Replace(rel)
		cs = append(cs, goldenCase{name, []string{f}})
	}
	keyed := []struct{ pcap, keys string }{
		{"samples/aiocoap-oscore-evilproxy.pcap", "samples/aiocoap.oscore_contexts"},
		{"samples/aiocoap-oscore-revproxy.pcap", "samples/aiocoap.oscore_contexts"},
		{"testdata/shared/captures/aiocoap-oscore-evilproxy.pcap", "testdata/shared/captures/keys/oscore_contexts"},
		{"testdata/shared/captures/aiocoap-oscore-revproxy.pcap", "testdata/shared/captures/keys/oscore_contexts"},
		{"testdata/captures/relay-oscore.pcap", "testdata/captures/relay-oscore.oscore_contexts"},
	}
	for _, k := range keyed {
		name := strings.ReplaceAll(k.pcap, "/", "_") + "+keys"
		cs = append(cs, goldenCase{name, []string{"--keys", filepath.Join(root, k.keys), filepath.Join(root, k.pcap)}})
	}
	cs = append(cs, goldenCase{"dtlsdec_testdata_libcoap-psk-proxy.pcap+psk",
		[]string{"--psk", "686f704b6579", dtlsTestdata("libcoap-psk-proxy.pcap")}})
	return cs
}

// elapsed is the one field of analyze's output that depends on the run.
var elapsed = regexp.MustCompile(`"elapsed_seconds":[0-9.e+-]+`)

// TestAnalyzeGolden keeps the findings, exchanges, leaks and summary of
// analyze unchanged on every capture of the repository: the output must
// equal, byte for byte (less the elapsed time), the one recorded in
// testdata/golden. Rewrite the goldens with -update-golden after a change
// meant to alter the output, and review the diff.
func TestAnalyzeGolden(t *testing.T) {
	dir := filepath.Join("testdata", "golden")
	if *updateGolden {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	cs := goldenCases(t)
	if len(cs) < 100 {
		t.Fatalf("only %d captures found", len(cs))
	}
	for _, c := range cs {
		t.Run(c.name, func(t *testing.T) {
			code, out, stderr := runCmd(append([]string{"analyze", "--format", "ndjson"}, c.args...)...)
			if code != exitOK && code != exitFindings {
				t.Fatalf("exit %d: %s", code, stderr)
			}
			got := elapsed.ReplaceAll([]byte(out), []byte(`"elapsed_seconds":0`))
			file := filepath.Join(dir, c.name+".ndjson.gz")
			if *updateGolden {
				writeGzip(t, file, got)
				return
			}
			want := readGzip(t, file)
			if !bytes.Equal(got, want) {
				gl, wl := strings.Split(string(got), "\n"), strings.Split(string(want), "\n")
				for i := range max(len(gl), len(wl)) {
					g, w := lineAt(gl, i), lineAt(wl, i)
					if g != w {
						t.Fatalf("line %d differs (%d lines, want %d):\n got: %.600s\nwant: %.600s", i+1, len(gl), len(wl), g, w)
					}
				}
			}
		})
	}
}

func lineAt(l []string, i int) string {
	if i < len(l) {
		return l[i]
	}
	return "(none)"
}

func writeGzip(t *testing.T, name string, b []byte) {
	t.Helper()
	var buf bytes.Buffer
	zw, _ := gzip.NewWriterLevel(&buf, gzip.BestCompression)
	zw.Write(b)
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(name, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
}

func readGzip(t *testing.T, name string) []byte {
	t.Helper()
	f, err := os.Open(name)
	if err != nil {
		t.Fatalf("%v (run go test -run TestAnalyzeGolden -update-golden to record it)", err)
	}
	defer f.Close()
	zr, err := gzip.NewReader(f)
	if err != nil {
		t.Fatal(err)
	}
	b, err := io.ReadAll(zr)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestAnalyzePipelineSame runs analyze with its stages in goroutines of
// their own and again in one goroutine, on every capture of the
// repository and on generated ones (proxied traffic, and a flood of
// requests never answered), and requires the same output byte for byte.
func TestAnalyzePipelineSame(t *testing.T) {
	cs := goldenCases(t)
	gen := genCapture(t, 200000)
	cs = append(cs, goldenCase{"gen", []string{gen}}, goldenCase{"gen, three files", []string{gen, gen, gen}},
		goldenCase{"gen, no leak analysis", []string{"--no-leaks", gen}},
		goldenCase{"gen, flood", []string{genCapture(t, 100000, "-flood")}})
	keys := filepath.Join(os.TempDir(), "coapaudit-bench", "gen-oscore.keys")
	cs = append(cs, goldenCase{"gen, OSCORE with keys", []string{"--keys", keys, genCapture(t, 100000, "-oscore-keys", keys)}})
	defer func() { pipelineRuns = true }()
	run := func(args []string, pipeline bool) []byte {
		pipelineRuns = pipeline
		code, out, stderr := runCmd(append([]string{"analyze", "--format", "ndjson"}, args...)...)
		if code != exitOK && code != exitFindings {
			t.Fatalf("exit %d: %s", code, stderr)
		}
		return elapsed.ReplaceAll([]byte(out), []byte(`"elapsed_seconds":0`))
	}
	for _, c := range cs {
		t.Run(c.name, func(t *testing.T) {
			one, three := run(c.args, false), run(c.args, true)
			if !bytes.Equal(one, three) {
				ol, tl := strings.Split(string(one), "\n"), strings.Split(string(three), "\n")
				for i := range max(len(ol), len(tl)) {
					if o, p := lineAt(ol, i), lineAt(tl, i); o != p {
						t.Fatalf("line %d differs (%d lines, %d in one goroutine):\npipeline: %.600s\n     one: %.600s", i+1, len(tl), len(ol), p, o)
					}
				}
			}
		})
	}
}
