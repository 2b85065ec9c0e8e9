package leaks

import (
	"cmp"
	"math"
	"slices"
)

// Truth values for Links.Add besides an index into the scores.
const (
	TruthUnknown = -1 // the true counterpart is not known
	TruthAbsent  = -2 // it is known and is not among the candidates
)

// Links accumulates linkability across a proxy (M5): for every item seen
// on one leg (a message leaving the proxy), the candidate items of the
// other leg it may come from, with scores. Memory is constant: only sums
// are kept. The zero value is ready to use.
type Links struct {
	items, empty       int
	certain            int
	sumMax, sumH, sumD float64
	known              int
	top1               float64
}

// LinkResult summarises linkability.
type LinkResult struct {
	// Items is the number of items added; NoCandidate of them had no
	// candidate with a positive score and are left out of the means.
	Items, NoCandidate int
	// Linkability is the mean over items of the largest candidate
	// probability: the chance that an observer who picks the most likely
	// candidate links an item right, if the scores are calibrated. It is
	// 1 when every item has a single candidate.
	Linkability float64
	// Certain counts items with a single candidate.
	Certain int
	// Entropy is the mean entropy of the candidate distributions in bits,
	// and Degree the mean degree of anonymity H / log2(candidates) of Diaz
	// et al. ("Towards measuring anonymity", PET 2002): 0 when an item is
	// linked with certainty, 1 when all candidates are equally likely.
	Entropy, Degree float64
	// Top1 is the share of items with known truth whose best-scored
	// candidate is the true one (ties split evenly; items whose true
	// counterpart is absent count as misses). Known is how many items had
	// known truth; Top1 is 0 when none had.
	Top1  float64
	Known int
}

// Add records one item: scores are non-negative weights of its candidates
// (normalised here), truth the index of the true candidate or TruthUnknown
// or TruthAbsent. Negative and NaN scores count as 0.
func (l *Links) Add(scores []float64, truth int) {
	l.items++
	var sum, top float64
	positive, tied := 0, 0
	for _, s := range scores {
		if !(s > 0) {
			continue
		}
		sum += s
		positive++
		switch {
		case s > top:
			top, tied = s, 1
		case s == top:
			tied++
		}
	}
	if truth != TruthUnknown {
		l.known++
		if truth >= 0 && truth < len(scores) && positive > 0 && scores[truth] == top {
			l.top1 += 1 / float64(tied)
		}
	}
	if positive == 0 || math.IsInf(sum, 0) {
		l.empty++
		return
	}
	if positive == 1 {
		l.certain++
	}
	var h float64
	for _, s := range scores {
		if s > 0 {
			p := s / sum
			h -= p * math.Log2(p)
		}
	}
	l.sumMax += top / sum
	l.sumH += h
	if len(scores) > 1 {
		l.sumD += h / math.Log2(float64(len(scores)))
	}
}

// Result returns the summary of the items added so far.
func (l *Links) Result() LinkResult {
	r := LinkResult{Items: l.items, NoCandidate: l.empty, Certain: l.certain, Known: l.known}
	if n := float64(l.items - l.empty); n > 0 {
		r.Linkability = l.sumMax / n
		r.Entropy = l.sumH / n
		r.Degree = l.sumD / n
	}
	if l.known > 0 {
		r.Top1 = l.top1 / float64(l.known)
	}
	return r
}

// LinkExact links the items of two legs that are byte for byte identical,
// as the OSCORE option and ciphertext are on both sides of a proxy that
// cannot read them. Each out item's candidates are the in items equal to
// it, all equally likely; an out item equal to none has no candidate.
// When every out item matches exactly one in item, Linkability is 1.
func LinkExact(in, out [][]byte) LinkResult {
	count := make(map[string]int, len(in))
	for _, b := range in {
		count[string(b)]++
	}
	var l Links
	for _, b := range out {
		c := count[string(b)]
		if c == 0 {
			l.Add(nil, TruthUnknown)
			continue
		}
		// c equal candidates: the sums only depend on their number.
		l.addUniform(c)
	}
	return l.Result()
}

// addUniform records an item with c equally likely candidates (c >= 1),
// as Add would with c equal scores and unknown truth.
func (l *Links) addUniform(c int) {
	l.items++
	if c == 1 {
		l.certain++
	}
	h := math.Log2(float64(c))
	l.sumMax += 1 / float64(c)
	l.sumH += h
	if c > 1 {
		l.sumD++
	}
}

// LinkEvent is a message seen on one leg of a proxy.
type LinkEvent struct {
	Time float64 // seconds on any fixed clock shared by both legs
	Size int
	// ID identifies the message across legs for scoring against ground
	// truth: an out event and the in event with the same non-zero ID are
	// the same message. 0 means unknown.
	ID uint64
}

// LinkModel says which in events may have become an out event.
type LinkModel struct {
	// MinDelay and MaxDelay bound the residence time out.Time - in.Time,
	// in seconds.
	MinDelay, MaxDelay float64
	// SizeOK reports whether a message of size in may leave as size out;
	// nil accepts any sizes.
	SizeOK func(in, out int) bool
	// Score weighs a plausible candidate by its delay and sizes; nil
	// weighs all plausible candidates equally.
	Score func(delay float64, in, out int) float64
}

// LinkByTiming scores, for every out event, the in events that the model
// finds plausible, and returns the linkability of the result. Events need
// not be sorted. The cost is O((len(in) + len(out)) log + candidates).
func LinkByTiming(in, out []LinkEvent, m LinkModel) LinkResult {
	in = slices.Clone(in)
	slices.SortStableFunc(in, func(a, b LinkEvent) int { return cmp.Compare(a.Time, b.Time) })
	var l Links
	var scores []float64
	for _, o := range out {
		// Candidates have in.Time in [o.Time - MaxDelay, o.Time - MinDelay].
		lo, _ := slices.BinarySearchFunc(in, o.Time-m.MaxDelay, func(e LinkEvent, t float64) int { return cmp.Compare(e.Time, t) })
		scores = scores[:0]
		truth := TruthUnknown
		if o.ID != 0 {
			truth = TruthAbsent
		}
		for _, e := range in[lo:] {
			d := o.Time - e.Time
			if d < m.MinDelay {
				break
			}
			if d > m.MaxDelay || (m.SizeOK != nil && !m.SizeOK(e.Size, o.Size)) {
				continue
			}
			s := 1.0
			if m.Score != nil {
				s = m.Score(d, e.Size, o.Size)
			}
			if o.ID != 0 && e.ID == o.ID {
				truth = len(scores)
			}
			scores = append(scores, s)
		}
		l.Add(scores, truth)
	}
	return l.Result()
}

// Leak returns the result as a linkability record: the value is
// Linkability. Extra keys: items, no_candidate, certain, entropy_bits,
// degree, and top1_accuracy and known when ground truth was given.
func (r LinkResult) Leak(scope string) Leak {
	x := map[string]any{
		"items":        r.Items,
		"no_candidate": r.NoCandidate,
		"certain":      r.Certain,
		"entropy_bits": r.Entropy,
		"degree":       r.Degree,
	}
	if r.Known > 0 {
		x["top1_accuracy"] = r.Top1
		x["known"] = r.Known
	}
	return Leak{
		Metric: MetricLinkability,
		Scope:  scope,
		Value:  r.Linkability,
		Unit:   UnitProbability,
		N:      r.Items,
		Extra:  x,
	}
}
