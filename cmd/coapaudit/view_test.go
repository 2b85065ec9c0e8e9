package main

import (
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/gdamore/tcell/v2"

	"github.com/coapaudit/coapaudit/internal/testenv"
)

func TestViewUsageErrors(t *testing.T) {
	evil := testenv.Capture(t, "aiocoap-oscore-evilproxy.pcap")
	for _, args := range [][]string{
		{"view"},
		{"view", "-i", "lo", evil},
		{"view", "--format", "json", evil},
		{"view", "--profile", "nonsense", evil},
		{"view", "/nonexistent.pcap"},
		{"view", "--keys", "/nonexistent", evil},
		{"view", "--memory-limit", "-1", evil},
	} {
		code, _, stderr := runCmd(args...)
		if code != exitUsage || strings.Count(stderr, "\n") != 1 {
			t.Errorf("%v: exit %d, stderr %q; want %d and one line", args, code, stderr, exitUsage)
		}
	}
}

// viewScreen is a simulation screen that says when the viewer is up.
type viewScreen struct {
	tcell.SimulationScreen
	ready chan struct{}
}

func (s *viewScreen) Init() error {
	err := s.SimulationScreen.Init()
	s.SetSize(120, 36)
	close(s.ready)
	return err
}

func screenText(s tcell.SimulationScreen) string {
	cells, w, h := s.GetContents()
	var b strings.Builder
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			b.WriteString(string(cells[y*w+x].Runes))
		}
		b.WriteByte('\n')
	}
	return b.String()
}

// TestViewCommand runs `coapaudit view` on a simulation screen: the
// exchanges and findings appear, and q quits with exit status 0.
// viewLoaded runs the viewer on a simulation screen with args, waits
// until the loader is done (done tells from the screen text), and returns
// the screen's text; q then quits, with exit status 0.
func viewLoaded(t *testing.T, done func(text string) bool, args ...string) string {
	t.Helper()
	s := &viewScreen{SimulationScreen: tcell.NewSimulationScreen("UTF-8"), ready: make(chan struct{})}
	old := newScreen
	newScreen = func() (tcell.Screen, error) { return s, nil }
	defer func() { newScreen = old }()

	exited := make(chan int, 1)
	go func() {
		code, _, stderr := runCmd(append([]string{"view"}, args...)...)
		if stderr != "" {
			t.Errorf("stderr: %s", stderr)
		}
		exited <- code
	}()
	select {
	case <-s.ready:
	case <-time.After(time.Minute):
		t.Fatal("the viewer did not start")
	}
	// Round trips through the event queue until the loader is done:
	// the top bar then no longer says "loading".
	var text string
	for try := 0; ; try++ {
		if try == 10000 {
			t.Fatalf("loading did not finish:\n%s", text)
		}
		seen := make(chan struct{})
		for s.PostEvent(tcell.NewEventInterrupt(func() { text = screenText(s); close(seen) })) != nil {
			runtime.Gosched()
		}
		<-seen
		if strings.Contains(text, " frames") && !strings.Contains(text, "loading") && done(text) {
			break
		}
	}
	s.InjectKey(tcell.KeyRune, 'q', tcell.ModNone)
	select {
	case code := <-exited:
		if code != exitOK {
			t.Errorf("exit %d", code)
		}
	case <-time.After(time.Minute):
		t.Fatal("q did not quit")
	}
	return text
}

func TestViewCommand(t *testing.T) {
	evil := testenv.Capture(t, "aiocoap-oscore-evilproxy.pcap")
	keys := testenv.Capture(t, "keys/oscore_contexts")
	text := viewLoaded(t, func(text string) bool { return strings.Contains(text, "X10 ") }, "--keys", keys, evil)
	for _, want := range []string{"1 Exchanges 10 ", "2 Findings ", "oscore ✓", "coap://127.0.0.22/actuators/valve"} {
		if !strings.Contains(text, want) {
			t.Errorf("screen lacks %q:\n%s", want, text)
		}
	}
	if strings.Contains(text, "2 Findings 0 ") {
		t.Errorf("no findings on the evil proxy capture:\n%s", text)
	}
}

// TestViewFilter checks that view --filter starts the lists filtered by
// the expression, as the viewer's '/' takes it.
func TestViewFilter(t *testing.T) {
	evil := testenv.Capture(t, "aiocoap-oscore-evilproxy.pcap")
	keys := testenv.Capture(t, "keys/oscore_contexts")
	text := viewLoaded(t, func(text string) bool { return strings.Contains(text, "(1/10)") },
		"--keys", keys, "--filter", `uri contains "/firmware" && code == "2.05"`, evil)
	if !strings.Contains(text, "coap://127.0.0.22/firmware") || strings.Contains(text, "/sensors/temp") {
		t.Errorf("the list is not filtered to the /firmware exchange:\n%s", text)
	}
	if code, _, stderr := runCmd("view", "--filter", `code ==`, evil); code != exitUsage || !strings.Contains(stderr, "--filter: column 7") {
		t.Errorf("bad filter: exit %d, stderr %q", code, stderr)
	}
}
