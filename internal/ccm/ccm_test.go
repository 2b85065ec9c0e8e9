package ccm

import (
	"bytes"
	"crypto/aes"
	"encoding/hex"
	"errors"
	"math/rand/v2"
	"strings"
	"testing"

	pionccm "github.com/pion/dtls/v3/pkg/crypto/ccm"
)

func unhex(t testing.TB, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(strings.ReplaceAll(s, " ", ""))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// Vectors from RFC 3610 section 8 (packet vectors 1 and 2) and NIST SP
// 800-38C appendix C (examples 1 to 3).
var vectors = []struct {
	name, key, nonce, adata, plain, sealed string
	tag                                    int
}{
	{"RFC3610-1", "c0c1c2c3c4c5c6c7c8c9cacbcccdcecf", "00000003020100a0a1a2a3a4a5", "0001020304050607",
		"08090a0b0c0d0e0f101112131415161718191a1b1c1d1e",
		"588c979a61c663d2f066d0c2c0f989806d5f6b61dac38417e8d12cfdf926e0", 8},
	{"RFC3610-2", "c0c1c2c3c4c5c6c7c8c9cacbcccdcecf", "00000004030201a0a1a2a3a4a5", "0001020304050607",
		"08090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f",
		"72c91a36e135f8cf291ca894085c87e3cc15c439c9e43a3ba091d56e10400916", 8},
	{"SP800-38C-1", "404142434445464748494a4b4c4d4e4f", "10111213141516", "0001020304050607",
		"20212223", "7162015b4dac255d", 4},
	{"SP800-38C-2", "404142434445464748494a4b4c4d4e4f", "1011121314151617", "000102030405060708090a0b0c0d0e0f",
		"202122232425262728292a2b2c2d2e2f", "d2a1f0e051ea5f62081a7792073d593d1fc64fbfaccd", 6},
	{"SP800-38C-3", "404142434445464748494a4b4c4d4e4f", "101112131415161718191a1b", "000102030405060708090a0b0c0d0e0f10111213",
		"202122232425262728292a2b2c2d2e2f3031323334353637",
		"e3b201a9f5b71a7a9b1ceaeccd97e70b6176aad9a4428aa5484392fbc1b09951", 8},
}

func TestVectors(t *testing.T) {
	for _, v := range vectors {
		b, _ := aes.NewCipher(unhex(t, v.key))
		nonce := unhex(t, v.nonce)
		c, err := New(b, v.tag, len(nonce))
		if err != nil {
			t.Fatal(err)
		}
		ad, pt, want := unhex(t, v.adata), unhex(t, v.plain), unhex(t, v.sealed)
		if got := c.Seal(nil, nonce, pt, ad); !bytes.Equal(got, want) {
			t.Errorf("%s: Seal = %x, want %x", v.name, got, want)
		}
		buf := bytes.Clone(want)
		got, err := c.Open(buf[:0], nonce, buf, ad)
		if err != nil || !bytes.Equal(got, pt) {
			t.Errorf("%s: Open in place = %x, %v", v.name, got, err)
		}
		bad := bytes.Clone(want)
		bad[len(bad)-1] ^= 1
		if _, err := c.Open(nil, nonce, bad, ad); !errors.Is(err, ErrOpen) {
			t.Errorf("%s: Open of a changed tag: %v", v.name, err)
		}
		bad = bytes.Clone(want)
		bad[0] ^= 0x80
		if _, err := c.Open(nil, nonce, bad, ad); !errors.Is(err, ErrOpen) {
			t.Errorf("%s: Open of changed ciphertext: %v", v.name, err)
		}
	}
}

// TestAgainstPion compares with an independent implementation over random
// lengths, the two tag sizes of TLS and both key sizes.
func TestAgainstPion(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for i := range 300 {
		key := make([]byte, 16+16*(i%2))
		nonce := make([]byte, 12)
		ad := make([]byte, r.IntN(40))
		pt := make([]byte, r.IntN(300))
		for _, b := range [][]byte{key, nonce, ad, pt} {
			for j := range b {
				b[j] = byte(r.Uint32())
			}
		}
		tag := 8 + 8*(i/2%2)
		b, _ := aes.NewCipher(key)
		c, _ := New(b, tag, 12)
		p, err := pionccm.NewCCM(b, tag, 12)
		if err != nil {
			t.Fatal(err)
		}
		got := c.Seal(nil, nonce, pt, ad)
		if want := p.Seal(nil, nonce, pt, ad); !bytes.Equal(got, want) {
			t.Fatalf("case %d: Seal = %x, pion %x", i, got, want)
		}
		if back, err := c.Open(nil, nonce, got, ad); err != nil || !bytes.Equal(back, pt) {
			t.Fatalf("case %d: Open: %v", i, err)
		}
	}
}

func TestOpenAllocs(t *testing.T) {
	b, _ := aes.NewCipher(make([]byte, 16))
	c, _ := New(b, 8, 12)
	nonce, ad := make([]byte, 12), make([]byte, 13)
	sealed := c.Seal(nil, nonce, make([]byte, 100), ad)
	out := make([]byte, 0, 200)
	if n := testing.AllocsPerRun(100, func() {
		if _, err := c.Open(out, nonce, sealed, ad); err != nil {
			t.Fatal(err)
		}
	}); n != 0 {
		t.Errorf("Open allocates %v times", n)
	}
}

func BenchmarkOpen64(b *testing.B) {
	k, _ := aes.NewCipher(make([]byte, 16))
	c, _ := New(k, 8, 12)
	nonce, ad := make([]byte, 12), make([]byte, 13)
	sealed := c.Seal(nil, nonce, make([]byte, 64), ad)
	out := make([]byte, 0, 200)
	b.SetBytes(64)
	b.ReportAllocs()
	for b.Loop() {
		c.Open(out, nonce, sealed, ad)
	}
}
