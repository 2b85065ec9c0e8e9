package tui

import (
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"testing"

	"github.com/coapaudit/coapaudit/analysis"
	"github.com/coapaudit/coapaudit/internal/testenv"
)

// genCapture writes a generated capture of n frames (samples/gen) once,
// shared with the other benchmarks of the repository.
func genCapture(tb testing.TB, n int) string {
	tb.Helper()
	dir := filepath.Join(os.TempDir(), "coapaudit-bench")
	os.MkdirAll(dir, 0o755)
	p := filepath.Join(dir, "gen-"+strconv.Itoa(n)+".pcap")
	if _, err := os.Stat(p); err == nil {
		return p
	}
	cmd := exec.Command("go", "run", "./samples/gen", "-o", p+".tmp", "-n", strconv.Itoa(n))
	cmd.Dir = testenv.RepoRoot()
	if out, err := cmd.CombinedOutput(); err != nil {
		tb.Fatalf("samples/gen: %v: %s", err, out)
	}
	os.Rename(p+".tmp", p)
	return p
}

// BenchmarkViewLoad loads a generated capture into the viewer on a
// simulation screen and reports frames per second and the heap held
// once it is loaded.
func BenchmarkViewLoad(b *testing.B) {
	const frames = 1_000_000
	name := genCapture(b, frames)
	var heap uint64
	for b.Loop() {
		h := start(b, 120, 36, Config{}, fileLoad(b, analysis.Options{}, name))
		h.loaded()
		b.StopTimer()
		runtime.GC()
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		heap = ms.HeapAlloc
		if err := h.quit(); err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
	}
	b.ReportMetric(float64(frames)*float64(b.N)/b.Elapsed().Seconds(), "frames/s")
	b.ReportMetric(float64(heap)/(1<<20), "heap-MiB")
}

// BenchmarkAnalysisOnly is the same capture through the analysis alone,
// the baseline of BenchmarkViewLoad.
func BenchmarkAnalysisOnly(b *testing.B) {
	const frames = 1_000_000
	name := genCapture(b, frames)
	for b.Loop() {
		if _, err := analysis.RunFiles([]string{name}, analysis.Options{TrackExchanges: true}, nil, nil); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(frames)*float64(b.N)/b.Elapsed().Seconds(), "frames/s")
}
