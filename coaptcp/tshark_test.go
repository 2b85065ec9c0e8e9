package coaptcp

import (
	"bytes"
	"encoding/hex"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/coapaudit/coapaudit/capture"
	"github.com/coapaudit/coapaudit/decode"
	"github.com/coapaudit/coapaudit/internal/testenv"
	"github.com/coapaudit/coapaudit/tlsdec"
	"github.com/coapaudit/coapaudit/tlskeys"
	"github.com/plgd-dev/go-coap/v3/message"
	tcpcoder "github.com/plgd-dev/go-coap/v3/tcp/coder"
)

// msgRec is one CoAP message as a test compares it.
type msgRec struct {
	Frame     int
	Frames    []int
	Transport string
	Code      int
	Token     string   // hex
	Opts      []string // "number=hex of the whole option as encoded"
	Payload   string   // hex
	Err       string
	Midstream bool
}

// key identifies a message for comparison. tshark reassembles
// block-wise bodies (RFC 7959) and shows the whole body on the last
// block and none on the others, so the payload of a message with a Block
// option is left out.
func (m msgRec) key() string {
	payload := m.Payload
	for _, o := range m.Opts {
		if strings.HasPrefix(o, "23=") || strings.HasPrefix(o, "27=") {
			payload = "(block)"
		}
	}
	return fmt.Sprintf("frame %d code %d token %s opts %v payload %s", m.Frame, m.Code, m.Token, m.Opts, payload)
}

// record turns an emitted Message into a msgRec (copying what it
// borrows).
func record(m *Message) msgRec {
	r := msgRec{Frame: m.Frame, Frames: slices.Clone(m.Frames), Transport: m.Transport, Code: int(m.CoAP.Code),
		Token: hex.EncodeToString(m.CoAP.Token), Payload: hex.EncodeToString(m.CoAP.Payload), Midstream: m.Midstream}
	for _, o := range m.CoAP.Options {
		r.Opts = append(r.Opts, fmt.Sprintf("%d=%x", o.ID, m.CoAP.Raw[o.Span.Off:o.Span.Off+o.Span.Len]))
	}
	if m.Err != nil {
		r.Err = m.Err.Error()
	}
	return r
}

// assemble runs a capture through an Assembler and returns the messages,
// the number of segments Segment claimed, and the statistics.
func assemble(t testing.TB, path string, cfg Config) ([]msgRec, Stats) {
	t.Helper()
	r, err := capture.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	var out []msgRec
	a := New(cfg, func(m *Message) { out = append(out, record(m)) })
	var d capture.Datagram
	for {
		err := r.Next(&d)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		a.Segment(&d)
	}
	a.Close()
	return out, a.Stats()
}

// pdml is the part of tshark's PDML output the tests read.
type pdml struct {
	Packets []struct {
		Protos []pdmlProto `xml:"proto"`
	} `xml:"packet"`
}

type pdmlProto struct {
	Name   string      `xml:"name,attr"`
	Fields []pdmlField `xml:"field"`
}

type pdmlField struct {
	Name   string      `xml:"name,attr"`
	Show   string      `xml:"show,attr"`
	Value  string      `xml:"value,attr"`
	Fields []pdmlField `xml:"field"`
}

// tsharkMessages returns the CoAP messages tshark finds in path, each on
// the frame tshark shows it in (the last frame of a reassembled one).
func tsharkMessages(t testing.TB, path string, args ...string) []msgRec {
	t.Helper()
	tshark := testenv.Tool(t, "tshark")
	cmd := exec.Command(tshark, append(append([]string{"-n", "-r", path}, args...), "-T", "pdml", "-Y", "coap")...)
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("tshark: %v", err)
	}
	var doc pdml
	if err := xml.Unmarshal(out, &doc); err != nil {
		t.Fatal(err)
	}
	var msgs []msgRec
	for _, p := range doc.Packets {
		frame := 0
		for _, pr := range p.Protos {
			switch pr.Name {
			case "frame":
				for _, f := range pr.Fields {
					if f.Name == "frame.number" {
						frame, _ = strconv.Atoi(f.Show)
					}
				}
			case "coap":
				m := msgRec{Frame: frame}
				for _, f := range pr.Fields {
					switch f.Name {
					case "coap.code":
						m.Code, _ = strconv.Atoi(f.Show)
					case "coap.token":
						m.Token = f.Value
					case "coap.opt.name":
						num := -1
						for _, sub := range f.Fields {
							if sub.Name == "coap.opt.desc" {
								n, _, _ := strings.Cut(strings.TrimPrefix(sub.Show, "Type "), ",")
								num, _ = strconv.Atoi(n)
							}
						}
						m.Opts = append(m.Opts, fmt.Sprintf("%d=%s", num, f.Value))
					case "coap.payload":
						m.Payload = f.Value
					}
				}
				msgs = append(msgs, m)
			}
		}
	}
	return msgs
}

// compareWithTshark checks that every message tshark finds is found, on
// the same frame, with equal code, token, options and payload, and that
// nothing else is found. It returns the number of messages compared.
func compareWithTshark(t *testing.T, got []msgRec, want []msgRec) int {
	t.Helper()
	byKey := map[string]int{}
	for _, m := range got {
		byKey[m.key()]++
	}
	for _, w := range want {
		if byKey[w.key()] == 0 {
			t.Errorf("tshark's %s: not found", w.key())
			continue
		}
		byKey[w.key()]--
	}
	for k, n := range byKey {
		if n > 0 {
			t.Errorf("%d messages not in tshark: %s", n, k)
		}
	}
	for _, m := range got {
		if m.Err != "" {
			t.Errorf("frame %d: %s", m.Frame, m.Err)
		}
		if len(m.Frames) == 0 || m.Frames[len(m.Frames)-1] != m.Frame || !slices.IsSorted(m.Frames) {
			t.Errorf("frame %d: frames %v", m.Frame, m.Frames)
		}
	}
	return len(want)
}

func testdata(name string) string { return filepath.Join("testdata", name) }

// TestLibcoapTCP: libcoap's client and server over coap+tcp (GET, PUT,
// Observe, block-wise both ways with 64- and 1024-byte blocks, CSMs):
// every message tshark decodes is found with its fields and frame.
func TestLibcoapTCP(t *testing.T) {
	path := testdata("libcoap-tcp.pcap")
	got, st := assemble(t, path, Config{})
	n := compareWithTshark(t, got, tsharkMessages(t, path, "-d", "tcp.port==5683,coap"))
	if n < 50 {
		t.Errorf("tshark found only %d messages", n)
	}
	if st.TCPStreams != 10 || st.Streams != 0 || st.Gaps != 0 || st.Resyncs != 0 || st.Malformed != 0 || st.Buffered != 0 {
		t.Errorf("stats %+v", st)
	}
	// Every one of libcoap's CSMs carries Max-Message-Size and
	// Block-Wise-Transfer, named as RFC 8323 numbers them.
	csm := 0
	for _, m := range got {
		if m.Code == int(decode.CodeCSM) {
			csm++
			if len(m.Opts) != 2 || !strings.HasPrefix(m.Opts[0], "2=") || !strings.HasPrefix(m.Opts[1], "4=") {
				t.Errorf("CSM options %v", m.Opts)
			}
		}
	}
	if csm != 20 {
		t.Errorf("%d CSMs, want 2 for each of 10 connections", csm)
	}
	t.Logf("%d messages, %+v", n, st)
}

// TestSegmentAnswer: Segment claims every segment of a connection on the
// CoAP port, and none of a connection elsewhere that carries no CoAP.
func TestSegmentAnswer(t *testing.T) {
	r, err := capture.Open(testdata("libcoap-tcp.pcap"))
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	claimed, total := 0, 0
	a := New(Config{}, func(*Message) {})
	other := New(Config{CoAPPorts: []uint16{1}, TLSPorts: []uint16{2}}, func(m *Message) { t.Errorf("message on no CoAP port: %+v", m) })
	var d capture.Datagram
	for r.Next(&d) == nil {
		total++
		if a.Segment(&d) {
			claimed++
		}
		if other.Segment(&d) {
			t.Errorf("frame %d claimed without a CoAP port or heuristics", d.Number)
		}
	}
	if claimed != total || total == 0 {
		t.Errorf("%d of %d segments claimed", claimed, total)
	}
	if s := other.Stats(); s.TCPStreams != 0 || s.Messages != 0 {
		t.Errorf("stats %+v", s)
	}
	// With heuristics, the first CSM gives each connection away.
	got, st := assemble(t, testdata("libcoap-tcp.pcap"), Config{CoAPPorts: []uint16{1}, Heuristics: true})
	if len(got) != 57 || st.TCPStreams != 10 {
		t.Errorf("heuristics: %d messages, %+v", len(got), st)
	}
}

// TestGoCoAPTCP: go-coap v3's TCP client and server (GET, PUT, POST,
// Ping/Pong, Observe, a 3 KB response in one message), and a client
// sending a CSM and a GET in one segment and a PUT over three segments.
func TestGoCoAPTCP(t *testing.T) {
	path := testdata("gocoap-tcp.pcap")
	got, st := assemble(t, path, Config{})
	want := tsharkMessages(t, path, "-d", "tcp.port==5683,coap")
	// tshark 4.0 dissects only the first RFC 8323 message of a segment:
	// the GET that the raw client wrote after its CSM, in the same
	// segment, is not in its output. These are the bytes it wrote
	// (record/gocoap, rawClient).
	for _, m := range want {
		if m.Code == int(decode.CodeCSM) && len(m.Opts) == 1 && m.Opts[0] == "2=221000" {
			want = append(want, msgRec{Frame: m.Frame, Code: int(decode.CodeGET), Token: "a1", Opts: []string{"11=b568656c6c6f"}})
		}
	}
	n := compareWithTshark(t, got, want)
	if n < 20 {
		t.Errorf("tshark found only %d messages", n)
	}
	spread, shared := false, 0
	for _, m := range got {
		if m.Code == int(decode.CodePUT) && m.Token == "a2a3" {
			spread = len(m.Frames) == 3
		}
		if m.Frame == got[len(got)-1].Frame {
			continue
		}
		for _, o := range got {
			if o.Frame == m.Frame && o.Code != m.Code {
				shared++
			}
		}
	}
	if !spread {
		t.Error("the PUT written in three parts is not attributed to three frames")
	}
	if shared == 0 {
		t.Error("no frame carries two messages")
	}
	if st.Gaps != 0 || st.Resyncs != 0 || st.Malformed != 0 || st.Buffered != 0 || st.TCPStreams != 2 {
		t.Errorf("stats %+v", st)
	}
}

// TestWebSocket: CoAP over WebSockets between coder/websocket's client and
// server (record/ws): the HTTP Upgrade, masked client frames, a message
// in several frames, WebSocket ping, pong and close, on port 8080, which
// no configuration names.
func TestWebSocket(t *testing.T) {
	path := testdata("ws.pcap")
	got, st := assemble(t, path, Config{})
	want := tsharkMessages(t, path, "-d", "tcp.port==8080,http")
	// tshark 4.0 does not reassemble a fragmented WebSocket message; the
	// client wrote this GET in three parts (record/ws), which
	// coder/websocket sent as three frames and an empty last one, all in
	// frame 16.
	want = append(want, msgRec{Frame: 16, Code: int(decode.CodeGET), Token: "030303", Opts: []string{"11=b568656c6c6f"}})
	n := compareWithTshark(t, got, want)
	if n != 14 {
		t.Errorf("%d messages, want 14", n)
	}
	for _, m := range got {
		if m.Transport != TransportWS {
			t.Errorf("frame %d: transport %q", m.Frame, m.Transport)
		}
	}
	if st.WSStreams != 1 || st.WSControl != 4 || st.Gaps != 0 || st.Malformed != 0 || st.Buffered != 0 {
		t.Errorf("stats %+v", st)
	}
}

// TestTLSDecrypted: coaps+tcp decrypted through tlsdec with the key logs
// that libcoap (GnuTLS) and Go's crypto/tls wrote; every CoAP message
// tshark decrypts and decodes with the same key log is found, with its
// frame.
func TestTLSDecrypted(t *testing.T) {
	dir := filepath.Join("..", "tlsdec", "testdata")
	for _, c := range []struct {
		name string
		port string
		min  int
	}{
		{"libcoap-tls-psk", "47691", 6},
		{"libcoap-tls-cert", "47691", 6},
		{"libcoap-tls-cbc", "47691", 6},
		{"go-tls13", "47684", 4},
		{"go-tls12", "47684", 5},
	} {
		t.Run(c.name, func(t *testing.T) {
			pcap, keylog := filepath.Join(dir, c.name+".pcap"), filepath.Join(dir, c.name+".keylog")
			kl, err := tlskeys.LoadKeyLog(keylog)
			if err != nil {
				t.Fatal(err)
			}
			port, _ := strconv.Atoi(c.port)
			var conns []*tlsdec.Conn
			got, st := assemble(t, pcap, Config{TLSPorts: []uint16{uint16(port)}, TLS: TLSKeys(&tlskeys.Keys{Log: kl}, func(_, _ netip.AddrPort, tc *tlsdec.Conn) {
				conns = append(conns, tc)
			})})
			want := tsharkMessages(t, pcap, "-o", "tls.keylog_file:"+keylog, "-d", "tcp.port=="+c.port+",tls", "-d", "tls.port=="+c.port+",coap")
			n := compareWithTshark(t, got, want)
			if n < c.min {
				t.Errorf("tshark found %d messages", n)
			}
			for _, m := range got {
				if m.Transport != TransportTLS {
					t.Errorf("frame %d: transport %q", m.Frame, m.Transport)
				}
			}
			// A decrypter for every TLS connection; those that gave
			// plaintext are counted (the libcoap recordings begin with a
			// connection whose handshake fails).
			if st.TLSStreams == 0 || len(conns) < st.TLSStreams || len(conns) > st.TLSStreams+1 {
				t.Errorf("stats %+v, %d decrypters", st, len(conns))
			}
			t.Logf("%d messages, %+v", n, st)
		})
	}
}

// TestWSSDecrypted: coaps+ws, the WebSocket recording over TLS 1.3
// (crypto/tls, record/ws -keylog), decrypted with its key log: the same
// messages as tshark finds with it, on the same frames.
func TestWSSDecrypted(t *testing.T) {
	path, keylog := testdata("wss.pcap"), testdata("wss.keylog")
	kl, err := tlskeys.LoadKeyLog(keylog)
	if err != nil {
		t.Fatal(err)
	}
	got, st := assemble(t, path, Config{TLSPorts: []uint16{8443}, TLS: TLSKeys(&tlskeys.Keys{Log: kl}, nil)})
	want := tsharkMessages(t, path, "-o", "tls.keylog_file:"+keylog, "-d", "tcp.port==8443,tls", "-d", "tls.port==8443,http")
	// The fragmented GET, which tshark 4.0 does not reassemble (see
	// TestWebSocket).
	frag := -1
	for _, m := range got {
		if m.Token == "030303" && m.Code == int(decode.CodeGET) {
			frag = m.Frame
		}
	}
	want = append(want, msgRec{Frame: frag, Code: int(decode.CodeGET), Token: "030303", Opts: []string{"11=b568656c6c6f"}})
	if n := compareWithTshark(t, got, want); n != 14 {
		t.Errorf("%d messages, want 14", n)
	}
	for _, m := range got {
		if m.Transport != TransportWSS {
			t.Errorf("frame %d: transport %q", m.Frame, m.Transport)
		}
	}
	if st.WSSStreams != 1 || st.WSControl != 4 || st.Malformed != 0 || st.Buffered != 0 {
		t.Errorf("stats %+v", st)
	}
	// On a port no configuration names, the Upgrade in the first
	// plaintext gives it away (heuristics, with the hook).
	heur, st := assemble(t, path, Config{TLSPorts: []uint16{}, Heuristics: true, TLS: TLSKeys(&tlskeys.Keys{Log: kl}, nil)})
	if len(heur) != len(got) || st.WSSStreams != 1 {
		t.Errorf("heuristics: %d messages, stats %+v", len(heur), st)
	}
}

// TestTLSHeuristic: libcoap's coaps+tcp offers no ALPN; on a port no
// configuration names, with heuristics and the key log, its connections
// are found by their first plaintext, a CSM: the same messages as on the
// TLS port. Without the hook they are not claimed; nor is the connection
// whose handshake fails.
func TestTLSHeuristic(t *testing.T) {
	dir := filepath.Join("..", "tlsdec", "testdata")
	pcap, keylog := filepath.Join(dir, "libcoap-tls-psk.pcap"), filepath.Join(dir, "libcoap-tls-psk.keylog")
	kl, err := tlskeys.LoadKeyLog(keylog)
	if err != nil {
		t.Fatal(err)
	}
	keys := &tlskeys.Keys{Log: kl}
	onPort, _ := assemble(t, pcap, Config{TLSPorts: []uint16{47691}, TLS: TLSKeys(keys, nil)})
	got, st := assemble(t, pcap, Config{TLSPorts: []uint16{}, Heuristics: true, TLS: TLSKeys(keys, nil)})
	if len(got) != len(onPort) || len(got) == 0 || st.TLSStreams != 3 || st.CoAPSegments >= st.Segments {
		t.Errorf("%d messages (%d on the port), stats %+v", len(got), len(onPort), st)
	}
	for i := range min(len(got), len(onPort)) {
		if got[i].key() != onPort[i].key() {
			t.Errorf("message %d: %s, on the port %s", i, got[i].key(), onPort[i].key())
		}
	}
	// Only the connections found to carry CoAP are reported to the
	// caller of TLSKeys: not the one whose handshake fails.
	reported := 0
	_, _ = assemble(t, pcap, Config{TLSPorts: []uint16{}, Heuristics: true, TLS: TLSKeys(keys, func(netip.AddrPort, netip.AddrPort, *tlsdec.Conn) { reported++ })})
	if reported != 3 {
		t.Errorf("%d connections reported, want 3", reported)
	}
	none, st := assemble(t, pcap, Config{TLSPorts: []uint16{}, Heuristics: true})
	if len(none) != 0 || st.CoAPSegments != 0 || st.TLSStreams != 0 {
		t.Errorf("without a hook: %d messages, stats %+v", len(none), st)
	}
}

// TestGoCoAPSecondOpinion decodes every RFC 8323 message of the TCP
// captures with go-coap's TCP coder too: same length, code, token,
// options and payload.
func TestGoCoAPSecondOpinion(t *testing.T) {
	compared := 0
	for _, name := range []string{"libcoap-tcp.pcap", "gocoap-tcp.pcap"} {
		r, err := capture.Open(testdata(name))
		if err != nil {
			t.Fatal(err)
		}
		a := New(Config{}, func(m *Message) {
			var theirs message.Message
			theirs.Options = make(message.Options, 0, 32)
			n, err := tcpcoder.DefaultCoder.Decode(m.Raw, &theirs)
			if err != nil || n != len(m.Raw) || uint8(theirs.Code) != uint8(m.CoAP.Code) || !bytes.Equal(theirs.Token, m.CoAP.Token) ||
				!bytes.Equal(theirs.Payload, m.CoAP.Payload) || len(theirs.Options) != len(m.CoAP.Options) {
				t.Errorf("%s frame %d: go-coap %d bytes %v %v, ours %d bytes %v", name, m.Frame, n, err, theirs.Code, len(m.Raw), m.CoAP.Code)
				return
			}
			for i, o := range m.CoAP.Options {
				if uint16(o.ID) != uint16(theirs.Options[i].ID) || !bytes.Equal(o.Value, theirs.Options[i].Value) {
					t.Errorf("%s frame %d: option %d differs", name, m.Frame, i)
				}
			}
			compared++
		})
		var d capture.Datagram
		for r.Next(&d) == nil {
			a.Segment(&d)
		}
		a.Close()
		r.Close()
	}
	if compared != 57+24 {
		t.Errorf("%d messages compared", compared)
	}
}
