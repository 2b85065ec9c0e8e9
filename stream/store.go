package stream

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// An analyzer keeps two things beside the stream, in JetStream key-value
// buckets replicated as the stream is:
//
//   - checkpoints (bucket STREAM_checkpoints, key DURABLE.PARTITION): the
//     stream sequence up to which the partition's records were analysed
//     and their results kept. A run reads the partition from the next
//     sequence on. A checkpoint is written with the revision it was read
//     at (compare and set): an analyzer that lost its partition to
//     another cannot move it.
//   - leases (bucket STREAM_leases, whose entries expire after the lease
//     time, 10 s): an analyzer holds the lease of every partition it
//     reads and renews it while it runs, so that a partition is read by
//     one analyzer at a time. Analyzers sharing a durable name (--share)
//     register under DURABLE.=members and split the partitions among
//     themselves.

// DefaultLease is how long a lease lasts without renewal.
const DefaultLease = 10 * time.Second

func checkpointBucket(stream string) string { return stream + "_checkpoints" }
func leaseBucket(stream string) string      { return stream + "_leases" }

var bucketName = regexp.MustCompile(`^[a-zA-Z0-9_-]+$`)

// keyToken makes a partition name a key token: the characters a key
// cannot hold become =XX.
func keyToken(s string) string {
	var b strings.Builder
	for _, c := range []byte(s) {
		if c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_' {
			b.WriteByte(c)
		} else {
			fmt.Fprintf(&b, "=%02X", c)
		}
	}
	return b.String()
}

// partKey is the key of a partition's checkpoint and lease; "" is every
// partition at once.
func partKey(durable, partition string) string {
	if partition == "" {
		return keyToken(durable) + ".=all"
	}
	return keyToken(durable) + "." + keyToken(partition)
}

// buckets opens the analyzer's buckets, creating them (with the stream's
// replicas) when missing.
func buckets(ctx context.Context, js jetstream.JetStream, stream string, lease time.Duration) (ckpt, leases jetstream.KeyValue, err error) {
	if !bucketName.MatchString(stream) {
		return nil, nil, fmt.Errorf("stream name %q: an analyzer needs a name of letters, digits, '-' and '_'", stream)
	}
	replicas := 0
	open := func(name string, ttl time.Duration) (jetstream.KeyValue, error) {
		var kv jetstream.KeyValue
		err := retry(ctx, func(ctx context.Context) error {
			var err error
			kv, err = js.KeyValue(ctx, name)
			if !errors.Is(err, jetstream.ErrBucketNotFound) {
				return err
			}
			if replicas == 0 {
				st, err := js.Stream(ctx, stream)
				if err != nil {
					return fmt.Errorf("stream %s: %w", stream, err)
				}
				replicas = max(st.CachedInfo().Config.Replicas, 1)
			}
			kv, err = js.CreateKeyValue(ctx, jetstream.KeyValueConfig{Bucket: name, History: 1, TTL: ttl, Replicas: replicas,
				Storage: jetstream.FileStorage})
			if errors.Is(err, jetstream.ErrBucketExists) || errors.Is(err, jetstream.ErrStreamNameAlreadyInUse) {
				kv, err = js.KeyValue(ctx, name)
			}
			return err
		})
		return kv, err
	}
	if ckpt, err = open(checkpointBucket(stream), 0); err != nil {
		return nil, nil, fmt.Errorf("checkpoints: %w", err)
	}
	if leases, err = open(leaseBucket(stream), lease); err != nil {
		return nil, nil, fmt.Errorf("leases: %w", err)
	}
	return ckpt, leases, nil
}

// transient reports whether err may go away by itself: a request timed
// out or found no responder while a cluster elects leaders.
func transient(err error) bool {
	var apiErr *jetstream.APIError
	if errors.As(err, &apiErr) {
		// 503: JetStream (or the stream's group) not available yet.
		return apiErr.Code == 503 || apiErr.Code == 500
	}
	return errors.Is(err, context.DeadlineExceeded) || errors.Is(err, nats.ErrTimeout) ||
		errors.Is(err, nats.ErrNoResponders) || errors.Is(err, jetstream.ErrNoStreamResponse) ||
		errors.Is(err, jetstream.ErrJetStreamNotEnabled) || errors.Is(err, nats.ErrConnectionReconnecting)
}

// retry calls f (each call with a 2 s limit) while it fails with a
// transient error, until ctx ends (without a deadline, for 30 s).
func retry(ctx context.Context, f func(context.Context) error) error {
	deadline := time.Now().Add(30 * time.Second)
	if d, ok := ctx.Deadline(); ok {
		deadline = d
	}
	for {
		cctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		err := f(cctx)
		cancel()
		if err == nil || !transient(err) || ctx.Err() != nil || time.Now().After(deadline) {
			return err
		}
		select {
		case <-ctx.Done():
			return err
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// conflict reports whether a compare-and-set write found another
// revision.
func conflict(err error) bool {
	if errors.Is(err, jetstream.ErrKeyExists) {
		return true
	}
	var apiErr *jetstream.APIError
	return errors.As(err, &apiErr) &&
		(apiErr.ErrorCode == jetstream.JSErrCodeStreamWrongLastSequence || apiErr.ErrorCode == jetstream.JSErrCodeStreamWrongLastSequenceConstant)
}

// readCheckpoint returns a partition's checkpoint (0: none) and the
// revision to write the next one at.
func readCheckpoint(ctx context.Context, kv jetstream.KeyValue, key string) (seq, rev uint64, err error) {
	err = retry(ctx, func(ctx context.Context) error {
		e, err := kv.Get(ctx, key)
		switch {
		case errors.Is(err, jetstream.ErrKeyNotFound):
			seq, rev = 0, 0
			return nil
		case err != nil:
			return err
		}
		rev = e.Revision()
		seq, err = strconv.ParseUint(string(e.Value()), 10, 64)
		if err != nil {
			return fmt.Errorf("checkpoint %s: %q is not a sequence", key, e.Value())
		}
		return nil
	})
	return seq, rev, err
}

// writeCheckpoint moves a checkpoint from revision rev to seq and
// returns the new revision. A conflict means another analyzer wrote it.
func writeCheckpoint(ctx context.Context, kv jetstream.KeyValue, key string, seq, rev uint64) (uint64, error) {
	v := []byte(strconv.FormatUint(seq, 10))
	var out uint64
	err := retry(ctx, func(ctx context.Context) error {
		var err error
		if rev == 0 {
			out, err = kv.Create(ctx, key, v)
		} else {
			out, err = kv.Update(ctx, key, v, rev)
		}
		if conflict(err) {
			// A retry after a write that went through but whose answer
			// was lost: the value is ours.
			if e, gerr := kv.Get(ctx, key); gerr == nil && string(e.Value()) == string(v) && e.Revision() > rev {
				out, err = e.Revision(), nil
			}
		}
		return err
	})
	if conflict(err) {
		return 0, fmt.Errorf("checkpoint %s was moved by another analyzer: %w", key, ErrLeaseLost)
	}
	return out, err
}

// ErrLeaseLost: another analyzer took a partition this one read.
var ErrLeaseLost = errors.New("partition lease lost")

// leaseSet holds an analyzer's leases and renews them.
type leaseSet struct {
	kv    jetstream.KeyValue
	owner []byte
	ttl   time.Duration
	mu    sync.Mutex
	held  map[string]uint64 // key -> revision
	lost  map[string]bool
	stop  chan struct{}
	done  chan struct{}
}

func newLeaseSet(kv jetstream.KeyValue, owner string) *leaseSet {
	ttl := DefaultLease
	if st, err := kv.Status(context.Background()); err == nil && st.TTL() > 0 {
		ttl = st.TTL()
	}
	l := &leaseSet{kv: kv, owner: []byte(owner), ttl: ttl, held: map[string]uint64{}, lost: map[string]bool{},
		stop: make(chan struct{}), done: make(chan struct{})}
	go l.renewLoop()
	return l
}

// claim takes the lease of key when no one holds it.
func (l *leaseSet) claim(ctx context.Context, key string) (bool, error) {
	var rev uint64
	err := retry(ctx, func(ctx context.Context) error {
		var err error
		rev, err = l.kv.Create(ctx, key, l.owner)
		if conflict(err) {
			// Ours already (a retried create whose answer was lost)?
			if e, gerr := l.kv.Get(ctx, key); gerr == nil && string(e.Value()) == string(l.owner) {
				rev, err = e.Revision(), nil
			}
		}
		return err
	})
	if conflict(err) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	l.mu.Lock()
	l.held[key] = rev
	delete(l.lost, key)
	l.mu.Unlock()
	return true, nil
}

// holder names who holds key ("" when free).
func (l *leaseSet) holder(ctx context.Context, key string) string {
	e, err := l.kv.Get(ctx, key)
	if err != nil {
		return ""
	}
	return string(e.Value())
}

// isLost reports whether the renewal of key failed: someone else may
// hold it.
func (l *leaseSet) isLost(key string) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.lost[key]
}

func (l *leaseSet) renewLoop() {
	defer close(l.done)
	t := time.NewTicker(l.ttl / 4)
	defer t.Stop()
	for {
		select {
		case <-l.stop:
			return
		case <-t.C:
		}
		l.mu.Lock()
		keys := make(map[string]uint64, len(l.held))
		for k, v := range l.held {
			keys[k] = v
		}
		l.mu.Unlock()
		for k, rev := range keys {
			nrev, ours, err := l.renew(k, rev)
			l.mu.Lock()
			if _, still := l.held[k]; still {
				switch {
				case err != nil:
					// A server away: the next tick tries again.
				case ours:
					l.held[k] = nrev
				default:
					delete(l.held, k)
					l.lost[k] = true
				}
			}
			l.mu.Unlock()
		}
	}
}

// renew renews the lease of key held at revision rev. It reports
// whether the lease is still ours, at which revision; err is a failure
// to tell (a server away).
func (l *leaseSet) renew(key string, rev uint64) (uint64, bool, error) {
	ctx, cancel := context.WithTimeout(context.Background(), l.ttl/4)
	defer cancel()
	nrev, err := l.kv.Update(ctx, key, l.owner, rev)
	if err == nil {
		return nrev, true, nil
	}
	if !conflict(err) && !errors.Is(err, jetstream.ErrKeyNotFound) {
		return 0, false, err
	}
	// The revision moved: an update whose answer was lost while a node
	// went away (then the value is still ours), or the lease expired.
	e, err := l.kv.Get(ctx, key)
	switch {
	case err == nil && string(e.Value()) == string(l.owner):
		return e.Revision(), true, nil
	case err == nil:
		return 0, false, nil // someone else's now
	case !errors.Is(err, jetstream.ErrKeyNotFound) && !errors.Is(err, jetstream.ErrKeyDeleted):
		return 0, false, err
	}
	// Expired while renewals failed: take it again if still free. (An
	// analyzer that took it and let it go meanwhile moved the
	// checkpoint: this run's checkpoint write then fails.)
	nrev, err = l.kv.Create(ctx, key, l.owner)
	if conflict(err) {
		return 0, false, nil
	}
	return nrev, err == nil, err
}

// release gives up every lease and stops renewing.
func (l *leaseSet) release() {
	select {
	case <-l.stop:
		return
	default:
	}
	close(l.stop)
	<-l.done
	l.mu.Lock()
	defer l.mu.Unlock()
	for k, rev := range l.held {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		l.kv.Delete(ctx, k, jetstream.LastRevision(rev))
		cancel()
		delete(l.held, k)
	}
}

// members lists the owners registered under prefix (live leases).
func (l *leaseSet) members(ctx context.Context, prefix string) ([]string, error) {
	var out []string
	err := retry(ctx, func(ctx context.Context) error {
		out = out[:0]
		lister, err := l.kv.ListKeys(ctx)
		if err != nil {
			return err
		}
		for k := range lister.Keys() {
			if strings.HasPrefix(k, prefix) {
				out = append(out, strings.TrimPrefix(k, prefix))
			}
		}
		return nil
	})
	if errors.Is(err, jetstream.ErrNoKeysFound) {
		err = nil
	}
	return out, err
}
