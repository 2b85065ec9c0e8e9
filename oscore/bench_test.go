package oscore

import (
	"net/netip"
	"testing"
	"time"

	"github.com/coapaudit/coapaudit/decode"
)

// The benchmarks run on one goroutine: decryptions/s is per core.

func BenchmarkOpen(b *testing.B) {
	plain := make([]byte, 64)
	for _, alg := range []Algorithm{AESCCM16_64_128, AESCCM16_128_128, A128GCM, ChaCha20Poly1305} {
		b.Run(alg.String(), func(b *testing.B) {
			c, err := NewContext(Params{SenderID: []byte{}, RecipientID: []byte{1}, MasterSecret: capSecret, AEAD: alg})
			if err != nil {
				b.Fatal(err)
			}
			kid, piv := []byte{}, []byte{0x14}
			ct, err := c.seal(nil, partySender, kid, piv, kid, piv, plain)
			if err != nil {
				b.Fatal(err)
			}
			dst := make([]byte, 0, len(ct))
			sc := new(scratch)
			b.SetBytes(int64(len(plain)))
			b.ReportAllocs()
			for b.Loop() {
				if _, err := c.open(dst, sc, partySender, kid, piv, kid, piv, ct); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "decryptions/s")
		})
	}
}

// BenchmarkProcessCapture runs the Decryptor over every frame of the evil
// proxy capture (48 OSCORE messages, one forged): lookup, request matching,
// replay tracking, decryption and inner decoding.
func BenchmarkProcessCapture(b *testing.B) {
	frames := readUDP(b, "aiocoap-oscore-evilproxy.pcap")
	msgs := make([]decode.Message, len(frames))
	for i := range frames {
		if err := msgs[i].Decode(frames[i].payload); err != nil {
			b.Fatal(err)
		}
	}
	k := fuzzKeyring(b)
	b.ReportAllocs()
	for b.Loop() {
		d := NewDecryptor(k)
		for i := range frames {
			f := &frames[i]
			d.Process(f.ts, f.n, f.src, f.dst, &msgs[i])
		}
	}
	b.ReportMetric(float64(b.N*len(frames))/b.Elapsed().Seconds(), "decryptions/s")
}

// BenchmarkProcessRequest measures one request: Process with a fresh
// Partial IV each time, as in a long capture. The n requests come from
// another client on every round: another port, and another kid context
// (its last two bytes count the rounds; the kid context is no part of the
// AAD, and the context is found by its kid), so that each request is fresh
// in a new replay window, one hop per Partial IV, and the pending requests
// keep their bound, evicting the oldest.
func BenchmarkProcessRequest(b *testing.B) {
	k := fuzzKeyring(b)
	const n = 1024
	msgs := protectedRequests(b, k.Contexts()[0], n, 0)
	kidCtxs := make([][]byte, n)
	for i := range msgs {
		o, _ := findOSCORE(&msgs[i])
		p, err := decode.ParseOSCORE(o)
		if err != nil || len(p.KIDContext) < 2 {
			b.Fatal("no kid context", err)
		}
		kidCtxs[i] = p.KIDContext // borrows the message
	}
	addr := netip.MustParseAddr("10.0.0.1")
	server := netip.MustParseAddrPort("10.0.0.2:5683")
	d := NewDecryptor(k)
	i := 0
	b.ReportAllocs()
	for b.Loop() {
		round := i / n
		if i%n == 0 {
			for _, kc := range kidCtxs {
				kc[len(kc)-2], kc[len(kc)-1] = byte(round>>8), byte(round)
			}
		}
		client := netip.AddrPortFrom(addr, uint16(40000+round))
		if r := d.Process(time.Time{}, i, client, server, &msgs[i%n]); !r.Verified || r.Replay != Fresh {
			b.Fatal(r.Err, r.Replay)
		}
		i++
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "decryptions/s")
}
