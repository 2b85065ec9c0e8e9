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

func (t *TLSDec) record(r *tlsdec.Record) {
	if r.Type == tlsdec.ContentApplicationData && r.Plaintext != nil && (r.Decrypted || !r.Protected) {
		t.emit(TLSRecord{Plaintext: r.Plaintext, Off: r.Off, Len: r.Len})
	}
}

// TLSKeys returns a Config.TLS that decrypts every TLS connection with
// keys (an NSS key log, PSKs), calling conn, when it is not nil, with each
// connection's Conn so that its Status can be reported.
func TLSKeys(keys *tlskeys.Keys, conn func(client, server netip.AddrPort, c *tlsdec.Conn)) func(client, server netip.AddrPort) TLSConn {
	return func(client, server netip.AddrPort) TLSConn {
		c := tlsdec.NewConn(keys)
		if conn != nil {
			conn(client, server, c)
		}
		return NewTLSDec(c)
	}
}
