package tlsdec

import (
	"crypto/tls"
	"testing"

	"github.com/coapaudit/coapaudit/internal/tlscrypto"
	"github.com/coapaudit/coapaudit/tlskeys"
)

// benchRecords is a Conn that followed a Go connection to its end, and
// records sealed under the client's current keys that continue its
// sequence: recs[i] has sequence number seq0+i.
type benchRecords struct {
	c    *Conn
	recs [][]byte
	seq0 uint64
}

// newBenchRecords runs a Go connection and seals n records, each holding
// the CoAP GET of the run, under the keys the Conn derived.
func newBenchRecords(tb testing.TB, o goTLSOpts, n int) *benchRecords {
	run := runGoTLS(tb, o)
	c := NewConn(keysOf(tb, run.keyLog))
	feedRun(c, run.log, 0)
	if st := c.Status(); st.State != tlskeys.StateDecrypting {
		tb.Fatalf("status %+v", st)
	}
	d := &c.dir[0]
	br := &benchRecords{c: c, seq0: d.seq}
	for i := range n {
		seq := d.seq + uint64(i)
		var rec []byte
		if d.k13 != nil {
			inner := append(append([]byte(nil), coapGet...), ContentApplicationData)
			l := len(inner) + d.k13.Overhead()
			hdr := []byte{ContentApplicationData, 3, 3, byte(l >> 8), byte(l)}
			rec = d.k13.Seal(hdr, seq, inner, hdr)
		} else {
			var explicit [8]byte
			for j := range 8 {
				explicit[j] = byte(seq >> (56 - 8*j))
			}
			hdr := []byte{ContentApplicationData, 3, 3, 0, 0}
			rec = d.k12.Seal(hdr, explicit[:], seq, coapGet, c.ad12(seq, hdr))
			if d.k12.Params().Bulk == tlscrypto.BulkAESCBC {
				tb.Skip("no CBC sealing")
			}
			l := len(rec) - headerLen
			rec[3], rec[4] = byte(l>>8), byte(l)
		}
		br.recs = append(br.recs, rec)
	}
	return br
}

// feed gives the Conn record i (mod n), rewinding the sequence number
// when the records start again.
func (br *benchRecords) feed(tb testing.TB, i int, emit func(*Record)) {
	j := i % len(br.recs)
	if j == 0 {
		br.c.dir[0].seq = br.seq0
	}
	br.c.Feed(true, br.recs[j], emit)
}

var benchConns = []struct {
	name string
	o    goTLSOpts
}{
	{"TLS13-AES128GCM", goTLSOpts{version: tls.VersionTLS13}},
	{"TLS12-AES128GCM", goTLSOpts{version: tls.VersionTLS12, suite: tls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256}},
	{"TLS12-ChaCha20", goTLSOpts{version: tls.VersionTLS12, suite: tls.TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256}},
}

// TestFeedAllocs checks that decrypting a record allocates nothing.
func TestFeedAllocs(t *testing.T) {
	for _, bc := range benchConns {
		br := newBenchRecords(t, bc.o, 256)
		got := 0
		emit := func(r *Record) {
			if r.Decrypted && string(r.Plaintext) == string(coapGet) {
				got++
			}
		}
		i := 0
		if n := testing.AllocsPerRun(200, func() {
			br.feed(t, i, emit)
			i++
		}); n != 0 {
			t.Errorf("%s: %v allocations per record", bc.name, n)
		}
		if got != i {
			t.Errorf("%s: %d of %d records decrypted", bc.name, got, i)
		}
	}
}

// BenchmarkFeed decrypts one application data record (the 11-byte CoAP
// GET) per op: record framing, sequence number, nonce, AEAD open, inner
// content type.
func BenchmarkFeed(b *testing.B) {
	for _, bc := range benchConns {
		b.Run(bc.name, func(b *testing.B) {
			br := newBenchRecords(b, bc.o, 4096)
			got := 0
			emit := func(r *Record) {
				if r.Decrypted {
					got++
				}
			}
			b.ReportAllocs()
			b.SetBytes(int64(len(br.recs[0])))
			i := 0
			for b.Loop() {
				br.feed(b, i, emit)
				i++
			}
			if got != i {
				b.Fatalf("%d of %d records decrypted", got, i)
			}
			b.ReportMetric(float64(i)/b.Elapsed().Seconds(), "records/s")
		})
	}
}
