package oscore

import (
	"bytes"
	"errors"
	"testing"

	"github.com/coapaudit/coapaudit/decode"
)

func mustDecode(t testing.TB, b []byte) *decode.Message {
	t.Helper()
	m := new(decode.Message)
	if err := m.Decode(b); err != nil {
		t.Fatalf("decode %x: %v", b, err)
	}
	return m
}

// vectorContext returns the context a C.4 to C.8 section refers to, from
// the point of view of the section's protecting endpoint.
func vectorContext(t *testing.T, vs map[string]*vectorSection, id string) *Context {
	t.Helper()
	of := map[string]string{"C.4": "C.1.1", "C.5": "C.2.1", "C.6": "C.3.1", "C.7": "C.1.2", "C.8": "C.1.2"}[id]
	c, err := NewContext(vectorParams(t, vs[of]))
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestVectorsProtectRequest(t *testing.T) {
	vs := loadVectors(t)
	for _, id := range []string{"C.4", "C.5", "C.6"} {
		s := vs[id]
		t.Run(id, func(t *testing.T) {
			c := vectorContext(t, vs, id)
			plain := mustDecode(t, s.hex(t, "Unprotected CoAP request"))
			got, ref, err := c.ProtectRequest(plain, 20)
			if err != nil {
				t.Fatal(err)
			}
			want := s.hex(t, "Protected CoAP request (OSCORE message)")
			if !bytes.Equal(got, want) {
				t.Fatalf("protected\n got %x\nwant %x", got, want)
			}
			if !bytes.Equal(ref.KID, s.hex(t, "kid")) || !bytes.Equal(ref.PIV, s.hex(t, "Partial IV")) {
				t.Errorf("ref = %x/%x", ref.KID, ref.PIV)
			}
			prot := mustDecode(t, got)
			if v, _ := prot.Option(decode.OptOSCORE); !bytes.Equal(v, s.hex(t, "OSCORE option value")) {
				t.Errorf("OSCORE option = %x", v)
			}

			// The receiving side (the reversed context) recovers the plaintext.
			pt, ref2, err := c.Reverse().UnprotectRequest(prot)
			if err != nil {
				t.Fatal(err)
			}
			if want := s.hex(t, "plaintext"); !bytes.Equal(pt, want) {
				t.Errorf("plaintext = %x, want %x", pt, want)
			}
			if !bytes.Equal(ref2.KID, ref.KID) || !bytes.Equal(ref2.PIV, ref.PIV) {
				t.Errorf("unprotect ref = %x/%x", ref2.KID, ref2.PIV)
			}
			// The sender's own context cannot: the kid is not its recipient.
			if _, _, err := c.UnprotectRequest(prot); !errors.Is(err, ErrKIDMismatch) {
				t.Errorf("unprotect with the sender's view: %v, want ErrKIDMismatch", err)
			}
		})
	}
}

func TestVectorsProtectResponse(t *testing.T) {
	vs := loadVectors(t)
	req := RequestRef{KID: []byte{}, PIV: []byte{0x14}} // C.4
	for _, id := range []string{"C.7", "C.8"} {
		s := vs[id]
		t.Run(id, func(t *testing.T) {
			c := vectorContext(t, vs, id) // the server's view
			plain := mustDecode(t, s.hex(t, "Unprotected CoAP response"))
			ownPIV := s.has("Partial IV")
			got, err := c.ProtectResponse(plain, req, 0, ownPIV)
			if err != nil {
				t.Fatal(err)
			}
			want := s.hex(t, "Protected CoAP response (OSCORE message)")
			if !bytes.Equal(got, want) {
				t.Fatalf("protected\n got %x\nwant %x", got, want)
			}
			pt, err := c.Reverse().UnprotectResponse(mustDecode(t, got), req)
			if err != nil {
				t.Fatal(err)
			}
			if want := s.hex(t, "plaintext"); !bytes.Equal(pt, want) {
				t.Errorf("plaintext = %x, want %x", pt, want)
			}
			// Bound to its request: another Partial IV fails.
			other := RequestRef{KID: req.KID, PIV: []byte{0x15}}
			if _, err := c.Reverse().UnprotectResponse(mustDecode(t, got), other); !errors.Is(err, ErrAuthentication) {
				t.Errorf("response checked against another request: %v, want ErrAuthentication", err)
			}
		})
	}
}

// TestProtectRoundTrip protects and unprotects with every algorithm, in
// both directions, and checks that any changed byte of the ciphertext or
// of the bound request fails verification.
func TestProtectRoundTrip(t *testing.T) {
	for _, alg := range allAlgorithms() {
		t.Run(alg.String(), func(t *testing.T) {
			client, err := NewContext(Params{
				Name: "rt", SenderID: []byte{}, RecipientID: []byte{1},
				MasterSecret: bytes.Repeat([]byte{7}, 16), MasterSalt: []byte{1, 2},
				IDContext: []byte{0xaa}, HasIDContext: true, AEAD: alg,
			})
			if err != nil {
				t.Fatal(err)
			}
			server := client.Reverse()
			req := &decode.Message{
				Type: decode.Confirmable, Code: 0x01, MessageID: 7, Token: []byte{1, 2, 3},
				Options: []decode.Option{
					{ID: decode.OptURIPath, Value: []byte("a")},
					{ID: decode.OptURIHost, Value: []byte("example")},
					{ID: decode.OptObserve, Value: nil},
					{ID: decode.OptURIPath, Value: []byte("b")},
				},
				Payload: []byte("hello"),
			}
			wire, ref, err := client.ProtectRequest(req, 0x123456)
			if err != nil {
				t.Fatal(err)
			}
			m := mustDecode(t, wire)
			if m.Code != codeFETCH {
				t.Errorf("outer code of an Observe request = %v, want FETCH", m.Code)
			}
			if v, ok := m.Option(decode.OptURIHost); !ok || string(v) != "example" {
				t.Errorf("Uri-Host not outer")
			}
			if m.HasOption(decode.OptURIPath) {
				t.Errorf("Uri-Path visible in the outer message")
			}
			pt, _, err := server.UnprotectRequest(m)
			if err != nil {
				t.Fatal(err)
			}
			inner := innerOf(t, pt)
			if inner.Code != 0x01 || string(inner.URIPath(nil)) != "a/b" || string(inner.Payload) != "hello" || !inner.HasOption(decode.OptObserve) {
				t.Errorf("inner = code %v path %q payload %q", inner.Code, inner.URIPath(nil), inner.Payload)
			}
			for i := range m.Payload {
				bad := bytes.Clone(wire)
				bad[len(wire)-len(m.Payload)+i] ^= 0x40
				if _, _, err := server.UnprotectRequest(mustDecode(t, bad)); !errors.Is(err, ErrAuthentication) {
					t.Fatalf("flipped ciphertext byte %d: %v", i, err)
				}
			}

			resp := &decode.Message{Type: decode.Acknowledgement, Code: 0x45, MessageID: 7, Token: []byte{1, 2, 3}, Payload: []byte("21.5")}
			for _, own := range []bool{false, true} {
				rw, err := server.ProtectResponse(resp, ref, 3, own)
				if err != nil {
					t.Fatal(err)
				}
				rm := mustDecode(t, rw)
				pt, err := client.UnprotectResponse(rm, ref)
				if err != nil {
					t.Fatalf("ownPIV=%v: %v", own, err)
				}
				if pt[0] != 0x45 || !bytes.HasSuffix(pt, []byte("21.5")) {
					t.Errorf("response plaintext %x", pt)
				}
				if _, err := client.UnprotectResponse(rm, RequestRef{KID: ref.KID, PIV: []byte{0x12, 0x34, 0x57}}); !errors.Is(err, ErrAuthentication) {
					t.Errorf("ownPIV=%v: wrong request accepted: %v", own, err)
				}
			}
		})
	}
}

func allAlgorithms() []Algorithm {
	var out []Algorithm
	for i := range algs {
		if a := Algorithm(i); a.Valid() {
			out = append(out, a)
		}
	}
	return out
}

func TestProtectProxyURI(t *testing.T) {
	c, err := NewContext(Params{SenderID: []byte{1}, RecipientID: []byte{2}, MasterSecret: []byte{1, 2, 3, 4}})
	if err != nil {
		t.Fatal(err)
	}
	req := &decode.Message{Code: 0x01, Options: []decode.Option{{ID: decode.OptProxyURI, Value: []byte("coap://h.example:5699/a%2Fb/c?x=1&y")}}}
	wire, _, err := c.ProtectRequest(req, 1)
	if err != nil {
		t.Fatal(err)
	}
	m := mustDecode(t, wire)
	if v, _ := m.Option(decode.OptProxyScheme); string(v) != "coap" {
		t.Errorf("Proxy-Scheme = %q", v)
	}
	if v, _ := m.Option(decode.OptURIHost); string(v) != "h.example" {
		t.Errorf("Uri-Host = %q", v)
	}
	if v, _ := m.UintOption(decode.OptURIPort); v != 5699 {
		t.Errorf("Uri-Port = %d", v)
	}
	if m.HasOption(decode.OptProxyURI) || m.HasOption(decode.OptURIPath) {
		t.Errorf("Proxy-Uri or Uri-Path left outside")
	}
	pt, _, err := c.Reverse().UnprotectRequest(m)
	if err != nil {
		t.Fatal(err)
	}
	inner := innerOf(t, pt)
	var segs []string
	for _, o := range inner.Options {
		segs = append(segs, o.ID.String()+"="+string(o.Value))
	}
	want := "Uri-Path=a/b Uri-Path=c Uri-Query=x=1 Uri-Query=y"
	if got := joinStrings(segs); got != want {
		t.Errorf("inner options %q, want %q", got, want)
	}
}

func joinStrings(s []string) string {
	var b bytes.Buffer
	for i, x := range s {
		if i > 0 {
			b.WriteByte(' ')
		}
		b.WriteString(x)
	}
	return b.String()
}

func TestProtectErrors(t *testing.T) {
	c, err := NewContext(Params{SenderID: []byte{1}, RecipientID: []byte{2}, MasterSecret: []byte{1}})
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := c.ProtectRequest(&decode.Message{Code: 0x45}, 1); !errors.Is(err, ErrNotRequest) {
		t.Errorf("response as request: %v", err)
	}
	if _, _, err := c.ProtectRequest(&decode.Message{Code: 1}, 1<<40); !errors.Is(err, ErrBadSequence) {
		t.Errorf("seq 2^40: %v", err)
	}
	if _, _, err := c.ProtectRequest(&decode.Message{Code: 1, Options: []decode.Option{{ID: decode.OptOSCORE}}}, 1); !errors.Is(err, ErrAlreadyOSCORE) {
		t.Errorf("double protection: %v", err)
	}
	if _, _, err := c.UnprotectRequest(&decode.Message{Code: 2}); !errors.Is(err, ErrNoOSCORE) {
		t.Errorf("unprotect plain: %v", err)
	}
}

// innerOf decodes a plaintext the way the Decryptor does.
func innerOf(t *testing.T, pt []byte) *decode.Message {
	t.Helper()
	var r Result
	setInner(&r, &decode.Message{Token: []byte{9}}, pt)
	if r.Err != "" {
		t.Fatalf("inner %x: %s", pt, r.Err)
	}
	if !bytes.Equal(r.Plaintext, pt) {
		t.Fatalf("Plaintext = %x, want %x", r.Plaintext, pt)
	}
	if !bytes.Equal(r.Inner.Token, []byte{9}) {
		t.Fatalf("inner token %x", r.Inner.Token)
	}
	return &r.Inner
}
