package oscore

import (
	"bufio"
	"bytes"
	"encoding/hex"
	"encoding/json"
	"errors"
	"net/netip"
	"os"
	"os/exec"
	"sync"
	"testing"
	"time"

	"github.com/fxamacker/cbor/v2"

	"github.com/coapaudit/coapaudit/decode"
)

func TestParseAlgorithm(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want Algorithm
	}{
		{"10", AESCCM16_64_128},
		{"AES-CCM-16-64-128", AESCCM16_64_128},
		{"aes-ccm-16-64-128", AESCCM16_64_128},
		{"AES-CCM-16-64-128 (CCM*)", AESCCM16_64_128},
		{" AES_CCM_16_64_128 ", AESCCM16_64_128},
		{"AES-CCM-16-128-128", AESCCM16_128_128},
		{"30", AESCCM16_128_128},
		{"AES-CCM-16-64-256", AESCCM16_64_256},
		{"AES-CCM-64-64-128", AESCCM64_64_128},
		{"A128GCM", A128GCM},
		{"1", A128GCM},
		{"a256gcm", A256GCM},
		{"ChaCha20/Poly1305", ChaCha20Poly1305},
		{"chacha20-poly1305", ChaCha20Poly1305},
		{"24", ChaCha20Poly1305},
	} {
		got, err := ParseAlgorithm(tc.in)
		if err != nil || got != tc.want {
			t.Errorf("ParseAlgorithm(%q) = %v, %v; want %v", tc.in, got, err, tc.want)
		}
	}
	for _, bad := range []string{"", "0", "4", "-7", "AES-CCM", "(CCM*)", "AES-CCM-16-64-512", "99999999999999999999"} {
		if a, err := ParseAlgorithm(bad); !errors.Is(err, ErrUnknownAlgorithm) {
			t.Errorf("ParseAlgorithm(%q) = %v, %v; want ErrUnknownAlgorithm", bad, a, err)
		}
	}
	// Every registered name parses back to its algorithm.
	for _, a := range allAlgorithms() {
		if got, err := ParseAlgorithm(a.String()); err != nil || got != a {
			t.Errorf("round trip %v: %v %v", a, got, err)
		}
	}
}

func TestAlgorithmStrings(t *testing.T) {
	if s := AESCCM16_64_128.String(); s != "AES-CCM-16-64-128" {
		t.Errorf("String = %q", s)
	}
	if s := AESCCM16_64_128.GoString(); s != "oscore.AESCCM16_64_128" {
		t.Errorf("GoString = %q", s)
	}
	if s := Algorithm(99).String(); s != "Algorithm(99)" {
		t.Errorf("unknown String = %q", s)
	}
	if s := Algorithm(-1).GoString(); s != "oscore.Algorithm(-1)" {
		t.Errorf("unknown GoString = %q", s)
	}
	if AESCCM64_64_128.NonceLen() != 7 || AESCCM64_64_128.MaxIDLen() != 1 || ChaCha20Poly1305.KeyLen() != 32 || A128GCM.TagLen() != 16 {
		t.Error("length table")
	}
	if Algorithm(5).KeyLen() != 0 || Algorithm(5).Valid() {
		t.Error("unknown algorithm has lengths")
	}
}

func TestParseHKDF(t *testing.T) {
	for in, want := range map[string]string{
		"": "HKDF-SHA-256", "HKDF-SHA-256": "HKDF-SHA-256", "sha256": "HKDF-SHA-256", "-10": "HKDF-SHA-256",
		"SHA-512": "HKDF-SHA-512", "-11": "HKDF-SHA-512", "hkdf-sha-384": "HKDF-SHA-384",
	} {
		h, err := parseHKDF(in)
		if err != nil || h.name != want {
			t.Errorf("parseHKDF(%q) = %v, %v; want %s", in, h, err, want)
		}
	}
	for _, bad := range []string{"md5", "HKDF-SHA-1", "-12"} {
		if err := ValidateHKDF(bad); !errors.Is(err, ErrUnknownAlgorithm) {
			t.Errorf("ValidateHKDF(%q) = %v", bad, err)
		}
	}
}

// TestAEADCOSEExamples runs each AEAD on the cose-wg/Examples
// aes-ccm-examples/aes-ccm-enc-0N.json and aes-gcm-examples/aes-gcm-enc-0N.json
// COSE_Encrypt0 examples (key, IV, AAD and ciphertext from the files,
// plaintext "This is the content.").
func TestAEADCOSEExamples(t *testing.T) {
	const (
		k128 = "849B57219DAE48DE646D07DBB533566E"
		k192 = "0F1E2D3C4B5A69788796A5B4C3D2E1F01F2E3D4C5B6A7988"
		k256 = "0F1E2D3C4B5A69788796A5B4C3D2E1F01F2E3D4C5B6A798897A6B5C4D3E2F100"
		iv13 = "89F52F65A1C580933B5261A72F"
		iv7  = "89F52F65A1C580"
		iv12 = "02D1F7E6F26C43D4868D87CE"
	)
	for _, tc := range []struct {
		file            string
		alg             Algorithm
		key, iv, aad, c string
	}{
		{"aes-ccm-enc-01", AESCCM16_64_128, k128, iv13, "8368456E63727970743143A1010A40", "6899DA0A132BD2D2B9B10915743EE1F7B92A4680CBE82C6D0DC0033B"},
		{"aes-ccm-enc-02", AESCCM16_128_128, k128, iv13, "8369456E6372797074656444A101181E40", "6899DA0A132BD2D2B9B10915743EE1F7B92A4680122D9D77E744A057A24C041740301098"},
		{"aes-ccm-enc-03", AESCCM64_64_128, k128, iv7, "8369456E6372797074656443A1010C40", "191BD858DEC79FC11DA3428BDFA446AC240D591F972728C9DA399222"},
		{"aes-ccm-enc-04", AESCCM64_128_128, k128, iv7, "8368456E63727970743144A101182040", "191BD858DEC79FC11DA3428BDFA446AC240D591F5CCA53D53B98AFBB660C5D0950473D67"},
		{"aes-ccm-enc-05", AESCCM16_64_256, k256, iv13, "8368456E63727970743143A1010B40", "28B3BDDFF844A736C5F0EE0F8C691FD0B7ADF9177F13D284E84FFB70"},
		{"aes-ccm-enc-06", AESCCM16_128_256, k256, iv13, "8369456E6372797074656444A101181F40", "28B3BDDFF844A736C5F0EE0F8C691FD0B7ADF9178D9013CD35D210EF953F3B4B025D9BEC"},
		{"aes-ccm-enc-07", AESCCM64_64_256, k256, iv7, "8369456E6372797074656443A1010D40", "721908D60812806F2660054238E931ADB575771E3198E145E7009FBD"},
		{"aes-ccm-enc-08", AESCCM64_128_256, k256, iv7, "8368456E63727970743144A101182140", "721908D60812806F2660054238E931ADB575771EF24035606288AE0C24B605B4A9604BBC"},
		{"aes-gcm-enc-01", A128GCM, k128, iv12, "8368456E63727970743143A1010140", "60973A94BB2898009EE52ECFD9AB1DD25867374BE487C603CD8A7104140831FB78F9738E"},
		{"aes-gcm-enc-02", A192GCM, k192, iv12, "8368456E63727970743143A1010240", "134D3B9223A00C1552C77585C157F467F295919DC52863CB0F9C722899E03869617321BF"},
		{"aes-gcm-enc-03", A256GCM, k256, iv12, "8368456E63727970743143A1010340", "9D64A5A59A3B04867DCCF6B8EF82F7D1A3B25EF8C6558CA310D588EE6906E3F30193E1FC"},
	} {
		t.Run(tc.file, func(t *testing.T) {
			h := func(s string) []byte {
				b, err := hex.DecodeString(s)
				if err != nil {
					t.Fatal(err)
				}
				return b
			}
			a, err := tc.alg.newAEAD(h(tc.key))
			if err != nil {
				t.Fatal(err)
			}
			plain := []byte("This is the content.")
			ct := a.Seal(nil, h(tc.iv), plain, h(tc.aad))
			if !bytes.Equal(ct, h(tc.c)) {
				t.Errorf("ciphertext %X\n      want %X", ct, h(tc.c))
			}
			if len(ct)-len(plain) != tc.alg.TagLen() || len(h(tc.iv)) != tc.alg.NonceLen() {
				t.Errorf("tag or nonce length table wrong for %v", tc.alg)
			}
			pt, err := a.Open(nil, h(tc.iv), h(tc.c), h(tc.aad))
			if err != nil || !bytes.Equal(pt, plain) {
				t.Errorf("open: %q %v", pt, err)
			}
		})
	}
}

// crossCase is one line of testdata/crosscheck.jsonl, computed by
// testdata/crosscheck.py with Python's cryptography package.
type crossCase struct {
	Alg                   Algorithm `json:"alg"`
	HKDF                  string    `json:"hkdf"`
	Secret                string    `json:"secret"`
	Salt                  string    `json:"salt"`
	SenderID              string    `json:"sender_id"`
	RecipientID           string    `json:"recipient_id"`
	IDContext             *string   `json:"id_context"`
	PIV                   string    `json:"piv"`
	ResponsePIV           string    `json:"response_piv"`
	RequestPlaintext      string    `json:"request_plaintext"`
	ResponsePlaintext     string    `json:"response_plaintext"`
	SenderKey             string    `json:"sender_key"`
	RecipientKey          string    `json:"recipient_key"`
	CommonIV              string    `json:"common_iv"`
	RequestCiphertext     string    `json:"request_ciphertext"`
	ResponseCiphertext    string    `json:"response_ciphertext"`
	ResponsePIVCiphertext string    `json:"response_piv_ciphertext"`
}

func checkCrossCases(t *testing.T, data []byte) int {
	t.Helper()
	n := 0
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		var cc crossCase
		if err := json.Unmarshal(sc.Bytes(), &cc); err != nil {
			t.Fatal(err)
		}
		n++
		h := func(s string) []byte {
			b, err := hex.DecodeString(s)
			if err != nil {
				t.Fatal(err)
			}
			return b
		}
		p := Params{
			Name: cc.Alg.String() + "/" + cc.HKDF, SenderID: h(cc.SenderID), RecipientID: h(cc.RecipientID),
			MasterSecret: h(cc.Secret), MasterSalt: h(cc.Salt), AEAD: cc.Alg, HKDF: cc.HKDF,
		}
		if cc.IDContext != nil {
			p.IDContext, p.HasIDContext = h(*cc.IDContext), true
		}
		c, err := NewContext(p)
		if err != nil {
			t.Fatal(err)
		}
		for _, x := range []struct {
			name      string
			got, want []byte
		}{
			{"sender key", c.SenderKey(), h(cc.SenderKey)},
			{"recipient key", c.RecipientKey(), h(cc.RecipientKey)},
			{"common IV", c.CommonIV(), h(cc.CommonIV)},
		} {
			if !bytes.Equal(x.got, x.want) {
				t.Errorf("%s: %s %x, want %x", p.Name, x.name, x.got, x.want)
			}
		}
		sid, rid, piv := h(cc.SenderID), h(cc.RecipientID), h(cc.PIV)
		ct, err := c.seal(nil, partySender, sid, piv, sid, piv, h(cc.RequestPlaintext))
		if err != nil || !bytes.Equal(ct, h(cc.RequestCiphertext)) {
			t.Errorf("%s: request ciphertext %x %v", p.Name, ct, err)
		}
		if pt, err := c.open(nil, nil, partySender, sid, piv, sid, piv, h(cc.RequestCiphertext)); err != nil || !bytes.Equal(pt, h(cc.RequestPlaintext)) {
			t.Errorf("%s: request open %v", p.Name, err)
		}
		ct, err = c.seal(nil, partyRecipient, sid, piv, sid, piv, h(cc.ResponsePlaintext))
		if err != nil || !bytes.Equal(ct, h(cc.ResponseCiphertext)) {
			t.Errorf("%s: response ciphertext %x %v", p.Name, ct, err)
		}
		ct, err = c.seal(nil, partyRecipient, rid, h(cc.ResponsePIV), sid, piv, h(cc.ResponsePlaintext))
		if err != nil || !bytes.Equal(ct, h(cc.ResponsePIVCiphertext)) {
			t.Errorf("%s: response with Partial IV ciphertext %x %v", p.Name, ct, err)
		}
	}
	return n
}

// TestCrossCheckPython compares derivation and protection for every AEAD
// and two HKDFs with an independent Python implementation: the vectors it
// wrote (testdata/crosscheck.jsonl), and, when python3 with cryptography
// is installed, the script's output now.
func TestCrossCheckPython(t *testing.T) {
	stored, err := os.ReadFile("testdata/crosscheck.jsonl")
	if err != nil {
		t.Fatal(err)
	}
	if n := checkCrossCases(t, stored); n != 3*len(allAlgorithms()) {
		t.Errorf("%d cases, want 3 per algorithm", n)
	}
	py, err := exec.LookPath("python3")
	if err == nil {
		err = exec.Command(py, "-c", "import cryptography").Run()
	}
	if err != nil {
		if os.Getenv("COAPAUDIT_REQUIRE_TOOLS") == "1" {
			t.Fatalf("python3 with cryptography: %v", err)
		}
		t.Skipf("python3 with cryptography: %v", err)
	}
	cmd := exec.Command(py, "-B", "crosscheck.py")
	cmd.Dir = "testdata"
	out, err := cmd.Output()
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(out, stored) {
		t.Error("crosscheck.py output differs from testdata/crosscheck.jsonl")
	}
}

// TestAADMatchesCBORLibrary checks the hand-built AAD against an encoding
// of the same structure with fxamacker/cbor, for kid and Partial IV
// lengths and algorithm numbers that need longer heads.
func TestAADMatchesCBORLibrary(t *testing.T) {
	type aadArray struct {
		_       struct{} `cbor:",toarray"`
		Version int
		Algs    []int
		KID     []byte
		PIV     []byte
		Options []byte
	}
	type encStructure struct {
		_         struct{} `cbor:",toarray"`
		Context   string
		Protected []byte
		External  []byte
	}
	for _, alg := range allAlgorithms() {
		for _, kid := range [][]byte{{}, {1}, bytes.Repeat([]byte{0xab}, 7)} {
			for _, piv := range [][]byte{{0}, {1, 2, 3, 4, 5}} {
				arr, err := cbor.Marshal(aadArray{Version: 1, Algs: []int{int(alg)}, KID: kid, PIV: piv, Options: []byte{}})
				if err != nil {
					t.Fatal(err)
				}
				want, err := cbor.Marshal(encStructure{Context: "Encrypt0", Protected: []byte{}, External: arr})
				if err != nil {
					t.Fatal(err)
				}
				if got := appendAAD(nil, alg, kid, piv); !bytes.Equal(got, want) {
					t.Errorf("%v kid %x piv %x: AAD %x, want %x", alg, kid, piv, got, want)
				}
			}
		}
	}
	for _, v := range []uint64{0, 23, 24, 255, 256, 65535, 65536, 1 << 32, 1<<64 - 1} {
		want, _ := cbor.Marshal(v)
		if got := appendCBORHead(nil, 0, v); !bytes.Equal(got, want) {
			t.Errorf("head %d = %x, want %x", v, got, want)
		}
	}
	for _, v := range []int{-1, -24, -25, -256, -257} {
		want, _ := cbor.Marshal(v)
		if got := appendCBORInt(nil, v); !bytes.Equal(got, want) {
			t.Errorf("int %d = %x, want %x", v, got, want)
		}
	}
}

func TestPIVEncoding(t *testing.T) {
	for _, tc := range []struct {
		seq  uint64
		want string
	}{{0, "00"}, {1, "01"}, {20, "14"}, {255, "ff"}, {256, "0100"}, {1<<40 - 1, "ffffffffff"}} {
		got, err := encodePIV(tc.seq)
		if err != nil || hex.EncodeToString(got) != tc.want {
			t.Errorf("encodePIV(%d) = %x %v, want %s", tc.seq, got, err, tc.want)
		}
		if v, ok := pivValue(got); !ok || v != tc.seq {
			t.Errorf("pivValue(%x) = %d", got, v)
		}
	}
	if _, err := encodePIV(1 << 40); !errors.Is(err, ErrBadSequence) {
		t.Errorf("encodePIV(2^40): %v", err)
	}
	if _, ok := pivValue(make([]byte, 6)); ok {
		t.Error("6-byte Partial IV accepted")
	}
	if err := makeNonce(make([]byte, 13), make([]byte, 13), nil, make([]byte, 6)); !errors.Is(err, ErrBadPartialIV) {
		t.Errorf("makeNonce with a 6-byte Partial IV: %v", err)
	}
	if err := makeNonce(make([]byte, 7), make([]byte, 7), []byte{1, 2}, []byte{1}); !errors.Is(err, ErrIDTooLong) {
		t.Errorf("makeNonce with a 2-byte ID and a 7-byte nonce: %v", err)
	}
}

// TestSharedContextConcurrent: Decryptors in several goroutines share one
// Keyring, and so the AES-CCM of its contexts, which keeps scratch state:
// every request must still verify.
func TestSharedContextConcurrent(t *testing.T) {
	k := fuzzKeyring(t)
	msgs := protectedRequests(t, k.Contexts()[0], 300, 64)
	client, server := netip.MustParseAddrPort("10.0.0.1:40000"), netip.MustParseAddrPort("10.0.0.2:5683")
	var wg sync.WaitGroup
	failed := make(chan string, 4*len(msgs))
	for range 4 {
		wg.Go(func() {
			d := NewDecryptor(k)
			for i := range msgs {
				if r := d.Process(time.Time{}, i, client, server, &msgs[i]); !r.Verified {
					failed <- r.Err
				}
			}
		})
	}
	wg.Wait()
	close(failed)
	for err := range failed {
		t.Fatalf("a request failed to verify: %s", err)
	}
}

// protectedRequests returns n GET requests protected by ctx with Partial
// IVs 0 to n-1, decoded; request i carries i%maxPayload payload bytes
// (none when maxPayload is 0).
func protectedRequests(t testing.TB, ctx *Context, n, maxPayload int) []decode.Message {
	msgs := make([]decode.Message, n)
	for i := range msgs {
		m := &decode.Message{
			Type: decode.Confirmable, Code: 0x01, MessageID: uint16(i), Token: []byte{byte(i), byte(i >> 8)},
			Options: []decode.Option{{ID: decode.OptURIPath, Value: []byte("sensors")}, {ID: decode.OptURIPath, Value: []byte("temp")}},
		}
		if maxPayload > 0 {
			m.Payload = bytes.Repeat([]byte{byte(i)}, i%maxPayload)
		}
		wire, _, err := ctx.ProtectRequest(m, uint64(i))
		if err != nil {
			t.Fatal(err)
		}
		if err := msgs[i].Decode(wire); err != nil {
			t.Fatal(err)
		}
	}
	return msgs
}
