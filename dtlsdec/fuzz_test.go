package dtlsdec

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"net/netip"
	"strings"
	"testing"

	"github.com/pion/dtls/v3"

	"github.com/coapaudit/coapaudit/decode"
	"github.com/coapaudit/coapaudit/tlskeys"
)

// FuzzDecrypter feeds a sequence of datagrams (each a direction byte, a
// 2-byte length and the bytes) to a Decrypter holding the right PSK. It
// must not panic, must keep its bounds, and must never return plaintext
// longer than the record it came from.
func FuzzDecrypter(f *testing.F) {
	for _, s := range []dtls.CipherSuiteID{dtls.TLS_PSK_WITH_AES_128_CCM_8, dtls.TLS_PSK_WITH_AES_128_CBC_SHA256} {
		run := runPion(f, pionOpts{suite: s, psk: []byte("k"), identity: "alice"})
		var b bytes.Buffer
		for _, g := range run.log {
			dir := byte(0)
			if !g.fromClient {
				dir = 1
			}
			b.WriteByte(dir)
			binary.Write(&b, binary.BigEndian, uint16(len(g.b)))
			b.Write(g.b)
		}
		f.Add(b.Bytes())
	}
	// A DTLS 1.3 session built from fixed secrets (dtls13_test.go), its
	// key log given too.
	s13 := newDTLS13Session(f, 0x1301, bytes.NewReader(bytes.Repeat([]byte{0x5a}, 1024)))
	dgs, _ := s13.flights(0x1301)
	var b bytes.Buffer
	for _, g := range dgs {
		b.WriteByte(map[bool]byte{true: 0, false: 1}[g.fromClient])
		binary.Write(&b, binary.BigEndian, uint16(len(g.b)))
		b.Write(g.b)
	}
	f.Add(b.Bytes())
	kl := &tlskeys.KeyLog{}
	if err := kl.Read(strings.NewReader(s13.keyLog), "keylog"); err != nil {
		f.Fatal(err)
	}
	client := netip.MustParseAddrPort("127.0.3.2:40000")
	server := netip.MustParseAddrPort("127.0.3.1:5684")
	p, _ := tlskeys.ParsePSK("alice=6b")
	keys := &tlskeys.Keys{PSKs: []tlskeys.PSK{p}, Log: kl}
	f.Fuzz(func(t *testing.T, in []byte) {
		x := New(Config{Keys: keys, MaxSessions: 2, MaxEnded: 2})
		var d decode.DTLS
		var res Result
		for n := 0; len(in) >= 3; n++ {
			src, dst := client, server
			if in[0]&1 == 1 {
				src, dst = dst, src
			}
			if in[0]&2 == 2 { // another client port
				src = netip.AddrPortFrom(src.Addr(), src.Port()+1)
			}
			l := min(int(binary.BigEndian.Uint16(in[1:3])), len(in)-3)
			g := in[3 : 3+l]
			in = in[3+l:]
			if d.Decode(g) != nil && len(d.Records) == 0 {
				continue
			}
			x.Datagram(n, src, dst, &d, &res)
			for _, r := range res.Records {
				if r.Index >= len(d.Records) || len(r.Plaintext) > len(d.Records[r.Index].Fragment) {
					t.Fatalf("record %+v from %d records", r, len(d.Records))
				}
			}
		}
		if len(x.sessions) > 2 || len(x.ended) > 2 {
			t.Fatalf("%d sessions, %d ended: bounds not kept", len(x.sessions), len(x.ended))
		}
		_ = fmt.Sprint(x.Sessions())
	})
}
