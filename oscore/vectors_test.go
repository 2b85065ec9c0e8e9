package oscore

import (
	"bufio"
	"bytes"
	"encoding/hex"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/coapaudit/coapaudit/internal/testenv"
)

// capturesDir returns the shared captures directory, skipping the test when
// it is missing (or failing when COAPAUDIT_REQUIRE_TOOLS=1).
func capturesDir(t testing.TB) string {
	t.Helper()
	return testenv.CapturesDir(t)
}

// vectorSection is one [section] of rfc8613-vectors.txt: "Name: hex" lines.
type vectorSection struct {
	title  string
	values map[string]string
}

func (s *vectorSection) has(key string) bool { _, ok := s.values[key]; return ok }

// hex returns the value of key decoded from hex; "(absent...)" values and
// missing keys fail the test.
func (s *vectorSection) hex(t *testing.T, key string) []byte {
	t.Helper()
	v, ok := s.values[key]
	if !ok {
		t.Fatalf("%s: no %q", s.title, key)
	}
	b, err := hex.DecodeString(v)
	if err != nil {
		t.Fatalf("%s: %q: %v", s.title, key, err)
	}
	return b
}

// absent reports whether key is missing or marked "(absent ...)".
func (s *vectorSection) absent(key string) bool {
	v, ok := s.values[key]
	return !ok || strings.HasPrefix(v, "(absent")
}

func loadVectors(t *testing.T) map[string]*vectorSection {
	t.Helper()
	f, err := os.Open(filepath.Join(capturesDir(t), "public", "rfc8613-vectors.txt"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	out := make(map[string]*vectorSection)
	var cur *vectorSection
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		switch {
		case strings.HasPrefix(line, "#") || strings.TrimSpace(line) == "":
		case strings.HasPrefix(line, "["):
			title := strings.Trim(line, "[]")
			cur = &vectorSection{title: title, values: make(map[string]string)}
			out[strings.Fields(title)[0]] = cur
		case cur != nil:
			k, v, ok := strings.Cut(line, ":")
			if ok {
				cur.values[strings.TrimSpace(k)] = strings.TrimSpace(v)
			}
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	if len(out) < 10 {
		t.Fatalf("only %d vector sections", len(out))
	}
	return out
}

// vectorParams builds the Params of a key-derivation section.
func vectorParams(t *testing.T, s *vectorSection) Params {
	p := Params{
		Name:         s.title,
		SenderID:     s.hex(t, "Sender ID"),
		RecipientID:  s.hex(t, "Recipient ID"),
		MasterSecret: s.hex(t, "Master Secret"),
	}
	if !s.absent("Master Salt") {
		p.MasterSalt = s.hex(t, "Master Salt")
	}
	if !s.absent("ID Context") {
		p.IDContext, p.HasIDContext = s.hex(t, "ID Context"), true
	}
	return p
}

func TestVectorsKeyDerivation(t *testing.T) {
	vs := loadVectors(t)
	for _, id := range []string{"C.1.1", "C.1.2", "C.2.1", "C.2.2", "C.3.1", "C.3.2"} {
		s := vs[id]
		if s == nil {
			t.Fatalf("section %s missing", id)
		}
		t.Run(id, func(t *testing.T) {
			p := vectorParams(t, s)
			for key, id := range map[string][]byte{
				"info (for Sender Key)":    p.SenderID,
				"info (for Recipient Key)": p.RecipientID,
			} {
				info, err := encodeInfo(id, p.IDContext, p.HasIDContext, AESCCM16_64_128, "Key", 16)
				if err != nil {
					t.Fatal(err)
				}
				if want := s.hex(t, key); !bytes.Equal(info, want) {
					t.Errorf("%s = %x, want %x", key, info, want)
				}
			}
			info, err := encodeInfo(nil, p.IDContext, p.HasIDContext, AESCCM16_64_128, "IV", 13)
			if err != nil {
				t.Fatal(err)
			}
			if want := s.hex(t, "info (for Common IV)"); !bytes.Equal(info, want) {
				t.Errorf("info (for Common IV) = %x, want %x", info, want)
			}

			c, err := NewContext(p)
			if err != nil {
				t.Fatal(err)
			}
			check := func(name string, got []byte) {
				t.Helper()
				if want := s.hex(t, name); !bytes.Equal(got, want) {
					t.Errorf("%s = %x, want %x", name, got, want)
				}
			}
			check("Sender Key", c.SenderKey())
			check("Recipient Key", c.RecipientKey())
			check("Common IV", c.CommonIV())

			// The section's nonces are those for Partial IV 0 of each side.
			nonce := make([]byte, 13)
			if err := makeNonce(nonce, c.CommonIV(), p.SenderID, []byte{0}); err != nil {
				t.Fatal(err)
			}
			check("sender nonce", nonce)
			if err := makeNonce(nonce, c.CommonIV(), p.RecipientID, nil); err != nil {
				t.Fatal(err)
			}
			check("recipient nonce", nonce)
		})
	}
}

// TestVectorsNonceAAD checks the nonce, aad_array and AAD of C.4 to C.8,
// and the raw AEAD output for the plaintext given there.
func TestVectorsNonceAAD(t *testing.T) {
	vs := loadVectors(t)
	for _, id := range []string{"C.4", "C.5", "C.6", "C.7", "C.8"} {
		s := vs[id]
		t.Run(id, func(t *testing.T) {
			key := s.hex(t, "encryption key")
			civ := s.hex(t, "Common IV")
			var reqKID, reqPIV, idPIV, piv []byte
			if s.has("kid") { // requests
				reqKID, reqPIV = s.hex(t, "kid"), s.hex(t, "Partial IV")
				idPIV, piv = reqKID, reqPIV
			} else { // responses answer C.4: empty kid, Partial IV 14
				reqKID, reqPIV = []byte{}, []byte{0x14}
				idPIV, piv = reqKID, reqPIV
				if s.has("Partial IV") {
					idPIV, piv = s.hex(t, "Sender ID"), s.hex(t, "Partial IV")
				}
			}
			nonce := make([]byte, len(civ))
			if err := makeNonce(nonce, civ, idPIV, piv); err != nil {
				t.Fatal(err)
			}
			if want := s.hex(t, "nonce"); !bytes.Equal(nonce, want) {
				t.Errorf("nonce = %x, want %x", nonce, want)
			}
			arr := appendAADArray(nil, AESCCM16_64_128, reqKID, reqPIV, nil)
			if want := s.hex(t, "aad_array"); !bytes.Equal(arr, want) {
				t.Errorf("aad_array = %x, want %x", arr, want)
			}
			aad := appendAAD(nil, AESCCM16_64_128, reqKID, reqPIV)
			if want := s.hex(t, "AAD"); !bytes.Equal(aad, want) {
				t.Errorf("AAD = %x, want %x", aad, want)
			}
			aead, err := AESCCM16_64_128.newAEAD(key)
			if err != nil {
				t.Fatal(err)
			}
			ct := aead.Seal(nil, nonce, s.hex(t, "plaintext"), aad)
			if want := s.hex(t, "ciphertext"); !bytes.Equal(ct, want) {
				t.Errorf("ciphertext = %x, want %x", ct, want)
			}
		})
	}
}
