package leaks

import (
	"cmp"
	"math"
	"slices"
	"strings"

	"github.com/coapaudit/coapaudit/stats"
)

// DefaultK is the neighbour count of the k-NN classifier and of Ross's
// mutual information estimator. Three is Ross's choice (and Kraskov's): a
// small k keeps the estimators local, which small captures need, and an
// odd k avoids most two-label ties.
const DefaultK = 3

// Points keeps labelled feature vectors (for instance size, direction and
// inter-arrival time) for the k-nearest-neighbour estimators. It keeps at
// most Limits.MaxPoints of them, a uniform sample of the stream chosen by
// reservoir sampling with a seeded generator. A Points is not safe for
// concurrent use.
type Points struct {
	dim   int
	lim   Limits
	ids   map[string]LabelID
	names []string
	res   stats.Reservoir
	lab   []LabelID
	feat  []float64 // len(lab) * dim
	drop  int
}

// NewPoints returns an empty accumulator of dim-dimensional points.
func NewPoints(dim int, lim Limits, seed uint64) *Points {
	if dim < 1 {
		panic("leaks: NewPoints with dim < 1")
	}
	lim = lim.withDefaults()
	return &Points{
		dim: dim,
		lim: lim,
		ids: make(map[string]LabelID),
		res: stats.NewReservoir(lim.MaxPoints, newRand(seed, streamReservoir)),
	}
}

// Intern returns the id of label, adding it if there is room.
func (p *Points) Intern(label string) (LabelID, bool) {
	if id, ok := p.ids[label]; ok {
		return id, true
	}
	if len(p.names) >= p.lim.MaxLabels {
		return NoLabel, false
	}
	label = strings.Clone(label)
	id := LabelID(len(p.names))
	p.ids[label] = id
	p.names = append(p.names, label)
	return id, true
}

// Add offers one point. It panics unless len(features) is the dimension.
// Points with a NaN or infinite feature, or a label beyond the label cap,
// are dropped.
func (p *Points) Add(label string, features ...float64) {
	id, _ := p.Intern(label)
	p.AddID(id, features...)
}

// AddID is Add for an interned label.
func (p *Points) AddID(id LabelID, features ...float64) {
	if len(features) != p.dim {
		panic("leaks: Points.Add with the wrong number of features")
	}
	if id < 0 || int(id) >= len(p.names) {
		p.drop++
		return
	}
	for _, f := range features {
		if math.IsNaN(f) || math.IsInf(f, 0) {
			p.drop++
			return
		}
	}
	slot := p.res.Offer()
	switch {
	case slot < 0:
		return
	case slot == len(p.lab):
		p.lab = append(p.lab, id)
		p.feat = append(p.feat, features...)
	default:
		p.lab[slot] = id
		copy(p.feat[slot*p.dim:], features)
	}
}

// Seen returns the number of points offered and accepted (kept or not).
func (p *Points) Seen() int { return p.res.Seen() }

// Len returns the number of points kept.
func (p *Points) Len() int { return len(p.lab) }

// Dropped returns the number of points refused (bad feature, label cap).
func (p *Points) Dropped() int { return p.drop }

// KNNResult is the leave-one-out accuracy of a k-NN classifier (M2).
type KNNResult struct {
	Accuracy float64
	// Baseline is the majority share among the points used.
	Baseline float64
	K        int
	// N is the number of points used, Seen the number offered (more when
	// the reservoir sampled).
	N, Seen int
	// Features is the number of features that vary; constant ones carry
	// no information and are left out.
	Features int
}

// KNNAccuracy classifies every kept point by its k nearest neighbours
// among the others (leave-one-out) and returns the share classified
// right. Features are standardised to mean 0 and standard deviation 1;
// distances are Euclidean. All points at the k-th smallest distance take
// part in the vote, so duplicates and ties do not depend on input order;
// when labels tie in the vote, the point counts as right with probability
// one over the number tied. k <= 0 means DefaultK.
//
// The neighbour search sorts the distinct points along one feature (the
// one that needs the least work on a sample of queries) and scans outward
// until the gap along that feature alone exceeds the current k-th
// distance, so well-spread data costs far less than the n^2 of a full
// scan.
func (p *Points) KNNAccuracy(k int) KNNResult {
	if k <= 0 {
		k = DefaultK
	}
	n := len(p.lab)
	r := KNNResult{K: k, N: n, Seen: p.res.Seen()}
	if n == 0 {
		return r
	}
	counts := make([]int, len(p.names))
	for _, x := range p.lab {
		counts[x]++
	}
	r.Baseline = float64(slices.Max(counts)) / float64(n)
	if n < 2 {
		return r
	}
	z, d := p.standardised()
	r.Features = d
	u := groupPoints(z, d, p.lab)
	r.Accuracy = u.looAccuracy(k, len(p.names)) / float64(n)
	return r
}

// standardised returns the points with their varying features scaled to
// mean 0 and standard deviation 1, and the number of such features.
func (p *Points) standardised() ([]float64, int) {
	n := len(p.lab)
	keep := make([]int, 0, p.dim)
	mean := make([]float64, p.dim)
	sd := make([]float64, p.dim)
	for f := range p.dim {
		var s float64
		for i := range n {
			s += p.feat[i*p.dim+f]
		}
		m := s / float64(n)
		var ss float64
		for i := range n {
			dv := p.feat[i*p.dim+f] - m
			ss += dv * dv
		}
		mean[f], sd[f] = m, math.Sqrt(ss/float64(n))
		if sd[f] > 0 && !math.IsInf(sd[f], 0) {
			keep = append(keep, f)
		}
	}
	d := len(keep)
	z := make([]float64, n*d)
	for i := range n {
		for j, f := range keep {
			z[i*d+j] = (p.feat[i*p.dim+f] - mean[f]) / sd[f]
		}
	}
	return z, d
}

// uniquePoints holds distinct feature vectors with the label counts of
// the points at each.
type uniquePoints struct {
	d      int
	coord  []float64 // len = count * d
	total  []int     // points at each distinct vector
	labOff []int     // labels of vector u: lab[labOff[u]:labOff[u+1]]
	lab    []labelCount
}

type labelCount struct {
	x LabelID
	n int
}

func groupPoints(z []float64, d int, labels []LabelID) *uniquePoints {
	n := len(labels)
	idx := make([]int, n)
	for i := range idx {
		idx[i] = i
	}
	slices.SortFunc(idx, func(a, b int) int {
		if c := slices.Compare(z[a*d:a*d+d], z[b*d:b*d+d]); c != 0 {
			return c
		}
		return cmp.Compare(labels[a], labels[b])
	})
	u := &uniquePoints{d: d}
	for j, i := range idx {
		v := z[i*d : i*d+d]
		if j == 0 || !slices.Equal(v, z[idx[j-1]*d:idx[j-1]*d+d]) {
			u.coord = append(u.coord, v...)
			u.total = append(u.total, 0)
			u.labOff = append(u.labOff, len(u.lab))
		}
		last := len(u.total) - 1
		u.total[last]++
		if l := len(u.lab) - 1; l >= u.labOff[last] && u.lab[l].x == labels[i] {
			u.lab[l].n++
		} else {
			u.lab = append(u.lab, labelCount{x: labels[i], n: 1})
		}
	}
	u.labOff = append(u.labOff, len(u.lab))
	return u
}

func (u *uniquePoints) labels(i int) []labelCount { return u.lab[u.labOff[i]:u.labOff[i+1]] }

func (u *uniquePoints) dist2(a, b int) float64 {
	var s float64
	for f := range u.d {
		dv := u.coord[a*u.d+f] - u.coord[b*u.d+f]
		s += dv * dv
	}
	return s
}

// looAccuracy returns the number of points (fractional with ties) that
// the leave-one-out k-NN vote labels right.
func (u *uniquePoints) looAccuracy(k, nLabels int) float64 {
	m := len(u.total)
	// Sort the distinct points along one feature and prune the scan with
	// it. The feature is the one that needs the fewest distance
	// computations on a sample of 32 queries; with no varying feature
	// every point is at distance 0.
	var s *searcher
	best := -1
	for f := range u.d {
		c := newSearcher(u, k, f)
		work := 0
		for pos := 0; pos < m; pos += max(1, m/32) {
			c.neighbours(pos)
			work += len(c.cands)
		}
		if s == nil || work < best {
			s, best = c, work
		}
	}
	if s == nil {
		s = newSearcher(u, k, -1)
	}

	votes := make([]float64, nLabels)
	var touched []LabelID
	vote := func(lc []labelCount) {
		for _, c := range lc {
			if votes[c.x] == 0 {
				touched = append(touched, c.x)
			}
			votes[c.x] += float64(c.n)
		}
	}
	var correct float64
	for pos, self := range s.order {
		dk := s.neighbours(pos)
		touched = touched[:0]
		vote(u.labels(self))
		for _, c := range s.cands {
			if c.d2 <= dk {
				vote(u.labels(c.j))
			}
		}
		for _, c := range u.labels(self) {
			votes[c.x]-- // leave the point itself out
			top, tied := 0.0, 0
			for _, x := range touched {
				switch v := votes[x]; {
				case v > top:
					top, tied = v, 1
				case v == top && v > 0:
					tied++
				}
			}
			if top > 0 && votes[c.x] == top {
				correct += float64(c.n) / float64(tied)
			}
			votes[c.x]++
		}
		for _, x := range touched {
			votes[x] = 0
		}
	}
	return correct
}

// searcher finds the nearest neighbours of distinct points sorted along
// one axis.
type searcher struct {
	u     *uniquePoints
	order []int     // distinct points sorted along the axis
	key   []float64 // their coordinate on the axis (0 without one)
	h     kHeap
	cands []candidate
}

func newSearcher(u *uniquePoints, k, axis int) *searcher {
	m := len(u.total)
	s := &searcher{u: u, order: make([]int, m), key: make([]float64, m)}
	s.h.k = k
	for i := range s.order {
		s.order[i] = i
	}
	if axis >= 0 {
		slices.SortStableFunc(s.order, func(a, b int) int {
			return cmp.Compare(u.coord[a*u.d+axis], u.coord[b*u.d+axis])
		})
		for i, j := range s.order {
			s.key[i] = u.coord[j*u.d+axis]
		}
	}
	return s
}

// neighbours collects in s.cands every distinct point that may be among
// the k nearest of the point at sorted position pos (the point's own
// duplicates excluded), and returns the k-th smallest squared distance:
// the candidates within it are the neighbours, ties included.
func (s *searcher) neighbours(pos int) float64 {
	u, m := s.u, len(s.order)
	self := s.order[pos]
	s.h.reset(s.h.k)
	s.cands = s.cands[:0]
	if rest := u.total[self] - 1; rest > 0 {
		s.h.push(0, rest)
	}
	ps := s.key[pos]
	lo, hi := pos-1, pos+1
	for lo >= 0 || hi < m {
		// Take the side whose next point is closer along the axis.
		var p int
		var gap float64
		switch {
		case lo < 0:
			p, gap = hi, s.key[hi]-ps
			hi++
		case hi >= m:
			p, gap = lo, ps-s.key[lo]
			lo--
		default:
			if gl, gh := ps-s.key[lo], s.key[hi]-ps; gl <= gh {
				p, gap = lo, gl
				lo--
			} else {
				p, gap = hi, gh
				hi++
			}
		}
		if gap*gap > s.h.bound() {
			break // every point further along either side is further away
		}
		j := s.order[p]
		d2 := u.dist2(self, j)
		s.cands = append(s.cands, candidate{j, d2})
		if d2 <= s.h.bound() {
			s.h.push(d2, u.total[j])
		}
	}
	return s.h.bound()
}

type candidate struct {
	j  int
	d2 float64
}

// kHeap keeps the nearest points seen so far whose counts reach k: a max
// heap on distance from which the farthest entry is dropped while the
// others still hold k points.
type kHeap struct {
	k     int
	total int
	e     []heapEntry
}

type heapEntry struct {
	d2 float64
	w  int
}

func (h *kHeap) reset(k int) { h.k, h.total, h.e = k, 0, h.e[:0] }

// bound returns the distance of the k-th nearest point so far, or +Inf
// while fewer than k points were seen.
func (h *kHeap) bound() float64 {
	if h.total < h.k {
		return math.Inf(1)
	}
	return h.e[0].d2
}

func (h *kHeap) push(d2 float64, w int) {
	h.e = append(h.e, heapEntry{d2, w})
	h.total += w
	for i := len(h.e) - 1; i > 0; {
		p := (i - 1) / 2
		if h.e[p].d2 >= h.e[i].d2 {
			break
		}
		h.e[p], h.e[i] = h.e[i], h.e[p]
		i = p
	}
	for len(h.e) > 0 && h.total-h.e[0].w >= h.k {
		h.total -= h.e[0].w
		h.pop()
	}
}

func (h *kHeap) pop() {
	last := len(h.e) - 1
	h.e[0] = h.e[last]
	h.e = h.e[:last]
	for i := 0; ; {
		l, r, big := 2*i+1, 2*i+2, i
		if l < len(h.e) && h.e[l].d2 > h.e[big].d2 {
			big = l
		}
		if r < len(h.e) && h.e[r].d2 > h.e[big].d2 {
			big = r
		}
		if big == i {
			return
		}
		h.e[i], h.e[big] = h.e[big], h.e[i]
		i = big
	}
}

// Leak returns the result as a knn_accuracy record: the value is the
// accuracy, the baseline the majority share. Extra keys: k, seen,
// features.
func (r KNNResult) Leak(scope string) Leak {
	return Leak{
		Metric:   MetricKNNAccuracy,
		Scope:    scope,
		Value:    r.Accuracy,
		Unit:     UnitProbability,
		Baseline: ptr(r.Baseline),
		N:        r.N,
		Extra:    map[string]any{"k": r.K, "seen": r.Seen, "features": r.Features},
	}
}

// ContinuousMIResult is Ross's k-NN estimate of the mutual information
// between the label and one continuous feature (M1 for timing).
type ContinuousMIResult struct {
	// Bits is the estimate clamped at 0; Raw is the unclamped value (it
	// scatters around 0 for independent data).
	Bits, Raw float64
	K         int
	// N is the number of points used: those whose label has at least two
	// points among the kept ones. Seen is the number offered.
	N, Seen int
	// HX is the plug-in entropy of the labels of the points used, in bits,
	// and Share is Bits / HX (at most 1).
	HX, Share float64
}

// MutualInformation estimates I(X; Y) in bits between the label X and the
// continuous feature Y (index feature) of the kept points with the
// estimator of Ross ("Mutual information between discrete and continuous
// data sets", PLoS ONE 9(2), 2014):
//
//	I = psi(N) - <psi(N_x)> + psi(k) - <psi(m)>
//
// where for each point d is the distance to its k-th nearest neighbour
// with the same label, m the number of points of any label within d (the
// point itself excluded) and N_x the number of points with its label.
// Labels with a single point are left out, and k is lowered to N_x - 1 for
// labels with fewer than k+1 points. k <= 0 means DefaultK.
func (p *Points) MutualInformation(feature, k int) ContinuousMIResult {
	if feature < 0 || feature >= p.dim {
		panic("leaks: Points.MutualInformation feature out of range")
	}
	if k <= 0 {
		k = DefaultK
	}
	r := ContinuousMIResult{K: k, Seen: p.res.Seen()}
	counts := make([]int, len(p.names))
	for _, x := range p.lab {
		counts[x]++
	}
	byLabel := make([][]float64, len(p.names))
	var all []float64
	for i, x := range p.lab {
		if counts[x] < 2 {
			continue
		}
		v := p.feat[i*p.dim+feature]
		byLabel[x] = append(byLabel[x], v)
		all = append(all, v)
	}
	n := len(all)
	r.N = n
	if n == 0 {
		return r
	}
	slices.Sort(all)
	psi := digammaTable(n)
	var sumNx, sumK, sumM, sRows float64
	for _, vs := range byLabel {
		if len(vs) == 0 {
			continue
		}
		slices.Sort(vs)
		nx := len(vs)
		kx := min(k, nx-1)
		sRows += nlogn(nx)
		for pos, v := range vs {
			d := kthGap(vs, pos, kx)
			lo, _ := slices.BinarySearchFunc(all, v, func(g, v float64) int {
				if v-g <= d {
					return 1
				}
				return -1
			})
			hi, _ := slices.BinarySearchFunc(all, v, func(g, v float64) int {
				if g-v > d {
					return 1
				}
				return -1
			})
			m := hi - lo - 1
			sumNx += psi[nx]
			sumK += psi[kx]
			sumM += psi[m]
		}
	}
	nf := float64(n)
	r.Raw = (psi[n] - sumNx/nf + sumK/nf - sumM/nf) / math.Ln2
	r.Bits = clampZero(r.Raw)
	r.HX = entropyBits(sRows, n)
	if r.HX > 0 {
		r.Share = min(1, r.Bits/r.HX)
	}
	return r
}

// kthGap returns the distance from sorted[pos] to its k-th nearest other
// element of sorted.
func kthGap(sorted []float64, pos, k int) float64 {
	v := sorted[pos]
	lo, hi := pos-1, pos+1
	var d float64
	for range k {
		switch {
		case lo < 0:
			d = sorted[hi] - v
			hi++
		case hi >= len(sorted):
			d = v - sorted[lo]
			lo--
		default:
			dl, dh := v-sorted[lo], sorted[hi]-v
			if dl <= dh {
				d = dl
				lo--
			} else {
				d = dh
				hi++
			}
		}
	}
	return d
}

// Leak returns the result as a mutual_information record. Extra keys:
// estimator ("ross-knn"), raw, k, seen, h_x, share.
func (r ContinuousMIResult) Leak(scope string) Leak {
	return Leak{
		Metric: MetricMutualInformation,
		Scope:  scope,
		Value:  r.Bits,
		Unit:   UnitBits,
		N:      r.N,
		Extra: map[string]any{
			"estimator": "ross-knn",
			"raw":       r.Raw,
			"k":         r.K,
			"seen":      r.Seen,
			"h_x":       r.HX,
			"share":     r.Share,
		},
	}
}
