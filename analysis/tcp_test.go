package analysis_test

import (
	"path/filepath"
	"testing"

	"github.com/coapaudit/coapaudit/analysis"
	"github.com/coapaudit/coapaudit/flows"
	"github.com/coapaudit/coapaudit/internal/testenv"
	"github.com/coapaudit/coapaudit/tlskeys"
)

func keylog(t *testing.T, name string) *tlskeys.Keys {
	t.Helper()
	k, err := tlskeys.LoadKeyLog(name)
	if err != nil {
		t.Fatal(err)
	}
	return &tlskeys.Keys{Log: k}
}

// The reliable transports through the whole pipeline: every exchange of
// the recorded captures is complete (or an observation), matched by token
// on its connection, each leg naming its transport and protection; TLS is
// decrypted with the key log, and a wrong key decrypts nothing.
func TestReliableTransportsPipeline(t *testing.T) {
	root := testenv.RepoRoot()
	wrong := &tlskeys.Keys{PSKs: []tlskeys.PSK{{Identity: []byte("alice"), Key: []byte("not the key")}}}
	for _, c := range []struct {
		file, keylog string
		keys         *tlskeys.Keys
		tlsPort      uint16
		transport    string
		protection   string
		exchanges    int
		tlsState     string
	}{
		{file: "coaptcp/testdata/libcoap-tcp.pcap", transport: "tcp", exchanges: 11},
		{file: "coaptcp/testdata/gocoap-tcp.pcap", transport: "tcp", exchanges: -1},
		{file: "coaptcp/testdata/ws.pcap", transport: "ws", exchanges: 4},
		{file: "coaptcp/testdata/wss.pcap", keylog: "coaptcp/testdata/wss.keylog", tlsPort: 8443, transport: "wss", protection: "tls", exchanges: 4, tlsState: "decrypting"},
		{file: "tlsdec/testdata/go-tls13.pcap", keylog: "tlsdec/testdata/go-tls13.keylog", transport: "tls", protection: "tls", exchanges: 8, tlsState: "decrypting"},
		{file: "tlsdec/testdata/go-tls12.pcap", keylog: "tlsdec/testdata/go-tls12.keylog", transport: "tls", protection: "tls", exchanges: 10, tlsState: "decrypting"},
		{file: "tlsdec/testdata/libcoap-tls-psk.pcap", keylog: "tlsdec/testdata/libcoap-tls-psk.keylog", tlsPort: 47691, transport: "tls", protection: "tls", exchanges: 3, tlsState: "decrypting"},
		{file: "tlsdec/testdata/libcoap-tls-plainpsk.pcap", keys: wrong, tlsPort: 47691, exchanges: 0, tlsState: "key does not match this session"},
	} {
		t.Run(filepath.Base(c.file), func(t *testing.T) {
			opts := analysis.Options{TrackExchanges: true}
			if c.tlsPort != 0 {
				opts.TCP.TLSPorts = []uint16{c.tlsPort}
			}
			opts.TLSKeys = c.keys
			if c.keylog != "" {
				opts.TLSKeys = keylog(t, filepath.Join(root, c.keylog))
			}
			var xs []*flows.Exchange
			e, err := analysis.RunFiles([]string{filepath.Join(root, c.file)}, opts, nil, func(x *flows.Exchange) { xs = append(xs, x) })
			if err != nil {
				t.Fatal(err)
			}
			s := e.Summary()
			if s.Frames != s.CoAPFrames+s.DTLSFrames+s.TCPFrames+s.MalformedFrames+s.OtherFrames {
				t.Errorf("frames do not add up: %+v", s)
			}
			if c.tlsState != "" && s.TLSSessions[c.tlsState] == 0 {
				t.Errorf("TLS sessions %v, want some %q", s.TLSSessions, c.tlsState)
			}
			if c.exchanges >= 0 && len(xs) != c.exchanges || c.exchanges < 0 && len(xs) == 0 {
				t.Fatalf("%d exchanges, want %d", len(xs), c.exchanges)
			}
			if c.exchanges == 0 && s.ReliableMessages["tls"] != 0 {
				t.Errorf("messages from a TLS connection the key does not open: %v", s.ReliableMessages)
			}
			for _, x := range xs {
				if x.Status != flows.Complete && x.Status != flows.Observing {
					t.Errorf("%s %s %s: %s", x.ID, x.Method, x.URI, x.Status)
				}
				for _, l := range x.Legs {
					if l.Transport != c.transport || l.Protection != c.protection || l.Type != "" || l.Retransmissions+l.Duplicates != 0 {
						t.Errorf("%s leg %+v", x.ID, l)
					}
				}
			}
		})
	}
}
