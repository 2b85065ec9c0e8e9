package tui

import (
	"runtime"
	"testing"

	"github.com/coapaudit/coapaudit/analysis"
)

// maxBytesPerFrame bounds the heap the viewer keeps per frame of a loaded
// capture of generated proxied traffic (one exchange in about 4.6
// frames): 8 bytes of reference per frame, an exchange's row (56 bytes),
// its entries in the ID index and the list's view, and the tables of
// strings and addresses that grow with new values. A frame record kept
// in memory (64 bytes) or an exchange kept as a flows.Exchange (kilobytes)
// breaks it.
const maxBytesPerFrame = 48

// TestMemoryPerFrame loads generated captures of two sizes and checks
// what the viewer holds per frame, from the heap in use after a
// collection once each is loaded: the difference between the two sizes,
// so that what does not grow with the capture (the byte stores' memory
// budgets, the screen) cancels out.
func TestMemoryPerFrame(t *testing.T) {
	if testing.Short() {
		t.Skip("generates and loads 80,000 frames")
	}
	held := func(n int) (heap int64, exchanges int) {
		name := genCapture(t, n)
		runtime.GC()
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		before := int64(ms.HeapAlloc)
		// The smallest memory budget: the stores hold as much in
		// memory for both sizes.
		h := start(t, 120, 36, Config{MemBytes: 1}, fileLoad(t, analysis.Options{}, name))
		h.loaded()
		h.onUI(func() {
			runtime.GC()
			runtime.ReadMemStats(&ms)
			heap = int64(ms.HeapAlloc) - before
			exchanges = h.a.xs.count()
		})
		if err := h.quit(); err != nil {
			t.Fatal(err)
		}
		return heap, exchanges
	}
	const n1, n2 = 20_000, 60_000
	h1, x1 := held(n1)
	h2, x2 := held(n2)
	if x2 <= x1 || x1 == 0 {
		t.Fatalf("%d and %d exchanges listed for %d and %d frames", x1, x2, n1, n2)
	}
	per := float64(h2-h1) / float64(n2-n1)
	t.Logf("heap held: %d bytes for %d frames (%d exchanges), %d for %d (%d): %.1f bytes per frame, %.0f per exchange",
		h1, n1, x1, h2, n2, x2, per, float64(h2-h1)/float64(x2-x1))
	if per > maxBytesPerFrame {
		t.Errorf("the viewer holds %.1f bytes per frame, more than %d", per, maxBytesPerFrame)
	}
}
