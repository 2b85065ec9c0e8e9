package stream

import (
	"cmp"
	"container/heap"
	"context"
	"fmt"
	"slices"
	"time"

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
	// Window is the reordering window. The records of each sensor's
	// capture file are put back in file order (by frame number), and the
	// files merged by capture time as analyze merges files (the file
	// whose next record is oldest goes first); a record is handed on once
	// a record Window later in capture time has arrived, or at the end.
	// A record that comes after a later frame of its file was handed on
	// is late: counted, and handed on at once.
	Window time.Duration
	// Idle ends the run when no record arrives for that long; Duration
	// ends it after that long in all. Zero: no limit (then ctx ends it).
	Idle, Duration time.Duration
	// AckWait is how long the server waits for the run's acknowledgement
	// before delivering the records again (to the next run after a crash).
	AckWait time.Duration
	// Batch is how many records one pull asks for (default 512).
	Batch int
}

// ConsumeStats count a run's records.
type ConsumeStats struct {
	Received uint64 `json:"received"`
	Fed      uint64 `json:"fed"`
	// Late records came after the window had passed them; Redelivered
	// ones this run had already received; Invalid ones did not decode.
	Late        uint64 `json:"late"`
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
	maxT    int64
	Stats   ConsumeStats
}

// source holds the records of one sensor's capture file not yet handed
// on, in file order.
type source struct {
	name string
	q    recHeap
	// done is the last frame handed on.
	done int
}

// Open creates or resumes the durable consumers.
func Open(ctx context.Context, js jetstream.JetStream, cfg ConsumerConfig) (*Session, error) {
	if cfg.Durable == "" {
		cfg.Durable = "coapaudit"
	}
	if cfg.Batch <= 0 {
		cfg.Batch = 512
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
		c, err := js.CreateOrUpdateConsumer(ctx, cfg.Stream, jetstream.ConsumerConfig{
			Durable: name, FilterSubject: subj, AckPolicy: jetstream.AckAllPolicy,
			AckWait: cfg.AckWait, MaxAckPending: -1, DeliverPolicy: jetstream.DeliverAllPolicy,
		})
		if err != nil {
			return nil, fmt.Errorf("consumer %s on stream %s: %w", name, cfg.Stream, err)
		}
		s.cons = append(s.cons, &partConsumer{c: c})
	}
	return s, nil
}

func newSession(cfg ConsumerConfig) *Session {
	return &Session{cfg: cfg, maxT: -1 << 63, sources: map[string]*source{}}
}

// Run pulls records until the run ends and hands them to feed in capture
// time order. It returns when idle, past Duration, or when ctx ends (not
// an error); the caller then calls Ack once it has kept the results.
func (s *Session) Run(ctx context.Context, feed func(*Record) error) error {
	start := time.Now()
	lastRecv := start
	wait := 250 * time.Millisecond
	for ctx.Err() == nil {
		now := time.Now()
		if s.cfg.Duration > 0 && now.Sub(start) >= s.cfg.Duration {
			break
		}
		if s.cfg.Idle > 0 && now.Sub(lastRecv) >= s.cfg.Idle {
			break
		}
		got := false
		for _, pc := range s.cons {
			n, err := s.pull(ctx, pc, wait)
			if err != nil {
				return err
			}
			got = got || n > 0
		}
		if got {
			lastRecv = time.Now()
		}
		if err := s.release(feed, false); err != nil {
			return err
		}
	}
	return s.release(feed, true)
}

func (s *Session) pull(ctx context.Context, pc *partConsumer, wait time.Duration) (int, error) {
	b, err := pc.c.Fetch(s.cfg.Batch, jetstream.FetchMaxWait(wait))
	if err != nil {
		// A server lost or a leader being elected: the client
		// reconnects, and the next pull (or the idle limit) decides.
		s.Stats.PullErrors++
		return 0, nil
	}
	n := 0
	for m := range b.Messages() {
		n++
		md, err := m.Metadata()
		if err != nil {
			s.Stats.Invalid++
			continue
		}
		if md.Sequence.Stream <= pc.lastSeq {
			s.Stats.Redelivered++
			continue
		}
		pc.last, pc.lastSeq = m, md.Sequence.Stream
		s.Stats.Received++
		r, err := Unmarshal(m.Data())
		if err != nil {
			s.Stats.Invalid++
			continue
		}
		s.add(r)
	}
	return n, nil
}

func (s *Session) add(r *Record) {
	name := r.Source()
	src := s.sources[name]
	if src == nil {
		src = &source{name: name}
		s.sources[name] = src
		i, _ := slices.BinarySearchFunc(s.order, name, func(x *source, n string) int { return cmp.Compare(x.name, n) })
		s.order = slices.Insert(s.order, i, src)
	}
	if r.Frame < src.done {
		s.Stats.Late++
		s.late = append(s.late, r)
		return
	}
	s.seq++
	heap.Push(&src.q, queued{r, s.seq})
	s.maxT = max(s.maxT, r.Time)
}

// release feeds the records the window has passed (all with final).
func (s *Session) release(feed func(*Record) error, final bool) error {
	for _, r := range s.late {
		s.Stats.Fed++
		if err := feed(r); err != nil {
			return err
		}
	}
	s.late = s.late[:0]
	w := int64(s.cfg.Window)
	for {
		var next *source
		for _, src := range s.order {
			if src.q.Len() > 0 && (next == nil || src.q[0].Time < next.q[0].Time) {
				next = src
			}
		}
		if next == nil || !final && s.maxT-next.q[0].Time < w {
			return nil
		}
		r := heap.Pop(&next.q).(queued).Record
		next.done = r.Frame
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
		if err := pc.last.DoubleAck(ctx); err != nil {
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
