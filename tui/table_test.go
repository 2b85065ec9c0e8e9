package tui

import (
	"cmp"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/gdamore/tcell/v2"
)

// intRows is a table source of rows of two numbers.
type intRows struct{ rows [][2]int }

func (r *intRows) count() int { return len(r.rows) }
func (r *intRows) cell(row, col int) string {
	return strconv.Itoa(r.rows[row][col])
}
func (r *intRows) compare(a, b, col int) int { return cmp.Compare(r.rows[a][col], r.rows[b][col]) }
func (r *intRows) text(row int) string       { return r.cell(row, 0) + "\x00" + r.cell(row, 1) }
func (r *intRows) fields(row int) map[string]any {
	return map[string]any{"frame": float64(r.rows[row][0]), "n": float64(r.rows[row][1])}
}
func (r *intRows) style(row, col int) tcell.Style { return stDefault }

// TestTableIncremental adds rows in batches and checks after each batch
// that the view is what filtering and sorting all rows at once gives.
func TestTableIncremental(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	for trial := 0; trial < 50; trial++ {
		src := &intRows{}
		tb := newTable(src, []column{{title: "a"}, {title: "b"}}, rng.IntN(2))
		tb.desc = rng.IntN(2) == 0
		// No filter, a text filter, or an expression (frame is column a).
		limit := -1
		switch rng.IntN(3) {
		case 1:
			tb.setFilter(strconv.Itoa(rng.IntN(10)))
		case 2:
			limit = rng.IntN(100)
			tb.setFilter("frame > " + strconv.Itoa(limit))
		}
		for batch := 0; batch < 10; batch++ {
			for range rng.IntN(30) {
				src.rows = append(src.rows, [2]int{rng.IntN(100), rng.IntN(1000)})
			}
			tb.sync()
			var want []int
			for i := range src.rows {
				if limit >= 0 && src.rows[i][0] > limit || limit < 0 && strings.Contains(src.text(i), tb.filter) {
					want = append(want, i)
				}
			}
			slices.SortStableFunc(want, func(a, b int) int {
				c := src.compare(a, b, tb.sortCol)
				if tb.desc {
					return -c
				}
				return c
			})
			if tb.desc {
				// Ties are broken by index, reversed too.
				slices.SortStableFunc(want, func(a, b int) int { return tb.less(a, b) })
			}
			if !slices.Equal(tb.view, want) {
				t.Fatalf("trial %d batch %d: view %v, want %v", trial, batch, tb.view, want)
			}
		}
	}
}

func TestTableCursorAndFollow(t *testing.T) {
	src := &intRows{}
	tb := newTable(src, []column{{title: "a"}, {title: "b"}}, 0)
	add := func(vs ...int) {
		for _, v := range vs {
			src.rows = append(src.rows, [2]int{v, 0})
		}
		tb.sync()
	}
	add(5, 3)
	if tb.selected() != 1 { // 3 sorts first
		t.Fatalf("cursor on row %d, want the first in order", tb.selected())
	}
	// Rows arriving before the cursor do not move it off the first row
	// until the user moves it.
	add(1)
	if tb.selected() != 2 {
		t.Errorf("untouched cursor on row %d, want the new first row", tb.selected())
	}
	tb.move(1) // to 3 (row 1)
	add(0, 2)
	if tb.selected() != 1 {
		t.Errorf("moved cursor left its row: on %d", tb.selected())
	}
	tb.move(1 << 20) // the last row follows
	add(9, 10)
	if tb.selected() != 6 {
		t.Errorf("cursor at the end did not follow: on %d", tb.selected())
	}
	src.rows = src.rows[2:]
	tb.dropFront(2)
	if got := len(tb.view); got != 5 || tb.selected() != 4 {
		t.Errorf("after dropping two rows: %d rows, cursor on %d", got, tb.selected())
	}
}

func TestTableLayout(t *testing.T) {
	cols := []column{
		{title: "id", min: 2, max: 4},
		{title: "addr", min: 9, max: 20, drop: 2},
		{title: "uri", min: 10, flex: true},
		{title: "status", min: 6, max: 10, drop: 1},
	}
	tb := newTable(&intRows{}, cols, 0)
	tb.widths = []int{4, 20, 3, 10}
	idx, w := tb.layout(100)
	if !slices.Equal(idx, []int{0, 1, 2, 3}) || w[2] != 100-4-20-10-3 {
		t.Errorf("100 wide: %v %v", idx, w)
	}
	idx, w = tb.layout(40)
	if !slices.Equal(idx, []int{0, 2, 3}) {
		t.Errorf("40 wide: columns %v, want addr hidden first", idx)
	}
	if sum := w[0] + w[1] + w[2] + len(w) - 1; sum != 40 {
		t.Errorf("40 wide: widths %v add up to %d", w, sum)
	}
	idx, _ = tb.layout(15)
	if !slices.Equal(idx, []int{0, 2}) {
		t.Errorf("15 wide: columns %v", idx)
	}
}
