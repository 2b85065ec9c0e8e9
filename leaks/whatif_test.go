package leaks

import (
	"encoding/hex"
	"errors"
	"io"
	"path/filepath"
	"testing"

	"github.com/coapaudit/coapaudit/capture"
	"github.com/coapaudit/coapaudit/decode"
	"github.com/coapaudit/coapaudit/internal/testenv"
	"github.com/coapaudit/coapaudit/oscore"
)

func mustHex(t *testing.T, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestWhatIfRFC8613 predicts the protected sizes of the RFC 8613
// Appendix C test vectors from their unprotected messages.
func TestWhatIfRFC8613(t *testing.T) {
	for _, c := range []struct {
		name                 string
		plain, plaintext, ct string
		protected            string
		p                    OSCOREParams
	}{
		{
			name:      "C.4 request, empty kid",
			plain:     "44015d1f00003974396c6f63616c686f737483747631",
			plaintext: "01b3747631",
			ct:        "612f1092f1776f1c1668b3825e",
			protected: "44025d1f00003974396c6f63616c686f7374620914ff612f1092f1776f1c1668b3825e",
			p:         OSCOREParams{PIVLen: 1, HasKID: true},
		},
		{
			name:      "C.5 request, kid 00",
			plain:     "440171c30000b932396c6f63616c686f737483747631",
			plaintext: "01b3747631",
			ct:        "4ed339a5a379b0b8bc731fffb0",
			protected: "440271c30000b932396c6f63616c686f737463091400ff4ed339a5a379b0b8bc731fffb0",
			p:         OSCOREParams{PIVLen: 1, HasKID: true, KIDLen: 1},
		},
		{
			name:      "C.6 request, kid context",
			plain:     "44012f8eef9bbf7a396c6f63616c686f737483747631",
			plaintext: "01b3747631",
			ct:        "72cd7273fd331ac45cffbe55c3",
			protected: "44022f8eef9bbf7a396c6f63616c686f73746b19140837cbf3210017a2d3ff72cd7273fd331ac45cffbe55c3",
			p:         OSCOREParams{PIVLen: 1, HasKID: true, HasKIDContext: true, KIDContextLen: 8},
		},
		{
			name:      "C.7 response, no Partial IV",
			plain:     "64455d1f00003974ff48656c6c6f20576f726c6421",
			plaintext: "45ff48656c6c6f20576f726c6421",
			ct:        "dbaad1e9a7e7b2a813d3c31524378303cdafae119106",
			protected: "64445d1f0000397490ffdbaad1e9a7e7b2a813d3c31524378303cdafae119106",
		},
		{
			name:      "C.8 response with Partial IV",
			plain:     "64455d1f00003974ff48656c6c6f20576f726c6421",
			plaintext: "45ff48656c6c6f20576f726c6421",
			ct:        "4d4c13669384b67354b2b6175ff4b8658c666a6cf88e",
			protected: "64445d1f00003974920100ff4d4c13669384b67354b2b6175ff4b8658c666a6cf88e",
			p:         OSCOREParams{PIVLen: 1},
		},
	} {
		var m decode.Message
		plain := mustHex(t, c.plain)
		if err := m.Decode(plain); err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		pm := PlainFromMessage(&m)
		got := WhatIfOSCORE(pm, c.p)
		want := OSCORESizes{
			Plain:      len(plain),
			Inner:      len(c.plaintext) / 2,
			Ciphertext: len(c.ct) / 2,
			Outer:      len(c.protected) / 2,
		}
		if got != want {
			t.Errorf("%s: %+v, want %+v", c.name, got, want)
		}
	}
}

func TestWhatIfOptionEncoding(t *testing.T) {
	// Uri-Path (11) inside; Proxy-Uri (35) outside after OSCORE (9): delta
	// 26 takes an extended byte; a 300-byte payload.
	m := PlainMessage{
		TokenLen: 2,
		Options: []OptionLen{
			{ID: decode.OptProxyURI, Len: 20},
			{ID: decode.OptURIPath, Len: 3},
			{ID: decode.OptURIPath, Len: 14}, // 14 >= 13: extended length byte
			{ID: decode.OptObserve, Len: 1},  // inner, and copied outside
			{ID: 2053, Len: 0},               // unknown: class E, delta 2042 takes 2 bytes
		},
		PayloadLen: 300,
	}
	if got, want := m.Size(), 4+2+(1+1)+(1+3)+(1+1+14)+(1+2+20)+(1+2)+1+300; got != want {
		t.Errorf("plain size %d, want %d", got, want)
	}
	s := WhatIfOSCORE(m, OSCOREParams{PIVLen: 2, HasKID: true, KIDLen: 1})
	// Inner: code, Observe (6: 1+1), Uri-Path (delta 5: 1+3), Uri-Path
	// (1+1+14), option 2053 (delta 2042: 1+2), marker, payload.
	inner := 1 + 2 + 4 + 16 + 3 + 1 + 300
	// Outer: Observe (1+1), OSCORE (delta 3, 4 bytes: 1+4), Proxy-Uri
	// (delta 26 and length 20 take a byte each: 1+1+1+20), marker,
	// ciphertext.
	outer := 4 + 2 + 2 + 5 + 23 + 1 + inner + 8
	if s.Inner != inner || s.Ciphertext != inner+8 || s.Outer != outer {
		t.Errorf("%+v, want inner %d outer %d", s, inner, outer)
	}
	// A class function and a tag length of the caller's choosing.
	s = WhatIfOSCORE(PlainMessage{PayloadLen: 1}, OSCOREParams{TagLen: 16, Class: func(decode.OptionID) decode.OSCOREClassKind { return decode.OSCOREClassU }})
	if s.Inner != 3 || s.Ciphertext != 19 || s.Outer != 4+1+1+19 {
		t.Errorf("%+v", s)
	}
}

func capturesDir(t *testing.T) string {
	t.Helper()
	return testenv.CapturesDir(t)
}

// TestWhatIfCapture decrypts every OSCORE message of the aiocoap reverse
// proxy capture, rebuilds the unprotected message, and checks that the
// what-if computation predicts the size that was on the wire.
func TestWhatIfCapture(t *testing.T) {
	dir := capturesDir(t)
	params, err := oscore.LoadKeyFile(filepath.Join(dir, "keys", "oscore_contexts"))
	if err != nil {
		t.Fatal(err)
	}
	ring, err := oscore.NewKeyring(params)
	if err != nil {
		t.Fatal(err)
	}
	dec := oscore.NewDecryptor(ring)
	r, err := capture.Open(filepath.Join(dir, "aiocoap-oscore-revproxy.pcap"))
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	var d capture.Datagram
	var m decode.Message
	checked := 0
	for {
		if err := r.Next(&d); err != nil {
			if !errors.Is(err, io.EOF) {
				t.Fatal(err)
			}
			break
		}
		if d.Kind != capture.KindUDP || m.Decode(d.Payload) != nil || !m.HasOption(decode.OptOSCORE) {
			continue
		}
		res := dec.Process(d.Time, d.Number, d.Src, d.Dst, &m)
		if res == nil || !res.Verified {
			continue
		}
		plain := PlainMessage{TokenLen: len(m.Token), PayloadLen: len(res.Inner.Payload)}
		for _, o := range res.Joined(&m, nil) {
			plain.Options = append(plain.Options, OptionLen{ID: o.ID, Len: len(o.Value)})
		}
		o := res.Option
		p := OSCOREParams{
			PIVLen: len(o.PIV), HasKID: o.HasKID, KIDLen: len(o.KID),
			HasKIDContext: o.HasKIDContext, KIDContextLen: len(o.KIDContext),
		}
		got := WhatIfOSCORE(plain, p)
		if got.Outer != len(d.Payload) || got.Inner != len(res.Plaintext) {
			t.Errorf("frame %d: predicted outer %d inner %d, wire %d plaintext %d", d.Number, got.Outer, got.Inner, len(d.Payload), len(res.Plaintext))
		}
		checked++
	}
	if checked < 20 {
		t.Errorf("only %d messages decrypted", checked)
	}
	t.Logf("%d protected messages predicted", checked)
}
