package stream

import (
	"context"
	"fmt"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// StreamConfig is what `coapaudit streams init` creates.
type StreamConfig struct {
	Name     string
	Replicas int
	// MaxAge, MaxBytes bound what the stream keeps (limits retention:
	// records stay for every analyzer until a limit removes the oldest).
	MaxAge   time.Duration
	MaxBytes int64
	// Duplicates is the window in which a record ID is published once.
	Duplicates time.Duration
}

// InitStream creates the stream, or updates its limits when it exists,
// and the buckets of the analyzers' checkpoints and leases beside it
// (with as many replicas).
func InitStream(ctx context.Context, js jetstream.JetStream, c StreamConfig) (jetstream.Stream, error) {
	if c.Name == "" {
		c.Name = "COAPAUDIT"
	}
	if c.Replicas <= 0 {
		c.Replicas = 1
	}
	if c.Duplicates <= 0 {
		c.Duplicates = 10 * time.Minute
	}
	st, err := js.CreateOrUpdateStream(ctx, jetstream.StreamConfig{
		Name: c.Name, Subjects: []string{SubjectPrefix + ">"}, Retention: jetstream.LimitsPolicy,
		Discard: jetstream.DiscardOld, MaxAge: c.MaxAge, MaxBytes: c.MaxBytes, Replicas: c.Replicas,
		Storage: jetstream.FileStorage, Duplicates: c.Duplicates,
	})
	if err != nil {
		return nil, err
	}
	if _, _, err := buckets(ctx, js, c.Name, DefaultLease); err != nil {
		return nil, err
	}
	if _, err := InitResults(ctx, js, c); err != nil {
		return nil, fmt.Errorf("results stream: %w", err)
	}
	return st, nil
}
