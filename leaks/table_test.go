package leaks

import (
	"slices"
	"strings"
	"testing"
)

// tableOf builds a table from rows of counts: counts[x][y] samples with
// label labels[x] and value values[y].
func tableOf(labels []string, values []uint64, counts [][]int) *Table {
	d := NewDiscrete(Limits{})
	for x, row := range counts {
		for y, n := range row {
			d.AddN(labels[x], values[y], n)
		}
	}
	return d.Table()
}

func TestDiscreteTable(t *testing.T) {
	d := NewDiscrete(Limits{})
	d.Add("PUT /b", 30)
	d.Add("GET /a", 20)
	d.Add("GET /a", 20)
	d.AddN("PUT /b", 20, 3)
	d.AddN("GET /a", 99, 0) // ignored
	id, ok := d.Intern("GET /a")
	if !ok {
		t.Fatal("Intern refused a known label")
	}
	d.AddID(id, 10)
	tb := d.Table()
	if got, want := tb.Labels(), []string{"GET /a", "PUT /b"}; !slices.Equal(got, want) {
		t.Errorf("labels %q, want %q", got, want)
	}
	if got, want := tb.Values(), []uint64{10, 20, 30}; !slices.Equal(got, want) {
		t.Errorf("values %v, want %v", got, want)
	}
	if tb.N() != 7 || d.N() != 7 {
		t.Errorf("N = %d, %d, want 7", tb.N(), d.N())
	}
	want := [][]int{{1, 2, 0}, {0, 3, 1}}
	for x := range want {
		for y := range want[x] {
			if got := tb.Count(x, y); got != want[x][y] {
				t.Errorf("Count(%d, %d) = %d, want %d", x, y, got, want[x][y])
			}
		}
	}
	if tb.LabelCount(0) != 3 || tb.LabelCount(1) != 4 || tb.ValueCount(1) != 5 {
		t.Errorf("margins %v %v", tb.rows, tb.cols)
	}
	// Cells are ordered by value, then label.
	var got []Cell
	for y := range tb.Values() {
		got = append(got, tb.Column(y)...)
	}
	if !slices.Equal(got, tb.Cells()) || !slices.IsSortedFunc(got, func(a, b Cell) int {
		if a.Y != b.Y {
			return a.Y - b.Y
		}
		return a.X - b.X
	}) {
		t.Errorf("cells %v", tb.Cells())
	}
}

// TestDiscreteLargeObservations: observations beyond 48 bits take the
// other map and count the same.
func TestDiscreteLargeObservations(t *testing.T) {
	d := NewDiscrete(Limits{MaxCells: 3})
	seq := Sequence([]int{41, 1054, 982})
	d.Add("GET /firmware", seq)
	d.Add("GET /firmware", seq)
	d.Add("GET /a", Pair(41, 23))
	d.Add("GET /a", 1<<63)
	d.Add("GET /a", 1<<62) // cell cap
	tb := d.Table()
	if got, want := tb.Values(), []uint64{Pair(41, 23), 1 << 63, seq}; !slices.Equal(got, want) {
		t.Fatalf("values %x, want %x", got, want)
	}
	if tb.Count(1, 2) != 2 || tb.Count(0, 0) != 1 || tb.Count(0, 1) != 1 || d.Dropped() != 1 {
		t.Errorf("cells %v dropped %d", tb.Cells(), d.Dropped())
	}
	if Sequence([]int{1, 2}) == Sequence([]int{2, 1}) || Sequence(nil) < 1<<63 || !sameSequenceKey([]int{7}) {
		t.Error("Sequence keys")
	}
}

func TestDiscreteCaps(t *testing.T) {
	d := NewDiscrete(Limits{MaxLabels: 2, MaxCells: 3})
	d.Add("a", 1)
	d.Add("b", 1)
	d.Add("c", 1) // label cap
	if _, ok := d.Intern("c"); ok {
		t.Error("Intern accepted a label beyond the cap")
	}
	d.AddID(NoLabel, 1)
	d.Add("a", 2)
	d.Add("a", 3) // cell cap
	d.Add("a", 1) // known cell: still counted
	if d.N() != 4 || d.Dropped() != 3 {
		t.Errorf("N %d dropped %d, want 4 and 3", d.N(), d.Dropped())
	}
	if tb := d.Table(); tb.N() != 4 || tb.Dropped() != 3 || len(tb.Cells()) != 3 {
		t.Errorf("table N %d dropped %d cells %d", tb.N(), tb.Dropped(), len(tb.Cells()))
	}
}

func TestDiscreteAddAllocs(t *testing.T) {
	d := NewDiscrete(Limits{})
	label := strings.Repeat("x", 3) + " /sensors/temp" // not a constant
	d.Add(label, 42)
	id, _ := d.Intern(label)
	if n := testing.AllocsPerRun(1000, func() { d.Add(label, 42) }); n != 0 {
		t.Errorf("Add to a known cell: %v allocations", n)
	}
	if n := testing.AllocsPerRun(1000, func() { d.AddID(id, 42) }); n != 0 {
		t.Errorf("AddID to a known cell: %v allocations", n)
	}
}

func TestDiscreteClonesLabels(t *testing.T) {
	buf := []byte("GET /a")
	d := NewDiscrete(Limits{})
	d.Add(string(buf), 1)
	buf[0] = 'X'
	if got := d.Table().Labels()[0]; got != "GET /a" {
		t.Errorf("label %q", got)
	}
}

func TestTableMapRestrict(t *testing.T) {
	tb := tableOf([]string{"a", "b", "c"}, []uint64{1, 2, 3, 9},
		[][]int{{1, 2, 0, 0}, {0, 0, 4, 0}, {0, 0, 0, 5}})
	m := tb.Map(func(v uint64) uint64 { return (v + 3) / 4 * 4 }) // 4, 4, 4, 12
	if got := m.Values(); !slices.Equal(got, []uint64{4, 12}) {
		t.Fatalf("mapped values %v", got)
	}
	if m.Count(0, 0) != 3 || m.Count(1, 0) != 4 || m.Count(2, 1) != 5 || m.Count(2, 0) != 0 {
		t.Errorf("mapped cells %v", m.Cells())
	}
	if m.N() != tb.N() {
		t.Errorf("N changed: %d", m.N())
	}
	r := tb.Restrict(func(l string) bool { return l != "b" })
	if got := r.Labels(); !slices.Equal(got, []string{"a", "c"}) {
		t.Errorf("restricted labels %q", got)
	}
	if got := r.Values(); !slices.Equal(got, []uint64{1, 2, 9}) {
		t.Errorf("restricted values %v", got)
	}
	if r.N() != 8 {
		t.Errorf("restricted N %d", r.N())
	}
}

func TestEmptyTable(t *testing.T) {
	tb := NewDiscrete(Limits{}).Table()
	if mi := tb.MutualInformation(Options{}); mi.Bits != 0 || mi.N != 0 || mi.PValue != 1 {
		t.Errorf("MI of empty table: %+v", mi)
	}
	if b := tb.Bayes(); b.V != 0 || b.V0 != 0 {
		t.Errorf("Bayes of empty table: %+v", b)
	}
	if a := tb.Anonymity(); len(a.Sets) != 0 {
		t.Errorf("anonymity of empty table: %+v", a)
	}
	if p := AdvisePadding(tb, PaddingOptions{}); len(p) == 0 {
		t.Error("no padding results for an empty table")
	}
}

// sameSequenceKey reports whether Sequence gives one key for the same input
// twice (it must be deterministic).
func sameSequenceKey(v []int) bool {
	a, b := Sequence(v), Sequence(v)
	return a == b
}
