package tui

import (
	"context"
	"strings"
	"testing"

	"github.com/gdamore/tcell/v2"

	"github.com/coapaudit/coapaudit/leaks"
)

// TestNarrowURIsKeepPath checks that at 80x24 and at 160x45 every
// exchange's URI shows its path: the host is shortened, not the path.
func TestNarrowURIsKeepPath(t *testing.T) {
	names, opts := evilProxy(t)
	xs := expectedExchanges(t, opts, names...)
	for _, size := range [][2]int{{80, 24}, {160, 45}} {
		h := start(t, size[0], size[1], Config{}, fileLoad(t, opts, names...))
		h.loaded()
		lines := h.lines()
		for i, x := range xs[:min(len(xs), size[1]-3)] {
			path := x.URI[strings.Index(x.URI, "//")+2:]
			path = path[strings.Index(path, "/"):]
			if row := lines[2+i]; !strings.Contains(row, path) {
				t.Errorf("%dx%d: row %q lacks the path %q of %s", size[0], size[1], row, path, x.URI)
			}
		}
		h.quit()
	}
}

// TestSortHiddenColumnShows checks that sorting by a column the narrow
// screen had hidden brings it on the screen with its arrow, and that
// the status line names it with the order.
func TestSortHiddenColumnShows(t *testing.T) {
	names, opts := evilProxy(t)
	h := start(t, 80, 24, Config{}, fileLoad(t, opts, names...))
	h.loaded()
	if strings.Contains(h.lines()[1], "client") {
		t.Fatalf("80 columns show the client column already: %q", h.lines()[1])
	}
	h.keys("ss") // #, time, client
	lines := h.lines()
	if !strings.Contains(lines[1], "client↑") {
		t.Errorf("sorted by client, header %q lacks client↑", lines[1])
	}
	if !strings.Contains(lines[23], "sort: client↑") {
		t.Errorf("status line %q does not say the sort", lines[23])
	}
	h.keys("S")
	if l := h.lines(); !strings.Contains(l[1], "client↓") || !strings.Contains(l[23], "sort: client↓") {
		t.Errorf("reversed: header %q, status %q", l[1], l[23])
	}
}

// TestEnterShowsFindingWithoutExchange checks that Enter on a finding
// about frames, with no exchange to open, shows its text in full.
func TestEnterShowsFindingWithoutExchange(t *testing.T) {
	names, opts := evilProxy(t)
	base := fileLoad(t, opts, names...)
	msg := "The OSCORE response in frame 6 from 127.0.0.22:5683 fails verification (authentication tag check failed) against its request in frame 5: someone on the path did forge or alter it."
	load := func(ctx context.Context, l *Loader) error {
		err := base(ctx, l)
		l.Finding(FindingRow{ID: "F1", Severity: "high", Threat: "T1", Rule: "oscore-unverified", Frames: []int{5, 6}, Message: msg, Seed: "2.1.1.1"})
		return err
	}
	for _, size := range [][2]int{{80, 24}, {160, 45}} {
		h := start(t, size[0], size[1], Config{}, load)
		h.loaded()
		h.keys("2")
		h.key(tcell.KeyEnter)
		words := strings.Join(strings.Fields(h.screen()), " ")
		if !strings.Contains(words, msg) {
			t.Errorf("%dx%d: Enter does not show the finding in full:\n%s", size[0], size[1], h.screen())
		}
		if !strings.Contains(words, "F1 · HIGH · T1 · oscore-unverified") {
			t.Errorf("%dx%d: no heading", size[0], size[1])
		}
		h.key(tcell.KeyEscape)
		if s := strings.Join(strings.Fields(h.screen()), " "); strings.Contains(s, "Esc or Enter closes") {
			t.Errorf("%dx%d: Esc did not close the finding", size[0], size[1])
		}
		h.quit()
	}
}

// TestLeakRowsSayWhatTheyMeasure checks that leak rows that differ only
// in their observable or view can be told apart at 80 columns, in units
// for people.
func TestLeakRowsSayWhatTheyMeasure(t *testing.T) {
	mk := func(obs, view string) LeakRow {
		return LeakFrom(leaks.Leak{Metric: "anonymity_set", Scope: "all", Observable: obs, Label: "resource", View: view, Value: 1, Unit: "labels", N: 10})
	}
	rows := []LeakRow{mk("request_size", "wire"), mk("response_size", "wire"), mk("request_size", "oscore-inner"),
		LeakFrom(leaks.Leak{Metric: "bayes_vulnerability", Scope: "all", Observable: "request_size", Label: "resource", View: "wire", Value: 0.7, Unit: "probability", N: 10})}
	load := func(ctx context.Context, l *Loader) error {
		for _, r := range rows {
			l.Leak(r)
		}
		return nil
	}
	h := start(t, 80, 24, Config{}, load)
	h.loaded()
	h.keys("3")
	lines := h.lines()
	seen := map[string]bool{}
	for _, l := range lines[2 : 2+len(rows)] {
		if seen[l] {
			t.Errorf("two leak rows read the same: %q", l)
		}
		seen[l] = true
	}
	for _, want := range []string{"wire · request size", "inner · request size", "wire · response size", "1 resource", "70%"} {
		if !containsLine(lines, want) {
			t.Errorf("leaks pane lacks %q:\n%s", want, strings.Join(lines, "\n"))
		}
	}
	if containsLine(lines, "labels") {
		t.Errorf("leaks pane shows the raw unit labels:\n%s", strings.Join(lines, "\n"))
	}
}

// TestProgressInTopBar checks that the loader's progress shows in the
// viewer's own top bar, the title giving way on a narrow screen.
func TestProgressInTopBar(t *testing.T) {
	release := make(chan struct{})
	defer close(release)
	load := func(ctx context.Context, l *Loader) error {
		select {
		case <-release:
		case <-ctx.Done():
		}
		return nil
	}
	cfg := Config{Title: "a-capture-file-with-a-rather-long-name.pcapng", Progress: func() (int64, int64) { return 50 << 20, 200 << 20 }}
	for _, w := range []int{80, 160} {
		h := start(t, w, 24, cfg, load)
		h.sync()
		if l := h.lines()[0]; !strings.Contains(l, "loading… 25%") {
			t.Errorf("%d columns: top bar %q lacks the progress", w, l)
		}
		if w == 160 && !strings.Contains(h.lines()[0], cfg.Title) {
			t.Errorf("160 columns: top bar %q lacks the title", h.lines()[0])
		}
		h.quit()
	}
}
