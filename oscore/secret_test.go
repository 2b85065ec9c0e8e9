package oscore

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"log/slog"
	"strings"
	"testing"
)

// TestSecretsNeverPrinted prints, logs and marshals every type that holds
// key material in every common way and checks that no key, salt or derived
// value shows, in hex (either case), base64 or raw.
func TestSecretsNeverPrinted(t *testing.T) {
	p := Params{
		Name: "ctx", SenderID: []byte{}, RecipientID: []byte{1},
		MasterSecret: []byte("0123456789abcdef"), MasterSalt: []byte{0xde, 0xad, 0xbe, 0xef, 0x01, 0x02},
		IDContext: []byte{0x37}, HasIDContext: true,
	}
	c, err := NewContext(p)
	if err != nil {
		t.Fatal(err)
	}
	k, err := NewKeyring([]Params{p})
	if err != nil {
		t.Fatal(err)
	}
	secrets := [][]byte{p.MasterSecret, p.MasterSalt, c.SenderKey(), c.RecipientKey(), c.CommonIV()}

	var outs []string
	d := NewDecryptor(k)
	d.cands = k.lookup(nil, []byte{1}, true, nil, false)
	for _, v := range []any{p.MasterSecret, p, &p, []Params{p}, c, k, *c, *k, d, *d, c.Reverse()} {
		for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%x", "%X", "%q", "%d"} {
			outs = append(outs, fmt.Sprintf(verb, v))
		}
		outs = append(outs, fmt.Sprint(v), fmt.Sprintln(v))
		if b, err := json.Marshal(v); err == nil {
			outs = append(outs, string(b))
		}
		var buf bytes.Buffer
		slog.New(slog.NewTextHandler(&buf, nil)).Info("m", "v", v)
		slog.New(slog.NewJSONHandler(&buf, nil)).Info("m", "v", v)
		outs = append(outs, buf.String())
	}
	outs = append(outs, p.MasterSecret.String(), p.MasterSecret.GoString())
	if b, _ := p.MasterSecret.MarshalText(); true {
		outs = append(outs, string(b))
	}

	for _, out := range outs {
		for _, s := range secrets {
			for _, form := range []string{string(s), hex.EncodeToString(s), strings.ToUpper(hex.EncodeToString(s)),
				fmt.Sprint([]byte(s)), jsonBase64(s)} {
				if strings.Contains(out, form) {
					t.Fatalf("output %q reveals a secret (%q)", out, form)
				}
			}
		}
	}
	// The descriptions still say what the context is.
	if s := c.String(); !strings.Contains(s, `"ctx"`) || !strings.Contains(s, "recipient=01") || !strings.Contains(s, "AES-CCM-16-64-128") {
		t.Errorf("Context.String() = %q", s)
	}
	if s := fmt.Sprintf("%+v", p); !strings.Contains(s, "MasterSecret:[redacted]") {
		t.Errorf("Params %%+v = %q", s)
	}
}

func jsonBase64(b []byte) string {
	s, _ := json.Marshal(b)
	return strings.Trim(string(s), `"`)
}

// TestResultHoldsNoKeys checks the JSON form of a Result of a verified
// exchange: plaintext, yes; keys, no.
func TestResultHoldsNoKeys(t *testing.T) {
	frames := readUDP(t, "public/rfc8613-C4-request-C7-response.pcap")
	p := Params{Name: "c", SenderID: []byte{}, RecipientID: []byte{1},
		MasterSecret: []byte{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16}, MasterSalt: []byte{0x9e, 0x7c, 0xa9, 0x22, 0x23, 0x78, 0x63, 0x40}}
	k, err := NewKeyring([]Params{p})
	if err != nil {
		t.Fatal(err)
	}
	c := k.Contexts()[0]
	d := NewDecryptor(k)
	for _, r := range runDecryptor(t, d, frames) {
		if !r.res.Verified {
			t.Fatalf("frame %d not verified", r.n)
		}
		b, err := json.Marshal(r.res)
		if err != nil {
			t.Fatal(err)
		}
		out := string(b) + fmt.Sprintf("%+v %#v", *r.res, d)
		for _, s := range [][]byte{p.MasterSecret, p.MasterSalt, c.SenderKey(), c.RecipientKey(), c.CommonIV()} {
			if strings.Contains(out, hex.EncodeToString(s)) || strings.Contains(out, jsonBase64(s)) || strings.Contains(out, fmt.Sprint([]byte(s))) {
				t.Fatalf("result of frame %d reveals key material", r.n)
			}
		}
	}
}
