package dtlsdec

import (
	"errors"
	"fmt"
	"io"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/coapaudit/coapaudit/capture"
	"github.com/coapaudit/coapaudit/decode"
	"github.com/coapaudit/coapaudit/internal/testenv"
	"github.com/coapaudit/coapaudit/tlskeys"
)

// hopKeyHex is the PSK of the libcoap captures in testdata ("hopKey").
const hopKeyHex = "686f704b6579"

// coapLine is one decrypted CoAP message as tshark prints it with
// -T fields -e frame.number -e coap.mid -e coap.code -e coap.token
// -e coap.opt.block_number -e coap.payload_length. tshark reassembles
// block-wise transfers and then reports the payload length of the whole
// body on the last block only, so for messages with a Block option the
// length is left out (see tsharkLines).
func coapLine(frame int, m *decode.Message) string {
	pl, block := "", ""
	if v, ok := m.Option(decode.OptBlock2); ok {
		block = fmt.Sprint(decode.DecodeUint(v) >> 4)
	} else if v, ok := m.Option(decode.OptBlock1); ok {
		block = fmt.Sprint(decode.DecodeUint(v) >> 4)
	}
	if len(m.Payload) > 0 && block == "" {
		pl = fmt.Sprint(len(m.Payload))
	}
	return fmt.Sprintf("%d\t%d\t%d\t%x\t%s\t%s", frame, m.MessageID, uint8(m.Code), m.Token, block, pl)
}

// tsharkLines turns tshark's output into coapLine's form.
func tsharkLines(out []byte) []string {
	var lines []string
	for _, l := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		f := strings.Split(l, "\t")
		if len(f) == 6 && f[4] != "" {
			f[5] = ""
		}
		lines = append(lines, strings.Join(f, "\t"))
	}
	return lines
}

// eachDatagram decodes every frame of a capture as DTLS and decrypts it
// with x; fn sees each frame, with the decrypter's result when the frame
// is DTLS (nil otherwise).
func eachDatagram(t *testing.T, name string, x *Decrypter, fn func(d *capture.Datagram, dt *decode.DTLS, res *Result)) {
	t.Helper()
	r, err := capture.Open(name)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	var (
		d   capture.Datagram
		dt  decode.DTLS
		res Result
	)
	for {
		err := r.Next(&d)
		if errors.Is(err, io.EOF) {
			return
		}
		if err != nil {
			t.Fatal(err)
		}
		if d.Kind != capture.KindUDP || dt.Decode(d.Payload) != nil {
			fn(&d, nil, nil)
			continue
		}
		x.Datagram(d.Number, d.Src, d.Dst, &dt, &res)
		fn(&d, &dt, &res)
	}
}

// decryptCapture decrypts every DTLS datagram of a capture and returns its
// CoAP messages, one coapLine each, and the sessions.
func decryptCapture(t *testing.T, name string, keys *tlskeys.Keys) ([]string, []SessionInfo) {
	t.Helper()
	x := New(Config{Keys: keys})
	var (
		m   decode.Message
		out []string
	)
	eachDatagram(t, name, x, func(d *capture.Datagram, _ *decode.DTLS, res *Result) {
		if res == nil {
			return
		}
		for _, rec := range res.Records {
			if rec.Type != decode.ContentApplicationData {
				continue
			}
			if err := m.Decode(rec.Plaintext); err != nil {
				t.Errorf("frame %d: %v", d.Number, err)
				continue
			}
			out = append(out, coapLine(d.Number, &m))
		}
	})
	return out, x.Sessions()
}

func psks(t *testing.T, vals ...string) []tlskeys.PSK {
	var out []tlskeys.PSK
	for _, v := range vals {
		p, err := tlskeys.ParsePSK(v)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, p)
	}
	return out
}

// TestLibcoapPSKAgainstTshark decrypts a libcoap client -> libcoap proxy ->
// libcoap origin capture (plain PSK: AES-256-GCM-SHA384 on the first hop,
// AES-256-CCM on the second, both with extended master secret) with the
// PSK alone and compares every CoAP message with tshark's.
func TestLibcoapPSKAgainstTshark(t *testing.T) {
	compareWithTshark(t, "libcoap-psk-proxy.pcap", 7, 20)
}

// TestLibcoapCCM8AgainstTshark does the same for libcoap's OpenSSL client
// against its GnuTLS server with TLS_PSK_WITH_AES_128_CCM_8, the suite
// RFC 7252 9.1.3.1 requires: GET /time, a block-wise GET / (16-byte
// blocks, several messages in one session), PUT and GET /example_data.
func TestLibcoapCCM8AgainstTshark(t *testing.T) {
	compareWithTshark(t, "libcoap-openssl-ccm8.pcap", 4, 24)
}

// TestLibcoapCBCAgainstTshark covers a CBC suite with encrypt-then-MAC
// (RFC 7366), which GnuTLS negotiates for CBC: TLS_PSK_WITH_AES_256_CBC_SHA
// between libcoap's GnuTLS client and server.
func TestLibcoapCBCAgainstTshark(t *testing.T) {
	compareWithTshark(t, "libcoap-gnutls-cbc-etm.pcap", 3, 6)
	_, sessions := decryptCapture(t, filepath.Join("testdata", "libcoap-gnutls-cbc-etm.pcap"), &tlskeys.Keys{PSKs: psks(t, hopKeyHex)})
	for _, s := range sessions {
		if !s.EncryptThenMAC || s.Suite != 0x008D {
			t.Errorf("session %+v", s)
		}
	}
}

func compareWithTshark(t *testing.T, name string, nSessions, nMessages int) {
	pcap := filepath.Join("testdata", name)
	got, sessions := decryptCapture(t, pcap, &tlskeys.Keys{PSKs: psks(t, "alice="+hopKeyHex, "proxyid="+hopKeyHex)})
	if len(sessions) != nSessions {
		t.Errorf("%d sessions, want %d", len(sessions), nSessions)
	}
	for _, s := range sessions {
		if s.Status != StatusDecrypting || s.Key != KeyPSK || s.ClientFinished != FinishedVerified || s.ServerFinished != FinishedVerified || s.Failed != 0 {
			t.Errorf("session %+v", s)
		}
	}
	if len(got) != nMessages {
		t.Errorf("%d CoAP messages, want %d:\n%s", len(got), nMessages, strings.Join(got, "\n"))
	}
	tshark := testenv.Tool(t, "tshark")
	cmd := exec.Command(tshark, "-r", pcap, "-o", "dtls.psk:"+hopKeyHex, "-Y", "coap",
		"-T", "fields", "-e", "frame.number", "-e", "coap.mid", "-e", "coap.code", "-e", "coap.token", "-e", "coap.opt.block_number", "-e", "coap.payload_length")
	b, err := cmd.Output()
	if err != nil {
		t.Fatalf("tshark: %v", err)
	}
	want := tsharkLines(b)
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("decrypted CoAP differs from tshark's\n got:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

// TestLibcoapKeyLog decrypts the same capture with GnuTLS's key log only,
// and the ECDHE_PSK capture (ChaCha20-Poly1305, which tshark 4.0 does not
// decrypt in DTLS) with its key log; there the PSK alone must say that
// the key exchange needs the key log.
func TestLibcoapKeyLog(t *testing.T) {
	kl, err := tlskeys.LoadKeyLog(filepath.Join("testdata", "libcoap-psk-proxy.keylog"))
	if err != nil {
		t.Fatal(err)
	}
	viaPSK, _ := decryptCapture(t, filepath.Join("testdata", "libcoap-psk-proxy.pcap"), &tlskeys.Keys{PSKs: psks(t, hopKeyHex)})
	viaLog, sessions := decryptCapture(t, filepath.Join("testdata", "libcoap-psk-proxy.pcap"), &tlskeys.Keys{Log: kl})
	if strings.Join(viaPSK, "\n") != strings.Join(viaLog, "\n") || len(viaLog) != 20 {
		t.Errorf("key log gives\n%s\nPSK gives\n%s", strings.Join(viaLog, "\n"), strings.Join(viaPSK, "\n"))
	}
	for _, s := range sessions {
		if s.Key != KeyLog || s.ServerFinished != FinishedVerified {
			t.Errorf("session %+v", s)
		}
	}

	pcap := filepath.Join("testdata", "libcoap-ecdhe-psk-proxy.pcap")
	kl, err = tlskeys.LoadKeyLog(filepath.Join("testdata", "libcoap-ecdhe-psk-proxy.keylog"))
	if err != nil {
		t.Fatal(err)
	}
	got, sessions := decryptCapture(t, pcap, &tlskeys.Keys{Log: kl})
	// The same requests as in libcoap-psk-proxy: GET /time, PUT and GET
	// /example_data through the proxy, then a direct GET.
	want := []string{
		"12\t0\t1", "13\t0\t0", "25\t0\t1", "26\t0\t69", "27\t0\t69", "28\t0\t0",
		"44\t0\t3", "45\t0\t0", "57\t0\t3", "58\t0\t65", "59\t0\t65", "60\t0\t0",
		"76\t0\t1", "77\t0\t0", "89\t0\t1", "90\t0\t69", "91\t0\t69", "92\t0\t0",
		"108\t0\t1", "109\t0\t69",
	}
	var short []string
	for _, l := range got {
		f := strings.Split(l, "\t")
		short = append(short, f[0]+"\t0\t"+f[2])
	}
	if len(sessions) != 7 || strings.Join(short, " ") != strings.Join(want, " ") {
		t.Errorf("%d sessions; messages\n%s", len(sessions), strings.Join(got, "\n"))
	}
	_, sessions = decryptCapture(t, pcap, &tlskeys.Keys{PSKs: psks(t, hopKeyHex)})
	for _, s := range sessions {
		if s.Status != StatusNoKey || !strings.Contains(s.Detail, "ECDHE_PSK key exchange needs a key log entry") {
			t.Errorf("ECDHE_PSK with the PSK only: %+v", s)
		}
	}
}
