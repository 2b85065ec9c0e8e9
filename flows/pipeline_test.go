package flows

import (
	"errors"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"testing"
	"time"

	"github.com/coapaudit/coapaudit/capture"
	"github.com/coapaudit/coapaudit/decode"
)

// TestPipelineFile streams the capture named by FLOWS_PIPELINE (any path;
// by default the shared libcoap forward proxy capture) through capture,
// decode and a Tracker feeding a Summary, the way `coapaudit analyze`
// does, and logs the rate and the peak live heap. It is a measuring tool
// for large generated captures (samples/gen).
func TestPipelineFile(t *testing.T) {
	name := os.Getenv("FLOWS_PIPELINE")
	if name == "" {
		name = filepath.Join(capturesDir(t), "libcoap-fwdproxy.pcap")
	}
	r, err := capture.Open(name)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	sum := NewSummary(0)
	tr := NewTracker(Config{}, sum.Add)
	var d capture.Datagram
	var m decode.Message
	var peak uint64
	var ms runtime.MemStats
	frames := 0
	start := time.Now()
	for {
		err := r.Next(&d)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		frames++
		if frames%100_000 == 0 {
			runtime.ReadMemStats(&ms)
			peak = max(peak, ms.HeapAlloc)
		}
		if d.Kind != capture.KindUDP || !coapPort(d.Src.Port()) && !coapPort(d.Dst.Port()) {
			continue
		}
		if err := m.Decode(d.Payload); err != nil && len(d.Payload) < 4 || m.Version != 1 {
			continue
		}
		tr.Add(&Packet{Frame: d.Number, Time: d.Time, Src: d.Src, Dst: d.Dst, Msg: &m, Size: len(d.Payload)})
	}
	tr.Close()
	el := time.Since(start)
	rep := sum.Report()
	if frames == 0 || rep.Exchanges == 0 {
		t.Errorf("%s: %d frames, %d exchanges", name, frames, rep.Exchanges)
	}
	t.Logf("%d frames in %v: %.0f frames/s; peak heap %.1f MiB; exchanges %d %v; stats %+v",
		frames, el, float64(frames)/el.Seconds(), float64(peak)/(1<<20), rep.Exchanges, rep.Statuses, tr.Stats())
}
