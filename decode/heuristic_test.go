package decode

import (
	"math/rand/v2"
	"path/filepath"
	"strings"
	"testing"
)

func TestLooksLikeCoAP(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want bool
	}{
		{"get", "40 01 7d 34 bb 74656d7065726174757265", true},
		{"ack-content", "60 45 7d 34 ff 32322e332043", true},
		{"con-ping", "40 00 12 34", true},
		{"empty-ack", "60 00 12 34", true},
		{"rst", "70 00 12 34", true},
		{"token-query-payload", "52 01 00 07 a1b2 b4 74657374 44 613d3162 03 623d32 ff 78", true},
		{"oscore-request", "44022f8eef9bbf7a396c6f63616c686f73746b19140837cbf3210017a2d3ff72cd7273fd331ac45cffbe55c3", true},
		{"tkl-13", "4d 45 00 02 00 " + strings.Repeat("0b", 13), true},
		{"uint-leading-zero-tolerated", "40 01 00 01 c2 0032", true},
		{"one-unknown-elective-of-three", "40 01 00 01 b1 61 01 62 70", true},

		{"short", "40 01 00", false},
		{"version-0", "00 01 00 00", false},
		{"version-2", "80 01 00 00", false},
		{"tkl-15", "4f 01 00 00", false},
		{"tkl-9", "49 01 00 00 010203040506070809", false},
		{"tkl-12", "4c 01 00 00 010203040506070809101112", false},
		{"uri-path-in-response", "60 45 00 01 b1 61", false},
		{"accept-in-response", "60 45 00 01 d1 04 32", false},
		{"location-path-in-request", "40 02 00 01 81 61", false},
		{"location-path-in-response", "60 41 00 01 81 61", true},
		{"token-truncated", "44 01 00 00 aabb", false},
		{"class-1", "40 20 00 01", false},
		{"class-3", "40 61 00 01", false},
		{"class-6", "40 c0 00 01", false},
		{"class-7", "40 e2 00 01", false},
		{"unregistered-method", "40 08 00 01", false},
		{"unregistered-response", "60 46 00 01", false},
		{"empty-with-byte", "40 00 12 34 00", false},
		{"empty-with-token", "41 00 12 34 00", false},
		{"empty-tkl-without-token", "41 00 12 34", false},
		{"empty-non", "50 00 12 34", false},
		{"request-in-ack", "60 01 00 01", false},
		{"request-in-rst", "70 01 00 01", false},
		{"response-in-rst", "70 45 00 01", false},
		{"delta-15", "40 01 00 00 f0", false},
		{"value-truncated", "40 01 00 00 b4 6162", false},
		{"marker-only", "40 01 00 01 ff", false},
		{"unknown-critical", "40 01 00 01 d0 00", false},
		{"only-unknown-elective", "40 01 00 01 20", false},
		{"uri-host-empty", "40 01 00 01 30", false},
		{"content-format-repeated", "60 45 00 01 c1 32 01 3c", false},
		{"uri-path-not-utf8", "40 01 00 01 b2 fffe", false},
		{"bad-oscore", "40 02 00 01 91 07 ff 00", false},
		{"ascii-text", strings.Join(strings.Fields("48 65 6c 6c 6f 2c 20 77 6f 72 6c 64 21"), " "), false},
	}
	for _, tt := range tests {
		if got := LooksLikeCoAP(coapHex(t, tt.in)); got != tt.want {
			t.Errorf("%s: LooksLikeCoAP = %v, want %v", tt.name, got, tt.want)
		}
	}
}

// TestLooksLikeCoAPCaptures runs the heuristic over every UDP datagram of
// the shared captures: it must accept every clean message on the CoAP
// port, and reject the DTLS records and the random non-CoAP datagrams.
func TestLooksLikeCoAPCaptures(t *testing.T) {
	dir := coapCapturesDir(t)
	var m Message
	clean, dtls, other := 0, 0, 0
	for _, f := range coapCaptureFiles(t, dir) {
		for _, d := range coapReadUDP(t, filepath.Join(dir, f)) {
			looks := LooksLikeCoAP(d.Payload)
			err := m.Decode(d.Payload)
			if looks && (err != nil || len(m.Anomalies) > 0 && m.Anomalies[0].Kind == AnomalyEmptyWithData) {
				t.Errorf("%s frame %d: accepted, but Decode says %v %v", f, d.Frame, err, m.Anomalies)
			}
			switch {
			case d.SrcPort == 5684 || d.DstPort == 5684:
				dtls++
				if looks {
					t.Errorf("%s frame %d: DTLS datagram %x accepted", f, d.Frame, d.Payload)
				}
			case d.coapPort():
				if err == nil && len(m.Anomalies) == 0 {
					clean++
					if !looks {
						t.Errorf("%s frame %d: clean CoAP message %x rejected", f, d.Frame, d.Payload)
					}
				}
			default:
				other++
				if looks {
					t.Errorf("%s frame %d: non-CoAP datagram %x accepted", f, d.Frame, d.Payload)
				}
			}
		}
	}
	if clean < 13000 || dtls < 60 || other < 2 {
		t.Errorf("too few datagrams: %d clean CoAP, %d DTLS, %d other", clean, dtls, other)
	}
	t.Logf("%d clean CoAP accepted, %d DTLS and %d other datagrams rejected", clean, dtls, other)
}

// TestLooksLikeCoAPRandom bounds the false positives on random payloads and
// checks that whatever is accepted decodes.
func TestLooksLikeCoAPRandom(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	const n = 200000
	b := make([]byte, 256)
	var m Message
	accepted := 0
	for range n {
		p := b[:1+rng.IntN(len(b))]
		for i := range p {
			p[i] = byte(rng.Uint32())
		}
		if LooksLikeCoAP(p) {
			accepted++
			if err := m.Decode(p); err != nil {
				t.Fatalf("accepted %x, Decode: %v", p, err)
			}
		}
	}
	// Random bytes make a registered Empty message (4 bytes, version 1)
	// or a short well-formed request or response only rarely.
	if accepted > n/2000 {
		t.Errorf("accepted %d of %d random payloads", accepted, n)
	}
	t.Logf("accepted %d of %d random payloads", accepted, n)

	// Printable text, as in syslog or other plain-text UDP protocols.
	const alphabet = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789 .,:;-_/=<>[]{}\"'\n"
	accepted = 0
	for range n {
		p := b[:4+rng.IntN(len(b)-4)]
		for i := range p {
			p[i] = alphabet[rng.IntN(len(alphabet))]
		}
		if LooksLikeCoAP(p) {
			accepted++
		}
	}
	if accepted > n/2000 {
		t.Errorf("accepted %d of %d random text payloads", accepted, n)
	}
	t.Logf("accepted %d of %d random text payloads", accepted, n)
}

func TestLooksLikeCoAPAllocs(t *testing.T) {
	inputs := []string{
		"44022f8eef9bbf7a396c6f63616c686f73746b19140837cbf3210017a2d3ff72cd7273fd331ac45cffbe55c3",
		"40 01 00 00 b4 6162",
		"40 01 00 01 91 07",
	}
	for _, s := range inputs {
		b := coapHex(t, s)
		if n := testing.AllocsPerRun(100, func() { LooksLikeCoAP(b) }); n != 0 {
			t.Errorf("LooksLikeCoAP(%s): %v allocs/op", s, n)
		}
	}
}
