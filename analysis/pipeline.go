package analysis

import (
	"time"

	"github.com/coapaudit/coapaudit/decode"
	"github.com/coapaudit/coapaudit/flows"
	"github.com/coapaudit/coapaudit/oscore"
	"github.com/coapaudit/coapaudit/rules"
)

// The pipeline spreads a run across three goroutines: the
// caller's reads, dissects, decodes and decrypts (Frame), one goroutine
// tracks exchanges, one runs the rules, the leak measurements and the
// callbacks that write exchanges and findings. Messages go between them
// in batches, each message copied once into storage of its batch (the
// capture reader and the Engine reuse theirs). Every stage sees what it
// sees in one goroutine, in the same order: a message's packet hooks,
// then the exchanges its tracking finished, so the output is the same
// byte for byte.
type pipeline struct {
	e         *Engine
	cur       *batch
	toTracker chan *batch
	toRules   chan *batch
	free      chan *batch
	made      int
	done      chan struct{}

	tb *batch // the batch the tracker goroutine is in (that goroutine's)
}

const (
	batchMessages = 256     // messages in a batch, at most
	batchBytes    = 1 << 16 // bytes copied into a batch before it goes
	batches       = 8       // batches in flight, at most
)

// batch is messages on their way, with the storage they were copied to.
type batch struct {
	slots  []slot
	n      int
	buf    []byte
	ints   []int
	events []event // the messages and, between them, the exchanges they finished
}

// slot is one queued message: its rules packet, its tracker packet, or
// both.
type slot struct {
	rules, track bool
	flush        bool      // a live run's expiry by the wall clock: state before this time
	before       time.Time // (Engine.Flush)
	rp           rules.Packet
	fp           flows.Packet
	oi           flows.OSCOREInfo
	res          *oscore.Result
	coap         decode.Message
	dtls         decode.DTLS
}

// event is a slot (x nil) or an exchange the tracker finished. A flush
// slot has two events, around the exchanges the flush finished: the
// rules learn the time before them (after false) and expire their own
// state after them.
type event struct {
	slot  int32
	after bool
	x     *flows.Exchange
}

// startPipeline starts the goroutines; stopPipeline must follow.
func (e *Engine) startPipeline() {
	p := &pipeline{
		e:         e,
		toTracker: make(chan *batch, batches),
		toRules:   make(chan *batch, batches),
		free:      make(chan *batch, batches),
		done:      make(chan struct{}),
	}
	e.pipe = p
	go p.tracker()
	go p.rules()
}

// stopPipeline sends what is queued and returns when every stage has run
// it; the Engine then runs its stages in the caller's goroutine again.
func (e *Engine) stopPipeline() {
	p := e.pipe
	if p == nil {
		return
	}
	if p.cur != nil {
		p.send()
	}
	close(p.toTracker)
	<-p.done
	e.pipe = nil
}

// flush queues an expiry of the tracker's and the rules' state before the
// given time, and sends what is queued.
func (p *pipeline) flush(before time.Time) {
	_, s := p.slot()
	s.rules, s.track, s.flush, s.before, s.res = false, false, true, before, nil
	p.send()
}

// slot returns the next slot of the current batch.
func (p *pipeline) slot() (*batch, *slot) {
	b := p.cur
	if b == nil {
		b = p.batch()
		p.cur = b
	}
	if b.n == len(b.slots) {
		b.slots = append(b.slots, slot{})
	}
	b.n++
	return b, &b.slots[b.n-1]
}

// queue copies a rules packet and a tracker packet of one message (either
// may be nil) into the current batch; res is the message's OSCORE result,
// which the caller hands over.
func (p *pipeline) queue(rp *rules.Packet, fp *flows.Packet, res *oscore.Result) {
	b, s := p.slot()
	s.rules, s.track, s.flush, s.res = rp != nil, fp != nil, false, res
	var msg *decode.Message
	var frames []int
	if rp != nil {
		msg, frames = rp.CoAP, rp.Frames
	} else {
		msg, frames = fp.Msg, fp.Frames
	}
	if msg != nil {
		b.buf = msg.CloneTo(&s.coap, b.buf)
		msg = &s.coap
	}
	if frames != nil {
		n := len(b.ints)
		b.ints = append(b.ints, frames...)
		frames = b.ints[n:len(b.ints):len(b.ints)]
	}
	if rp != nil {
		s.rp = *rp
		s.rp.CoAP, s.rp.Frames = msg, frames
		if rp.DTLS != nil {
			b.buf = rp.DTLS.CloneTo(&s.dtls, b.buf)
			s.rp.DTLS = &s.dtls
		}
		if rp.PSKIdentity != nil {
			n := len(b.buf)
			b.buf = append(b.buf, rp.PSKIdentity...)
			s.rp.PSKIdentity = b.buf[n:len(b.buf):len(b.buf)]
		}
	}
	if fp != nil {
		s.fp = *fp
		s.fp.Msg, s.fp.Frames = msg, frames
		if fp.OSCORE != nil {
			// Its slices are the result's, which is handed over.
			s.oi = *fp.OSCORE
			s.fp.OSCORE = &s.oi
		}
	}
	if b.n >= batchMessages || len(b.buf) >= batchBytes {
		p.send()
	}
}

// batch returns an empty batch: a free one, a new one while fewer than
// batches exist, else the next to be freed.
func (p *pipeline) batch() *batch {
	select {
	case b := <-p.free:
		return b
	default:
	}
	if p.made < batches {
		p.made++
		return &batch{}
	}
	return <-p.free
}

func (p *pipeline) send() {
	p.toTracker <- p.cur
	p.cur = nil
}

// tracker runs the tracker over each batch, noting the exchanges each
// message finished after it.
func (p *pipeline) tracker() {
	t := p.e.tracker
	for b := range p.toTracker {
		p.tb = b
		for i := 0; i < b.n; i++ {
			b.events = append(b.events, event{slot: int32(i)})
			s := &b.slots[i]
			switch {
			case s.flush:
				if t != nil {
					t.Flush(s.before)
				}
				b.events = append(b.events, event{slot: int32(i), after: true})
			case s.track && t != nil:
				t.Add(&s.fp)
			}
		}
		p.tb = nil
		p.toRules <- b
	}
	close(p.toRules)
}

// rules runs the rules, the leak measurements and the exchange callbacks
// in the order of the events, then frees the batch.
func (p *pipeline) rules() {
	e := p.e
	for b := range p.toRules {
		for _, ev := range b.events {
			if ev.x != nil {
				e.emit(ev.x)
				continue
			}
			s := &b.slots[ev.slot]
			if s.flush {
				if e.runner != nil && !ev.after {
					e.runner.Advance(s.before)
				} else if e.runner != nil {
					e.runner.Flush(s.before)
				}
				continue
			}
			if s.rules {
				e.runner.Packet(&s.rp)
			}
			if s.track {
				e.leakPacket(&s.fp, s.res)
			}
		}
		clear(b.events) // the exchanges belong to the callbacks now
		b.events = b.events[:0]
		for i := range b.slots[:b.n] {
			s := &b.slots[i]
			s.res, s.rp.OSCORE, s.oi = nil, nil, flows.OSCOREInfo{}
		}
		b.n, b.buf, b.ints = 0, b.buf[:0], b.ints[:0]
		p.free <- b
	}
	close(p.done)
}
