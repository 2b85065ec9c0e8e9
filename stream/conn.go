package stream

import (
	"fmt"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
)

// ConnOptions say how to reach the NATS servers.
type ConnOptions struct {
	// URLs: "nats://HOST:PORT[,nats://HOST:PORT...]".
	URLs string
	Name string
	// Creds is a credentials file (JWT and nkey seed), NKey an nkey seed
	// file; CA, Cert and Key configure TLS.
	Creds, NKey    string
	CA, Cert, Key  string
	ConnectTimeout time.Duration
	// Retry makes Connect return at once when no server answers and keep
	// trying in the background (publishes are buffered meanwhile): a
	// sensor must not wait for the engine.
	Retry bool
}

// IsURL reports whether s names NATS servers rather than a file.
func IsURL(s string) bool {
	return strings.HasPrefix(s, "nats://") || strings.HasPrefix(s, "tls://")
}

// Connect connects to the servers.
func Connect(o ConnOptions) (*nats.Conn, error) {
	opts := []nats.Option{nats.Name(o.Name), nats.MaxReconnects(-1), nats.ReconnectWait(250 * time.Millisecond)}
	if o.ConnectTimeout > 0 {
		opts = append(opts, nats.Timeout(o.ConnectTimeout))
	}
	if o.Retry {
		opts = append(opts, nats.RetryOnFailedConnect(true))
	}
	if o.Creds != "" {
		opts = append(opts, nats.UserCredentials(o.Creds))
	}
	if o.NKey != "" {
		opt, err := nats.NkeyOptionFromSeed(o.NKey)
		if err != nil {
			return nil, fmt.Errorf("nkey: %w", err)
		}
		opts = append(opts, opt)
	}
	if o.CA != "" {
		opts = append(opts, nats.RootCAs(o.CA))
	}
	if o.Cert != "" || o.Key != "" {
		opts = append(opts, nats.ClientCert(o.Cert, o.Key))
	}
	nc, err := nats.Connect(o.URLs, opts...)
	if err != nil {
		return nil, fmt.Errorf("connect %s: %w", o.URLs, err)
	}
	return nc, nil
}
