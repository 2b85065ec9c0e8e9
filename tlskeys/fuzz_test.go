package tlskeys

import (
	"bytes"
	"errors"
	"strings"
	"testing"
)

// FuzzKeyLog checks that any input either parses or fails with a
// *LineError, and that the error never shows a secret field of the input.
func FuzzKeyLog(f *testing.F) {
	f.Add([]byte("CLIENT_RANDOM " + cr1 + " " + ms1 + "\n"))
	f.Add([]byte("# x\nCLIENT_HANDSHAKE_TRAFFIC_SECRET " + cr1 + " " + ts1 + "\nSERVER_TRAFFIC_SECRET_0 " + cr1 + " " + ts1))
	f.Add([]byte("CLIENT_RANDOM " + cr1 + " " + ms1[2:] + "\r\n"))
	f.Add([]byte("RSA 0102030405060708 " + ms1 + "\n"))
	f.Fuzz(func(t *testing.T, in []byte) {
		var k KeyLog
		err := k.Read(bytes.NewReader(in), "f")
		if err == nil {
			return
		}
		var le *LineError
		if !errors.As(err, &le) {
			t.Fatalf("err %v is not a *LineError", err)
		}
		msg := err.Error()
		for _, line := range bytes.Split(in, []byte("\n")) {
			fs := bytes.Fields(line)
			if len(fs) >= 3 && len(fs[2]) >= 6 && strings.Contains(msg, string(fs[2])) {
				t.Fatalf("error %q shows a secret field", msg)
			}
		}
	})
}

// FuzzParsePSK checks that a failing --psk value never appears in its
// error and that a parsed key round-trips.
func FuzzParsePSK(f *testing.F) {
	for _, s := range []string{"686f704b6579", "alice=0102", "a=b=0x01:02", "=", "x="} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		p, err := ParsePSK(s)
		if err != nil {
			if !errors.Is(err, ErrBadPSK) {
				t.Fatalf("err %v does not wrap ErrBadPSK", err)
			}
			if i := strings.LastIndexByte(s, '='); len(s)-i > 6 && strings.Contains(err.Error(), s[i+1:]) {
				t.Fatalf("error %q shows the key", err)
			}
			return
		}
		if len(p.Key) == 0 || p.HasIdentity != (len(p.Identity) > 0) {
			t.Fatalf("ParsePSK(%q) = %+v", s, p)
		}
	})
}
