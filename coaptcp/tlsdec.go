package coaptcp

import (
	"net/netip"

	"github.com/coapaudit/coapaudit/tlsdec"
	"github.com/coapaudit/coapaudit/tlskeys"
)

// TLSDec is a tlsdec.Conn as a TLSConn: it hands on the application data
// of the records the Conn decrypts. Conn's Status says how decryption
// went (the key's source, the state, mismatches), for reports.
type TLSDec struct {
	Conn *tlsdec.Conn
	emit func(TLSRecord)
	fn   func(*tlsdec.Record)
	// onCoAP is called once, when the connection is known to carry CoAP.
	onCoAP func()
}

// carriesCoAP is called by the Assembler once the connection is known
// to carry CoAP: at once on a CoAP or TLS port or with ALPN "coap", at
// its first plaintext when only its ClientHello made it a candidate.
func (t *TLSDec) carriesCoAP() {
	if f := t.onCoAP; f != nil {
		t.onCoAP = nil
		f()
	}
}

// NewTLSDec returns c as a TLSConn.
func NewTLSDec(c *tlsdec.Conn) *TLSDec {
	t := &TLSDec{Conn: c}
	t.fn = t.record
	return t
}

// Feed passes b to the Conn.
func (t *TLSDec) Feed(fromClient bool, b []byte, emit func(TLSRecord)) {
	t.emit = emit
	t.Conn.Feed(fromClient, b, t.fn)
	t.emit = nil
}

// Gap tells the Conn of n bytes the capture lost in one direction, so
// that it finds the next record and its sequence number again.
func (t *TLSDec) Gap(fromClient bool, n int) { t.Conn.Gap(fromClient, int64(n)) }

func (t *TLSDec) record(r *tlsdec.Record) {
	if r.Type == tlsdec.ContentApplicationData && r.Plaintext != nil && (r.Decrypted || !r.Protected) {
		t.emit(TLSRecord{Plaintext: r.Plaintext, Off: r.Off, Len: r.Len})
	}
}

// TLSKeys returns a Config.TLS that decrypts every TLS connection with
// keys (an NSS key log, PSKs), calling conn, when it is not nil, with the
// Conn of each connection known to carry CoAP, so that its Status can be
// reported. A connection that Config.Heuristics made a candidate by its
// ClientHello alone is decrypted to find out, and reported only if its
// first plaintext is CoAP's.
//
// The connections share the TLS 1.2 sessions they decrypt (up to
// maxResumable), so that a later connection resuming one by session ID or
// ticket is decrypted without a key log entry of its own.
func TLSKeys(keys *tlskeys.Keys, conn func(client, server netip.AddrPort, c *tlsdec.Conn)) func(client, server netip.AddrPort) TLSConn {
	sessions := tlsdec.NewSessions(maxResumable)
	return func(client, server netip.AddrPort) TLSConn {
		c := tlsdec.NewConn(keys)
		c.UseSessions(sessions)
		t := NewTLSDec(c)
		if conn != nil {
			t.onCoAP = func() { conn(client, server, c) }
		}
		return t
	}
}

// coapConfirmer is implemented by a TLSConn that wants to know when its
// connection is known to carry CoAP.
type coapConfirmer interface{ carriesCoAP() }

// maxResumable bounds the TLS sessions remembered for resumption.
const maxResumable = 4096
