package tlsdec

import (
	"bytes"
	"crypto/tls"
	"encoding/binary"
	"testing"

	"github.com/coapaudit/coapaudit/tlskeys"
)

// fuzzSeeds returns the chunks of a TLS 1.3 and a TLS 1.2 run, each
// encoded as a direction byte, a 2-byte length and the bytes, and the key
// log of both.
func fuzzSeeds(f *testing.F) (seeds [][]byte, keyLog []byte) {
	for _, o := range []goTLSOpts{{version: tls.VersionTLS13}, {version: tls.VersionTLS12, suite: tls.TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA256}} {
		run := runGoTLS(f, o)
		keyLog = append(keyLog, run.keyLog...)
		var b bytes.Buffer
		for _, ch := range run.log {
			dir := byte(0)
			if !ch.fromClient {
				dir = 1
			}
			b.WriteByte(dir)
			binary.Write(&b, binary.BigEndian, uint16(len(ch.b)))
			b.Write(ch.b)
		}
		seeds = append(seeds, b.Bytes())
	}
	return seeds, keyLog
}

// FuzzConn feeds a sequence of chunks (a direction byte, a 2-byte length,
// the bytes; bit 1 of the direction byte makes the chunk a gap of that
// many bytes) to a Conn holding the key log of the seeds' connections. It
// must not panic, the records of each direction must tile what was fed,
// no plaintext may be longer than its record, and the buffers must stay
// within their bounds.
func FuzzConn(f *testing.F) {
	seeds, keyLog := fuzzSeeds(f)
	for _, s := range seeds {
		f.Add(s)
	}
	keys := keysOf(f, keyLog)
	f.Fuzz(func(t *testing.T, in []byte) {
		c := NewConn(keys)
		// lost counts the bytes of each direction fed or lost so far.
		var lost, next, skipped [2]int64
		for len(in) >= 3 {
			dir := int(in[0] & 1)
			gap := in[0]&2 != 0
			n := min(int(binary.BigEndian.Uint16(in[1:3])), len(in)-3)
			b := in[3 : 3+n]
			in = in[3+n:]
			d := &c.dir[dir]
			if gap {
				// A direction byte with bit 1 set: n bytes lost.
				c.Gap(dir == 0, int64(n))
				lost[dir] += int64(n)
				continue
			}
			lost[dir] += int64(len(b))
			c.Feed(dir == 0, b, func(r *Record) {
				// Records follow each other, but for bytes skipped or lost.
				contiguous := d.skipped == skipped[dir] && r.Off == next[dir]
				if r.Off < next[dir] || !contiguous && d.skipped == skipped[dir] && c.st.Gaps == 0 ||
					r.Len < headerLen || r.Len > MaxRecordLen || len(r.Plaintext) > r.Len {
					t.Fatalf("direction %d: record at %d len %d plaintext %d, after %d", dir, r.Off, r.Len, len(r.Plaintext), next[dir])
				}
				if r.Protected && !r.Decrypted && r.Plaintext != nil {
					t.Fatal("plaintext of a record not decrypted")
				}
				next[dir] = r.Off + int64(r.Len)
				skipped[dir] = d.skipped
			})
			if d.off+int64(len(d.buf)) != lost[dir] {
				t.Fatalf("direction %d: at %d with %d buffered, %d bytes fed or lost", dir, d.off, len(d.buf), lost[dir])
			}
			if len(d.buf) > MaxRecordLen || len(d.hs) > maxMessageLen+4 || len(c.transcript) > maxTranscriptLen {
				t.Fatalf("bounds: record %d, handshake %d, transcript %d", len(d.buf), len(d.hs), len(c.transcript))
			}
		}
		if st := c.Status(); st.State == tlskeys.StateNotTLS && st.Decrypted != 0 {
			t.Fatalf("not TLS, yet %d records decrypted", st.Decrypted)
		}
	})
}

// FuzzHandshake feeds arbitrary handshake content, as plaintext handshake
// records from the client then from the server, to a Conn: the
// handshake parser must not panic and must keep its bounds.
func FuzzHandshake(f *testing.F) {
	seeds, _ := fuzzSeeds(f)
	for _, s := range seeds {
		// The ClientHello record's content.
		if len(s) > 8 {
			n := int(binary.BigEndian.Uint16(s[6:8]))
			if 8+n <= len(s) {
				f.Add(s[8:8+n], []byte{2, 0, 0, 0})
			}
		}
	}
	f.Fuzz(func(t *testing.T, client, server []byte) {
		c := NewConn(nil)
		for i, b := range [][]byte{client, server, client} {
			for len(b) > 0 {
				n := min(len(b), 1<<14)
				rec := append([]byte{ContentHandshake, 3, 3, byte(n >> 8), byte(n)}, b[:n]...)
				b = b[n:]
				c.Feed(i != 1, rec, nil)
			}
		}
		if len(c.transcript) > maxTranscriptLen || len(c.dir[0].hs) > maxMessageLen+4 || len(c.dir[1].hs) > maxMessageLen+4 {
			t.Fatal("bounds")
		}
	})
}
