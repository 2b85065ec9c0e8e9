package decode

import (
	"bytes"
	"testing"

	"github.com/plgd-dev/go-coap/v3/message"
	tcpcoder "github.com/plgd-dev/go-coap/v3/tcp/coder"
)

// sameAsGoCoAP decodes b, an RFC 8323 message DecodeTCP accepted as m,
// with go-coap's TCP coder too and reports the first difference.
func sameAsGoCoAP(t *testing.T, b []byte, m *Message) {
	t.Helper()
	var theirs message.Message
	theirs.Options = make(message.Options, 0, max(32, len(m.Options))) // go-coap decodes into the room it is given
	n, err := tcpcoder.DefaultCoder.Decode(b, &theirs)
	if err != nil {
		if len(m.Token) > 8 {
			return // RFC 8974 extended token: go-coap does not support it
		}
		t.Fatalf("%x: go-coap: %v; DecodeTCP: ok", b, err)
	}
	if n != len(b) || uint8(m.Code) != uint8(theirs.Code) || !bytes.Equal(m.Token, theirs.Token) || !bytes.Equal(m.Payload, theirs.Payload) {
		t.Fatalf("%x: ours %d bytes %v %x %x, go-coap %d bytes %v %x %x", b, len(b), m.Code, m.Token, m.Payload, n, theirs.Code, []byte(theirs.Token), theirs.Payload)
	}
	if len(m.Options) != len(theirs.Options) {
		t.Fatalf("%x: %d options, go-coap %d", b, len(m.Options), len(theirs.Options))
	}
	for i, o := range m.Options {
		if uint16(o.ID) != uint16(theirs.Options[i].ID) || !bytes.Equal(o.Value, theirs.Options[i].Value) {
			t.Fatalf("%x: option %d: %v=%x, go-coap %v=%x", b, i, o.ID, o.Value, theirs.Options[i].ID, theirs.Options[i].Value)
		}
	}
}

// FuzzGoCoAPTCP: every message DecodeTCP accepts without anomalies (and
// with a token of at most 8 bytes, all go-coap knows) go-coap's TCP coder
// decodes the same; and go-coap's encoding of it decodes back to it.
func FuzzGoCoAPTCP(f *testing.F) {
	for _, v := range tcpVectors {
		f.Add(coapHex(f, v.hex))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		var m Message
		n, err := m.DecodeTCP(b)
		if err != nil || len(m.Anomalies) > 0 || len(m.Token) > 8 {
			return
		}
		for _, o := range m.Options {
			if o.ID == 0 {
				return // go-coap drops the reserved option 0 (seed 8015069047d77b15)
			}
			if _, known := LookupSignalOption(m.Code, o.ID); m.Code.IsSignaling() && !known {
				return // and the options of signaling messages it does not know (seed a3463dde74b27d9f)
			}
		}
		sameAsGoCoAP(t, b[:n], &m)
		// go-coap's encoder, read back.
		var theirs message.Message
		theirs.Options = make(message.Options, 0, max(32, len(m.Options))) // go-coap decodes into the room it is given
		if _, err := tcpcoder.DefaultCoder.Decode(b[:n], &theirs); err != nil {
			t.Fatal(err)
		}
		size, err := tcpcoder.DefaultCoder.Size(theirs)
		if err != nil {
			t.Fatal(err)
		}
		buf := make([]byte, size)
		if _, err := tcpcoder.DefaultCoder.Encode(theirs, buf); err != nil {
			t.Fatal(err)
		}
		var back Message
		if k, err := back.DecodeTCP(buf); err != nil || k != len(buf) || !bytes.Equal(back.AppendTCP(nil), b[:n]) {
			t.Fatalf("go-coap encoded %x as %x: %d %v", b[:n], buf, k, err)
		}
	})
}

// TestGoCoAPTCPVectors runs the RFC 8323 vectors through the comparison.
func TestGoCoAPTCPVectors(t *testing.T) {
	for _, v := range tcpVectors {
		b := coapHex(t, v.hex)
		var m Message
		if _, err := m.DecodeTCP(b); err != nil {
			t.Fatal(err)
		}
		sameAsGoCoAP(t, b, &m)
	}
}
