package tui

import (
	"context"
	"slices"
	"strings"
	"testing"

	"github.com/gdamore/tcell/v2"

	"github.com/coapaudit/coapaudit/flows"
)

// TestFilterExpression checks that '/' takes the expressions of --filter:
// over the exchange list's record fields, and severity by rank in the
// findings pane; an expression that does not compile says why.
func TestFilterExpression(t *testing.T) {
	names, opts := evilProxy(t)
	xs := expectedExchanges(t, opts, names...)
	var want []*flows.Exchange
	for _, x := range xs {
		if strings.Contains(x.URI, "/actuators/valve") && x.Method == "PUT" {
			want = append(want, x)
		}
	}
	if len(want) == 0 || len(want) == len(xs) {
		t.Fatalf("%d of %d exchanges match: a poor test", len(want), len(xs))
	}
	base := fileLoad(t, opts, names...)
	findings := []FindingRow{
		{ID: "F1", Severity: "high", Rule: "spoofed-response", Frames: []int{5, 6}},
		{ID: "F2", Severity: "low", Rule: "plaintext-exposed", Frames: []int{9}},
		{ID: "F3", Severity: "medium", Rule: "proxy-delay", Frames: []int{7, 8}},
	}
	load := func(ctx context.Context, l *Loader) error {
		err := base(ctx, l)
		for _, f := range findings {
			l.Finding(f)
		}
		return err
	}
	h := start(t, 120, 36, Config{}, load)
	h.loaded()
	h.keys(`/uri contains "/actuators/valve" && method == "PUT"`)
	if got := h.viewIDs(); !slices.Equal(got, ids(want)) {
		t.Errorf("filtered list = %v, want %v", got, ids(want))
	}
	h.key(tcell.KeyEnter)
	h.key(tcell.KeyEscape)

	h.keys("2")
	h.keys(`/severity >= "medium"`)
	var got []string
	h.onUI(func() {
		h.a.ft.sync()
		for _, i := range h.a.ft.view {
			got = append(got, h.a.fs.rows[i].ID)
		}
	})
	slices.Sort(got)
	if !slices.Equal(got, []string{"F1", "F3"}) {
		t.Errorf(`severity >= "medium" kept %v, want F1 F3`, got)
	}
	h.key(tcell.KeyEscape)

	h.keys(`/severity >= `)
	if s := h.screen(); !strings.Contains(s, "expression: column") {
		t.Errorf("an expression that does not compile is not explained:\n%s", s)
	}
}

// TestConfigFilter checks that Config.Filter starts every list filtered.
func TestConfigFilter(t *testing.T) {
	names, opts := evilProxy(t)
	h := start(t, 120, 36, Config{Filter: `uri contains "/firmware"`}, fileLoad(t, opts, names...))
	h.loaded()
	got := h.viewIDs()
	if len(got) != 1 {
		t.Errorf("filtered list = %v, want the one /firmware exchange", got)
	}
	if !strings.Contains(h.lines()[35], `filter: uri contains "/firmware" (1/`) {
		t.Errorf("status line %q", h.lines()[35])
	}
}
