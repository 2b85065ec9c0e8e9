package tui

import (
	"bytes"
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/gdamore/tcell/v2"

	"github.com/coapaudit/coapaudit/analysis"
	"github.com/coapaudit/coapaudit/capture"
	"github.com/coapaudit/coapaudit/export"
	"github.com/coapaudit/coapaudit/internal/testenv"
)

// rowFields are the fields an exchange's row gives without its record.
var rowFields = []string{"type", "id", "client", "proxy", "server", "method", "uri", "code", "protected", "status", "notifications"}

// TestSharedCaptures opens every shared capture in the viewer at 80x24,
// checks that the list holds exactly the exchanges the analysis reports,
// then opens the detail and walks through the exchanges and panes.
func TestSharedCaptures(t *testing.T) {
	dir := capturesDir(t)
	kr := keyring(t, dir)
	files := testenv.Captures(t)
	if len(files) < 4 {
		t.Fatalf("only %d captures in %s", len(files), dir)
	}
	total := 0
	for _, f := range files {
		name, _ := filepath.Rel(dir, f)
		t.Run(name, func(t *testing.T) {
			opts := analysis.Options{Keys: kr}
			xs := expectedExchanges(t, opts, f)
			want := ids(xs)
			total += len(want)
			h := start(t, 80, 24, Config{}, fileLoad(t, opts, f))
			h.loaded()
			if got := h.viewIDs(); !slices.Equal(got, want) {
				t.Fatalf("list has %d exchanges %v, want %d %v", len(got), got, len(want), want)
			}
			// The exchange decoded again from its stored record is the
			// exchange the analysis reported, to the byte of its record,
			// and the fields its row gives are the record's.
			var problems []string
			h.onUI(func() {
				for i, x := range xs {
					row, ok := h.a.xs.row(x.ID)
					if !ok {
						problems = append(problems, x.ID+" not in the list")
						continue
					}
					got := export.Exchange{Exchange: h.a.xs.exchange(row)}.AppendJSON(nil)
					if w := (export.Exchange{Exchange: x}).AppendJSON(nil); !bytes.Equal(got, w) {
						problems = append(problems, fmt.Sprintf("exchange %d decoded from the store:\n%s\nwant\n%s", i, got, w))
					}
					all := h.a.xs.fields(row)
					some := h.a.xs.someFields(row, rowFields)
					for _, n := range rowFields {
						if some[n] != all[n] {
							problems = append(problems, fmt.Sprintf("exchange %s field %s: %#v from the row, %#v from the record", x.ID, n, some[n], all[n]))
						}
					}
				}
			})
			if len(problems) > 0 {
				t.Fatalf("%d problems, the first: %s", len(problems), problems[0])
			}
			lines := h.lines()
			if !strings.Contains(lines[0], "1 Exchanges "+strconv.Itoa(len(want))+" ") {
				t.Errorf("tab bar %q", lines[0])
			}
			for i, id := range want[:min(len(want), 21)] {
				if fl := strings.Fields(lines[2+i]); len(fl) == 0 || fl[0] != id {
					t.Errorf("row %d = %q, want %s", i, lines[2+i], id)
				}
			}
			if len(want) > 0 {
				h.key(tcell.KeyEnter)
				for i, id := range want[:min(len(want), 100)] {
					if got := h.selectedID(); got != id {
						t.Fatalf("step %d: selected %s, want %s", i, got, id)
					}
					if s := h.screen(); !strings.Contains(s, " "+id+" ") || !strings.Contains(s, " leg") {
						t.Fatalf("detail of %s not shown:\n%s", id, s)
					}
					h.keys("j")
				}
				// Every pane of the last exchange, and the end of each.
				for range 4 {
					h.key(tcell.KeyTab)
					h.keys("Gjlhkg")
				}
			}
			if err := h.quit(); err != nil && !errors.Is(err, capture.ErrTruncated) && !errors.Is(err, capture.ErrCorrupt) {
				t.Errorf("run: %v", err)
			}
		})
	}
	if total == 0 {
		t.Error("no exchanges in any capture")
	}
}
