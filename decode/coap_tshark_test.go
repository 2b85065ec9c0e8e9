package decode

import (
	"bufio"
	"encoding/hex"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// TestTsharkReference compares Decode with Wireshark's CoAP dissector on
// every CoAP frame of the shared captures (except the 10,000-frame LwM2M
// one). The reference lives in testdata/tshark/coap-fields.tsv, made by
// testdata/tshark/gen.sh, so the test needs no tshark.
func TestTsharkReference(t *testing.T) {
	dir := coapCapturesDir(t)
	f, err := os.Open(filepath.Join("testdata", "tshark", "coap-fields.tsv"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()

	// gopacket has no 6LoWPAN decoder, so this capture yields no datagrams.
	const sixlowpan = "public/edhoc-dtls-comparison-edhoc.pcap"

	frames := map[string]map[int][]byte{}
	payloads := func(file string) map[int][]byte {
		if m, ok := frames[file]; ok {
			return m
		}
		m := map[int][]byte{}
		for _, d := range coapReadUDP(t, filepath.Join(dir, filepath.FromSlash(file))) {
			m[d.Frame] = d.Payload
		}
		frames[file] = m
		return m
	}

	var m Message
	rows, checked, oscore := 0, 0, 0
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		rows++
		c := strings.Split(sc.Text(), "\t")
		if len(c) != 11 {
			t.Fatalf("row %d: %d columns", rows, len(c))
		}
		file := c[0]
		frame, _ := strconv.Atoi(c[1])
		b, ok := payloads(file)[frame]
		if !ok {
			if file != sixlowpan {
				t.Errorf("%s frame %d: no UDP datagram", file, frame)
			}
			continue
		}
		where := file + " frame " + c[1]
		if err := m.Decode(b); err != nil {
			t.Errorf("%s: %v", where, err)
			continue
		}
		checked++
		typ, _ := strconv.Atoi(c[2])
		code, _ := strconv.Atoi(c[3])
		mid, _ := strconv.Atoi(c[4])
		if int(m.Type) != typ || int(m.Code) != code || int(m.MessageID) != mid {
			t.Errorf("%s: header %d %d %d, tshark %d %d %d", where, m.Type, m.Code, m.MessageID, typ, code, mid)
		}
		if got := hex.EncodeToString(m.Token); got != c[5] {
			t.Errorf("%s: token %s, tshark %s", where, got, c[5])
		}
		var nums []string
		for _, o := range m.Options {
			nums = append(nums, strconv.Itoa(int(o.ID)))
		}
		if got := strings.Join(nums, ","); got != c[6] {
			t.Errorf("%s: options %s, tshark %s", where, got, c[6])
		}
		if got := strconv.Itoa(len(m.Payload)); got != c[7] {
			t.Errorf("%s: payload length %s, tshark %s", where, got, c[7])
		}
		if v, ok := m.Option(OptOSCORE); ok {
			oscore++
			o, err := ParseOSCORE(v)
			if err != nil {
				t.Errorf("%s: OSCORE %x: %v", where, v, err)
				continue
			}
			if hex.EncodeToString(o.PIV) != c[8] || hex.EncodeToString(o.KID) != c[9] || hex.EncodeToString(o.KIDContext) != c[10] {
				t.Errorf("%s: OSCORE piv %x kid %x kid context %x, tshark %s %s %s", where, o.PIV, o.KID, o.KIDContext, c[8], c[9], c[10])
			}
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	if checked < 3000 || oscore < 90 {
		t.Errorf("compared only %d of %d frames (%d with OSCORE)", checked, rows, oscore)
	}
	t.Logf("%d frames agree with tshark, %d of them OSCORE", checked, oscore)
}
