package oscore

import (
	"fmt"
	"io"
	"log/slog"
)

const redacted = "[redacted]"

// Secret is key material: a Master Secret, a Master Salt, or a derived key
// or IV. However it is printed, logged or marshalled it shows "[redacted]":
// it implements fmt.Formatter (every verb), fmt.Stringer, fmt.GoStringer,
// slog.LogValuer, json.Marshaler and encoding.TextMarshaler. Only an explicit
// conversion to []byte reveals the bytes.
type Secret []byte

// String returns "[redacted]".
func (Secret) String() string { return redacted }

// GoString returns "[redacted]".
func (Secret) GoString() string { return redacted }

// Format writes "[redacted]" for every verb, so that %x, %q and %#v do not
// reveal the bytes either.
func (Secret) Format(f fmt.State, _ rune) { io.WriteString(f, redacted) }

// LogValue returns "[redacted]".
func (Secret) LogValue() slog.Value { return slog.StringValue(redacted) }

// MarshalJSON returns the JSON string "[redacted]".
func (Secret) MarshalJSON() ([]byte, error) { return []byte(`"` + redacted + `"`), nil }

// MarshalText returns "[redacted]".
func (Secret) MarshalText() ([]byte, error) { return []byte(redacted), nil }

var (
	_ fmt.Formatter  = Secret(nil)
	_ fmt.Stringer   = Secret(nil)
	_ fmt.GoStringer = Secret(nil)
	_ slog.LogValuer = Secret(nil)
)
