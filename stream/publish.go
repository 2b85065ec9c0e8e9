package stream

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// PublisherConfig bounds a Publisher.
type PublisherConfig struct {
	// Buffer is how many records wait to be handed to the client
	// (default 65536); beyond it records are dropped and counted.
	Buffer int
	// MaxPending is how many publishes await their acknowledgement
	// (default 4096).
	MaxPending int
	// AckTimeout is how long an acknowledgement is awaited (default 5s).
	AckTimeout time.Duration
	// MaxBlock is how long Publish may wait for room in a full buffer
	// while connected: a sensor reading a file can wait for a slow
	// stream; a live capture must not (0: never waits).
	MaxBlock time.Duration
}

// PublishStats count what a Publisher did with the records it was given.
type PublishStats struct {
	Offered uint64 `json:"offered"`
	// Acked were stored by the stream; Duplicates of them the stream
	// already held (same record ID).
	Acked      uint64 `json:"acked"`
	Duplicates uint64 `json:"duplicates"`
	// Dropped never left the sensor: the buffer was full, or the client
	// refused them (its reconnect buffer full while the servers were
	// away). Failed were sent but not acknowledged in time, or refused by
	// the stream. Unacked were still awaiting their acknowledgement when
	// Close gave up.
	Dropped  uint64 `json:"dropped"`
	Failed   uint64 `json:"failed"`
	Unacked  uint64 `json:"unacked"`
	Encoding uint64 `json:"encoding_errors,omitempty"`
}

// Publisher publishes records asynchronously: Publish never blocks; a
// goroutine hands records to the JetStream client, which batches them on
// the connection and collects the acknowledgements.
type Publisher struct {
	nc    *nats.Conn
	js    jetstream.JetStream
	part  *Partitioner
	ch    chan *nats.Msg
	done  chan struct{}
	stop  chan struct{}
	once  sync.Once
	stats struct {
		offered, acked, dup, dropped, failed, enc atomic.Uint64
	}
	unacked  uint64
	maxBlock time.Duration
}

// NewPublisher publishes on nc, choosing subjects with part.
func NewPublisher(nc *nats.Conn, part *Partitioner, cfg PublisherConfig) (*Publisher, error) {
	if cfg.Buffer <= 0 {
		cfg.Buffer = 65536
	}
	if cfg.MaxPending <= 0 {
		cfg.MaxPending = 4096
	}
	if cfg.AckTimeout <= 0 {
		cfg.AckTimeout = 5 * time.Second
	}
	p := &Publisher{nc: nc, part: part, ch: make(chan *nats.Msg, cfg.Buffer), done: make(chan struct{}), stop: make(chan struct{}),
		maxBlock: cfg.MaxBlock}
	js, err := jetstream.New(nc,
		jetstream.WithPublishAsyncMaxPending(cfg.MaxPending),
		jetstream.WithPublishAsyncTimeout(cfg.AckTimeout),
		jetstream.WithPublishAsyncAckHandler(func(_ jetstream.JetStream, _ *nats.Msg, ack *jetstream.PubAck) {
			p.stats.acked.Add(1)
			if ack.Duplicate {
				p.stats.dup.Add(1)
			}
		}),
		jetstream.WithPublishAsyncErrHandler(func(jetstream.JetStream, *nats.Msg, error) {
			p.stats.failed.Add(1)
		}))
	if err != nil {
		return nil, err
	}
	p.js = js
	go p.run()
	return p, nil
}

// Publish queues a record, or drops and counts it when the buffer is
// full. It does not block, unless MaxBlock lets it wait (while connected)
// for that long at most.
func (p *Publisher) Publish(r *Record) {
	p.stats.offered.Add(1)
	b, err := r.Marshal()
	if err != nil {
		p.stats.enc.Add(1)
		return
	}
	src, dst := r.Endpoints()
	m := &nats.Msg{Subject: Subject(p.part.Partition(src, dst)), Data: b, Header: nats.Header{}}
	m.Header.Set(jetstream.MsgIDHeader, r.ID())
	select {
	case p.ch <- m:
		return
	default:
	}
	if p.maxBlock > 0 && p.nc.IsConnected() {
		t := time.NewTimer(p.maxBlock)
		defer t.Stop()
		select {
		case p.ch <- m:
			return
		case <-t.C:
		}
	}
	p.stats.dropped.Add(1)
}

func (p *Publisher) run() {
	defer close(p.done)
	// While the servers are away, records wait here (and the buffer
	// fills, so that Publish drops) rather than in the client: what it
	// holds when a connection breaks is lost.
	up := p.nc.StatusChanged(nats.CONNECTED)
	defer p.nc.RemoveStatusListener(up)
	for {
		select {
		case m, ok := <-p.ch:
			if !ok {
				return
			}
			for !p.nc.IsConnected() {
				select {
				case <-up:
				case <-p.stop:
					p.stats.dropped.Add(1)
					return
				}
			}
			if !p.publish(m) {
				return
			}
		case <-p.stop:
			return
		}
	}
}

// publish hands m to the client, waiting while MaxPending
// acknowledgements are outstanding (the buffer absorbs that, not the
// capture). It returns false when Close gave up.
func (p *Publisher) publish(m *nats.Msg) bool {
	for {
		_, err := p.js.PublishMsgAsync(m, jetstream.WithStallWait(100*time.Millisecond))
		if !errors.Is(err, jetstream.ErrTooManyStalledMsgs) {
			if err != nil {
				p.stats.dropped.Add(1)
			}
			return true
		}
		select {
		case <-p.stop:
			p.stats.dropped.Add(1)
			return false
		default:
		}
	}
}

// Close hands the buffered records to the client and waits for their
// acknowledgements until ctx ends; what is left then is counted (Dropped
// for records still buffered, Unacked for publishes not acknowledged).
func (p *Publisher) Close(ctx context.Context) PublishStats {
	p.once.Do(func() {
		close(p.ch)
		select {
		case <-p.done:
		case <-ctx.Done():
			close(p.stop)
			<-p.done
			for range p.ch {
				p.stats.dropped.Add(1)
			}
		}
		select {
		case <-p.js.PublishAsyncComplete():
		case <-ctx.Done():
		}
		p.unacked = uint64(p.js.PublishAsyncPending())
	})
	return p.Stats()
}

// Stats returns the counts so far.
func (p *Publisher) Stats() PublishStats {
	return PublishStats{Offered: p.stats.offered.Load(), Acked: p.stats.acked.Load(), Duplicates: p.stats.dup.Load(),
		Dropped: p.stats.dropped.Load(), Failed: p.stats.failed.Load(), Unacked: p.unacked, Encoding: p.stats.enc.Load()}
}
