package leaks

import (
	"cmp"
	"slices"
	"strings"
)

// LabelID is a label interned by a Discrete or Points. Negative values
// stand for a label that was refused because the label cap was reached.
type LabelID int32

// NoLabel is the LabelID of a refused label; samples added with it are
// counted as dropped.
const NoLabel LabelID = -1

type cellKey struct {
	obs uint64
	x   LabelID
}

// Cells whose observation fits in 48 bits (sizes, pairs of sizes) are
// found through a map keyed by obs<<16 | label, which hashes faster than
// the struct key that other observations use.
const (
	packShift = 16
	packLimit = 1 << (64 - packShift)
)

// Discrete counts (label, observation) pairs: the joint distribution of a
// hidden label X and a discrete observable Y. The zero value is not
// usable; call NewDiscrete. A Discrete is not safe for concurrent use.
type Discrete struct {
	lim    Limits
	ids    map[string]LabelID
	names  []string
	packed map[uint64]int32  // obs<<16 | label -> index into keys
	idx    map[cellKey]int32 // cells of larger observations
	keys   []cellKey
	counts []int
	n      int
	drop   int
}

// NewDiscrete returns an empty accumulator bounded by lim.
func NewDiscrete(lim Limits) *Discrete {
	return &Discrete{
		lim:    lim.withDefaults(),
		ids:    make(map[string]LabelID),
		packed: make(map[uint64]int32),
		idx:    make(map[cellKey]int32),
	}
}

// Intern returns the id of label, adding it if there is room. When
// MaxLabels labels are known already it returns NoLabel and false.
func (d *Discrete) Intern(label string) (LabelID, bool) {
	if id, ok := d.ids[label]; ok {
		return id, true
	}
	if len(d.names) >= min(d.lim.MaxLabels, 1<<packShift) {
		return NoLabel, false
	}
	label = strings.Clone(label) // do not pin the caller's buffer
	id := LabelID(len(d.names))
	d.ids[label] = id
	d.names = append(d.names, label)
	return id, true
}

// Add counts one sample.
func (d *Discrete) Add(label string, obs uint64) { d.AddN(label, obs, 1) }

// AddN counts n samples with the same label and observation. n <= 0 is
// ignored.
func (d *Discrete) AddN(label string, obs uint64, n int) {
	if n <= 0 {
		return
	}
	id, _ := d.Intern(label)
	d.addID(id, obs, n)
}

// AddID counts one sample of an interned label. It is Add without the
// label lookup, for callers that intern their labels once.
func (d *Discrete) AddID(id LabelID, obs uint64) { d.addID(id, obs, 1) }

// AddIDN counts n samples of an interned label with the same
// observation. n <= 0 is ignored.
func (d *Discrete) AddIDN(id LabelID, obs uint64, n int) {
	if n > 0 {
		d.addID(id, obs, n)
	}
}

func (d *Discrete) addID(id LabelID, obs uint64, n int) {
	if id < 0 || int(id) >= len(d.names) {
		d.drop += n
		return
	}
	k := cellKey{obs: obs, x: id}
	var i int32
	var ok bool
	if obs < packLimit {
		i, ok = d.packed[obs<<packShift|uint64(id)]
	} else {
		i, ok = d.idx[k]
	}
	if ok {
		d.counts[i] += n
		d.n += n
		return
	}
	if len(d.keys) >= d.lim.MaxCells {
		d.drop += n
		return
	}
	if obs < packLimit {
		d.packed[obs<<packShift|uint64(id)] = int32(len(d.keys))
	} else {
		d.idx[k] = int32(len(d.keys))
	}
	d.keys = append(d.keys, k)
	d.counts = append(d.counts, n)
	d.n += n
}

// N returns the number of samples counted.
func (d *Discrete) N() int { return d.n }

// Dropped returns the number of samples refused because a cap was reached.
func (d *Discrete) Dropped() int { return d.drop }

// Table returns a snapshot of the counts as a contingency table. The
// Discrete can go on accumulating.
func (d *Discrete) Table() *Table {
	tr := make([]triple, len(d.keys))
	for i, k := range d.keys {
		tr[i] = triple{x: int(k.x), obs: k.obs, n: d.counts[i]}
	}
	return newTable(d.names, tr, d.drop)
}

// Cell is one non-empty cell of a Table: N samples with label Labels()[X]
// and observation Values()[Y].
type Cell struct {
	X, Y int
	N    int
}

// Table is an immutable contingency table of labels (rows) against
// observed values (columns). Labels and values are sorted, and only
// non-empty cells are stored.
type Table struct {
	labels []string
	values []uint64
	cells  []Cell // sorted by (Y, X)
	rows   []int
	cols   []int
	colOff []int // cells[colOff[y]:colOff[y+1]] is column y
	n      int
	drop   int
}

type triple struct {
	x   int // index into the caller's label slice
	obs uint64
	n   int
}

// newTable builds a Table from counts over labels. Triples may repeat a
// (label, observation) pair; their counts add up. Labels without samples
// are left out.
func newTable(labels []string, tr []triple, dropped int) *Table {
	t := &Table{drop: dropped}
	used := make([]bool, len(labels))
	for _, c := range tr {
		if c.n > 0 {
			used[c.x] = true
		}
	}
	order := make([]int, 0, len(labels))
	for i := range labels {
		if used[i] {
			order = append(order, i)
		}
	}
	slices.SortFunc(order, func(a, b int) int { return strings.Compare(labels[a], labels[b]) })
	remap := make([]int, len(labels))
	t.labels = make([]string, len(order))
	for j, i := range order {
		remap[i] = j
		t.labels[j] = labels[i]
	}

	sorted := make([]triple, 0, len(tr))
	for _, c := range tr {
		if c.n > 0 {
			sorted = append(sorted, triple{x: remap[c.x], obs: c.obs, n: c.n})
		}
	}
	slices.SortFunc(sorted, func(a, b triple) int {
		if c := cmp.Compare(a.obs, b.obs); c != 0 {
			return c
		}
		return cmp.Compare(a.x, b.x)
	})

	t.rows = make([]int, len(t.labels))
	for _, c := range sorted {
		y := len(t.values) - 1
		if y < 0 || t.values[y] != c.obs {
			t.values = append(t.values, c.obs)
			t.cols = append(t.cols, 0)
			t.colOff = append(t.colOff, len(t.cells))
			y++
		}
		if k := len(t.cells) - 1; k >= 0 && t.cells[k].Y == y && t.cells[k].X == c.x {
			t.cells[k].N += c.n
		} else {
			t.cells = append(t.cells, Cell{X: c.x, Y: y, N: c.n})
		}
		t.rows[c.x] += c.n
		t.cols[y] += c.n
		t.n += c.n
	}
	t.colOff = append(t.colOff, len(t.cells))
	return t
}

// Labels returns the labels in sorted order. The slice must not be
// modified.
func (t *Table) Labels() []string { return t.labels }

// Values returns the distinct observations in increasing order. The slice
// must not be modified.
func (t *Table) Values() []uint64 { return t.values }

// Cells returns the non-empty cells ordered by value, then label. The
// slice must not be modified.
func (t *Table) Cells() []Cell { return t.cells }

// Column returns the non-empty cells of value index y, ordered by label.
func (t *Table) Column(y int) []Cell { return t.cells[t.colOff[y]:t.colOff[y+1]] }

// N returns the number of samples.
func (t *Table) N() int { return t.n }

// Dropped returns the number of samples the accumulator refused.
func (t *Table) Dropped() int { return t.drop }

// LabelCount returns the number of samples with label index x.
func (t *Table) LabelCount(x int) int { return t.rows[x] }

// ValueCount returns the number of samples with value index y.
func (t *Table) ValueCount(y int) int { return t.cols[y] }

// Count returns the number of samples with label index x and value
// index y.
func (t *Table) Count(x, y int) int {
	col := t.Column(y)
	i, ok := slices.BinarySearchFunc(col, x, func(c Cell, x int) int { return cmp.Compare(c.X, x) })
	if !ok {
		return 0
	}
	return col[i].N
}

// Map returns the table with every observation v replaced by f(v); cells
// that land on the same value merge. It models a transformation of the
// observable, such as padding.
func (t *Table) Map(f func(uint64) uint64) *Table {
	tr := make([]triple, len(t.cells))
	for i, c := range t.cells {
		tr[i] = triple{x: c.X, obs: f(t.values[c.Y]), n: c.N}
	}
	return newTable(t.labels, tr, t.drop)
}

// Restrict returns the table of the samples whose label keep accepts.
func (t *Table) Restrict(keep func(label string) bool) *Table {
	tr := make([]triple, 0, len(t.cells))
	for _, c := range t.cells {
		if keep(t.labels[c.X]) {
			tr = append(tr, triple{x: c.X, obs: t.values[c.Y], n: c.N})
		}
	}
	return newTable(t.labels, tr, 0)
}

// Pair packs two sizes, such as a request's and its response's, into one
// observation: a<<32 | b. Padding advice needs plain sizes; use pairs for
// the other estimators.
func Pair(a, b uint32) uint64 { return uint64(a)<<32 | uint64(b) }

// Sequence returns an observation key for a sequence of sizes (the
// messages of a block-wise transfer, an exchange with its retransmissions):
// the 64-bit FNV-1a hash of the sizes as 32-bit big-endian values, with the
// top bit set so that keys do not collide with single sizes. Equal
// sequences give equal keys; different ones collide with negligible
// probability. Like Pair, it is for the estimators other than padding.
func Sequence(sizes []int) uint64 {
	const (
		offset = 14695981039346656037
		prime  = 1099511628211
	)
	h := uint64(offset)
	for _, s := range sizes {
		v := uint32(s)
		for shift := 24; shift >= 0; shift -= 8 {
			h ^= uint64(byte(v >> shift))
			h *= prime
		}
	}
	return h | 1<<63
}
