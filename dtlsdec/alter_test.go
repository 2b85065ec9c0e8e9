package dtlsdec

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"testing"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"
	"github.com/google/gopacket/pcapgo"

	"github.com/coapaudit/coapaudit/capture"
	"github.com/coapaudit/coapaudit/decode"
	"github.com/coapaudit/coapaudit/dissect"
	"github.com/coapaudit/coapaudit/internal/tlscrypto"
	"github.com/coapaudit/coapaudit/tlskeys"
)

var update = flag.Bool("update", false, "rewrite testdata/libcoap-psk-proxy-altered.pcap")

// alteredFrame is the frame of libcoap-psk-proxy.pcap in which the proxy
// relays the origin's 2.05 to GET /time (frame 26) to the client, and
// alteredFrom/alteredTo the change made to its payload.
const (
	alteredFrame = 27
	alteredFrom  = "11:25:15"
	alteredTo    = "11:59:59"
)

// alterCapture returns libcoap-psk-proxy.pcap with the payload of the
// proxy's response in frame 27 changed and the record sealed again with
// the session's keys: what an evil proxy on the DTLS path could do, as a
// capture of both hops shows it.
func alterCapture(t *testing.T) []byte {
	var out bytes.Buffer
	w := pcapgo.NewWriter(&out)
	w.WriteFileHeader(262144, layers.LinkTypeEthernet)
	x := New(Config{Keys: &tlskeys.Keys{PSKs: psks(t, hopKeyHex)}})
	done := false
	eachDatagram(t, filepath.Join("testdata", "libcoap-psk-proxy.pcap"), x, func(d *capture.Datagram, dt *decode.DTLS, res *Result) {
		data := bytes.Clone(d.Data)
		if d.Number == alteredFrame && res != nil {
			if len(res.Records) != 1 || !bytes.Contains(res.Records[0].Plaintext, []byte(alteredFrom)) {
				t.Fatalf("frame %d: %d records", d.Number, len(res.Records))
			}
			rec := &dt.Records[res.Records[0].Index]
			pt := bytes.Replace(res.Records[0].Plaintext, []byte(alteredFrom), []byte(alteredTo), 1)
			s := x.sessions[dissect.MakePair(d.Src, d.Dst)]
			k := s.keys[dirIndex(res.Records[0].FromClient)]
			if k.Params().Bulk != tlscrypto.BulkAESGCM {
				t.Fatalf("frame %d: not AES-GCM", d.Number)
			}
			var aad [300]byte
			sealed := k.Seal(nil, rec.Fragment[:8], uint64(rec.Epoch)<<48|rec.Seq, pt, additionalData(aad[:], rec))
			off := d.PayloadOff + rec.Span.Off + rec.HeaderLen
			if copy(data[off:], sealed) != len(rec.Fragment) {
				t.Fatal("sealed record changed length")
			}
			done = true
		}
		if err := w.WritePacket(gopacket.CaptureInfo{Timestamp: d.Time, CaptureLength: len(data), Length: d.OrigLen}, data); err != nil {
			t.Fatal(err)
		}
	})
	if !done {
		t.Fatalf("frame %d not found", alteredFrame)
	}
	return out.Bytes()
}

// TestAlteredCapture checks that testdata/libcoap-psk-proxy-altered.pcap
// is what alterCapture makes (go test -update rewrites it), and that it
// decrypts to the changed payload.
func TestAlteredCapture(t *testing.T) {
	name := filepath.Join("testdata", "libcoap-psk-proxy-altered.pcap")
	b := alterCapture(t)
	if *update {
		if err := os.WriteFile(name, b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	old, err := os.ReadFile(name)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(old, b) {
		t.Fatalf("%s is stale: run go test -update", name)
	}
	got, sessions := decryptCapture(t, name, &tlskeys.Keys{PSKs: psks(t, hopKeyHex)})
	if len(got) != 20 || len(sessions) != 7 {
		t.Fatalf("%d messages, %d sessions", len(got), len(sessions))
	}
	for _, s := range sessions {
		if s.Failed != 0 {
			t.Errorf("session %+v", s)
		}
	}
}
