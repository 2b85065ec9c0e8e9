package tlsdec

import (
	"bufio"
	"bytes"
	"encoding/hex"
	"fmt"
	"io"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"
	"github.com/google/gopacket/pcapgo"

	"github.com/coapaudit/coapaudit/internal/testenv"
	"github.com/coapaudit/coapaudit/tlskeys"
)

// tcpConn is one TCP connection of a capture fed to a Conn in capture
// order, each direction's payload in sequence (the captures are clean
// loopback recordings: no loss, no reordering; a gap fails the test).
type tcpConn struct {
	client, server netip.AddrPort
	next           [2]uint32
	started        [2]bool
	conn           *Conn
}

// frameRecord is a decrypted record and the frame that completed it.
type frameRecord struct {
	frame int
	rec   Record
}

// decryptPcap feeds every TCP connection of a capture to a Conn with
// keys, and returns the conns in the order they started and the records
// decrypted, with the frame each record ended in.
func decryptPcap(t *testing.T, name string, keys *tlskeys.Keys) ([]*tcpConn, []frameRecord) {
	t.Helper()
	f, err := os.Open(name)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	r, err := pcapgo.NewReader(f)
	if err != nil {
		t.Fatal(err)
	}
	conns := map[[2]netip.AddrPort]*tcpConn{}
	var order []*tcpConn
	var recs []frameRecord
	for frame := 1; ; frame++ {
		data, _, err := r.ReadPacketData()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		p := gopacket.NewPacket(data, r.LinkType(), gopacket.Default)
		tl, _ := p.Layer(layers.LayerTypeTCP).(*layers.TCP)
		nl := p.NetworkLayer()
		if tl == nil || nl == nil {
			continue
		}
		srcIP, _ := netip.AddrFromSlice(nl.NetworkFlow().Src().Raw())
		dstIP, _ := netip.AddrFromSlice(nl.NetworkFlow().Dst().Raw())
		src := netip.AddrPortFrom(srcIP, uint16(tl.SrcPort))
		dst := netip.AddrPortFrom(dstIP, uint16(tl.DstPort))
		c := conns[[2]netip.AddrPort{src, dst}]
		if c == nil {
			c = conns[[2]netip.AddrPort{dst, src}]
		}
		if c == nil {
			if !tl.SYN || tl.ACK {
				t.Fatalf("frame %d: a connection without its SYN", frame)
			}
			c = &tcpConn{client: src, server: dst, conn: NewConn(keys)}
			conns[[2]netip.AddrPort{src, dst}] = c
			order = append(order, c)
		}
		fromClient := src == c.client
		i := dirIndex(fromClient)
		if tl.SYN {
			c.next[i], c.started[i] = tl.Seq+1, true
			continue
		}
		pl := tl.Payload
		if len(pl) == 0 {
			continue
		}
		switch d := int32(tl.Seq - c.next[i]); {
		case d > 0:
			t.Fatalf("frame %d: %d bytes missing", frame, d)
		case -d >= int32(len(pl)):
			continue // a retransmission
		case d < 0:
			pl = pl[-d:]
		}
		c.next[i] += uint32(len(pl))
		c.conn.Feed(fromClient, pl, func(r *Record) {
			if r.Decrypted {
				rc := *r
				rc.Plaintext = bytes.Clone(r.Plaintext)
				recs = append(recs, frameRecord{frame, rc})
			}
		})
	}
	// Connections without a ServerHello (the libcoap recordings'
	// readiness probe, answered by an alert) are left out.
	var hello []*tcpConn
	for _, c := range order {
		if c.conn.Status().HasSuite {
			hello = append(hello, c)
		} else if st := c.conn.Status(); st.Decrypted+st.Failed != 0 {
			t.Errorf("%v: protected records without a handshake: %+v", c.client, st)
		}
	}
	return hello, recs
}

var (
	tsharkDecrypted = regexp.MustCompile(`^Decrypted TLS \((\d+) bytes\):`)
)

// tsharkDecrypt returns, frame by frame, the hex of every record tshark
// decrypts in a capture with a key log (its -x "Decrypted TLS" blocks).
func tsharkDecrypt(t *testing.T, pcap, keylog string, port int) map[int][]string {
	t.Helper()
	tshark := testenv.Tool(t, "tshark")
	cmd := exec.Command(tshark, "-r", pcap, "-o", "tls.keylog_file:"+keylog, "-d", "tcp.port=="+strconv.Itoa(port)+",tls", "-x")
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("tshark: %v", err)
	}
	got := map[int][]string{}
	frame := 1
	var cur *strings.Builder
	sc := bufio.NewScanner(bytes.NewReader(out))
	flush := func() {
		if cur != nil {
			got[frame] = append(got[frame], cur.String())
			cur = nil
		}
	}
	// -x prints each packet's data sources ("Frame (N bytes):",
	// "Decrypted TLS (N bytes):", ..., the title left out when there is
	// only one), then a blank line.
	for sc.Scan() {
		l := sc.Text()
		switch {
		case l == "":
			flush()
			frame++
		case tsharkDecrypted.MatchString(l):
			flush()
			cur = &strings.Builder{}
		case !isHexDumpLine(l):
			flush()
		case cur != nil:
			// "0000  00 e1 ...   ascii"
			for _, b := range strings.Fields(l[6:min(len(l), 6+16*3)]) {
				cur.WriteString(b)
			}
		}
	}
	flush()
	return got
}

func isHexDumpLine(l string) bool {
	if len(l) < 6 || l[4] != ' ' {
		return false
	}
	_, err := hex.DecodeString(l[:4])
	return err == nil
}

// TestCapturesAgainstTshark decrypts the recorded captures of testdata
// and compares every decrypted record, frame by frame, with what tshark
// decrypts with the same key log; with a corrupted key log every
// connection is a mismatch and nothing is decrypted.
func TestCapturesAgainstTshark(t *testing.T) {
	for _, tc := range []struct {
		name       string
		port       int
		conns      int
		tls13      bool
		minRecords int
		pskOnly    bool // the PSK alone decrypts it too
		keyUpdates int  // per connection
	}{
		{"go-tls13", goTLSPort, 4, true, 40, false, 0},
		{"go-tls12", goTLSPort, 5, false, 30, false, 0},
		{"libcoap-tls-psk", libcoapPort + 1, 3, false, 12, false, 0},     // ECDHE_PSK_WITH_CHACHA20_POLY1305_SHA256
		{"libcoap-tls-plainpsk", libcoapPort + 1, 3, false, 12, true, 0}, // PSK_WITH_AES_256_GCM_SHA384
		{"libcoap-tls-cbc", libcoapPort + 1, 3, false, 12, true, 0},      // PSK_WITH_AES_256_CBC_SHA, encrypt-then-MAC
		{"libcoap-tls-cert", libcoapPort + 1, 3, true, 12, false, 0},     // TLS_AES_256_GCM_SHA384
		{"libcoap-tls-ccm8", libcoapPort + 1, 3, false, 12, true, 0},     // PSK_WITH_AES_128_CCM_8, CoAP's mandatory suite
		// ChaCha20-Poly1305, AES-256-GCM-SHA384, AES-128-CCM, AES-128-CCM-8, each with a KeyUpdate both ways
		{"openssl-tls13", opensslPort, 4, true, 30, false, 2},
		// a full handshake, then its resumption with 0-RTT data
		{"openssl-tls13-early", opensslPort, 2, true, 10, false, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			pcap := filepath.Join("testdata", tc.name+".pcap")
			keylog := filepath.Join("testdata", tc.name+".keylog")
			kl, err := tlskeys.LoadKeyLog(keylog)
			if err != nil {
				t.Fatal(err)
			}
			conns, recs := decryptPcap(t, pcap, &tlskeys.Keys{Log: kl})
			if len(conns) != tc.conns || len(recs) < tc.minRecords {
				t.Fatalf("%d connections, %d records decrypted", len(conns), len(recs))
			}
			for _, c := range conns {
				st := c.conn.Status()
				if st.State != tlskeys.StateDecrypting || st.Failed != 0 || st.ClientFinished != tlskeys.FinishedVerified ||
					st.ServerFinished != tlskeys.FinishedVerified || (st.Version == VersionTLS13) != tc.tls13 || st.ALPN != "coap" && strings.HasPrefix(tc.name, "go") ||
					st.KeyUpdates != tc.keyUpdates {
					t.Errorf("%v: %+v", c.client, st)
				}
			}
			early := 0
			for _, c := range conns {
				early += c.conn.Status().EarlyData
			}
			if want := map[bool]int{true: 2, false: 0}[tc.name == "openssl-tls13-early"]; early != want {
				t.Errorf("%d 0-RTT records decrypted, want %d (the data and EndOfEarlyData)", early, want)
			}
			mine := map[int][]string{}
			for _, r := range recs {
				mine[r.frame] = append(mine[r.frame], hex.EncodeToString(r.rec.Plaintext))
			}
			ref := tsharkDecrypt(t, pcap, keylog, tc.port)
			if len(ref) == 0 {
				t.Fatal("tshark decrypted nothing")
			}
			for frame, want := range ref {
				if got := mine[frame]; fmt.Sprint(got) != fmt.Sprint(want) {
					t.Errorf("frame %d: decrypted %v, tshark %v", frame, got, want)
				}
			}
			for frame, got := range mine {
				if _, ok := ref[frame]; !ok {
					t.Errorf("frame %d: decrypted %v, tshark nothing", frame, got)
				}
			}
			if tc.pskOnly {
				psk, err := tlskeys.ParsePSK("alice=686f704b6579")
				if err != nil {
					t.Fatal(err)
				}
				conns, precs := decryptPcap(t, pcap, &tlskeys.Keys{PSKs: []tlskeys.PSK{psk}})
				if fmt.Sprint(precs) != fmt.Sprint(recs) {
					t.Errorf("the PSK alone decrypts %d records, the key log %d", len(precs), len(recs))
				}
				for _, c := range conns {
					if st := c.conn.Status(); st.Key != KeyPSK || st.PSKIdentity != "alice" {
						t.Errorf("PSK: %+v", st)
					}
				}
				wrong, err := tlskeys.ParsePSK("alice=686f704b657a")
				if err != nil {
					t.Fatal(err)
				}
				conns, precs = decryptPcap(t, pcap, &tlskeys.Keys{PSKs: []tlskeys.PSK{wrong}})
				for _, c := range conns {
					if st := c.conn.Status(); st.State != tlskeys.StateKeyMismatch || st.Decrypted != 0 || len(precs) != 0 {
						t.Errorf("wrong PSK: %+v", st)
					}
				}
			}
			bad, err := os.ReadFile(keylog)
			if err != nil {
				t.Fatal(err)
			}
			badLog := &tlskeys.KeyLog{}
			if err := badLog.Read(bytes.NewReader(corrupt(bad)), "bad"); err != nil {
				t.Fatal(err)
			}
			conns, recs = decryptPcap(t, pcap, &tlskeys.Keys{Log: badLog})
			if len(recs) != 0 {
				t.Errorf("wrong key log: %d records decrypted", len(recs))
			}
			for _, c := range conns {
				if st := c.conn.Status(); st.State != tlskeys.StateKeyMismatch {
					t.Errorf("wrong key log: %v: %v", c.client, st.State)
				}
			}
		})
	}
}
