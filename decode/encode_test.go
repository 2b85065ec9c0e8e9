package decode

import (
	"bytes"
	"slices"
	"testing"
)

// FuzzAppendRoundTrip: every message Decode accepts without anomalies
// encodes back to the same bytes, and decodes from them to the same
// message; the way dnsmessage tests its builder against its parser.
func FuzzAppendRoundTrip(f *testing.F) {
	f.Add([]byte{0x44, 0x01, 0x12, 0x34, 1, 2, 3, 4, 0xb4, 't', 'e', 'm', 'p', 0xff, 'x'})
	f.Add([]byte{0x5d, 0x45, 0, 1, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 0xd1, 0x0e, 'a', 0xff, 0, 1})
	f.Add([]byte{0x60, 0x00, 0xab, 0xcd})
	f.Fuzz(func(t *testing.T, b []byte) {
		var m Message
		if err := m.Decode(b); err != nil || len(m.Anomalies) > 0 {
			return
		}
		out := m.Append(nil)
		if !bytes.Equal(out, b) {
			t.Fatalf("Append(Decode(%x)) = %x", b, out)
		}
		var m2 Message
		if err := m2.Decode(out); err != nil {
			t.Fatalf("decode of the encoding: %v", err)
		}
		if m2.Type != m.Type || m2.Code != m.Code || m2.MessageID != m.MessageID || !bytes.Equal(m2.Token, m.Token) ||
			!bytes.Equal(m2.Payload, m.Payload) || !slices.EqualFunc(m2.Options, m.Options, func(a, b Option) bool {
			return a.ID == b.ID && bytes.Equal(a.Value, b.Value)
		}) {
			t.Fatalf("round trip differs: %+v vs %+v", m2, m)
		}
	})
}

// Append sorts options it is given out of order, keeping the order of
// repeated ones, and writes extended lengths.
func TestAppendSortsAndExtends(t *testing.T) {
	long := bytes.Repeat([]byte{'a'}, 300)
	m := Message{Type: Confirmable, Code: CodePUT, MessageID: 7, Token: bytes.Repeat([]byte{1}, 14),
		Options: []Option{{ID: OptContentFormat, Value: []byte{50}}, {ID: OptURIPath, Value: []byte("a")}, {ID: OptURIPath, Value: long}},
		Payload: []byte("{}")}
	var got Message
	if err := got.Decode(m.Append(nil)); err != nil {
		t.Fatal(err)
	}
	if len(got.Token) != 14 || len(got.Options) != 3 || got.Options[0].ID != OptURIPath || string(got.Options[0].Value) != "a" ||
		!bytes.Equal(got.Options[1].Value, long) || got.Options[2].ID != OptContentFormat || string(got.Payload) != "{}" {
		t.Fatalf("%+v", got)
	}
}

func TestAppendUint(t *testing.T) {
	for _, v := range []uint32{0, 1, 0xff, 0x100, 0x1234, 0xffffff, 0x1000000, 0xffffffff} {
		b := AppendUint([]byte{0xee}, v)
		if b[0] != 0xee || DecodeUint(b[1:]) != v || len(b) > 1 && b[1] == 0 {
			t.Errorf("%#x: % x", v, b)
		}
	}
	if n := len(AppendUint(nil, 0)); n != 0 {
		t.Errorf("zero takes %d bytes", n)
	}
}
