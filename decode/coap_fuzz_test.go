package decode

import (
	"bytes"
	"errors"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/coapaudit/coapaudit/internal/testenv"
)

// coapSeedVectors are hand-made and RFC messages that reach every branch
// of the decoder.
var coapSeedVectors = []string{
	"40017d34bb74656d7065726174757265",
	"60457d34ff32322e332043",
	"52010007a1b2b4746573744461 3d3162 03623d32ff78",
	"40001234",
	"40020001d12f40",
	"40020001e206f80102",
	"4d450002000b0b0b0b0b0b0b0b0b0b0b0b0bff6869",
	"4e4500020000ee",
	"400100 01ff",
	"4020000130 00ff",
	"40010001d10a0f",
	"4002000191 07ff00",
	"4f010000",
	"40010000f0",
	"40010000e0",
	"4001000004",
	"40010000e0fcdbe00300",
	"44022f8eef9bbf7a396c6f63616c686f73746b19140837cbf3210017a2d3ff72cd7273fd331ac45cffbe55c3",
	"64445d1f00003974920100ff4d4c13669384b67354b2b6175ff4b8658c666a6cf88e",
}

// coapSeedPayloads returns the distinct UDP payloads of the shared captures
// (without the large LwM2M one), or nothing when the captures are missing.
func coapSeedPayloads(tb testing.TB) [][]byte {
	dir := testenv.CapturesDirIfPresent()
	if dir == "" {
		return nil
	}
	seen := map[string]bool{}
	var out [][]byte
	for _, f := range coapCaptureFiles(tb, dir) {
		if strings.Contains(f, "microschc") {
			continue
		}
		for _, d := range coapReadUDP(tb, filepath.Join(dir, f)) {
			if !seen[string(d.Payload)] {
				seen[string(d.Payload)] = true
				out = append(out, d.Payload)
			}
		}
	}
	return out
}

// coapSameMessage compares two decoded messages field by field; a nil and
// an empty slice count as equal.
func coapSameMessage(a, b *Message) bool {
	return a.Version == b.Version && a.Type == b.Type && a.Code == b.Code && a.MessageID == b.MessageID &&
		bytes.Equal(a.Token, b.Token) && (a.Token == nil) == (b.Token == nil) &&
		slices.EqualFunc(a.Options, b.Options, func(x, y Option) bool {
			return x.ID == y.ID && x.Span == y.Span && bytes.Equal(x.Value, y.Value)
		}) &&
		bytes.Equal(a.Payload, b.Payload) && (a.Payload == nil) == (b.Payload == nil) && a.PayloadOff == b.PayloadOff &&
		slices.Equal(a.Anomalies, b.Anomalies) && bytes.Equal(a.Raw, b.Raw)
}

func FuzzDecode(f *testing.F) {
	for _, s := range coapSeedVectors {
		f.Add(coapHex(f, s))
	}
	for _, p := range coapSeedPayloads(f) {
		f.Add(p)
	}
	sentinels := []error{ErrTruncated, ErrReserved, ErrBadVersion, ErrOptionRange}
	other := coapHex(f, "44 20 00 09 01020304 b4 74657374 44 613d3162 30 ff 6869")
	f.Fuzz(func(t *testing.T, b []byte) {
		var m Message
		err := m.Decode(b)
		checkMessageClone(t, b, func(m *Message, b []byte) { m.Decode(b) })

		// A reused Message, dirty from another message, decodes the same.
		var m2 Message
		_ = m2.Decode(other)
		err2 := m2.Decode(b)
		if (err == nil) != (err2 == nil) || (err != nil && err.Error() != err2.Error()) || !coapSameMessage(&m, &m2) {
			t.Fatalf("decoding twice differs: %v / %v\n%+v\n%+v", err, err2, m, m2)
		}

		if err != nil {
			var fe *FormatError
			if !errors.As(err, &fe) {
				t.Fatalf("error %v is %T, not *FormatError", err, err)
			}
			if fe.Off < 0 || fe.Off > len(b) || fe.Field == "" || !slices.ContainsFunc(sentinels, func(s error) bool { return errors.Is(err, s) }) {
				t.Fatalf("bad error %+v for %d bytes", fe, len(b))
			}
			if m.Payload != nil || m.PayloadOff != -1 {
				t.Fatalf("payload after error %v", err)
			}
			for _, o := range m.Options {
				if o.Span.Off < 0 || o.Span.Off+o.Span.Len > len(b) || o.Span.Off > fe.Off {
					t.Fatalf("option span %+v outside %d bytes or after the error at %d", o.Span, len(b), fe.Off)
				}
			}
			if LooksLikeCoAP(b) {
				t.Fatalf("LooksLikeCoAP accepts %x, which Decode rejects: %v", b, err)
			}
		} else {
			// Spans tile the input, values end their spans, the payload
			// follows the marker, and re-encoding gives the input back.
			coapCheckInvariants(t, b, &m)
		}

		for _, o := range m.Options {
			if o.ID == OptOSCORE {
				_, perr := ParseOSCORE(o.Value)
				flagged := slices.Contains(m.Anomalies, Anomaly{Off: o.Span.Off, Kind: AnomalyOSCOREValue, Option: OptOSCORE})
				if (perr != nil) != flagged {
					t.Fatalf("OSCORE value %x: ParseOSCORE %v, anomaly recorded %v", o.Value, perr, flagged)
				}
			}
			_ = AppendOptionValue(nil, o.ID, o.Value)
		}
		_ = m.URIPath(nil)
		_ = m.Code.String() + m.Code.Name() + m.Type.String()
	})
}

func FuzzParseOSCORE(f *testing.F) {
	for _, s := range []string{"", "0914", "091400", "19140837cbf3210017a2d3", "0100", "0501020304 05", "1000", "20", "07", "11010 5aabb"} {
		f.Add(coapHex(f, s))
	}
	var m Message
	for _, p := range coapSeedPayloads(f) {
		if m.Decode(p) == nil {
			if v, ok := m.Option(OptOSCORE); ok {
				f.Add(bytes.Clone(v))
			}
		}
	}
	f.Fuzz(func(t *testing.T, v []byte) {
		o, err := ParseOSCORE(v)
		if err != nil {
			var fe *FormatError
			if !errors.As(err, &fe) || fe.Off < 0 || fe.Off > len(v) || !strings.HasPrefix(fe.Field, "OSCORE") {
				t.Fatalf("bad error %v for %x", err, v)
			}
			return
		}
		if len(v) == 0 {
			if o.Flags != 0 || o.PIV != nil || o.HasKID || o.HasKIDContext {
				t.Fatalf("empty value gave %+v", o)
			}
			return
		}
		if o.Flags != v[0] || o.Flags&0xe0 != 0 || len(o.PIV) != int(o.Flags&7) ||
			o.HasKIDContext != (o.Flags&0x10 != 0) || o.HasKID != (o.Flags&0x08 != 0) {
			t.Fatalf("fields disagree with flags: %+v", o)
		}
		enc := append([]byte{o.Flags}, o.PIV...)
		if o.HasKIDContext {
			enc = append(enc, byte(len(o.KIDContext)))
			enc = append(enc, o.KIDContext...)
		}
		enc = append(enc, o.KID...)
		if !bytes.Equal(enc, v) {
			t.Fatalf("re-encoded %x, want %x", enc, v)
		}
	})
}
