package tlsdec

import (
	"bytes"
	"crypto/tls"
	"testing"

	"github.com/coapaudit/coapaudit/tlskeys"
)

// TestGap loses part of the client's stream after the handshake, from the
// middle of one record to the middle of the next: the records after the
// gap are found again and decrypted with the sequence number they were
// sent with, at their offsets in the stream; the record the gap began in
// and the one it ended in are lost.
func TestGap(t *testing.T) {
	for _, o := range []goTLSOpts{{version: tls.VersionTLS13}, {version: tls.VersionTLS12, suite: tls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256},
		{version: tls.VersionTLS12, suite: tls.TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA256}} {
		run := runGoTLS(t, o)
		// The reference: every record of the client's stream.
		ref := feedRun(NewConn(keysOf(t, run.keyLog)), run.log, 0)
		var app []Record
		for _, r := range ref.records[0] {
			if r.Decrypted && r.Type == ContentApplicationData {
				app = append(app, r)
			}
		}
		if len(app) != 3 {
			t.Fatalf("%d application records", len(app))
		}
		// Lose from the middle of the first application record to the
		// middle of the second.
		from := app[0].Off + int64(app[0].Len)/2
		to := app[1].Off + int64(app[1].Len)/2
		c := NewConn(keysOf(t, run.keyLog))
		var got []Record
		var pos int64
		gaps := 0 // Gap calls: the lost bytes span two writes
		for _, ch := range run.log {
			emit := func(r *Record) {
				if ch.fromClient && r.Decrypted && r.Type == ContentApplicationData {
					rc := *r
					rc.Plaintext = bytes.Clone(r.Plaintext)
					got = append(got, rc)
				}
			}
			if !ch.fromClient {
				c.Feed(false, ch.b, emit)
				continue
			}
			b := ch.b
			start := pos
			pos += int64(len(b))
			switch {
			case pos <= from || start >= to:
				c.Feed(true, b, emit)
			default:
				if from > start {
					c.Feed(true, b[:from-start], emit)
				}
				gaps++
				if to < pos {
					c.Gap(true, to-max(from, start))
					c.Feed(true, b[to-start:], emit)
				} else {
					c.Gap(true, pos-max(from, start))
				}
			}
		}
		if len(got) != 1 || got[0].Off != app[2].Off || got[0].Len != app[2].Len || !bytes.Equal(got[0].Plaintext, app[2].Plaintext) {
			t.Errorf("%x: after the gap %+v, want %+v", o.suite, got, app[2])
		}
		if st := c.Status(); st.State != tlskeys.StateDecrypting || st.Gaps != gaps || st.Skipped == 0 {
			t.Errorf("%x: %+v", o.suite, st)
		}
	}
}

// TestMidStream starts in the middle of a record of a TLS 1.3 connection
// already under way, as a capture that starts late does: the next record
// header is found, the records from there are reported at their offsets
// (protected, not decrypted: the handshake is not in the capture). Bytes
// that are not TLS records give the state "not TLS".
func TestMidStream(t *testing.T) {
	run := runGoTLS(t, goTLSOpts{version: tls.VersionTLS13})
	ref := feedRun(NewConn(keysOf(t, run.keyLog)), run.log, 0)
	recs := ref.records[0]
	// Cut the client's stream in the middle of its second-to-last record.
	cut := recs[len(recs)-2].Off + int64(recs[len(recs)-2].Len)/2
	c := NewConn(keysOf(t, run.keyLog))
	var got []Record
	stream := ref.stream[0][cut:]
	c.Feed(true, stream, func(r *Record) { got = append(got, *r) })
	last := recs[len(recs)-1]
	if len(got) != 1 || got[0].Off != last.Off-cut || got[0].Len != last.Len || !got[0].Protected || got[0].Decrypted {
		t.Errorf("records %+v, want the last one at %d", got, last.Off-cut)
	}
	if st := c.Status(); st.State != tlskeys.StateNoHandshake || st.Skipped != last.Off-cut {
		t.Errorf("%+v", st)
	}

	junk := NewConn(nil)
	b := bytes.Repeat([]byte("GET / HTTP/1.1\r\nHost: coap.test\r\n\r\n"), 2*MaxRecordLen/35+2)
	n := 0
	junk.Feed(true, b, func(*Record) { n++ })
	if st := junk.Status(); st.State != tlskeys.StateNotTLS || n != 0 || st.Skipped != int64(len(b)) {
		t.Errorf("not TLS: %d records, %+v", n, st)
	}
}
