package analysis

import (
	"path/filepath"
	"testing"

	"github.com/coapaudit/coapaudit/internal/testenv"
	"github.com/coapaudit/coapaudit/tlskeys"
)

// libcoapDTLS returns the libcoap capture through a DTLS forward proxy
// (dtlsdec/testdata) and the PSK of both its hops.
func libcoapDTLS(tb testing.TB) (pcap string, keys *tlskeys.Keys) {
	tb.Helper()
	psk, err := tlskeys.ParsePSK("686f704b6579")
	if err != nil {
		tb.Fatal(err)
	}
	return filepath.Join(testenv.RepoRoot(), "dtlsdec", "testdata", "libcoap-psk-proxy.pcap"), &tlskeys.Keys{PSKs: []tlskeys.PSK{psk}}
}

// TestDTLSSessionsBounded runs the libcoap capture of seven sequential
// DTLS sessions with room for two: the sessions beyond the cap are
// evicted and counted in the summary, and since each session is over
// before the third one starts, every record is still decrypted.
func TestDTLSSessionsBounded(t *testing.T) {
	pcap, keys := libcoapDTLS(t)
	run := func(max int) map[string]int {
		e, err := RunFiles([]string{pcap}, Options{TLSKeys: keys, TrackExchanges: true, MaxDTLSSessions: max}, nil, nil)
		if err != nil {
			t.Fatal(err)
		}
		s := e.Summary()
		if s.DTLSCoAP != 20 || s.DTLSDecryptFailures != 0 || s.Exchanges != 4 {
			t.Errorf("max %d: %d CoAP messages, %d failures, %d exchanges", max, s.DTLSCoAP, s.DTLSDecryptFailures, s.Exchanges)
		}
		if n := len(e.DTLSSessions()); n != 7 {
			t.Errorf("max %d: %d sessions listed, want 7", max, n)
		}
		return s.Evicted
	}
	if ev := run(0); ev["dtls-decrypt-sessions"] != 0 || ev["dtls-sessions"] != 0 {
		t.Errorf("default cap: evicted %v", ev)
	}
	ev := run(2)
	if ev["dtls-decrypt-sessions"] != 5 || ev["dtls-sessions"] != 5 {
		t.Errorf("cap 2: evicted %v, want 5 sessions of the decrypter and of the handshake follower", ev)
	}
}
