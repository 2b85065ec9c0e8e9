package stream

import (
	"cmp"
	"container/heap"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"math"
	"os"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/coapaudit/coapaudit/analysis"
	"github.com/coapaudit/coapaudit/decode"
)

// ConsumerConfig configures an analyzer's consumption.
type ConsumerConfig struct {
	Stream string
	// Durable names the analyzer's checkpoints and leases: a run with
	// the same name resumes each partition after the checkpoint the last
	// one wrote (Ack).
	Durable string
	// Partitions to consume; none means every partition (as one).
	Partitions []string
	// Share splits Partitions among the analyzers running with the same
	// Durable: each reads the partitions whose leases it holds (its share
	// of them), and takes over partitions whose lease a stopped analyzer
	// left to expire. Without Share an analyzer reads every partition
	// and waits for the lease of one another analyzer holds (up to the
	// lease time: a crashed predecessor's lease expires).
	Share bool
	// Join is how long an analyzer sharing partitions waits for the
	// others to register before it takes its share (default 2 s).
	// Analyzers is how many are expected (0: those registered then): an
	// analyzer takes Partitions divided by the greater number, rounded
	// up, and leaves the rest to analyzers that start later; at idle
	// time it takes over any partition still free.
	Join      time.Duration
	Analyzers int
	// Owner names this analyzer in its leases (default host:pid:random).
	Owner string
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
	// Idle ends the run when no record arrives for that long and the
	// servers confirm that none is waiting (a consumer recovering from
	// the loss of a node is not idle); Duration ends it after that long
	// in all. Zero: no limit (then ctx ends it).
	Idle, Duration time.Duration
	// Batch is how many records one pull asks for (default 4096).
	Batch int
	// Offsets are clock offsets given by hand, by sensor name or
	// "sensor/file": added to the capture times of its records.
	Offsets map[string]time.Duration
	// MaxSkew bounds the clock offsets estimated between sensors (default
	// 5 s; negative: none is estimated). The records of the first Window
	// of the run are the evidence: messages seen by two sensors, as
	// analyze estimates between files (analysis.EstimateOffsets); each
	// capture file's offset is against the reference's.
	MaxSkew time.Duration
	// ClockReference names the sensor (or "sensor/file") whose clock the
	// others are set to; default the first by name.
	ClockReference string
	// Heartbeat is the servers' heartbeat on a pending pull (default
	// 1 s): when two are missed (the consumer's server lost) the client
	// makes its consumer again from the last record received.
	Heartbeat time.Duration
}

// ConsumeStats count a run's records.
type ConsumeStats struct {
	Received uint64 `json:"received"`
	Fed      uint64 `json:"fed"`
	// Late records came after a later frame of their file was handed on
	// (so out of file order); Behind ones after a record of another file
	// later in capture time (so out of time order). Both are handed on.
	// Redelivered ones this run had already received; Invalid ones did
	// not decode.
	Late        uint64 `json:"late"`
	Behind      uint64 `json:"behind"`
	Redelivered uint64 `json:"redelivered"`
	Invalid     uint64 `json:"invalid"`
	// PullErrors count pulls that failed or went unanswered (a server
	// away); the client makes its consumer again and the run goes on.
	PullErrors uint64 `json:"pull_errors"`
	// Restarts count consumers made again because they stalled: no
	// record for a while although the stream holds more (a consumer on
	// a server whose copy of the stream is catching up after a node
	// loss receives heartbeats and no records).
	Restarts uint64 `json:"restarts"`
	// Partitions the run read (its share, with Share); Lost ones it read
	// until another analyzer took them (their records are not
	// checkpointed by this run).
	Partitions []string `json:"partitions"`
	Lost       []string `json:"lost,omitempty"`
	// PartitionRecords counts the records received from each partition
	// (in the order of Partitions). A partition taken over from an
	// analyzer that finished reads on from its checkpoint, so it counts
	// only what came after.
	PartitionRecords []uint64 `json:"partition_records"`
}

type partConsumer struct {
	part string
	key  string
	c    jetstream.Consumer
	cc   jetstream.ConsumeContext
	// ckpt is the checkpoint read at the start (the run reads after it),
	// rev its revision; lastSeq the stream sequence of the latest record
	// received.
	ckpt, rev, lastSeq uint64
	lost               bool
	subj               string
	index              int // in Stats.Partitions
	// lastRecv: when the latest record came; probed: when the stream was
	// last asked whether records wait.
	lastRecv, probed time.Time
}

// Session is a run of an analyzer over the stream.
type Session struct {
	cfg     ConsumerConfig
	js      jetstream.JetStream
	ckpt    jetstream.KeyValue
	leases  *leaseSet
	cons    []*partConsumer
	in      chan delivery
	stopped chan struct{}
	pullErr atomic.Uint64
	stream  jetstream.Stream
	member  string // the member key, with Share
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
	// estimated: the clock offsets were estimated (or there was no
	// time to); Offsets are those of every file but the reference.
	estimated bool
	Offsets   []analysis.ClockOffset
}

type delivery struct {
	pc *partConsumer
	m  jetstream.Msg
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
	// offset is added to the capture times of the file's records;
	// sample gathers evidence for its estimate until it is made.
	offset time.Duration
	manual bool
	sample *analysis.SkewSample
}

// Open claims the partitions (their leases) and reads their checkpoints.
func Open(ctx context.Context, js jetstream.JetStream, cfg ConsumerConfig) (*Session, error) {
	if cfg.Durable == "" {
		cfg.Durable = "coapaudit"
	}
	if cfg.Batch <= 0 {
		cfg.Batch = 4096
	}
	if cfg.Heartbeat <= 0 {
		cfg.Heartbeat = time.Second
	}
	if cfg.Join <= 0 {
		cfg.Join = 2 * time.Second
	}
	if cfg.Owner == "" {
		host, _ := os.Hostname()
		cfg.Owner = fmt.Sprintf("%s:%d:%s", host, os.Getpid(), rand.Text()[:8])
	}
	for _, p := range cfg.Partitions {
		if err := checkToken(p); err != nil {
			return nil, fmt.Errorf("--partition: %w", err)
		}
	}
	if cfg.Share && len(cfg.Partitions) == 0 {
		return nil, fmt.Errorf("sharing partitions needs them named (--partition)")
	}
	ckpt, lkv, err := buckets(ctx, js, cfg.Stream, DefaultLease)
	if err != nil {
		return nil, err
	}
	s := newSession(cfg)
	s.js, s.ckpt, s.leases = js, ckpt, newLeaseSet(lkv, cfg.Owner)
	if cfg.Share {
		err = s.join(ctx)
	} else {
		err = s.claimAll(ctx)
	}
	if err != nil {
		s.Close()
		return nil, err
	}
	return s, nil
}

// claimAll takes every partition, waiting for leases held by others
// until they expire.
func (s *Session) claimAll(ctx context.Context) error {
	parts := s.cfg.Partitions
	if len(parts) == 0 {
		parts = []string{""}
	}
	for _, p := range parts {
		key := partKey(s.cfg.Durable, p)
		deadline := time.Now().Add(s.leases.ttl + 5*time.Second)
		for {
			ok, err := s.leases.claim(ctx, key)
			if err != nil {
				return fmt.Errorf("lease %s: %w", key, err)
			}
			if ok {
				break
			}
			if time.Now().After(deadline) {
				return fmt.Errorf("partition %q is read by analyzer %s (same --durable %s; --share splits partitions between analyzers)",
					p, s.leases.holder(ctx, key), s.cfg.Durable)
			}
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-time.After(250 * time.Millisecond): // a lease expires in its own time: poll it
			}
		}
		if err := s.addPartition(ctx, p, key); err != nil {
			return err
		}
	}
	return nil
}

// join registers this analyzer among those sharing the durable name,
// waits Join for the others, and claims its share: the partitions of its
// rank first, then free ones up to the share.
func (s *Session) join(ctx context.Context) error {
	prefix := keyToken(s.cfg.Durable) + ".=members."
	s.member = prefix + keyToken(s.cfg.Owner)
	if _, err := s.leases.claim(ctx, s.member); err != nil {
		return fmt.Errorf("register: %w", err)
	}
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-time.After(s.cfg.Join):
	}
	members, err := s.leases.members(ctx, prefix)
	if err != nil {
		return fmt.Errorf("members: %w", err)
	}
	slices.Sort(members)
	rank := slices.Index(members, keyToken(s.cfg.Owner))
	n := max(len(members), s.cfg.Analyzers, 1)
	parts := slices.Clone(s.cfg.Partitions)
	slices.Sort(parts)
	var mine, others []string
	for i, p := range parts {
		if rank >= 0 && i%n == rank {
			mine = append(mine, p)
		} else {
			others = append(others, p)
		}
	}
	share := (len(parts) + n - 1) / n
	for _, p := range append(mine, others...) {
		if len(s.cons) >= share {
			break
		}
		if _, err := s.tryClaim(ctx, p); err != nil {
			return err
		}
	}
	return nil
}

// tryClaim takes partition p if its lease is free.
func (s *Session) tryClaim(ctx context.Context, p string) (bool, error) {
	for _, pc := range s.cons {
		if pc.part == p && !pc.lost {
			return false, nil
		}
	}
	key := partKey(s.cfg.Durable, p)
	ok, err := s.leases.claim(ctx, key)
	if err != nil || !ok {
		return false, err
	}
	if err := s.addPartition(ctx, p, key); err != nil {
		return false, err
	}
	return true, nil
}

// addPartition reads a claimed partition's checkpoint and makes its
// consumer, reading from the record after it: an ordered consumer, which
// the client makes again from the last record it received whenever a
// record is missing or the server stops answering (a node lost).
func (s *Session) addPartition(ctx context.Context, p, key string) error {
	seq, rev, err := readCheckpoint(ctx, s.ckpt, key)
	if err != nil {
		return fmt.Errorf("checkpoint of partition %q: %w", p, err)
	}
	subj := SubjectPrefix + ">"
	if p != "" {
		subj = Subject(p)
	}
	c, err := s.orderedFrom(ctx, subj, seq)
	if err != nil {
		return fmt.Errorf("consumer of partition %q on stream %s: %w", p, s.cfg.Stream, err)
	}
	pc := &partConsumer{part: p, key: key, c: c, ckpt: seq, rev: rev, lastSeq: seq, subj: subj, lastRecv: time.Now()}
	s.cons = append(s.cons, pc)
	pc.index = len(s.Stats.Partitions)
	s.Stats.Partitions = append(s.Stats.Partitions, p)
	s.Stats.PartitionRecords = append(s.Stats.PartitionRecords, 0)
	if s.in != nil {
		return s.consume(pc)
	}
	return nil
}

// orderedFrom makes an ordered consumer of subj from the record after
// sequence seq.
func (s *Session) orderedFrom(ctx context.Context, subj string, seq uint64) (jetstream.Consumer, error) {
	oc := jetstream.OrderedConsumerConfig{FilterSubjects: []string{subj}, DeliverPolicy: jetstream.DeliverAllPolicy,
		InactiveThreshold: time.Minute}
	if seq > 0 {
		oc.DeliverPolicy, oc.OptStartSeq = jetstream.DeliverByStartSequencePolicy, seq+1
	}
	var c jetstream.Consumer
	err := retry(ctx, func(ctx context.Context) error {
		var err error
		c, err = s.js.OrderedConsumer(ctx, s.cfg.Stream, oc)
		return err
	})
	return c, err
}

// waiting asks the stream (its leader) whether a record of the
// partition follows the last one received.
func (s *Session) waiting(ctx context.Context, pc *partConsumer) (bool, error) {
	ctx, cancel := context.WithTimeout(ctx, time.Second)
	defer cancel()
	if s.stream == nil {
		st, err := s.js.Stream(ctx, s.cfg.Stream)
		if err != nil {
			return false, err
		}
		s.stream = st
	}
	_, err := s.stream.GetMsg(ctx, pc.lastSeq+1, jetstream.WithGetMsgSubject(pc.subj))
	if errors.Is(err, jetstream.ErrMsgNotFound) {
		return false, nil
	}
	return err == nil, err
}

// restart makes a stalled partition's consumer again, from the record
// after the last one received.
func (s *Session) restart(ctx context.Context, pc *partConsumer) error {
	if pc.cc != nil {
		pc.cc.Stop()
	}
	c, err := s.orderedFrom(ctx, pc.subj, pc.lastSeq)
	if err != nil {
		return err
	}
	pc.c = c
	s.Stats.Restarts++
	return s.consume(pc)
}

// consume starts pulling a partition's records into s.in.
func (s *Session) consume(pc *partConsumer) error {
	expiry := max(5*time.Second, 4*s.cfg.Heartbeat)
	cc, err := pc.c.Consume(func(m jetstream.Msg) {
		select {
		case s.in <- delivery{pc, m}: // from a consumer stopped since, receive drops it as already received
		case <-s.stopped:
		}
	},
		jetstream.PullMaxMessages(s.cfg.Batch),
		jetstream.PullExpiry(expiry),
		jetstream.PullHeartbeat(s.cfg.Heartbeat),
		jetstream.ConsumeErrHandler(func(jetstream.ConsumeContext, error) { s.pullErr.Add(1) }))
	if err != nil {
		return fmt.Errorf("consume partition %q: %w", pc.part, err)
	}
	pc.cc = cc
	return nil
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
// results, and Close. The client pulls ahead (up to Batch records per
// partition) while the engine works.
func (s *Session) Run(ctx context.Context, feed func(*Record) error) error {
	s.in = make(chan delivery, s.cfg.Batch)
	s.stopped = make(chan struct{})
	defer func() {
		close(s.stopped) // a handler still delivering gives up
		for _, pc := range s.cons {
			if pc.cc != nil {
				pc.cc.Stop()
			}
		}
		s.Stats.PullErrors = s.pullErr.Load()
	}()
	for _, pc := range s.cons {
		if err := s.consume(pc); err != nil {
			return err
		}
	}
	start := time.Now()
	s.start = start
	lastRecv, lastCheck, lastClaim := start, time.Time{}, start
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
loop:
	for {
		select {
		case d := <-s.in:
			s.receive(d.pc, d.m)
			lastRecv = time.Now()
			if err := s.release(feed, false); err != nil {
				return err
			}
		case now := <-tick.C:
			if s.cfg.Duration > 0 && now.Sub(start) >= s.cfg.Duration {
				break loop
			}
			s.checkLeases()
			if err := s.watch(ctx, now); err != nil {
				return err
			}
			if s.cfg.Share && now.Sub(lastClaim) >= s.leases.ttl/4 {
				lastClaim = now
				if err := s.claimFree(ctx, false); err != nil {
					return err
				}
			}
			// Quiet for Idle: done if the servers confirm that nothing
			// waits (asked at most once a second).
			if s.cfg.Idle > 0 && now.Sub(lastRecv) >= s.cfg.Idle && now.Sub(lastCheck) >= time.Second {
				lastCheck = now
				if s.cfg.Share {
					if err := s.claimFree(ctx, true); err != nil {
						return err
					}
				}
				if s.drained(ctx) {
					break loop
				}
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
	// checkpoint covers every record it delivered.
	for _, pc := range s.cons {
		if pc.cc != nil {
			pc.cc.Drain()
		}
	}
	drained := time.NewTimer(5 * time.Second)
	defer drained.Stop()
	for _, pc := range s.cons {
		if pc.cc == nil {
			continue
		}
		closed := pc.cc.Closed()
	drain:
		for {
			select {
			case d := <-s.in:
				s.receive(d.pc, d.m)
			case <-closed:
				break drain
			case <-drained.C:
				break drain
			}
		}
	}
	for {
		select {
		case d := <-s.in:
			s.receive(d.pc, d.m)
			continue
		default:
		}
		break
	}
	return s.release(feed, true)
}

// drained reports whether the stream confirms that no partition has
// records waiting for this run. (Not the consumers: one on a server
// whose copy of the stream lags says nothing waits.)
func (s *Session) drained(ctx context.Context) bool {
	for _, pc := range s.cons {
		if pc.lost {
			continue
		}
		if w, err := s.waiting(ctx, pc); err != nil || w {
			return false
		}
	}
	return true
}

// watch restarts the consumers of partitions that received nothing for
// three heartbeats (at least 3 s) although the stream holds records
// after their last one; the stream is asked at most once a second per
// partition.
func (s *Session) watch(ctx context.Context, now time.Time) error {
	quiet := max(3*s.cfg.Heartbeat, 3*time.Second)
	for _, pc := range s.cons {
		if pc.lost || now.Sub(pc.lastRecv) < quiet || now.Sub(pc.probed) < time.Second {
			continue
		}
		pc.probed = now
		if w, err := s.waiting(ctx, pc); err != nil || !w {
			continue // the stream away too: the client's own recovery goes on
		}
		if err := s.restart(ctx, pc); err != nil {
			if transient(err) {
				continue
			}
			return err
		}
		pc.lastRecv = now
	}
	return nil
}

// claimFree takes free partitions: up to this analyzer's share of them
// among the analyzers registered now, or (any) every free one.
func (s *Session) claimFree(ctx context.Context, any bool) error {
	held := 0
	for _, pc := range s.cons {
		if !pc.lost {
			held++
		}
	}
	share := len(s.cfg.Partitions)
	if !any {
		members, err := s.leases.members(ctx, keyToken(s.cfg.Durable)+".=members.")
		if err != nil {
			return nil // asked again later
		}
		n := max(len(members), s.cfg.Analyzers, 1)
		share = (len(s.cfg.Partitions) + n - 1) / n
	}
	for _, p := range s.cfg.Partitions {
		if held >= share {
			return nil
		}
		ok, err := s.tryClaim(ctx, p)
		if err != nil {
			if transient(err) {
				return nil
			}
			return err
		}
		if ok {
			held++
		}
	}
	return nil
}

// checkLeases stops reading the partitions whose lease was lost.
func (s *Session) checkLeases() {
	for _, pc := range s.cons {
		if !pc.lost && s.leases.isLost(pc.key) {
			pc.lost = true
			if pc.cc != nil {
				pc.cc.Stop()
			}
			s.Stats.Lost = append(s.Stats.Lost, pc.part)
		}
	}
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
	pc.lastSeq, pc.lastRecv = md.Sequence.Stream, time.Now()
	s.Stats.Received++
	s.Stats.PartitionRecords[pc.index]++
	r, err := Unmarshal(m.Data())
	if err != nil {
		s.Stats.Invalid++
		return
	}
	r.Partition = strings.TrimPrefix(m.Subject(), SubjectPrefix)
	s.add(r)
}

func (s *Session) add(r *Record) {
	name := r.Source()
	src := s.sources[name]
	if src == nil {
		src = &source{name: name, maxT: -1 << 63}
		if d, ok := s.cfg.Offsets[name]; ok {
			src.offset, src.manual = d, true
		} else if d, ok := s.cfg.Offsets[r.Sensor]; ok {
			src.offset, src.manual = d, true
		} else if !s.estimated && s.cfg.MaxSkew >= 0 {
			src.sample = analysis.NewSkewSample(analysis.SkewConfig{MaxSkew: s.cfg.MaxSkew})
		}
		s.sources[name] = src
		i, _ := slices.BinarySearchFunc(s.order, name, func(x *source, n string) int { return cmp.Compare(x.name, n) })
		s.order = slices.Insert(s.order, i, src)
	}
	if src.sample != nil && r.Transport == TransportUDP {
		var m decode.Message
		if m.Decode(r.Raw) == nil {
			a, b := r.Endpoints()
			src.sample.Add(a, b, r.Raw, time.Unix(0, r.Time), r.Frame, &m)
		}
	}
	r.Time += int64(src.offset)
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

// estimate sets the clock offsets of the files against the reference's
// from the records received so far, and shifts the held records.
func (s *Session) estimate() {
	s.estimated = true
	var ref *source
	for _, src := range s.order {
		if c := s.cfg.ClockReference; c != "" && (src.name == c || strings.HasPrefix(src.name, c+"/")) {
			ref = src
			break
		}
	}
	if ref == nil && len(s.order) > 0 {
		ref = s.order[0]
	}
	for _, src := range s.order {
		switch {
		case src == ref:
		case src.manual:
			s.Offsets = append(s.Offsets, analysis.ClockOffset{File: src.name, Offset: src.offset.Seconds(), Applied: true, Source: "manual"})
		case ref.sample != nil && src.sample != nil:
			o := analysis.EstimateOffset(ref.sample, src.sample)
			o.File = src.name
			if o.Applied {
				src.shift(time.Duration(math.Round(o.Offset * 1e9)))
			}
			s.Offsets = append(s.Offsets, o)
		}
	}
	for _, src := range s.order {
		src.sample = nil
	}
}

// shift adds d to the capture times of the file's records, held and to
// come.
func (src *source) shift(d time.Duration) {
	src.offset += d
	for _, q := range src.q {
		q.Time += int64(d)
	}
	if src.maxT != -1<<63 {
		src.maxT += int64(d)
	}
}

// release feeds the records the watermark has passed (all with final).
func (s *Session) release(feed func(*Record) error, final bool) error {
	if !s.estimated && (final || s.now().Sub(s.start) >= s.cfg.Window) {
		s.estimate()
	}
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

// Ack checkpoints every record the run received, on every partition it
// still holds: the next run with the same durable name starts after
// them. A partition lost to another analyzer is an error (ErrLeaseLost):
// its records after the old checkpoint go to that analyzer too.
func (s *Session) Ack(ctx context.Context) error {
	s.checkLeases()
	var lost []string
	for _, pc := range s.cons {
		if pc.lost {
			lost = append(lost, pc.part)
			continue
		}
		if pc.lastSeq <= pc.ckpt {
			continue
		}
		rev, err := writeCheckpoint(ctx, s.ckpt, pc.key, pc.lastSeq, pc.rev)
		if err != nil {
			return fmt.Errorf("checkpoint of partition %q: %w", pc.part, err)
		}
		pc.ckpt, pc.rev = pc.lastSeq, rev
	}
	if len(lost) > 0 {
		return fmt.Errorf("partitions %q: %w to another analyzer during the run", lost, ErrLeaseLost)
	}
	return nil
}

// Close stops reading, deletes the consumers and gives up the leases.
func (s *Session) Close() {
	for _, pc := range s.cons {
		if pc.cc != nil {
			pc.cc.Stop()
		}
		if info := pc.c.CachedInfo(); info != nil {
			ctx, cancel := context.WithTimeout(context.Background(), time.Second)
			s.js.DeleteConsumer(ctx, s.cfg.Stream, info.Name) // else the server removes it after a minute unused
			cancel()
		}
	}
	if s.leases != nil {
		s.leases.release()
	}
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
