package main

import (
	"os"
	"runtime"
	"runtime/metrics"
	"runtime/pprof"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gdamore/tcell/v2"
)

// timedScreen is a simulation screen that notes, on each Show, when the
// first screen was drawn, when the exchange list first showed a row, and
// when the top bar stopped saying "loading".
type timedScreen struct {
	tcell.SimulationScreen
	start time.Time
	ready chan struct{}
	done  chan struct{}

	// midProfile, when set, is where a heap profile is written when the
	// top bar first says 50%.
	midProfile string

	mu               sync.Mutex
	first, rows, end time.Duration
}

func (s *timedScreen) Init() error {
	err := s.SimulationScreen.Init()
	s.SetSize(120, 36)
	close(s.ready)
	return err
}

func (s *timedScreen) Show() {
	s.SimulationScreen.Show()
	d := time.Since(s.start)
	text := screenText(s.SimulationScreen)
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.first == 0 && strings.Contains(text, " frames") {
		s.first = d
	}
	if s.midProfile != "" && strings.Contains(text, " 50%") {
		if f, err := os.Create(s.midProfile); err == nil {
			pprof.WriteHeapProfile(f)
			f.Close()
		}
		s.midProfile = ""
	}
	if s.rows == 0 && strings.Contains(text, "\nX1 ") {
		s.rows = d
	}
	if s.end == 0 && strings.Contains(text, " frames") && !strings.Contains(text, "loading") {
		s.end = d
		close(s.done)
	}
}

// heapPeak samples the heap (objects, and all the heap's spans) until
// stop is closed and returns the highest values seen.
func heapPeak(stop <-chan struct{}) (objects, spans func() uint64) {
	var mu sync.Mutex
	var po, ps uint64
	samples := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}, {Name: "/memory/classes/total:bytes"}, {Name: "/memory/classes/heap/released:bytes"}}
	finished := make(chan struct{})
	go func() {
		defer close(finished)
		t := time.NewTicker(5 * time.Millisecond)
		defer t.Stop()
		for {
			metrics.Read(samples)
			o := samples[0].Value.Uint64()
			s := samples[1].Value.Uint64() - samples[2].Value.Uint64()
			mu.Lock()
			po, ps = max(po, o), max(ps, s)
			mu.Unlock()
			select {
			case <-stop:
				return
			case <-t.C:
			}
		}
	}()
	get := func(p *uint64) func() uint64 {
		return func() uint64 { <-finished; mu.Lock(); defer mu.Unlock(); return *p }
	}
	return get(&po), get(&ps)
}

// vmHWM is the peak resident set of this process in bytes (Linux), or 0.
func vmHWM() uint64 {
	b, _ := os.ReadFile("/proc/self/status")
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, "VmHWM:"); ok {
			kb, _ := strconv.ParseUint(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			return kb << 10
		}
	}
	return 0
}

// BenchmarkView runs `coapaudit view` on a generated capture of 1,000,000
// frames (COAPAUDIT_VIEW_FRAMES to change) on a simulation screen and
// reports the time to the first screen, to the first exchange row and to
// the end of loading, the peak of the heap's objects and of all the
// memory the runtime holds, and the heap in use once loaded. With
// COAPAUDIT_VIEW_HEAPPROFILE=FILE it writes a heap profile once loaded,
// with COAPAUDIT_VIEW_HEAPPROFILE_MID=FILE one when half the capture was
// read.
func BenchmarkView(b *testing.B) {
	frames := 1_000_000
	if v, err := strconv.Atoi(os.Getenv("COAPAUDIT_VIEW_FRAMES")); err == nil && v > 0 {
		frames = v
	}
	name := genCapture(b, frames)
	var first, rows, end, peakObj, peakAll, inuse float64
	for b.Loop() {
		runtime.GC()
		s := &timedScreen{SimulationScreen: tcell.NewSimulationScreen("UTF-8"), ready: make(chan struct{}), done: make(chan struct{}), start: time.Now(),
			midProfile: os.Getenv("COAPAUDIT_VIEW_HEAPPROFILE_MID")}
		old := newScreen
		newScreen = func() (tcell.Screen, error) { return s, nil }
		stop := make(chan struct{})
		objects, all := heapPeak(stop)
		exited := make(chan int, 1)
		go func() {
			code, _, stderr := runCmd("view", name)
			if stderr != "" {
				b.Errorf("stderr: %s", stderr)
			}
			exited <- code
		}()
		<-s.ready
		<-s.done
		close(stop)
		runtime.GC()
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		inuse = float64(ms.HeapAlloc)
		if p := os.Getenv("COAPAUDIT_VIEW_HEAPPROFILE"); p != "" {
			f, err := os.Create(p)
			if err != nil {
				b.Fatal(err)
			}
			pprof.WriteHeapProfile(f)
			f.Close()
		}
		s.InjectKey(tcell.KeyRune, 'q', tcell.ModNone)
		if code := <-exited; code != exitOK {
			b.Fatalf("exit %d", code)
		}
		newScreen = old
		s.mu.Lock()
		first, rows, end = s.first.Seconds(), s.rows.Seconds(), s.end.Seconds()
		s.mu.Unlock()
		peakObj, peakAll = float64(objects()), float64(all())
	}
	b.ReportMetric(first*1000, "ms-first-screen")
	b.ReportMetric(rows*1000, "ms-first-row")
	b.ReportMetric(end, "s-loaded")
	b.ReportMetric(peakObj/(1<<20), "MiB-peak-heap-objects")
	b.ReportMetric(peakAll/(1<<20), "MiB-peak-runtime")
	b.ReportMetric(inuse/(1<<20), "MiB-inuse-loaded")
	b.ReportMetric(float64(vmHWM())/(1<<20), "MiB-process-HWM")
}
