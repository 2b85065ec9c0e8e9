package stream

import (
	"cmp"
	"container/heap"
	"context"
	"errors"
	"fmt"
	"slices"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// ConsumerConfig configures an analyzer's consumption.
type ConsumerConfig struct {
	Stream string
	// Durable names the durable consumer (one per partition, suffixed
	// with the partition); a restart with the same name resumes after
	// what the last run acknowledged.
	Durable string
	// Partitions to consume; none means every partition.
	Partitions []string
	// Window is the reordering window, in time of arrival. The records
	// of each sensor's capture file are put back in file order (by frame
	// number), and the files merged by capture time as analyze merges
	// files: the file whose next record is oldest goes first. A record is
	// handed on once every file that sent records in the last Window has
	// sent one as late in capture time (a file quiet for Window does not
	// hold the others back), and not before the run is Window old, so
	// that the sensors are known. A record that comes after records
	// later than it were handed on is late: counted, and handed on too.
	Window time.Duration
	// MaxBuffered bounds the records held (default 1,000,000): beyond,
	// the oldest go on at once.
	MaxBuffered int
	// Idle ends the run when no record arrives for that long; Duration
	// ends it after that long in all. Zero: no limit (then ctx ends it).
	Idle, Duration time.Duration
	// AckWait is how long the server waits for the run's acknowledgement
	// before delivering the records again (to the next run after a crash).
	AckWait time.Duration
	// Batch is how many records one pull asks for (default 4096).
	Batch int
}

// ConsumeStats count a run's records.
type ConsumeStats struct {
	Received uint64 `json:"received"`
	Fed      uint64 `json:"fed"`
	// Late records came after a later frame of their file was handed on
	// (so out of file order); Behind ones after a record of another file
	// later in capture time (so out of time order). Both are handed on.
	// Redelivered
	// ones this run had already received; Invalid ones did not decode.
	Late        uint64 `json:"late"`
	Behind      uint64 `json:"behind"`
	Redelivered uint64 `json:"redelivered"`
	Invalid     uint64 `json:"invalid"`
	// PullErrors count pulls that failed (a server away); the run goes on.
	PullErrors uint64 `json:"pull_errors"`
}

type partConsumer struct {
	c       jetstream.Consumer
	last    jetstream.Msg // the latest record received (AckAll acks up to it)
	lastSeq uint64        // its stream sequence
}

// Session is a run of an analyzer over the stream.
type Session struct {
	cfg     ConsumerConfig
	cons    []*partConsumer
	sources map[string]*source
	order   []*source // sorted by name
	late    []*Record
	seq     uint64
	held    int
	outT    int64   // capture time of the last record handed on
	outSrc  *source // and its file
	start   time.Time
	now     func() time.Time
	Stats   ConsumeStats
}

// source holds the records of one sensor's capture file not yet handed
// on, in file order.
type source struct {
	name string
	q    recHeap
	// done is the last frame handed on; maxT the latest capture time
	// received, at arrived.
	done    int
	maxT    int64
	arrived time.Time
}

// Open creates or resumes the durable consumers.
func Open(ctx context.Context, js jetstream.JetStream, cfg ConsumerConfig) (*Session, error) {
	if cfg.Durable == "" {
		cfg.Durable = "coapaudit"
	}
	if cfg.Batch <= 0 {
		cfg.Batch = 4096
	}
	if cfg.AckWait <= 0 {
		cfg.AckWait = 5 * time.Minute
		if cfg.Duration > 0 {
			cfg.AckWait = cfg.Duration + time.Minute
		}
	}
	s := newSession(cfg)
	parts := cfg.Partitions
	if len(parts) == 0 {
		parts = []string{""}
	}
	for _, p := range parts {
		name, subj := cfg.Durable, SubjectPrefix+">"
		if p != "" {
			if err := checkToken(p); err != nil {
				return nil, fmt.Errorf("--partition: %w", err)
			}
			name, subj = cfg.Durable+"-"+p, Subject(p)
		}
		cc := jetstream.ConsumerConfig{
			Durable: name, FilterSubject: subj, AckPolicy: jetstream.AckAllPolicy,
			AckWait: cfg.AckWait, MaxAckPending: -1, DeliverPolicy: jetstream.DeliverAllPolicy,
		}
		// While a cluster elects leaders (a node lost) requests time out:
		// try again for a while.
		var c jetstream.Consumer
		var err error
		for deadline := time.Now().Add(30 * time.Second); ; {
			c, err = js.CreateOrUpdateConsumer(ctx, cfg.Stream, cc)
			if err == nil || !errors.Is(err, context.DeadlineExceeded) && !errors.Is(err, nats.ErrTimeout) || time.Now().After(deadline) {
				break
			}
		}
		if err != nil {
			return nil, fmt.Errorf("consumer %s on stream %s: %w", name, cfg.Stream, err)
		}
		s.cons = append(s.cons, &partConsumer{c: c})
	}
	return s, nil
}

func newSession(cfg ConsumerConfig) *Session {
	if cfg.MaxBuffered <= 0 {
		cfg.MaxBuffered = 1_000_000
	}
	return &Session{cfg: cfg, outT: -1 << 63, sources: map[string]*source{}, now: time.Now}
}

// Run receives records until the run ends and hands them to feed in
// capture time order. It returns when idle, past Duration, or when ctx
// ends (not an error); the caller then calls Ack once it has kept the
// results. The client pulls ahead (up to Batch records per partition)
// while the engine works.
func (s *Session) Run(ctx context.Context, feed func(*Record) error) error {
	type delivery struct {
		pc *partConsumer
		m  jetstream.Msg
	}
	in := make(chan delivery, s.cfg.Batch)
	var ccs []jetstream.ConsumeContext
	var pullErrors atomic.Uint64
	stopped := make(chan struct{})
	defer func() {
		close(stopped) // a handler still delivering gives up
		for _, cc := range ccs {
			cc.Stop()
		}
		s.Stats.PullErrors = pullErrors.Load()
	}()
	for _, pc := range s.cons {
		cc, err := pc.c.Consume(func(m jetstream.Msg) {
			select {
			case in <- delivery{pc, m}:
			case <-stopped:
			}
		},
			jetstream.PullMaxMessages(s.cfg.Batch),
			// A server lost or a leader being elected: the client
			// pulls again, and the idle limit decides.
			jetstream.ConsumeErrHandler(func(jetstream.ConsumeContext, error) { pullErrors.Add(1) }))
		if err != nil {
			return fmt.Errorf("consume: %w", err)
		}
		ccs = append(ccs, cc)
	}
	start := time.Now()
	s.start = start
	lastRecv := start
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
loop:
	for {
		select {
		case d := <-in:
			s.receive(d.pc, d.m)
			lastRecv = time.Now()
			if err := s.release(feed, false); err != nil {
				return err
			}
		case now := <-tick.C:
			if s.cfg.Duration > 0 && now.Sub(start) >= s.cfg.Duration || s.cfg.Idle > 0 && now.Sub(lastRecv) >= s.cfg.Idle {
				break loop
			}
			// A file gone quiet stops holding the others back.
			if err := s.release(feed, false); err != nil {
				return err
			}
		case <-ctx.Done():
			break loop
		}
	}
	// Take in what the client has pulled already, so that the
	// acknowledgement covers every record it delivered.
	for _, cc := range ccs {
		cc.Drain()
	}
	drained := time.NewTimer(5 * time.Second)
	defer drained.Stop()
	for _, cc := range ccs {
	drain:
		for {
			select {
			case d := <-in:
				s.receive(d.pc, d.m)
			case <-cc.Closed():
				break drain
			case <-drained.C:
				break drain
			}
		}
	}
	for {
		select {
		case d := <-in:
			s.receive(d.pc, d.m)
			continue
		default:
		}
		break
	}
	return s.release(feed, true)
}

// receive takes in one delivered record.
func (s *Session) receive(pc *partConsumer, m jetstream.Msg) {
	md, err := m.Metadata()
	if err != nil {
		s.Stats.Invalid++
		return
	}
	if md.Sequence.Stream <= pc.lastSeq {
		s.Stats.Redelivered++
		return
	}
	pc.last, pc.lastSeq = m, md.Sequence.Stream
	s.Stats.Received++
	r, err := Unmarshal(m.Data())
	if err != nil {
		s.Stats.Invalid++
		return
	}
	s.add(r)
}

func (s *Session) add(r *Record) {
	name := r.Source()
	src := s.sources[name]
	if src == nil {
		src = &source{name: name, maxT: -1 << 63}
		s.sources[name] = src
		i, _ := slices.BinarySearchFunc(s.order, name, func(x *source, n string) int { return cmp.Compare(x.name, n) })
		s.order = slices.Insert(s.order, i, src)
	}
	src.arrived = s.now()
	if r.Frame < src.done {
		s.Stats.Late++
		s.late = append(s.late, r)
		return
	}
	if r.Time < s.outT && src != s.outSrc {
		s.Stats.Behind++
	}
	s.seq++
	s.held++
	heap.Push(&src.q, queued{r, s.seq})
	src.maxT = max(src.maxT, r.Time)
}

// watermark is the capture time up to which records can go: the least
// of the latest times of the files heard from within the window.
func (s *Session) watermark() int64 {
	now := s.now()
	if now.Sub(s.start) < s.cfg.Window {
		return -1 << 63
	}
	w := int64(1<<63 - 1)
	for _, src := range s.order {
		if now.Sub(src.arrived) < s.cfg.Window {
			w = min(w, src.maxT)
		}
	}
	return w
}

// release feeds the records the watermark has passed (all with final).
func (s *Session) release(feed func(*Record) error, final bool) error {
	for _, r := range s.late {
		s.Stats.Fed++
		if err := feed(r); err != nil {
			return err
		}
	}
	s.late = s.late[:0]
	mark := s.watermark()
	for {
		var next *source
		for _, src := range s.order {
			if src.q.Len() > 0 && (next == nil || src.q[0].Time < next.q[0].Time) {
				next = src
			}
		}
		if next == nil || !final && next.q[0].Time > mark && s.held <= s.cfg.MaxBuffered {
			return nil
		}
		r := heap.Pop(&next.q).(queued).Record
		s.held--
		next.done = r.Frame
		s.outT, s.outSrc = r.Time, next
		s.Stats.Fed++
		if err := feed(r); err != nil {
			return err
		}
	}
}

// Ack acknowledges every record the run received, on every partition:
// the next run with the same durable name starts after them.
func (s *Session) Ack(ctx context.Context) error {
	for _, pc := range s.cons {
		if pc.last == nil {
			continue
		}
		// The server confirms the acknowledgement; while a cluster moves
		// the consumer's leadership it may not answer: try again.
		var err error
		for range 10 {
			if err = pc.last.DoubleAck(ctx); err == nil || ctx.Err() != nil {
				break
			}
			select {
			case <-ctx.Done():
			case <-time.After(200 * time.Millisecond):
			}
		}
		if err != nil {
			return fmt.Errorf("ack: %w", err)
		}
	}
	return nil
}

// queued is a record waiting, with its arrival number.
type queued struct {
	*Record
	seq uint64
}

// recHeap orders a file's records by frame number, then arrival (the
// DTLS datagram before the messages decrypted from it).
type recHeap []queued

func (h recHeap) Len() int { return len(h) }
func (h recHeap) Less(i, j int) bool {
	if h[i].Frame != h[j].Frame {
		return h[i].Frame < h[j].Frame
	}
	return h[i].seq < h[j].seq
}
func (h recHeap) Swap(i, j int) { h[i], h[j] = h[j], h[i] }
func (h *recHeap) Push(x any)   { *h = append(*h, x.(queued)) }
func (h *recHeap) Pop() any {
	old := *h
	r := old[len(old)-1]
	*h = old[:len(old)-1]
	return r
}
