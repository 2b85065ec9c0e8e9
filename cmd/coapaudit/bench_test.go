package main

import (
	"context"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/coapaudit/coapaudit/analysis"
	"github.com/coapaudit/coapaudit/capture"
	"github.com/coapaudit/coapaudit/export"
	"github.com/coapaudit/coapaudit/internal/testenv"
)

// genCapture writes a generated capture of n frames (samples/gen, with
// its flags args) once.
func genCapture(tb testing.TB, n int, args ...string) string {
	tb.Helper()
	dir := filepath.Join(os.TempDir(), "coapaudit-bench")
	os.MkdirAll(dir, 0o755)
	p := filepath.Join(dir, "gen-"+itoa(n)+strings.NewReplacer("/", "_", "-", "").Replace(strings.Join(args, ""))+".pcap")
	if _, err := os.Stat(p); err == nil {
		return p
	}
	cmd := exec.Command("go", append([]string{"run", "./samples/gen", "-o", p + ".tmp", "-n", itoa(n)}, args...)...)
	cmd.Dir = testenv.RepoRoot()
	if out, err := cmd.CombinedOutput(); err != nil {
		tb.Fatalf("samples/gen: %v: %s", err, out)
	}
	os.Rename(p+".tmp", p)
	return p
}

func itoa(n int) string {
	b := []byte{}
	for n >= 10 {
		b = append([]byte{byte('0' + n%10)}, b...)
		n /= 10
	}
	return string(append([]byte{byte('0' + n)}, b...))
}

// TestPacketLoopAllocs proves the per-frame path of `packets --format
// ndjson` (read, dissect, OSCORE lookup, JSON encoding) allocates nothing.
func TestPacketLoopAllocs(t *testing.T) {
	for _, path := range []string{genCapture(t, 20000), testenv.Capture(t, "libcoap-fwdproxy.pcap")} {
		eng := analysis.New(analysis.Options{}, nil)
		r, err := capture.Open(path)
		if err != nil {
			t.Fatal(err)
		}
		w := export.NewNDJSONWriter(io.Discard)
		recs := newPacketRecords(nil)
		var d capture.Datagram
		// Warm up: let the reused slices grow.
		for i := 0; i < 2000; i++ {
			if r.Next(&d) != nil {
				break
			}
			w.Write(recs.of(eng.Frame(&d, 0, "")))
		}
		r.Close()
		r, _ = capture.Open(path)
		var eof bool
		frames := 0
		allocs := testing.AllocsPerRun(1000, func() {
			if eof {
				return
			}
			if err := r.Next(&d); err != nil {
				eof = true
				return
			}
			frames++
			w.Write(recs.of(eng.Frame(&d, 0, "")))
		})
		r.Close()
		if frames < 70 {
			t.Fatalf("%s: only %d frames measured", filepath.Base(path), frames)
		}
		if allocs != 0 {
			t.Errorf("%s: %.2f allocations per frame, want 0", filepath.Base(path), allocs)
		}
	}
}

// BenchmarkPacketsNDJSON measures `packets --format ndjson` in-process on a
// generated capture: frames per second and allocations per frame.
func BenchmarkPacketsNDJSON(b *testing.B) {
	const n = 200000
	path := genCapture(b, n)
	b.ReportAllocs()
	for b.Loop() {
		code := run(context.Background(), []string{"packets", "--format", "ndjson", path}, nil, io.Discard, io.Discard)
		if code != 0 {
			b.Fatal("exit", code)
		}
	}
	b.ReportMetric(float64(n)*float64(b.N)/b.Elapsed().Seconds(), "frames/s")
	b.ReportMetric(0, "ns/op")
}
