package oscore

import (
	"bytes"
	"net/netip"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/coapaudit/coapaudit/decode"
	"github.com/coapaudit/coapaudit/internal/testenv"
)

func FuzzLoadKeys(f *testing.F) {
	dir := filepath.Join(testenv.CapturesDirIfPresent(), "keys")
	for _, name := range []string{"oscore_contexts", "client/ctx/settings.json", "server/ctx/settings.json"} {
		if b, err := os.ReadFile(filepath.Join(dir, name)); err == nil {
			f.Add(b)
		}
	}
	f.Add([]byte(`{"contexts": [{"name": "n", "sender_id": "", "recipient_id": "01", "master_secret": "0102", "master_salt": "", "id_context": "37", "aead": 10, "hkdf": "HKDF-SHA-256"}]}`))
	f.Add([]byte(`[{"sender_id": "00", "recipient_id": "01", "master_secret": "aa", "aead": "A128GCM"}]`))
	f.Add([]byte(`{"sender-id_ascii": "c", "recipient-id_hex": "01", "secret_ascii": "x", "algorithm": "AES-CCM-16-64-128"}`))
	f.Add([]byte("# c\n\"\\x30\",01,aa,,,\"10\"\n"))
	f.Add([]byte(`"","01","aa","","",`))
	f.Fuzz(func(t *testing.T, data []byte) {
		ps, err := ParseKeys(data, "fuzz")
		if err != nil {
			if ps != nil {
				t.Fatal("Params with an error")
			}
			_ = err.Error()
			return
		}
		for _, p := range ps {
			if p.Name == "" {
				t.Fatal("context without a name")
			}
		}
		if k, err := NewKeyring(ps); err == nil && k.Len() == 0 {
			t.Fatal("empty keyring without error")
		}
	})
}

// fuzzKeyring is the aiocoap captures' context, built without files.
func fuzzKeyring(t testing.TB) *Keyring {
	k, err := NewKeyring([]Params{{Name: "f", SenderID: []byte{}, RecipientID: []byte{1}, MasterSecret: capSecret, MasterSalt: capSalt, IDContext: capIDCtx, HasIDContext: true}})
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// FuzzProcess feeds a request and a response (arbitrary bytes, decoded as
// far as they go) to a Decryptor with keys, and checks that results are
// consistent and do not borrow the input.
func FuzzProcess(f *testing.F) {
	hexb := func(s string) []byte { // the RFC 8613 Appendix C messages
		b, _ := parseHex(s)
		return b
	}
	f.Add(hexb("44025d1f00003974396c6f63616c686f7374620914ff612f1092f1776f1c1668b3825e"), hexb("64445d1f0000397490ffdbaad1e9a7e7b2a813d3c31524378303cdafae119106"), uint8(0))
	f.Add(hexb("44022f8eef9bbf7a396c6f63616c686f73746b19140837cbf3210017a2d3ff72cd7273fd331ac45cffbe55c3"), hexb("64445d1f00003974920100ff4d4c13669384b67354b2b6175ff4b8658c666a6cf88e"), uint8(1))
	f.Add([]byte{0x40, 0x02, 0, 1, 0x91, 0x09}, []byte{0x60, 0x44, 0, 1, 0x90, 0xff, 1, 2, 3, 4, 5, 6, 7, 8, 9}, uint8(2))
	// Request/response pairs of the evil proxy capture: a verified
	// exchange, the forged response, the flooded one.
	if testenv.CapturesDirIfPresent() != "" {
		frames := readUDP(f, "aiocoap-oscore-evilproxy.pcap")
		for _, pair := range [][2]int{{1, 4}, {5, 6}, {11, 14}} {
			f.Add(frames[pair[0]-1].payload, frames[pair[1]-1].payload, uint8(0))
		}
	}
	k := fuzzKeyring(f)
	a := netip.MustParseAddrPort("10.0.0.1:1000")
	b := netip.MustParseAddrPort("10.0.0.2:5683")
	f.Fuzz(func(t *testing.T, req, resp []byte, mode uint8) {
		var kr *Keyring
		if mode&1 == 0 {
			kr = k
		}
		d := NewDecryptor(kr, WithMaxPending(4))
		now := time.Unix(0, 0)
		for i, data := range [][]byte{req, resp, req, resp} {
			buf := bytes.Clone(data)
			var m decode.Message
			_ = m.Decode(buf) // a partial message is processed as well
			src, dst := a, b
			if i%2 == 1 {
				src, dst = b, a
			}
			r := d.Process(now, i+1, src, dst, &m)
			if r == nil {
				continue
			}
			if r.Verified && (!r.Tried || r.Plaintext == nil || r.Context == "") {
				t.Fatalf("verified result incomplete: %+v", r)
			}
			if r.Tried && !r.Verified && r.Err == "" {
				t.Fatal("failed without a reason")
			}
			if kr == nil && (r.Tried || r.Err != "" && !bytes.HasPrefix([]byte(r.Err), []byte("malformed")) &&
				r.Err != "request without Partial IV" && r.Err != "OSCORE option in an Empty message") {
				t.Fatalf("keyless result tried or with error %q", r.Err)
			}
			kid, piv, plain := bytes.Clone(r.Option.KID), bytes.Clone(r.Option.PIV), bytes.Clone(r.Plaintext)
			for j := range buf {
				buf[j] ^= 0xff
			}
			if !bytes.Equal(kid, r.Option.KID) || !bytes.Equal(piv, r.Option.PIV) || !bytes.Equal(plain, r.Plaintext) {
				t.Fatal("result borrows the input buffer")
			}
		}
		_ = d.Stats()
		_ = d.Replays()
	})
}

// FuzzProtectRoundTrip protects an arbitrary request and response and
// checks that unprotecting gives back the code, the Class E options and
// the payload.
func FuzzProtectRoundTrip(f *testing.F) {
	f.Add([]byte{0x44, 0x01, 0x5d, 0x1f, 0, 0, 0x39, 0x74, 0x39, 'l', 'o', 'c', 'a', 'l', 'h', 'o', 's', 't', 0x83, 't', 'v', '1'}, uint64(20))
	f.Add([]byte{0x40, 0x01, 0, 1, 0x61, 0, 0xff, 'x'}, uint64(1<<40-1))
	k := fuzzKeyring(f)
	client := k.Contexts()[0]
	server := client.Reverse()
	f.Fuzz(func(t *testing.T, data []byte, seq uint64) {
		var m decode.Message
		if m.Decode(data) != nil || len(m.Token) > 8 {
			return
		}
		seq %= 1 << 40
		if !m.Code.IsRequest() {
			return
		}
		wire, ref, err := client.ProtectRequest(&m, seq)
		if err != nil {
			return // a Proxy-Uri that is no URI, an OSCORE option already there
		}
		var pm decode.Message
		if err := pm.Decode(wire); err != nil {
			t.Fatalf("protected message does not decode: %v", err)
		}
		pt, ref2, err := server.UnprotectRequest(&pm)
		if err != nil {
			t.Fatalf("unprotect: %v", err)
		}
		if !bytes.Equal(ref.PIV, ref2.PIV) || !bytes.Equal(ref.KID, ref2.KID) {
			t.Fatal("request reference differs")
		}
		var r Result
		setInner(&r, &pm, pt)
		if r.Inner.Code != m.Code || !bytes.Equal(r.Inner.Payload, m.Payload) && len(m.Payload) > 0 {
			t.Fatalf("inner code %v payload %x, want %v %x", r.Inner.Code, r.Inner.Payload, m.Code, m.Payload)
		}
		if !m.HasOption(decode.OptProxyURI) {
			var want []decode.Option
			for _, o := range m.Options {
				if decode.OSCOREClass(o.ID).Inner() {
					want = append(want, o)
				}
			}
			sortOptions(want)
			if len(want) != len(r.Inner.Options) {
				t.Fatalf("%d inner options, want %d", len(r.Inner.Options), len(want))
			}
			for i := range want {
				if want[i].ID != r.Inner.Options[i].ID || !bytes.Equal(want[i].Value, r.Inner.Options[i].Value) {
					t.Fatalf("inner option %d differs", i)
				}
			}
		}
		resp := decode.Message{Type: decode.Acknowledgement, Code: 0x45, MessageID: m.MessageID, Token: m.Token, Options: m.Options, Payload: m.Payload}
		for _, own := range []bool{false, true} {
			rw, err := server.ProtectResponse(&resp, ref, seq, own)
			if err != nil {
				return
			}
			var rm decode.Message
			if err := rm.Decode(rw); err != nil {
				t.Fatal(err)
			}
			if _, err := client.UnprotectResponse(&rm, ref); err != nil {
				t.Fatalf("unprotect response (own Partial IV %v): %v", own, err)
			}
		}
	})
}
