package tui

import (
	"slices"
	"strings"

	"github.com/gdamore/tcell/v2"

	"github.com/coapaudit/coapaudit/filter"
)

// column describes one column of a table.
type column struct {
	title string
	min   int // narrowest useful width
	max   int // widest it grows to fit its content
	// flex columns take the width left over.
	flex bool
	// drop ranks the columns hidden first when the screen is narrow (the
	// highest first); 0 is never hidden.
	drop  int
	right bool
	// shorten, when set, fits a cell into n cells in place of cutting
	// its end (URIs lose their host before their path).
	shorten func(s string, n int) string
}

// rowSource is the data behind a table.
type rowSource interface {
	count() int
	cell(row, col int) string
	// compare orders rows by a column; ties are broken by row index.
	compare(a, b, col int) int
	// text is the row's searchable text, lowercase.
	text(row int) string
	// fields are the row's record fields, for filter expressions (nil:
	// none matches).
	fields(row int) map[string]any
	style(row, col int) tcell.Style
}

// table is a sortable, filterable list of rows with a cursor. view holds
// the indices of the rows that pass the filter, in sort order.
type table struct {
	src     rowSource
	cols    []column
	widths  []int // content widths seen, per column
	view    []int
	seen    int // rows of src already merged into view
	cursor  int // index into view
	top     int
	sortCol int
	desc    bool
	filter  string // as typed
	lower   string // filter in lowercase, for a text search
	expr    *filter.Filter
	// exprErr is why a filter that looks like an expression does not
	// compile; the filter then searches text.
	exprErr string
	follow  bool // keep the cursor on the last row as rows arrive
	moved   bool // the cursor was moved: keep it on its row, not the first
	stale   bool // view must be rebuilt from scratch
}

func newTable(src rowSource, cols []column, sortCol int) *table {
	t := &table{src: src, cols: cols, widths: make([]int, len(cols)), sortCol: sortCol}
	for i, c := range cols {
		t.widths[i] = len(c.title)
	}
	return t
}

// selected returns the source row under the cursor, or -1.
func (t *table) selected() int {
	t.sync()
	if t.cursor < 0 || t.cursor >= len(t.view) {
		return -1
	}
	return t.view[t.cursor]
}

func (t *table) less(a, b int) int {
	c := t.src.compare(a, b, t.sortCol)
	if c == 0 {
		c = a - b
		if c < 0 {
			c = -1
		} else if c > 0 {
			c = 1
		}
	}
	if t.desc {
		return -c
	}
	return c
}

// someFields is a rowSource that can give some of a row's fields for
// less than all of them; nil when it cannot.
type someFields interface {
	someFields(row int, names []string) map[string]any
}

func (t *table) match(row int) bool {
	if t.expr != nil {
		if sf, ok := t.src.(someFields); ok {
			if f := sf.someFields(row, t.expr.Names()); f != nil {
				return t.expr.Match(f)
			}
		}
		return t.expr.Match(t.src.fields(row))
	}
	return t.filter == "" || strings.Contains(t.src.text(row), t.lower)
}

// sync brings the view up to date with the source: new rows are sorted
// and merged in; after a change of sort or filter, or when rows were
// removed, the view is rebuilt. The cursor stays on the same row.
func (t *table) sync() {
	n := t.src.count()
	if !t.stale && t.seen == n {
		return
	}
	sel := -1
	if t.cursor >= 0 && t.cursor < len(t.view) {
		sel = t.view[t.cursor]
	}
	atEnd := t.follow && (len(t.view) == 0 || t.cursor == len(t.view)-1)
	if n < t.seen {
		sel = -1
		t.stale = true
	}
	if t.stale {
		t.view = t.view[:0]
		t.seen = 0
		t.stale = false
	}
	var add []int
	for i := t.seen; i < n; i++ {
		t.measure(i)
		if t.match(i) {
			add = append(add, i)
		}
	}
	t.seen = n
	if len(add) > 0 {
		slices.SortFunc(add, t.less)
		if len(t.view) == 0 || t.less(t.view[len(t.view)-1], add[0]) < 0 {
			t.view = append(t.view, add...)
		} else {
			t.view = mergeSorted(t.view, add, t.less)
		}
	}
	t.cursor = 0
	switch {
	case atEnd && len(t.view) > 0:
		t.cursor = len(t.view) - 1
	case sel >= 0 && t.moved:
		if i := slices.Index(t.view, sel); i >= 0 {
			t.cursor = i
		}
	}
}

// dropFront removes the first k rows of the source from the view: the
// source forgot them and the indices of the others shifted down by k.
func (t *table) dropFront(k int) {
	sel := -1
	if t.cursor >= 0 && t.cursor < len(t.view) {
		sel = t.view[t.cursor]
	}
	out := t.view[:0]
	t.cursor = 0
	for _, v := range t.view {
		if v >= k {
			if v == sel {
				t.cursor = len(out)
			}
			out = append(out, v-k)
		}
	}
	t.view = out
	t.seen = max(0, t.seen-k)
	if t.follow && len(t.view) > 0 {
		t.cursor = len(t.view) - 1
	}
}

// mergeSorted merges the sorted b into the sorted a, in a's storage.
// Only the part of a after b's first row moves: rows mostly arrive in
// order, so that is a short tail, not the whole view.
func mergeSorted(a, b []int, cmp func(x, y int) int) []int {
	pos, _ := slices.BinarySearchFunc(a, b[0], func(x, y int) int {
		if cmp(x, y) <= 0 {
			return -1
		}
		return 1
	})
	tail := slices.Clone(a[pos:])
	out := a[:pos]
	i, j := 0, 0
	for i < len(tail) && j < len(b) {
		if cmp(tail[i], b[j]) <= 0 {
			out = append(out, tail[i])
			i++
		} else {
			out = append(out, b[j])
			j++
		}
	}
	out = append(out, tail[i:]...)
	return append(out, b[j:]...)
}

func (t *table) measure(row int) {
	for c := range t.cols {
		if w := textWidth(t.src.cell(row, c)); w > t.widths[c] {
			t.widths[c] = w
		}
	}
}

// setFilter filters rows by an expression over their record fields, as
// --filter takes it (`severity >= "medium"`), or else by a case-insensitive
// substring. Text with an operator, quote or space is taken for an
// expression when it compiles.
func (t *table) setFilter(s string) {
	if s == t.filter {
		return
	}
	t.filter, t.lower, t.expr, t.exprErr = s, strings.ToLower(s), nil, ""
	if strings.ContainsAny(s, "=<>!&|\"'() ") {
		if f, err := filter.Compile(s); err == nil {
			t.expr = f
		} else {
			t.exprErr = err.Error()
		}
	}
	t.resort()
}

// resort rebuilds the view, keeping the cursor on its row if it passes.
func (t *table) resort() {
	sel := t.selected()
	t.stale = true
	t.sync()
	if sel >= 0 && t.moved {
		if i := slices.Index(t.view, sel); i >= 0 {
			t.cursor = i
		}
	}
}

// cycleSort sorts by the next column (or reverses the order).
func (t *table) cycleSort(reverse bool) {
	if reverse {
		t.desc = !t.desc
	} else {
		t.sortCol = (t.sortCol + 1) % len(t.cols)
		t.desc = false
	}
	t.resort()
}

// arrow marks the sort column's header with the order.
func (t *table) arrow() string {
	if t.desc {
		return "↓"
	}
	return "↑"
}

// move moves the cursor by d rows, clamped.
func (t *table) move(d int) {
	t.sync()
	t.setCursor(t.cursor + d)
}

func (t *table) setCursor(i int) {
	t.moved = true
	t.cursor = max(0, min(i, len(t.view)-1))
	t.follow = len(t.view) > 0 && t.cursor == len(t.view)-1
}

// layout picks the columns that fit in width w and their widths: columns
// are hidden by rank until the rest fit; flex columns share what is left.
func (t *table) layout(w int) (idx []int, widths []int) {
	hidden := make([]bool, len(t.cols))
	pref := func(c int) int {
		if t.cols[c].flex {
			return t.cols[c].min
		}
		return max(t.cols[c].min, min(t.widths[c], t.cols[c].max))
	}
	for {
		total, n := 0, 0
		for c := range t.cols {
			if !hidden[c] {
				total += pref(c)
				n++
			}
		}
		total += n - 1
		if total <= w {
			break
		}
		worst := -1
		for c, col := range t.cols {
			// The sort column stays: rows sorted by a hidden column
			// would seem in no order.
			if !hidden[c] && col.drop > 0 && c != t.sortCol && (worst < 0 || col.drop > t.cols[worst].drop) {
				worst = c
			}
		}
		if worst < 0 {
			break
		}
		hidden[worst] = true
	}
	used, flex := 0, -1
	for c := range t.cols {
		if hidden[c] {
			continue
		}
		if len(idx) > 0 {
			used++
		}
		idx = append(idx, c)
		widths = append(widths, pref(c))
		used += pref(c)
		if t.cols[c].flex && flex < 0 {
			flex = len(idx) - 1
		}
	}
	if flex >= 0 && used < w {
		widths[flex] += w - used
	}
	return idx, widths
}

// scroll keeps the cursor within the h visible rows.
func (t *table) scroll(h int) {
	if h < 1 {
		h = 1
	}
	if t.cursor < t.top {
		t.top = t.cursor
	}
	if t.cursor >= t.top+h {
		t.top = t.cursor - h + 1
	}
	if t.top > len(t.view)-h {
		t.top = max(0, len(t.view)-h)
	}
	if t.top < 0 {
		t.top = 0
	}
}
