package tlsdec_test

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/coapaudit/coapaudit/tlsdec"
	"github.com/coapaudit/coapaudit/tlskeys"
)

// A TCP reassembler hands each direction's bytes to the connection's
// Conn in capture order, and reports the bytes the capture lost with Gap;
// each record comes back with its offset in its direction's stream, so
// that it can be mapped to the segments that carried it.
func Example() {
	kl, err := tlskeys.LoadKeyLog(filepath.Join("testdata", "go-tls13.keylog"))
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return
	}
	c := tlsdec.NewConn(&tlskeys.Keys{Log: kl})
	c.UseSessions(tlsdec.NewSessions(0)) // share one among the Conns of a capture
	for _, seg := range clientHelloOnly() {
		c.Feed(seg.fromClient, seg.b, func(r *tlsdec.Record) {
			fmt.Printf("record at %d, %d bytes, type %d, protected %v, decrypted %v\n", r.Off, r.Len, r.Type, r.Protected, r.Decrypted)
		})
	}
	st := c.Status()
	fmt.Println(st.State, st.SNI)
	// Output:
	// record at 0, 70 bytes, type 22, protected false, decrypted false
	// handshake coap.test
}

type segment struct {
	fromClient bool
	b          []byte
}

// clientHelloOnly is a ClientHello with a server_name extension for
// "coap.test", as one segment.
func clientHelloOnly() []segment {
	sni := []byte{0, 0, 0, 14, 0, 12, 0, 0, 9, 'c', 'o', 'a', 'p', '.', 't', 'e', 's', 't'}
	body := append([]byte{3, 3}, make([]byte, 32)...)
	body = append(body, 0, 0, 2, 0x13, 0x01, 1, 0, 0, byte(len(sni)))
	body = append(body, sni...)
	msg := append([]byte{1, 0, 0, byte(len(body))}, body...)
	rec := append([]byte{22, 3, 1, 0, byte(len(msg))}, msg...)
	return []segment{{true, rec}}
}
