package tlskeys

import (
	"bytes"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"testing"
)

const (
	cr1 = "a1a2a3a4a5a6a7a8a9aaabacadaeafb0b1b2b3b4b5b6b7b8b9babbbcbdbebfc0"
	ms1 = "0102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f202122232425262728292a2b2c2d2e2f30"
	ts1 = "1111111111111111111111111111111111111111111111111111111111111111"
)

func mustHex(t *testing.T, s string) []byte {
	t.Helper()
	var b []byte
	if _, err := fmt.Sscanf(s, "%x", &b); err != nil {
		t.Fatal(err)
	}
	return b
}

func TestKeyLogRead(t *testing.T) {
	in := "# comment\n\n" +
		"CLIENT_RANDOM " + cr1 + " " + ms1 + "\r\n" +
		"CLIENT_RANDOM " + strings.ToUpper(cr1) + " " + ms1 + "\n" + // same entry again: fine
		"CLIENT_HANDSHAKE_TRAFFIC_SECRET " + cr1 + " " + ts1 + "\n" +
		"SERVER_TRAFFIC_SECRET_0 " + cr1 + " " + ts1 + "\n" +
		"CLIENT_EARLY_TRAFFIC_SECRET " + cr1 + " " + ts1 + "\n" +
		"EXPORTER_SECRET " + cr1 + " " + ts1 // no final newline
	var k KeyLog
	if err := k.Read(strings.NewReader(in), "keys.log"); err != nil {
		t.Fatal(err)
	}
	if got := k.MasterSecret(mustHex(t, cr1)); !bytes.Equal(got, mustHex(t, ms1)) {
		t.Errorf("MasterSecret = %x", []byte(got))
	}
	if k.MasterSecret(make([]byte, 32)) != nil || k.MasterSecret([]byte{1}) != nil {
		t.Error("MasterSecret found an entry that is not there")
	}
	s := k.TLS13(mustHex(t, cr1))
	if s == nil || s.ClientHandshake == nil || s.ServerTraffic0 == nil || s.ClientEarly == nil || s.ClientTraffic0 != nil {
		t.Fatalf("TLS13 = %v", s)
	}
	if k.Ignored != 1 || k.Len() != 2 {
		t.Errorf("Ignored = %d, Len = %d; want 1, 2", k.Ignored, k.Len())
	}
	var nilLog *KeyLog
	if nilLog.Len() != 0 || nilLog.MasterSecret(mustHex(t, cr1)) != nil {
		t.Error("nil KeyLog not empty")
	}
}

func TestKeyLogErrors(t *testing.T) {
	secret := "deadbeefcafe" + ms1[12:]
	for _, tc := range []struct {
		line, what string
	}{
		{"CLIENT_RANDOM " + cr1, errKeyLogFieldCount},
		{"CLIENT_RANDOM " + cr1 + " " + secret + " extra", errKeyLogFieldCount},
		{"client_random " + cr1 + " " + secret, errKeyLogLabel},
		{"CLIENT_RANDOM " + cr1[2:] + " " + secret, errKeyLogRandom},
		{"CLIENT_RANDOM " + "zz" + cr1[2:] + " " + secret, errKeyLogRandom},
		{"CLIENT_RANDOM " + cr1 + " " + secret[1:], errKeyLogSecretHex},
		{"CLIENT_RANDOM " + cr1 + " " + secret[:len(secret)-2] + "xq", errKeyLogSecretHex},
		{"CLIENT_RANDOM " + cr1 + " " + secret[:len(secret)-2], errKeyLogSecretLen},
		{"CLIENT_RANDOM " + cr1 + " " + secret + secret, errKeyLogSecretLen},
		{"CLIENT_TRAFFIC_SECRET_0 " + cr1 + " " + secret[:40], errKeyLogSecretLen},
		{"CLIENT_RANDOM " + cr1 + " " + ms1 + "\nCLIENT_RANDOM " + cr1 + " " + secret, errKeyLogConflict},
		{strings.Repeat("A", maxLineLen+10), errKeyLogLineTooLong},
	} {
		var k KeyLog
		err := k.Read(strings.NewReader("# header\n"+tc.line+"\n"), "k.log")
		var le *LineError
		if !errors.As(err, &le) {
			t.Errorf("%.40q: err = %v, want *LineError", tc.line, err)
			continue
		}
		if le.What != tc.what || le.File != "k.log" || le.Line < 2 {
			t.Errorf("%.40q: %v, want k.log:2+: %s", tc.line, err, tc.what)
		}
		if strings.Contains(err.Error(), "deadbeef") || strings.Contains(err.Error(), ms1[:16]) {
			t.Errorf("error shows the secret: %v", err)
		}
	}
}

func TestParsePSK(t *testing.T) {
	for _, tc := range []struct {
		in       string
		id       string
		hasID    bool
		key      string
		wantFail bool
	}{
		{in: "686f704b6579", key: "686f704b6579"},
		{in: "0x686F704B6579", key: "686f704b6579"},
		{in: "68:6f:70:4b:65:79", key: "686f704b6579"},
		{in: "alice=686f704b6579", id: "alice", hasID: true, key: "686f704b6579"},
		{in: "a=b=0102", id: "a=b", hasID: true, key: "0102"},
		{in: "=0102", wantFail: true},
		{in: "alice=", wantFail: true},
		{in: "alice=686f704b657", wantFail: true},
		{in: "alice=hopKey", wantFail: true},
		{in: strings.Repeat("00", maxPSKLen+1), wantFail: true},
	} {
		p, err := ParsePSK(tc.in)
		if tc.wantFail {
			if !errors.Is(err, ErrBadPSK) {
				t.Errorf("ParsePSK(%q) err = %v, want ErrBadPSK", tc.in, err)
			}
			if err != nil && strings.Contains(err.Error(), "686f") {
				t.Errorf("error shows the key: %v", err)
			}
			continue
		}
		if err != nil {
			t.Errorf("ParsePSK(%q): %v", tc.in, err)
			continue
		}
		if string(p.Identity) != tc.id || p.HasIdentity != tc.hasID || fmt.Sprintf("%x", []byte(p.Key)) != tc.key {
			t.Errorf("ParsePSK(%q) = %q %v %x", tc.in, p.Identity, p.HasIdentity, []byte(p.Key))
		}
	}
}

func TestPSKCandidates(t *testing.T) {
	var k Keys
	for _, s := range []string{"alice=01", "02", "bob=03", "alice=04"} {
		p, err := ParsePSK(s)
		if err != nil {
			t.Fatal(err)
		}
		k.PSKs = append(k.PSKs, p)
	}
	keys := func(ps []*PSK) string {
		var b strings.Builder
		for _, p := range ps {
			fmt.Fprintf(&b, "%x,", []byte(p.Key))
		}
		return b.String()
	}
	if got := keys(k.PSKCandidates(nil, []byte("alice"))); got != "01,04," {
		t.Errorf("alice: %s", got)
	}
	if got := keys(k.PSKCandidates(nil, []byte("carol"))); got != "01,02,03,04," {
		t.Errorf("carol: %s", got)
	}
	var none *Keys
	if len(none.PSKCandidates(nil, nil)) != 0 || !none.Empty() || k.Empty() {
		t.Error("Empty/PSKCandidates on nil Keys")
	}
}

func TestSecretsRedacted(t *testing.T) {
	p, _ := ParsePSK("alice=686f704b6579")
	var b bytes.Buffer
	l := slog.New(slog.NewTextHandler(&b, nil))
	l.Info("psk", "psk", p, "key", p.Key)
	s := TLS13Secrets{ClientHandshake: Secret{0xde, 0xad}}
	l.Info("tls13", "s", s)
	out := b.String() + fmt.Sprintf("%v %x %+v %#v", p.Key, p.Key, p, s)
	if strings.Contains(out, "686f") || strings.Contains(out, "dead") || strings.Contains(out, "hopKey") {
		t.Errorf("secret in output: %s", out)
	}
	if !strings.Contains(out, `alice`) {
		t.Errorf("identity missing from %s", out)
	}
}
