package decode

import (
	"bytes"
	"errors"
	"slices"
	"testing"
)

// tcpVectors are RFC 8323 messages with what DecodeTCP must find in them.
var tcpVectors = []struct {
	name    string
	hex     string
	code    Code
	token   string
	opts    []OptionID
	payload string
}{
	// A CSM with Max-Message-Size 1152 and Block-Wise-Transfer, as libcoap
	// sends it first.
	{"csm", "40e1 22 0480 20", CodeCSM, "", []OptionID{OptMaxMessageSize, OptBlockWiseTransfer}, ""},
	{"empty-csm", "00e1", CodeCSM, "", nil, ""},
	{"ping-custody", "10e2 20", CodePing, "", []OptionID{OptCustody}, ""},
	{"pong", "01e3 aa", CodePong, "aa", nil, ""},
	{"release", "d001e4 2b 6c6f63616c686f73743a31 2103", CodeRelease, "", []OptionID{OptAlternativeAddress, OptHoldOff}, ""},
	{"abort", "20e5 2101", CodeAbort, "", []OptionID{OptBadCSMOption}, ""},
	// GET /temperature with a 2-byte token (RFC 8323 figure 7 shape).
	{"get", "c201 1234 bb 74656d7065726174757265", CodeGET, "1234", []OptionID{OptURIPath}, ""},
	// A 2.05 response with a payload and Content-Format.
	{"content", "6145 07 c0 ff 32322e33", CodeContent, "07", []OptionID{OptContentFormat}, "22.3"},
	// Len 13: one extended length byte (13 + 3 = 16 bytes of options and payload).
	{"len13", "d101 03 11 ff 000102030405060708090a0b0c", CodePUT, "11", nil, "\x00\x01\x02\x03\x04\x05\x06\x07\x08\x09\x0a\x0b\x0c"},
	// TKL 13 (RFC 8974): the token length byte follows the code.
	{"tkl13", "0d4500 0102030405060708090a0b0c0d", CodeContent, "0102030405060708090a0b0c0d", nil, ""},
}

func TestDecodeTCPVectors(t *testing.T) {
	for _, v := range tcpVectors {
		b := coapHex(t, v.hex)
		var m Message
		n, err := m.DecodeTCP(append(bytes.Clone(b), 0x99, 0x98)) // trailing bytes are the next message
		if err != nil || n != len(b) {
			t.Errorf("%s: n %d err %v, want %d", v.name, n, err, len(b))
			continue
		}
		if m.Framing != FramingTCP || m.Code != v.code || string(m.Token) != string(coapHex(t, v.token)) || string(m.Payload) != v.payload || len(m.Anomalies) != 0 {
			t.Errorf("%s: %+v", v.name, m)
		}
		var ids []OptionID
		for _, o := range m.Options {
			ids = append(ids, o.ID)
		}
		if !slices.Equal(ids, v.opts) {
			t.Errorf("%s: options %v, want %v", v.name, ids, v.opts)
		}
		if m.Version != 0 || m.Type != 0 || m.MessageID != 0 {
			t.Errorf("%s: UDP-only fields set: %+v", v.name, m)
		}
		if !bytes.Equal(m.Raw, b) {
			t.Errorf("%s: Raw %x", v.name, m.Raw)
		}
		// Every strict prefix needs more, with the whole length once the
		// header is in.
		for k := 0; k < len(b); k++ {
			var p Message
			pn, perr := p.DecodeTCP(b[:k])
			if perr != ErrNeedMore || (pn != 0 && pn != len(b)) {
				t.Errorf("%s: prefix of %d: n %d err %v", v.name, k, pn, perr)
			}
		}
		// Re-encoding gives the bytes back.
		if out := m.AppendTCP([]byte{0xee}); !bytes.Equal(out[1:], b) || out[0] != 0xee {
			t.Errorf("%s: AppendTCP %x, want %x", v.name, out, b)
		}
	}
}

func TestSignalOptionNames(t *testing.T) {
	for _, c := range []struct {
		code Code
		id   OptionID
		want string
	}{
		{CodeCSM, 2, "Max-Message-Size"}, {CodeCSM, 4, "Block-Wise-Transfer"},
		{CodePing, 2, "Custody"}, {CodePong, 2, "Custody"},
		{CodeRelease, 2, "Alternative-Address"}, {CodeRelease, 4, "Hold-Off"},
		{CodeAbort, 2, "Bad-CSM-Option"}, {CodeAbort, 4, "Option(4)"},
		{CodeGET, 4, "ETag"}, {CodeGET, 11, "Uri-Path"},
	} {
		if got := OptionName(c.code, c.id); got != c.want {
			t.Errorf("OptionName(%v, %d) = %q, want %q", c.code, c.id, got, c.want)
		}
	}
	if got := string(AppendMessageOptionValue(nil, CodeCSM, OptMaxMessageSize, []byte{4, 0x80})); got != "1152" {
		t.Errorf("Max-Message-Size value %q", got)
	}
	if got := string(AppendMessageOptionValue(nil, CodeRelease, OptAlternativeAddress, []byte("h:1"))); got != "h:1" {
		t.Errorf("Alternative-Address value %q", got)
	}
}

// Signaling options are checked against their own definitions: a CSM's
// option 4 is the empty Block-Wise-Transfer, so a value is an anomaly,
// while in a GET option 4 would be an ETag; option 2 of a CSM is a uint.
func TestSignalOptionAnomalies(t *testing.T) {
	var m Message
	if _, err := m.DecodeTCP(coapHex(t, "20e1 4101")); err != nil {
		t.Fatal(err)
	}
	if len(m.Anomalies) != 1 || m.Anomalies[0].Kind != AnomalyOptionLength {
		t.Errorf("Block-Wise-Transfer with a value: anomalies %v", m.Anomalies)
	}
	if _, err := m.DecodeTCP(coapHex(t, "20e1 2100")); err != nil {
		t.Fatal(err)
	}
	if len(m.Anomalies) != 1 || m.Anomalies[0].Kind != AnomalyUintLeadingZero {
		t.Errorf("Max-Message-Size 0x00: anomalies %v", m.Anomalies)
	}
	// The same bytes over UDP keep the ordinary option table.
	if err := m.Decode(coapHex(t, "40e10001 4101")); err != nil || len(m.Anomalies) != 0 {
		t.Errorf("UDP class 7: %v %v", err, m.Anomalies)
	}
}

func TestDecodeTCPExtendedLengths(t *testing.T) {
	for _, size := range []int{0, 12, 13, 268, 269, 270, 65804, 65805, 70000} {
		m := Message{Code: CodePOST, Token: []byte{1, 2}, Payload: bytes.Repeat([]byte{'x'}, size)}
		b := m.AppendTCP(nil)
		var got Message
		n, err := got.DecodeTCP(b)
		if err != nil || n != len(b) || len(got.Payload) != size {
			t.Errorf("payload %d: n %d/%d err %v payload %d", size, n, len(b), err, len(got.Payload))
		}
		want := byte(0)
		switch {
		case size+1 >= 65805:
			want = 15
		case size+1 >= 269:
			want = 14
		case size+1 >= 13:
			want = 13
		case size > 0:
			want = byte(size + 1)
		}
		if b[0]>>4 != want {
			t.Errorf("payload %d: Len nibble %d, want %d", size, b[0]>>4, want)
		}
		var h int
		if h, err = TCPHeader(b[:8]); err != nil || h != len(b) {
			t.Errorf("payload %d: TCPHeader %d %v", size, h, err)
		}
	}
}

func TestDecodeTCPErrors(t *testing.T) {
	var m Message
	for _, c := range []struct {
		hex  string
		want error
		n    int
	}{
		{"0f01", ErrReserved, 0},                   // TKL 15
		{"f0 3fffffff 01", ErrBadLength, 0},        // over MaxTCPMessage
		{"2001 f0 00", ErrReserved, 4},             // option delta 15
		{"1001 d0", ErrTruncated, 3},               // extended delta cut by the message length
		{"1001 ff", nil, 3},                        // payload marker alone: an anomaly
		{"", ErrNeedMore, 0},                       // nothing
		{"d0", ErrNeedMore, 0},                     // extended length missing
		{"d0 05 01", ErrNeedMore, 21},              // 3 header bytes + 18
		{"0d01", ErrNeedMore, 0},                   // extended TKL missing
		{"f0 00000000", ErrNeedMore, 0},            // code missing
		{"f0 00000000 01", ErrNeedMore, 65805 + 6}, // a 65805-byte body to come
	} {
		n, err := m.DecodeTCP(coapHex(t, c.hex))
		if !errors.Is(err, c.want) || n != c.n {
			t.Errorf("%s: n %d err %v, want %d %v", c.hex, n, err, c.n, c.want)
		}
		if c.want == ErrNeedMore && err != ErrNeedMore {
			t.Errorf("%s: ErrNeedMore wrapped: %T", c.hex, err)
		}
	}
}

func TestDecodeWS(t *testing.T) {
	var m Message
	if err := m.DecodeWS(coapHex(t, "0201 1234 bb 74656d7065726174757265")); err != nil {
		t.Fatal(err)
	}
	if m.Framing != FramingWebSocket || m.Code != CodeGET || string(m.URIPath(nil)) != "temperature" || len(m.Anomalies) != 0 {
		t.Errorf("%+v", m)
	}
	if out := m.AppendWS(nil); !bytes.Equal(out, coapHex(t, "0201 1234 bb 74656d7065726174757265")) {
		t.Errorf("AppendWS %x", out)
	}
	if err := m.DecodeWS(coapHex(t, "3045 ff6869")); err != nil || len(m.Anomalies) != 1 || m.Anomalies[0].Kind != AnomalyWSLength || string(m.Payload) != "hi" {
		t.Errorf("non-zero Len: %v %+v", err, m)
	}
	for _, h := range []string{"", "00", "0d01", "0f01"} {
		if err := m.DecodeWS(coapHex(t, h)); err == nil {
			t.Errorf("%q decoded", h)
		}
	}
}

func TestDecodeTCPAllocs(t *testing.T) {
	b := bytes.Repeat(coapHex(t, "c201 1234 bb 74656d7065726174757265"), 4)
	var m Message
	allocs := testing.AllocsPerRun(100, func() {
		for off := 0; off < len(b); {
			n, err := m.DecodeTCP(b[off:])
			if err != nil {
				t.Fatal(err)
			}
			off += n
		}
		if _, err := m.DecodeTCP(b[:3]); err != ErrNeedMore {
			t.Fatal(err)
		}
		if err := m.DecodeWS(b[1:16]); err != nil {
			t.Fatal(err)
		}
	})
	if allocs != 0 {
		t.Errorf("%v allocations", allocs)
	}
}

// FuzzDecodeTCP checks the framing decoder on anything: no panic, a
// length within b on success, every strict prefix of a message needs
// more bytes (with the whole length or 0), a FormatError within bounds
// otherwise, and messages without anomalies encode back to their bytes.
func FuzzDecodeTCP(f *testing.F) {
	for _, v := range tcpVectors {
		f.Add(coapHex(f, v.hex))
	}
	f.Add(coapHex(f, "f0 00000000 01"))
	f.Add(coapHex(f, "e0 0001 45 ff"))
	f.Fuzz(func(t *testing.T, b []byte) {
		var m Message
		n, err := m.DecodeTCP(b)
		checkMessageClone(t, b, func(m *Message, b []byte) { m.DecodeTCP(b) })
		switch {
		case err == ErrNeedMore:
			if n != 0 && n <= len(b) {
				t.Fatalf("need more with n %d of %d bytes", n, len(b))
			}
			return
		case err != nil:
			var fe *FormatError
			if !errors.As(err, &fe) || fe.Off < 0 || fe.Field == "" || n < 0 || n > len(b) || (n > 0 && fe.Off > n) {
				t.Fatalf("bad error %v n %d for %x", err, n, b)
			}
			return
		}
		if n <= 0 || n > len(b) || !bytes.Equal(m.Raw, b[:n]) {
			t.Fatalf("n %d of %d, Raw %x", n, len(b), m.Raw)
		}
		if h, herr := TCPHeader(b); herr != nil || h != n {
			t.Fatalf("TCPHeader %d %v, DecodeTCP %d", h, herr, n)
		}
		for k := range n {
			var p Message
			if pn, perr := p.DecodeTCP(b[:k]); perr != ErrNeedMore || (pn != 0 && pn != n) {
				t.Fatalf("prefix %d of %d: %d %v", k, n, pn, perr)
			}
		}
		for _, o := range m.Options {
			if o.Span.Off < 0 || o.Span.Off+o.Span.Len > n {
				t.Fatalf("option span %+v outside %d", o.Span, n)
			}
			_ = AppendMessageOptionValue(nil, m.Code, o.ID, o.Value)
			_ = OptionName(m.Code, o.ID)
		}
		if len(m.Anomalies) == 0 {
			if out := m.AppendTCP(nil); !bytes.Equal(out, b[:n]) {
				t.Fatalf("AppendTCP(DecodeTCP(%x)) = %x", b[:n], out)
			}
			// The WebSocket form of the same message decodes the same.
			ws := m.AppendWS(nil)
			var w Message
			if err := w.DecodeWS(ws); err != nil || w.Code != m.Code || !bytes.Equal(w.Token, m.Token) || !bytes.Equal(w.Payload, m.Payload) || len(w.Options) != len(m.Options) {
				t.Fatalf("WebSocket form %x: %v %+v", ws, err, w)
			}
		}
	})
}

// FuzzDecodeWS: no panic, errors are FormatErrors, and a message without
// anomalies encodes back to its bytes.
func FuzzDecodeWS(f *testing.F) {
	f.Add(coapHex(f, "0201 1234 bb 74656d7065726174757265"))
	f.Add(coapHex(f, "00e1 22 0480"))
	f.Add(coapHex(f, "0d4500 0102030405060708090a0b0c0d ff 00"))
	f.Fuzz(func(t *testing.T, b []byte) {
		checkMessageClone(t, b, func(m *Message, b []byte) { m.DecodeWS(b) })
		var m Message
		if err := m.DecodeWS(b); err != nil {
			var fe *FormatError
			if !errors.As(err, &fe) || fe.Off < 0 || fe.Off > len(b) {
				t.Fatalf("bad error %v", err)
			}
			return
		}
		if m.Framing != FramingWebSocket {
			t.Fatal("framing")
		}
		if len(m.Anomalies) == 0 {
			if out := m.AppendWS(nil); !bytes.Equal(out, b) {
				t.Fatalf("AppendWS(DecodeWS(%x)) = %x", b, out)
			}
		}
	})
}

// Block size exponent 7 is BERT over TCP and WebSockets (RFC 8323 section
// 6), reserved over UDP.
func TestBERTBlock(t *testing.T) {
	var m Message
	// PUT with Block1 NUM 0, M, SZX 7 and 2048 bytes of payload.
	b := (&Message{Code: CodePUT, Token: []byte{1}, Options: []Option{{ID: OptBlock1, Value: []byte{0x0f}}}, Payload: make([]byte, 2048)}).AppendTCP(nil)
	if _, err := m.DecodeTCP(b); err != nil || len(m.Anomalies) != 0 {
		t.Errorf("BERT over TCP: %v %v", err, m.Anomalies)
	}
	if err := m.Decode(coapHex(t, "4103000101 d1 0e 0f")); err != nil || len(m.Anomalies) != 1 || m.Anomalies[0].Kind != AnomalyBlockSZX {
		t.Errorf("SZX 7 over UDP: %v %v", err, m.Anomalies)
	}
}
