package dtlsdec

import (
	"strings"
	"testing"

	"github.com/pion/dtls/v3"

	"github.com/coapaudit/coapaudit/tlskeys"
)

// TestPionResumption runs three pion connections where the later ones
// resume the first one's session (abbreviated handshake: no key exchange,
// the server's Finished first). The PSK opens the first session; the
// resumed ones need its master secret, kept by session ID.
func TestPionResumption(t *testing.T) {
	for _, suite := range []dtls.CipherSuiteID{dtls.TLS_PSK_WITH_AES_128_CCM_8, dtls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256} {
		o := pionOpts{suite: suite, conns: 3, resume: true}
		keys := &tlskeys.Keys{}
		if suite == dtls.TLS_PSK_WITH_AES_128_CCM_8 {
			o.psk, o.identity = []byte("k"), "alice"
			keys.PSKs = psks(t, "alice=6b")
		}
		run := runPion(t, o)
		if keys.PSKs == nil {
			// Only the first session's line: the resumed ones must
			// come from the session cache.
			first := strings.SplitAfterN(run.keyLog, "\n", 2)[0]
			keys.Log = mustKeyLog(t, first)
		}
		toServer, toClient, ss := decryptRunAll(t, run, keys)
		if len(ss) != 3 {
			t.Fatalf("%v: %d sessions", suite, len(ss))
		}
		for i, s := range ss {
			if s.Status != StatusDecrypting || s.ClientFinished != FinishedVerified || s.ServerFinished != FinishedVerified {
				t.Errorf("%v: session %d: %+v", suite, i, s)
			}
			if want := i > 0; s.Resumed != want {
				t.Errorf("%v: session %d: Resumed %v", suite, i, s.Resumed)
			}
		}
		if strings.Join(toServer, "|") != strings.Join(run.sent, "|") || strings.Join(toClient, "|") != strings.Join(run.echoed, "|") {
			t.Errorf("%v: to server %q, to client %q", suite, toServer, toClient)
		}
	}
}
