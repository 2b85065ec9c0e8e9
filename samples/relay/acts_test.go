package main

import (
	"encoding/hex"
	"errors"
	"slices"
	"testing"

	"github.com/coapaudit/coapaudit/decode"
	"github.com/plgd-dev/go-coap/v3/message"
	"github.com/plgd-dev/go-coap/v3/message/codes"
)

// build encodes a message with the given path, Content-Format (-1: none),
// Observe (-1: none) and payload.
func build(t *testing.T, typ message.Type, code codes.Code, path string, cf int, observe int, payload string) []byte {
	t.Helper()
	m := message.Message{Token: message.Token{0xde, 0xad, 0xbe, 0xef}, Code: code, MessageID: 0x1234, Type: typ}
	buf := make([]byte, 256)
	var err error
	var n int
	if path != "" {
		m.Options, n, err = m.Options.SetPath(buf, path)
		if err != nil {
			t.Fatal(err)
		}
		buf = buf[n:]
	}
	if cf >= 0 {
		m.Options, n, err = m.Options.SetContentFormat(buf, message.MediaType(cf))
		if err != nil {
			t.Fatal(err)
		}
		buf = buf[n:]
	}
	if observe >= 0 {
		if m.Options, _, err = m.Options.SetObserve(buf, uint32(observe)); err != nil {
			t.Fatal(err)
		}
	}
	if payload != "" {
		m.Payload = []byte(payload)
	}
	b, err := encode(m)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// fields decodes b with coapaudit's own decoder.
func fields(t *testing.T, b []byte) map[string]string {
	t.Helper()
	var m decode.Message
	if err := m.Decode(b); err != nil {
		t.Fatalf("decode %x: %v", b, err)
	}
	return fieldsOf(&m)
}

// changed lists the fields that differ between two field maps.
func changed(a, b map[string]string) []string {
	var out []string
	for k, v := range a {
		if w, ok := b[k]; !ok || w != v {
			out = append(out, k)
		}
	}
	for k := range b {
		if _, ok := a[k]; !ok {
			out = append(out, k)
		}
	}
	slices.Sort(out)
	return out
}

func TestAlterChangesExactlyOneField(t *testing.T) {
	req := build(t, message.Confirmable, codes.PUT, "/sensors/temp", 0, -1, "hello world")
	get := build(t, message.Confirmable, codes.GET, "/time", -1, 0, "")
	resp := build(t, message.Acknowledgement, codes.Content, "", 0, 7, "Dec 03 10:54:14")
	tests := []struct {
		step          step
		in            []byte
		field         string
		before, after string
	}{
		{step{Act: actAlterRequestPayload}, req, fieldPayload, "68656c6c6f20776f726c64", "68656c6c6f20776f726c65"},
		{step{Act: actAlterResponsePayload}, resp, fieldPayload, hexOf("Dec 03 10:54:14"), hexOf("Eec 03 10:54:14")},
		{step{Act: actAlterMethod}, get, fieldCode, "0.01", "0.05"},
		{step{Act: actAlterMethod}, req, fieldCode, "0.03", "0.02"},
		{step{Act: actAlterResponseCode}, resp, fieldCode, "2.05", "4.04"},
		{step{Act: actAlterContentFormat, Arg: dirRequest}, req, fieldContentFormat, "0", "50"},
		{step{Act: actAlterContentFormat, Arg: dirResponse}, resp, fieldContentFormat, "0", "50"},
		{step{Act: actAlterContentFormat}, get, fieldContentFormat, "-", "0"},
		{step{Act: actAlterURIPath}, req, fieldURIPath, "sensors/temp", "-"},
		{step{Act: actAlterURIPath, Arg: "example_data"}, req, fieldURIPath, "sensors/temp", "example_data"},
		{step{Act: actAlterURIPath, Arg: "a/b/c"}, get, fieldURIPath, "time", "a/b/c"},
	}
	for _, tt := range tests {
		t.Run(tt.step.Act+"="+tt.step.Arg, func(t *testing.T) {
			m, err := parse(tt.in)
			if err != nil {
				t.Fatal(err)
			}
			a, err := alter(tt.step, m, make([]byte, 64))
			if err != nil {
				t.Fatal(err)
			}
			out, err := encode(*m)
			if err != nil {
				t.Fatal(err)
			}
			if a.Field != tt.field || a.Before != tt.before || a.After != tt.after {
				t.Errorf("alteration %+v, want %s %q -> %q", a, tt.field, tt.before, tt.after)
			}
			fin, fout := fields(t, tt.in), fields(t, out)
			if got := changed(fin, fout); !slices.Equal(got, []string{tt.field}) {
				t.Errorf("changed fields %v, want [%s]\nin  %v\nout %v", got, tt.field, fin, fout)
			}
			if fieldOf(mustDecode(t, tt.in), tt.field) != a.Before || fieldOf(mustDecode(t, out), tt.field) != a.After {
				t.Errorf("decoded values disagree with the alteration %+v", a)
			}
		})
	}
}

func hexOf(s string) string { return hex.EncodeToString([]byte(s)) }

func mustDecode(t *testing.T, b []byte) *decode.Message {
	t.Helper()
	m := new(decode.Message)
	if err := m.Decode(b); err != nil {
		t.Fatal(err)
	}
	return m
}

func TestAlterNotApplicable(t *testing.T) {
	get := build(t, message.Confirmable, codes.GET, "", -1, -1, "")
	resp := build(t, message.Acknowledgement, codes.NotFound, "", -1, -1, "")
	for _, tt := range []struct {
		s step
		b []byte
	}{
		{step{Act: actAlterRequestPayload}, get}, // no payload
		{step{Act: actAlterURIPath}, get},        // no path to drop
		{step{Act: actAlterResponseCode}, resp},  // 4.04 has no swap
		{step{Act: actAlterMethod}, resp},        // not a method
	} {
		m, err := parse(tt.b)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := alter(tt.s, m, make([]byte, 64)); !errors.Is(err, errNotApplicable) {
			t.Errorf("%s: err %v, want errNotApplicable", tt.s.Act, err)
		}
	}
}

func TestForge(t *testing.T) {
	for _, typ := range []message.Type{message.Confirmable, message.NonConfirmable} {
		req, err := parse(build(t, typ, codes.GET, "/time", -1, -1, ""))
		if err != nil {
			t.Fatal(err)
		}
		b, err := forge(req, 0x7001)
		if err != nil {
			t.Fatal(err)
		}
		f := fields(t, b)
		wantType, wantMID := "ACK", "4660"
		if typ == message.NonConfirmable {
			wantType, wantMID = "NON", "28673"
		}
		if f["type"] != wantType || f["mid"] != wantMID || f["token"] != "deadbeef" || f[fieldCode] != "2.05" ||
			f[fieldPayload] != hexOf(forgedPayload) || f[fieldContentFormat] != "0" {
			t.Errorf("forged %v response to %v: %v", typ, typ, f)
		}
	}
}

func TestParseSchedule(t *testing.T) {
	s, err := parseSchedule(defaultSchedule)
	if err != nil {
		t.Fatal(err)
	}
	acts := map[string]bool{}
	for _, st := range s {
		acts[st.Act] = true
	}
	for a := range knownActs {
		if !acts[a] {
			t.Errorf("default schedule lacks %s", a)
		}
	}
	if got := s[12]; got.Act != actDelay || got.seconds() != 1.5 {
		t.Errorf("step 12 = %+v, want delay 1.5 s", got)
	}
	if got := s[14]; got.Act != actFlood || got.extra() != 2 {
		t.Errorf("step 14 = %+v, want flood 2", got)
	}
	if s[8].direction() != dirResponse || s[7].direction() != dirRequest || s[13].direction() != dirResponse {
		t.Errorf("directions: 8 %s, 7 %s, 13 %s", s[8].direction(), s[7].direction(), s[13].direction())
	}
	for _, bad := range []string{"x:forge", "0:forge", "3:teleport", "3:forge,3:drop", "2:alter-content-format=both"} {
		if _, err := parseSchedule(bad); err == nil {
			t.Errorf("parseSchedule(%q) accepted", bad)
		}
	}
}
