package tui

import (
	"context"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gdamore/tcell/v2"

	"github.com/coapaudit/coapaudit/analysis"
	"github.com/coapaudit/coapaudit/capture"
	"github.com/coapaudit/coapaudit/flows"
	"github.com/coapaudit/coapaudit/internal/testenv"
	"github.com/coapaudit/coapaudit/oscore"
)

// capturesDir returns the shared captures directory, or skips the test
// when it is missing (fails under COAPAUDIT_REQUIRE_TOOLS=1).
func capturesDir(t testing.TB) string {
	t.Helper()
	return filepath.Join(testenv.SharedDir(t), "captures")
}

func keyring(t testing.TB, dir string) *oscore.Keyring {
	t.Helper()
	ps, err := oscore.LoadKeyFile(filepath.Join(dir, "keys", "oscore_contexts"))
	if err != nil {
		t.Fatal(err)
	}
	kr, err := oscore.NewKeyring(ps)
	if err != nil {
		t.Fatal(err)
	}
	return kr
}

// fileLoad reads capture files the way `coapaudit view` does.
func fileLoad(t testing.TB, opts analysis.Options, names ...string) LoadFunc {
	t.Helper()
	var readers []*capture.Reader
	for _, n := range names {
		r, err := capture.Open(n)
		if err != nil {
			t.Fatal(err)
		}
		readers = append(readers, r)
	}
	t.Cleanup(func() {
		for _, r := range readers {
			r.Close()
		}
	})
	opts.TrackExchanges = true
	return func(ctx context.Context, l *Loader) error {
		eng := analysis.New(opts, l.Exchange)
		return l.ReadFiles(eng, analysis.NewMerge(names, readers))
	}
}

// expectedExchanges runs the analysis on its own and returns the
// exchanges, for comparison with what the viewer lists.
func expectedExchanges(t testing.TB, opts analysis.Options, names ...string) []*flows.Exchange {
	t.Helper()
	opts.TrackExchanges = true
	var xs []*flows.Exchange
	if _, err := analysis.RunFiles(names, opts, nil, func(x *flows.Exchange) { xs = append(xs, x) }); err != nil {
		t.Fatal(err)
	}
	return xs
}

// simScreen is a simulation screen of a given size that reports when it
// was initialised and finalised.
type simScreen struct {
	tcell.SimulationScreen
	w, h  int
	ready chan struct{}
	fini  chan struct{}
}

func newSim(w, h int) *simScreen {
	return &simScreen{SimulationScreen: tcell.NewSimulationScreen("UTF-8"), w: w, h: h,
		ready: make(chan struct{}), fini: make(chan struct{})}
}

func (s *simScreen) Init() error {
	if err := s.SimulationScreen.Init(); err != nil {
		return err
	}
	s.SetSize(s.w, s.h)
	close(s.ready)
	return nil
}

func (s *simScreen) Fini() {
	s.SimulationScreen.Fini()
	select {
	case <-s.fini:
	default:
		close(s.fini)
	}
}

// harness runs an App on a simulation screen.
type harness struct {
	t    testing.TB
	a    *App
	s    *simScreen
	done chan error
}

const waitLimit = 60 * time.Second

func start(t testing.TB, w, h int, cfg Config, load LoadFunc) *harness {
	t.Helper()
	s := newSim(w, h)
	a := newApp(s, cfg)
	hs := &harness{t: t, a: a, s: s, done: make(chan error, 1)}
	go func() { hs.done <- a.run(context.Background(), load) }()
	t.Cleanup(func() {
		select {
		case <-hs.done:
		default:
			s.InjectKey(tcell.KeyCtrlC, 0, tcell.ModCtrl)
			<-hs.done
		}
	})
	hs.wait(s.ready, "screen init")
	return hs
}

func (h *harness) wait(c <-chan struct{}, what string) {
	h.t.Helper()
	select {
	case <-c:
	case <-time.After(waitLimit):
		h.t.Fatalf("timed out waiting for %s", what)
	}
}

// loaded waits until the UI has taken in everything the loader read.
func (h *harness) loaded() {
	h.t.Helper()
	h.wait(h.a.loaded, "loading")
	h.sync()
}

// onUI runs f on the UI goroutine once every event posted before has
// been handled and drawn.
func (h *harness) onUI(f func()) {
	h.t.Helper()
	done := make(chan struct{})
	ev := tcell.NewEventInterrupt(func() { f(); close(done) })
	for h.s.PostEvent(ev) != nil {
		// The queue is full: the UI goroutine is draining it.
		runtime.Gosched()
	}
	h.wait(done, "the UI goroutine")
}

func (h *harness) sync() { h.onUI(func() {}) }

func (h *harness) keys(s string) {
	for _, r := range s {
		h.s.InjectKey(tcell.KeyRune, r, tcell.ModNone)
	}
	h.sync()
}

func (h *harness) key(k tcell.Key) {
	h.s.InjectKey(k, 0, tcell.ModNone)
	h.sync()
}

// lines returns the screen as text, one string per row.
func (h *harness) lines() []string {
	h.t.Helper()
	var out []string
	h.onUI(func() {
		cells, w, hh := h.s.GetContents()
		for y := 0; y < hh; y++ {
			var b strings.Builder
			for x := 0; x < w; x++ {
				c := cells[y*w+x]
				if len(c.Runes) == 0 {
					continue
				}
				b.WriteString(string(c.Runes))
			}
			out = append(out, b.String())
		}
	})
	return out
}

func (h *harness) screen() string { return strings.Join(h.lines(), "\n") }

// selectedID returns the ID of the exchange under the cursor.
func (h *harness) selectedID() string {
	var id string
	h.onUI(func() {
		if i := h.a.xt.selected(); i >= 0 {
			id = h.a.xs.id(i)
		}
	})
	return id
}

// viewIDs returns the exchange IDs in list order.
func (h *harness) viewIDs() []string {
	var ids []string
	h.onUI(func() {
		h.a.xt.sync()
		for _, i := range h.a.xt.view {
			ids = append(ids, h.a.xs.id(i))
		}
	})
	return ids
}

func (h *harness) quit() error {
	h.t.Helper()
	h.s.InjectKey(tcell.KeyRune, 'q', tcell.ModNone)
	select {
	case err := <-h.done:
		h.done <- err
		return err
	case <-time.After(waitLimit):
		h.t.Fatal("q did not quit")
	}
	return nil
}

func ids(xs []*flows.Exchange) []string {
	var out []string
	for _, x := range xs {
		out = append(out, x.ID)
	}
	slices.SortFunc(out, func(a, b string) int { return idNum(a) - idNum(b) })
	return out
}
