package tui

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/gdamore/tcell/v2"

	"github.com/coapaudit/coapaudit/analysis"
	"github.com/coapaudit/coapaudit/flows"
)

func evilProxy(t *testing.T) (names []string, opts analysis.Options) {
	dir := capturesDir(t)
	opts.Keys = keyring(t, dir)
	return []string{filepath.Join(dir, "aiocoap-oscore-evilproxy.pcap")}, opts
}

func containsLine(lines []string, sub string) bool {
	for _, l := range lines {
		if strings.Contains(l, sub) {
			return true
		}
	}
	return false
}

func TestListShowsExchanges(t *testing.T) {
	names, opts := evilProxy(t)
	want := expectedExchanges(t, opts, names...)
	if len(want) == 0 {
		t.Fatal("the capture has no exchanges")
	}
	h := start(t, 120, 36, Config{Title: "evil"}, fileLoad(t, opts, names...))
	h.loaded()
	if got := h.viewIDs(); !slices.Equal(got, ids(want)) {
		t.Fatalf("list = %v, want %v", got, ids(want))
	}
	lines := h.lines()
	if !strings.Contains(lines[0], "1 Exchanges "+strconv.Itoa(len(want))) {
		t.Errorf("tab bar %q does not count %d exchanges", lines[0], len(want))
	}
	// One row per exchange under the header, in ID order, with its URI.
	for i, id := range ids(want)[:min(len(want), 30)] {
		row := lines[2+i]
		if f := strings.Fields(row); len(f) == 0 || f[0] != id {
			t.Errorf("row %d = %q, want exchange %s first", i, row, id)
		}
	}
	for _, x := range want {
		if x.URI != "" && !containsLine(lines, x.URI) {
			t.Errorf("URI %q of %s not on the screen", x.URI, x.ID)
		}
	}
	if err := h.quit(); err != nil {
		t.Fatalf("run: %v", err)
	}
	h.wait(h.s.fini, "the screen to be finalised")
}

func TestKeysMoveSelection(t *testing.T) {
	names, opts := evilProxy(t)
	want := ids(expectedExchanges(t, opts, names...))
	h := start(t, 120, 36, Config{}, fileLoad(t, opts, names...))
	h.loaded()
	steps := []struct {
		keys func()
		want string
	}{
		{func() {}, want[0]},
		{func() { h.keys("j") }, want[1]},
		{func() { h.key(tcell.KeyDown) }, want[2]},
		{func() { h.keys("k") }, want[1]},
		{func() { h.key(tcell.KeyUp) }, want[0]},
		{func() { h.keys("k") }, want[0]}, // stays on the first row
		{func() { h.keys("G") }, want[len(want)-1]},
		{func() { h.keys("j") }, want[len(want)-1]},
		{func() { h.keys("g") }, want[0]},
		{func() { h.key(tcell.KeyEnd) }, want[len(want)-1]},
		{func() { h.key(tcell.KeyHome) }, want[0]},
		{func() { h.key(tcell.KeyPgDn) }, want[len(want)-1]}, // fewer rows than a page
		{func() { h.key(tcell.KeyPgUp) }, want[0]},
	}
	for i, s := range steps {
		s.keys()
		if got := h.selectedID(); got != s.want {
			t.Fatalf("step %d: selected %s, want %s", i, got, s.want)
		}
	}
}

func TestEnterShowsLegs(t *testing.T) {
	names, opts := evilProxy(t)
	xs := expectedExchanges(t, opts, names...)
	// The first exchange that went through the proxy to the server.
	var x *flows.Exchange
	for _, e := range xs {
		if len(e.Legs) == 2 && x == nil {
			x = e
		}
	}
	if x == nil {
		t.Fatal("no exchange with two legs")
	}
	h := start(t, 120, 36, Config{}, fileLoad(t, opts, names...))
	h.loaded()
	for h.selectedID() != x.ID {
		h.keys("j")
	}
	if s := h.screen(); strings.Contains(s, "client leg") {
		t.Fatal("legs shown before Enter")
	}
	h.key(tcell.KeyEnter)
	lines := h.lines()
	for _, want := range []string{
		"client leg  " + x.Legs[0].From.String() + " → " + x.Legs[0].To.String(),
		"server leg  " + x.Legs[1].From.String() + " → " + x.Legs[1].To.String(),
		"proxy held the request",
		" X OSCORE",      // the OSCORE option is exposed, as it must be
		" P Uri-Path",    // decrypted options are marked protected
		" P ciphertext",  // and so is the ciphertext
		" " + x.ID + " ", // the summary line
	} {
		if !containsLine(lines, want) {
			t.Errorf("detail lacks %q:\n%s", want, strings.Join(lines, "\n"))
		}
	}
	// Every frame of the exchange is listed in the frames pane.
	for _, f := range x.Frames {
		if !containsLine(lines, fmt.Sprintf("%5d ", f)) {
			t.Errorf("frame %d not listed", f)
		}
	}
	// Move to the first decrypted Uri-Path: the hex pane shows the
	// plaintext with that option's bytes marked.
	h.key(tcell.KeyTab)
	var label string
	for i := 0; i < 20 && label != "Uri-Path"; i++ {
		h.keys("j")
		h.onUI(func() { label = h.a.hexFocus().label })
	}
	if label != "Uri-Path" {
		t.Fatal("no Uri-Path line in the legs pane")
	}
	var marked []byte
	var inner bool
	h.onUI(func() {
		f := h.a.hexFocus()
		inner = f.inner
		r := h.a.frames.get(int(f.key.file), int(f.key.num))
		d := h.a.cache.get(h.a.store, r)
		s := d.innerSpan(f.span)
		pt := d.plaintext()
		marked = pt[s.Off : s.Off+s.Len]
	})
	if !inner {
		t.Error("the decrypted Uri-Path does not point into the plaintext")
	}
	// The option's bytes: a header byte (delta 11 or 0, length), then the
	// segment.
	seg := strings.Split(strings.TrimPrefix(strings.SplitN(strings.TrimPrefix(x.URI, "coap://"), "/", 2)[1], "/"), "/")[0]
	if string(marked[1:]) != seg || int(marked[0]&0x0f) != len(seg) {
		t.Errorf("marked bytes %x, want the Uri-Path option %q", marked, seg)
	}
	if s := h.screen(); !strings.Contains(s, "decrypted plaintext") || !strings.Contains(s, "[Uri-Path]") {
		t.Errorf("hex pane title does not show the decrypted option:\n%s", s)
	}
	// Enter on the list closes the detail again.
	h.key(tcell.KeyBacktab)
	h.key(tcell.KeyEnter)
	if s := h.screen(); strings.Contains(s, "client leg") {
		t.Error("Enter did not close the detail")
	}
}

func TestFilter(t *testing.T) {
	names, opts := evilProxy(t)
	xs := expectedExchanges(t, opts, names...)
	var want []*flows.Exchange
	for _, x := range xs {
		if strings.Contains(strings.ToLower(x.URI), "valve") {
			want = append(want, x)
		}
	}
	if len(want) == 0 || len(want) == len(xs) {
		t.Fatalf("%d of %d exchanges match: a poor test", len(want), len(xs))
	}
	h := start(t, 120, 36, Config{}, fileLoad(t, opts, names...))
	h.loaded()
	h.keys("/VaLvE")
	if got := h.viewIDs(); !slices.Equal(got, ids(want)) {
		t.Errorf("filtered list = %v, want %v", got, ids(want))
	}
	if !strings.Contains(h.lines()[35], "/VaLvE") {
		t.Errorf("status line does not show the filter being typed: %q", h.lines()[35])
	}
	h.key(tcell.KeyEnter) // keep it
	h.keys("j")           // keys move again
	if got := h.selectedID(); got != ids(want)[1%len(want)] {
		t.Errorf("selected %s after j in the filtered list", got)
	}
	if !strings.Contains(h.lines()[35], "filter: VaLvE") {
		t.Errorf("status line %q does not show the filter", h.lines()[35])
	}
	h.key(tcell.KeyEscape)
	if got := h.viewIDs(); len(got) != len(xs) {
		t.Errorf("Esc left %d rows, want %d", len(got), len(xs))
	}
	// A filter nothing matches says so.
	h.keys("/zzzz")
	if s := h.screen(); !strings.Contains(s, `no rows match the filter "zzzz"`) {
		t.Errorf("empty filter result not explained:\n%s", s)
	}
	h.key(tcell.KeyEscape)
	if got := h.viewIDs(); len(got) != len(xs) {
		t.Errorf("Esc while typing left %d rows, want %d", len(got), len(xs))
	}
}

func TestSort(t *testing.T) {
	names, opts := evilProxy(t)
	xs := expectedExchanges(t, opts, names...)
	h := start(t, 120, 36, Config{}, fileLoad(t, opts, names...))
	h.loaded()
	// s: by time; S: reversed.
	h.keys("s")
	byTime := slices.Clone(xs)
	slices.SortStableFunc(byTime, func(a, b *flows.Exchange) int {
		if c := a.Start.Compare(b.Start); c != 0 {
			return c
		}
		return idNum(a.ID) - idNum(b.ID)
	})
	var want []string
	for _, x := range byTime {
		want = append(want, x.ID)
	}
	if got := h.viewIDs(); !slices.Equal(got, want) {
		t.Errorf("by time: %v, want %v", got, want)
	}
	if l := h.lines()[1]; !strings.Contains(l, "time↑") {
		t.Errorf("header %q does not mark the sort column", l)
	}
	h.keys("S")
	slices.Reverse(want)
	if got := h.viewIDs(); !slices.Equal(got, want) {
		t.Errorf("by time, reversed: %v, want %v", got, want)
	}
	// Cycling through every column comes back to the ID.
	for range len(exchangeCols) - 1 {
		h.keys("s")
	}
	if got := h.viewIDs(); !slices.Equal(got, ids(xs)) {
		t.Errorf("after a full cycle: %v, want %v", got, ids(xs))
	}
	// The cursor stays on its exchange when the order changes.
	h.keys("jj")
	sel := h.selectedID()
	h.keys("sS")
	if got := h.selectedID(); got != sel {
		t.Errorf("selection moved from %s to %s on sorting", sel, got)
	}
}

func TestHelpAndQuit(t *testing.T) {
	names, opts := evilProxy(t)
	h := start(t, 120, 36, Config{}, fileLoad(t, opts, names...))
	h.loaded()
	h.keys("?")
	if s := h.screen(); !strings.Contains(s, "coapaudit view") || !strings.Contains(s, "q Ctrl-C       quit") {
		t.Fatalf("help not shown:\n%s", s)
	}
	h.keys("j") // ignored under the help
	if got, want := h.selectedID(), h.viewIDs()[0]; got != want {
		t.Errorf("j moved the list under the help: %s", got)
	}
	h.keys("?")
	if s := h.screen(); strings.Contains(s, "q Ctrl-C       quit") {
		t.Fatal("help not closed")
	}
	if err := h.quit(); err != nil {
		t.Fatal(err)
	}
	h.wait(h.s.fini, "the screen to be finalised")
}

func TestCtrlCQuits(t *testing.T) {
	names, opts := evilProxy(t)
	h := start(t, 80, 24, Config{}, fileLoad(t, opts, names...))
	h.loaded()
	h.s.InjectKey(tcell.KeyCtrlC, 0, tcell.ModCtrl)
	h.wait(h.s.fini, "the screen to be finalised")
}

func TestSmallScreen(t *testing.T) {
	names, opts := evilProxy(t)
	xs := expectedExchanges(t, opts, names...)
	h := start(t, 80, 24, Config{}, fileLoad(t, opts, names...))
	h.loaded()
	lines := h.lines()
	if len(lines) != 24 || len([]rune(lines[0])) != 80 {
		t.Fatalf("screen is %d rows of %d", len(lines), len([]rune(lines[0])))
	}
	header := strings.Fields(lines[1])
	for _, col := range []string{"#↑", "method", "uri", "code", "F"} {
		if !slices.Contains(header, col) {
			t.Errorf("80 columns: header %q lacks %q", lines[1], col)
		}
	}
	if slices.Contains(header, "client") {
		t.Errorf("80 columns: header %q still has the client column", lines[1])
	}
	for i, id := range ids(xs)[:min(len(xs), 20)] {
		if f := strings.Fields(lines[2+i]); len(f) == 0 || f[0] != id {
			t.Errorf("row %d = %q, want %s", i, lines[2+i], id)
		}
	}
	// The detail fits: both legs side by side, the frames and the hex.
	for h.selectedID() != "X1" {
		h.keys("j")
	}
	h.key(tcell.KeyEnter)
	lines = h.lines()
	for _, want := range []string{"client leg", "server leg", " frames ", " hex "} {
		if !containsLine(lines, want) {
			t.Errorf("80x24 detail lacks %q:\n%s", want, strings.Join(lines, "\n"))
		}
	}
	// Every pane takes the focus in turn and none is off the screen.
	for p := range 5 {
		h.key(tcell.KeyTab)
		h.onUI(func() {
			r := h.a.areas[h.a.focus]
			if r.w == 0 || r.y+r.h > 23 || r.x+r.w > 80 {
				t.Errorf("tab %d: pane %d at %+v", p, h.a.focus, r)
			}
		})
	}
}

func TestMouse(t *testing.T) {
	names, opts := evilProxy(t)
	xs := ids(expectedExchanges(t, opts, names...))
	h := start(t, 120, 36, Config{}, fileLoad(t, opts, names...))
	h.loaded()
	click := func(x, y int) {
		h.s.InjectMouse(x, y, tcell.Button1, tcell.ModNone)
		h.s.InjectMouse(x, y, tcell.ButtonNone, tcell.ModNone)
		h.sync()
	}
	click(10, 2+3) // the fourth row
	if got := h.selectedID(); got != xs[3] {
		t.Errorf("click on row 4 selected %s, want %s", got, xs[3])
	}
	h.s.InjectMouse(10, 10, tcell.WheelDown, tcell.ModNone)
	h.sync()
	if got := h.selectedID(); got != xs[4] {
		t.Errorf("wheel down selected %s, want %s", got, xs[4])
	}
	h.s.InjectMouse(10, 10, tcell.WheelUp, tcell.ModNone)
	h.s.InjectMouse(10, 10, tcell.WheelUp, tcell.ModNone)
	h.sync()
	if got := h.selectedID(); got != xs[2] {
		t.Errorf("wheel up twice selected %s, want %s", got, xs[2])
	}
	var tab rect
	h.onUI(func() { tab = h.a.tabAreas[tabFindings] })
	click(tab.x+1, 0)
	h.onUI(func() {
		if h.a.tab != tabFindings || h.a.focus != paneFindings {
			t.Errorf("click on the findings tab: tab %d focus %d", h.a.tab, h.a.focus)
		}
	})
}

func TestResize(t *testing.T) {
	names, opts := evilProxy(t)
	h := start(t, 80, 24, Config{}, fileLoad(t, opts, names...))
	h.loaded()
	if l := h.lines()[1]; strings.Contains(l, "client") {
		t.Fatalf("80 columns show the client: %q", l)
	}
	h.onUI(func() { h.s.SetSize(160, 40) })
	h.s.PostEvent(tcell.NewEventResize(160, 40))
	h.sync()
	lines := h.lines()
	if len(lines) != 40 || !strings.Contains(lines[1], "client") {
		t.Errorf("after resizing to 160x40: %d rows, header %q", len(lines), lines[1])
	}
}

func TestFindingsAndLeaksPanes(t *testing.T) {
	names, opts := evilProxy(t)
	base := fileLoad(t, opts, names...)
	findings := []FindingRow{
		{ID: "F1", Severity: "high", Threat: "T1", Rule: "spoofed-response", Exchange: "X2", Frames: []int{5, 6}, Message: "Proxy did answer itself."},
		{ID: "F2", Severity: "low", Threat: "T5", Rule: "plaintext-exposed", Frames: []int{9}, Message: "Frame-level finding."},
	}
	leakRows := []LeakRow{{Metric: "mutual_information", Scope: "resource", Value: "1.5", Unit: "bits", Detail: "n=10"}}
	load := func(ctx context.Context, l *Loader) error {
		err := base(ctx, l)
		for _, f := range findings {
			l.Finding(f)
		}
		for _, r := range leakRows {
			l.Leak(r)
		}
		return err
	}
	h := start(t, 120, 36, Config{}, load)
	h.loaded()
	if l := h.lines()[0]; !strings.Contains(l, "2 Findings 2") || !strings.Contains(l, "3 Leaks 1") {
		t.Errorf("tab bar %q", l)
	}
	// The exchange list counts findings per exchange.
	h.onUI(func() {
		if n := h.a.xs.findings["X2"]; n != 1 {
			t.Errorf("X2 has %d findings, want 1", n)
		}
	})
	h.keys("2")
	lines := h.lines()
	for _, want := range []string{"spoofed-response", "Proxy did answer itself.", "plaintext-exposed"} {
		if !containsLine(lines, want) {
			t.Errorf("findings pane lacks %q", want)
		}
	}
	// Enter on a finding opens its exchange.
	h.key(tcell.KeyEnter)
	h.onUI(func() {
		if h.a.tab != tabExchanges || !h.a.detail || h.a.cur == nil || h.a.cur.ID != "X2" {
			t.Errorf("Enter on F1: tab %d detail %v", h.a.tab, h.a.detail)
		}
		if fl := h.a.flines[h.a.frameSel]; fl.num != 5 {
			t.Errorf("frame in focus %d, want the evidence frame 5", fl.num)
		}
	})
	if s := h.screen(); !strings.Contains(s, "1 finding: T1 spoofed-re") {
		t.Errorf("summary line does not name the finding:\n%s", s)
	}
	h.keys("3")
	if s := h.screen(); !strings.Contains(s, "mutual_information") || !strings.Contains(s, "1.5") {
		t.Errorf("leaks pane:\n%s", s)
	}
	// Tab goes through every pane and back.
	seen := map[pane]bool{}
	for range 8 {
		h.key(tcell.KeyTab)
		h.onUI(func() { seen[h.a.focus] = true })
	}
	for p := range paneCount {
		if !seen[p] {
			t.Errorf("Tab never reached pane %d", p)
		}
	}
}

// TestLive feeds exchanges one at a time, as a live capture does, and
// checks that the list follows them.
func TestLive(t *testing.T) {
	names, opts := evilProxy(t)
	xs := expectedExchanges(t, opts, names...)
	feed := make(chan *flows.Exchange)
	load := func(ctx context.Context, l *Loader) error {
		for {
			select {
			case x, ok := <-feed:
				if !ok {
					return nil
				}
				l.Exchange(x)
				l.post()
			case <-ctx.Done():
				return ctx.Err()
			}
		}
	}
	h := start(t, 120, 36, Config{Live: true, MaxExchanges: 5}, load)
	for _, x := range xs {
		feed <- x
		// The loader posts x after taking it from feed; a bounded number
		// of round trips to the UI goroutine sees it arrive.
		var got string
		for try := 0; got != x.ID; try++ {
			if try == 1000 {
				t.Fatalf("%s never reached the list", x.ID)
			}
			h.onUI(func() {
				if n := h.a.xs.count(); n > 0 {
					got = h.a.xs.id(n - 1)
				}
			})
		}
		if sel := h.selectedID(); sel != x.ID {
			t.Fatalf("after %s arrived the cursor is on %q", x.ID, sel)
		}
	}
	h.onUI(func() {
		if h.a.xs.count() != 5 || h.a.xDropped != len(xs)-5 {
			t.Errorf("%d exchanges kept and %d forgotten, want 5 and %d", h.a.xs.count(), h.a.xDropped, len(xs)-5)
		}
		if last := h.a.xs.id(h.a.xs.count() - 1); last != xs[len(xs)-1].ID {
			t.Errorf("newest kept is %s", last)
		}
	})
	if s := h.screen(); !strings.Contains(s, "· live") {
		t.Errorf("top bar does not say live:\n%s", s)
	}
	close(feed)
	h.loaded()
}

func TestCapKeepsFirst(t *testing.T) {
	names, opts := evilProxy(t)
	xs := expectedExchanges(t, opts, names...)
	h := start(t, 120, 36, Config{MaxExchanges: 3}, fileLoad(t, opts, names...))
	h.loaded()
	h.onUI(func() {
		if h.a.xs.count() != 3 || h.a.xDropped != len(xs)-3 {
			t.Errorf("kept %d, not kept %d; want 3 and %d", h.a.xs.count(), h.a.xDropped, len(xs)-3)
		}
	})
	if s := h.lines()[0]; !strings.Contains(s, strconv.Itoa(len(xs)-3)+" exchanges not kept") {
		t.Errorf("top bar %q does not count what was not kept", s)
	}
}

func TestLoaderErrorAndPanic(t *testing.T) {
	errBoom := errors.New("boom")
	h := start(t, 80, 24, Config{}, func(ctx context.Context, l *Loader) error { return errBoom })
	h.loaded()
	if s := h.lines()[23]; !strings.Contains(s, "boom") {
		t.Errorf("status line %q does not show the error", s)
	}
	if err := h.quit(); !errors.Is(err, errBoom) {
		t.Errorf("run returned %v, want the loader's error", err)
	}

	h = start(t, 80, 24, Config{}, func(ctx context.Context, l *Loader) error { panic("kaboom") })
	h.loaded()
	if err := h.quit(); err == nil || !strings.Contains(err.Error(), "loader panic: kaboom") {
		t.Errorf("run returned %v, want the loader's panic", err)
	}
}

// TestPanicRestoresTerminal checks that a panic on the UI goroutine
// still finalises the screen.
func TestPanicRestoresTerminal(t *testing.T) {
	s := newSim(80, 24)
	a := newApp(s, Config{})
	done := make(chan any, 1)
	go func() {
		defer func() { done <- recover() }()
		a.run(context.Background(), func(ctx context.Context, l *Loader) error { return nil })
	}()
	<-s.ready
	for s.PostEvent(tcell.NewEventInterrupt(func() { panic("ui bug") })) != nil {
		runtime.Gosched()
	}
	if p := <-done; p != "ui bug" {
		t.Fatalf("recovered %v", p)
	}
	select {
	case <-s.fini:
	default:
		t.Fatal("screen not finalised after a panic")
	}
}

func TestContextCancelStops(t *testing.T) {
	s := newSim(80, 24)
	a := newApp(s, Config{})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	loaderStopped := make(chan struct{})
	go func() {
		done <- a.run(ctx, func(ctx context.Context, l *Loader) error {
			<-ctx.Done()
			close(loaderStopped)
			return ctx.Err()
		})
	}()
	<-s.ready
	cancel()
	if err := <-done; err != nil {
		t.Errorf("run: %v", err)
	}
	// run waits for the loader before it returns.
	select {
	case <-loaderStopped:
	default:
		t.Error("run returned before the loader stopped")
	}
}

// TestLegsScrollAndClick walks the cursor through a leg longer than its
// pane and checks that the line under the cursor is always on the screen,
// then clicks on lines.
func TestLegsScrollAndClick(t *testing.T) {
	names, opts := evilProxy(t)
	h := start(t, 80, 24, Config{}, fileLoad(t, opts, names...))
	h.loaded()
	h.key(tcell.KeyEnter)
	h.key(tcell.KeyTab)
	var n int
	var r rect
	h.onUI(func() { n, r = len(h.a.legs[0].lines), h.a.areas[paneLegs] })
	if n < r.h {
		t.Fatalf("a leg of %d lines fits in a pane of %d rows: a poor test", n, r.h)
	}
	for i := 0; i < n+2; i++ {
		var row, top int
		var text string
		h.onUI(func() {
			row, top = h.a.legRow, h.a.legTop
			for _, sp := range h.a.legs[0].lines[row].spans {
				text += sp.text
			}
		})
		y := r.y + 1 + row + 1 - top
		if y < r.y+1 || y >= r.y+r.h {
			t.Fatalf("line %d is off the pane (top %d, pane %+v)", row, top, r)
		}
		if want := strings.TrimSpace(text); want != "" {
			want = want[:min(len(want), 12)]
			if got := h.lines()[y]; !strings.Contains(got, want) {
				t.Fatalf("row %d shows %q, want line %d %q", y, got, row, want)
			}
		}
		h.keys("j")
	}
	h.onUI(func() {
		if h.a.legRow != n-1 {
			t.Errorf("cursor on line %d after walking, want the last %d", h.a.legRow, n-1)
		}
	})
	// A click on a row selects the line shown there, in the leg clicked.
	h.keys("g")
	h.s.InjectMouse(r.x+r.w-5, r.y+3, tcell.Button1, tcell.ModNone)
	h.s.InjectMouse(r.x+r.w-5, r.y+3, tcell.ButtonNone, tcell.ModNone)
	h.sync()
	h.onUI(func() {
		// Row 0 is the pane title, row 1 the leg titles, row 2 line 0.
		if h.a.legCol != 1 || h.a.legRow != 1 {
			t.Errorf("click selected leg %d line %d, want leg 1 line 1", h.a.legCol, h.a.legRow)
		}
	})
}
