package stream

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// An analyzer may publish its exchanges and findings (analyze
// --publish-results): each as the JSON object the NDJSON output holds,
// on coapaudit.exchange.<partition> and coapaudit.finding.<partition>,
// stored by the stream STREAM_RESULTS. Each carries a Nats-Msg-Id derived
// from its content (ResultID), not the run's exchange numbering, so that
// a run over records a killed run had already analysed stores its
// results once within the duplicate window.

// Result subjects start with these.
const (
	ExchangeSubjectPrefix = "coapaudit.exchange."
	FindingSubjectPrefix  = "coapaudit.finding."
)

// ResultsStream is the name of the stream of results beside stream name.
func ResultsStream(name string) string { return name + "_RESULTS" }

// InitResults creates the results stream (or updates it), with the
// record stream's replicas, limits and duplicate window.
func InitResults(ctx context.Context, js jetstream.JetStream, c StreamConfig) (jetstream.Stream, error) {
	if c.Replicas <= 0 {
		c.Replicas = 1
	}
	if c.Duplicates <= 0 {
		c.Duplicates = 10 * time.Minute
	}
	return js.CreateOrUpdateStream(ctx, jetstream.StreamConfig{
		Name: ResultsStream(c.Name), Subjects: []string{ExchangeSubjectPrefix + ">", FindingSubjectPrefix + ">"},
		Retention: jetstream.LimitsPolicy, Discard: jetstream.DiscardOld, MaxAge: c.MaxAge, MaxBytes: c.MaxBytes,
		Replicas: c.Replicas, Storage: jetstream.FileStorage, Duplicates: c.Duplicates,
	})
}

// ResultID is the identity of a result: a hash of its kind and the
// facts given (for an exchange its frames named sensor/file#frame, for a
// finding its rule, certainty and frames).
func ResultID(kind string, facts ...string) string {
	h := sha256.New()
	h.Write([]byte(kind))
	for _, f := range facts {
		h.Write([]byte{0})
		h.Write([]byte(f))
	}
	return hex.EncodeToString(h.Sum(nil)[:16])
}

// ResultPublisher publishes results asynchronously and collects the
// stream's acknowledgements.
type ResultPublisher struct {
	js           jetstream.JetStream
	acked, dup   atomic.Uint64
	failed, sent atomic.Uint64
}

// NewResultPublisher publishes on nc.
func NewResultPublisher(nc *nats.Conn) (*ResultPublisher, error) {
	p := &ResultPublisher{}
	js, err := jetstream.New(nc,
		jetstream.WithPublishAsyncMaxPending(4096),
		jetstream.WithPublishAsyncTimeout(10*time.Second),
		jetstream.WithPublishAsyncAckHandler(func(_ jetstream.JetStream, _ *nats.Msg, ack *jetstream.PubAck) {
			p.acked.Add(1)
			if ack.Duplicate {
				p.dup.Add(1)
			}
		}),
		jetstream.WithPublishAsyncErrHandler(func(jetstream.JetStream, *nats.Msg, error) { p.failed.Add(1) }))
	if err != nil {
		return nil, err
	}
	p.js = js
	return p, nil
}

// Publish sends a result of kind "exchange" or "finding" of partition,
// waiting while too many await their acknowledgement.
func (p *ResultPublisher) Publish(kind, partition, id string, data []byte) error {
	subj := ExchangeSubjectPrefix
	if kind == "finding" {
		subj = FindingSubjectPrefix
	}
	if partition == "" {
		partition = Fallback
	}
	m := &nats.Msg{Subject: subj + partition, Data: data, Header: nats.Header{}}
	m.Header.Set(jetstream.MsgIDHeader, id)
	for {
		_, err := p.js.PublishMsgAsync(m, jetstream.WithStallWait(time.Second))
		if errors.Is(err, jetstream.ErrTooManyStalledMsgs) {
			continue
		}
		if err == nil {
			p.sent.Add(1)
		}
		return err
	}
}

// Close waits for the acknowledgements until ctx ends; it fails unless
// the stream stored every result.
func (p *ResultPublisher) Close(ctx context.Context) error {
	select {
	case <-p.js.PublishAsyncComplete():
	case <-ctx.Done():
	}
	if n := p.js.PublishAsyncPending(); n > 0 {
		return fmt.Errorf("results: %d of %d not acknowledged", n, p.sent.Load())
	}
	if n := p.failed.Load(); n > 0 {
		return fmt.Errorf("results: %d of %d refused or timed out", n, p.sent.Load())
	}
	return nil
}

// Counts returns how many results were sent, acknowledged, and found
// already stored (duplicates).
func (p *ResultPublisher) Counts() (sent, acked, duplicates uint64) {
	return p.sent.Load(), p.acked.Load(), p.dup.Load()
}
