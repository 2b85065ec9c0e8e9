package collect

import (
	"net/netip"
	"sync"

	"github.com/coapaudit/coapaudit/leaks"
)

// The work of Exchange is split in two. What needs the exchange or the
// window (labels, sizes, frames) runs at once, on the caller's goroutine,
// and leaves a record in a batch; what only needs the records (the
// accumulators) runs on a batch at a time, on a goroutine of its own,
// while the caller fills the next batch. Batches are applied strictly in
// order, so the results are those of a sequential run.

// batchSize is the number of exchanges per batch.
const batchSize = 1024

// record is what the accumulators take from one exchange.
type record struct {
	ents [numKinds]*entry // nil when the exchange has none of a kind
	s    sample
	hops [2]int32 // range in batch.hops
}

// hopRec is one proxy an exchange passed.
type hopRec struct {
	proxy, to netip.AddrPort
	// res are the residence times in seconds by direction, NaN when
	// unknown; frames the frames the message reached and left the proxy
	// in, and exchange the exchange's id (see delayID).
	res      [2]float64
	frames   [2][2]int
	exchange string
	// exact: OSCORE messages, certain and none count those linked with
	// certainty and those that match nothing, by direction.
	exact         bool
	certain, none [2]int32
	// timing: a plaintext message in each direction with its events on
	// both sides of the proxy.
	timing  [2]bool
	in, out [2]leaks.LinkEvent
}

type batch struct {
	recs []record
	hops []hopRec
}

func (b *batch) reset() {
	clear(b.recs) // drop the references to labels and ids
	clear(b.hops)
	b.recs, b.hops = b.recs[:0], b.hops[:0]
}

// pipeline hands full batches to a goroutine, one at a time.
type pipeline struct {
	cur, spare *batch
	busy       sync.WaitGroup
}

func newPipeline() pipeline {
	return pipeline{
		cur:   &batch{recs: make([]record, 0, batchSize)},
		spare: &batch{recs: make([]record, 0, batchSize)},
	}
}

// handoff starts apply on the current batch once the previous one is
// done, and gives the caller the other batch to fill.
func (c *Collector) handoff() {
	c.pipe.busy.Wait()
	full := c.pipe.cur
	c.pipe.cur, c.pipe.spare = c.pipe.spare, full
	c.pipe.cur.reset()
	c.pipe.busy.Go(func() { c.apply(full) })
}

// drain applies every record so far; afterwards only the caller's
// goroutine touches the accumulators.
func (c *Collector) drain() {
	c.pipe.busy.Wait()
	c.apply(c.pipe.cur)
	c.pipe.cur.reset()
	c.flush()
}

// apply adds a batch of records to the accumulators.
func (c *Collector) apply(b *batch) {
	for i := range b.recs {
		r := &b.recs[i]
		for j := r.hops[0]; j < r.hops[1]; j++ {
			c.addHop(&b.hops[j])
		}
		if r.ents != [numKinds]*entry{} {
			c.addSample(r.ents, &r.s)
		}
	}
}

// addSample adds one labelled exchange: to the pending counts of the
// tables and, with a primary label, to the points.
func (c *Collector) addSample(ents [numKinds]*entry, s *sample) {
	k := pendingKey{seq: s.seq}
	for i, e := range ents {
		if e == nil {
			continue
		}
		k.ents[i] = e.index
		if int(e.index) >= len(c.byIndex) {
			c.byIndex = append(c.byIndex, make([]*entry, int(e.index)+1-len(c.byIndex))...)
		}
		c.byIndex[e.index] = e
	}
	for v := range numViews {
		k.vals[v], k.vals[numViews+v] = clamp32(s.req[v]), clamp32(s.resp[v])
	}
	k.vals[2*numViews] = clamp32(s.blocks)
	c.pending[k]++
	if len(c.pending) >= maxPending {
		c.flush()
	}
	e := ents[kindPrimary]
	if e == nil {
		return
	}
	for j := range c.conts {
		k := &c.conts[j]
		i := len(c.tables) + j
		switch k.obs {
		case ObsSizesTiming:
			if s.req[k.view] >= 0 && s.resp[k.view] >= 0 && s.hasRTT {
				k.p.AddID(c.id(e, i, k.p), float64(s.req[k.view]), float64(s.resp[k.view]), s.rtt)
			}
		case ObsRTT:
			if s.hasRTT {
				k.p.AddID(c.id(e, i, k.p), s.rtt)
			}
		case ObsInterArrival:
			if s.hasInter {
				k.p.AddID(c.id(e, i, k.p), s.inter)
			}
		case ObsObserveCadence:
			if s.hasCad {
				k.p.AddID(c.id(e, i, k.p), s.cadence)
			}
		}
	}
}
