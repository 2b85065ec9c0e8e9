package analysis_test

import (
	"bytes"
	"encoding/binary"
	"errors"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"
	"github.com/google/gopacket/pcapgo"

	"github.com/coapaudit/coapaudit/analysis"
	"github.com/coapaudit/coapaudit/decode"
	"github.com/coapaudit/coapaudit/dissect"
	"github.com/coapaudit/coapaudit/export"
	"github.com/coapaudit/coapaudit/flows"
	"github.com/coapaudit/coapaudit/rules"
)

// The test transport "t9": CoAP messages carried over UDP port 9999 in a
// made-up framing, the magic "T9" then, for each message, its length in
// two bytes and its bytes. Registering it is the whole of what it takes
// for its messages to go through dissect, flows, rules and export.
var protoT9 = dissect.Register(dissect.Layer{
	Transport: &dissect.Transport{Name: "t9"},
	Ports:     []uint16{9999},
	Split: func(b []byte, emit func([]byte)) error {
		if len(b) < 2 || string(b[:2]) != "T9" {
			return errors.New("t9: no magic")
		}
		for b = b[2:]; len(b) > 0; {
			if len(b) < 2 {
				return errors.New("t9: short length")
			}
			n := int(binary.BigEndian.Uint16(b))
			if len(b) < 2+n {
				return errors.New("t9: short message")
			}
			emit(b[2 : 2+n])
			b = b[2+n:]
		}
		return nil
	},
})

func t9(msgs ...[]byte) []byte {
	out := []byte("T9")
	for _, m := range msgs {
		out = binary.BigEndian.AppendUint16(out, uint16(len(m)))
		out = append(out, m...)
	}
	return out
}

func coapMsg(t *testing.T, typ decode.Type, code decode.Code, mid uint16, tok string, payload string, opts ...decode.Option) []byte {
	t.Helper()
	m := decode.Message{Version: 1, Type: typ, Code: code, MessageID: mid, Token: []byte(tok), Options: opts, Payload: []byte(payload)}
	return m.Append(nil)
}

type udpFrame struct {
	src, dst netip.AddrPort
	payload  []byte
}

func writeUDPPcap(t *testing.T, frames []udpFrame) string {
	t.Helper()
	var buf bytes.Buffer
	w := pcapgo.NewWriter(&buf)
	if err := w.WriteFileHeader(65535, layers.LinkTypeEthernet); err != nil {
		t.Fatal(err)
	}
	t0 := time.Date(2026, 12, 3, 12, 0, 0, 0, time.UTC)
	for i, f := range frames {
		eth := &layers.Ethernet{SrcMAC: net.HardwareAddr{2, 0, 0, 0, 0, 1}, DstMAC: net.HardwareAddr{2, 0, 0, 0, 0, 2}, EthernetType: layers.EthernetTypeIPv4}
		ip := &layers.IPv4{Version: 4, TTL: 64, Protocol: layers.IPProtocolUDP, SrcIP: f.src.Addr().AsSlice(), DstIP: f.dst.Addr().AsSlice()}
		udp := &layers.UDP{SrcPort: layers.UDPPort(f.src.Port()), DstPort: layers.UDPPort(f.dst.Port())}
		if err := udp.SetNetworkLayerForChecksum(ip); err != nil {
			t.Fatal(err)
		}
		sb := gopacket.NewSerializeBuffer()
		if err := gopacket.SerializeLayers(sb, gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true}, eth, ip, udp, gopacket.Payload(f.payload)); err != nil {
			t.Fatal(err)
		}
		data := sb.Bytes()
		ci := gopacket.CaptureInfo{Timestamp: t0.Add(time.Duration(i) * 2 * time.Millisecond), CaptureLength: len(data), Length: len(data)}
		if err := w.WritePacket(ci, data); err != nil {
			t.Fatal(err)
		}
	}
	name := filepath.Join(t.TempDir(), "t9.pcap")
	if err := os.WriteFile(name, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	return name
}

// TestRegisteredTransport runs a capture of the test transport through
// every stage: a proxy reached over "t9" that relays to a CoAP server over
// UDP and alters the response, and a datagram carrying two messages.
func TestRegisteredTransport(t *testing.T) {
	client := netip.MustParseAddrPort("10.0.0.1:40000")
	proxyIn := netip.MustParseAddrPort("10.0.0.2:9999")
	proxyOut := netip.MustParseAddrPort("10.0.0.2:41000")
	server := netip.MustParseAddrPort("10.0.0.3:5683")
	puri := decode.Option{ID: decode.OptProxyURI, Value: []byte("coap://10.0.0.3/temp")}
	path := decode.Option{ID: decode.OptURIPath, Value: []byte("temp")}
	pa := decode.Option{ID: decode.OptURIPath, Value: []byte("a")}
	pb := decode.Option{ID: decode.OptURIPath, Value: []byte("b")}
	frames := []udpFrame{
		{client, proxyIn, t9(coapMsg(t, decode.Confirmable, decode.CodeGET, 0x100, "\x11\x11", "", puri))},
		{proxyOut, server, coapMsg(t, decode.Confirmable, decode.CodeGET, 0x200, "\x22\x22", "", path)},
		{server, proxyOut, coapMsg(t, decode.Acknowledgement, decode.Code(0x45), 0x200, "\x22\x22", "21.5")},
		{proxyIn, client, t9(coapMsg(t, decode.Acknowledgement, decode.Code(0x45), 0x100, "\x11\x11", "99.9"))},
		// Two requests to the proxy itself in one datagram, answered in one.
		{client, proxyIn, t9(coapMsg(t, decode.NonConfirmable, decode.CodeGET, 0x101, "\x33", "", pa),
			coapMsg(t, decode.NonConfirmable, decode.CodeGET, 0x102, "\x44", "", pb))},
		{proxyIn, client, t9(coapMsg(t, decode.NonConfirmable, decode.Code(0x45), 0x300, "\x33", "a"),
			coapMsg(t, decode.NonConfirmable, decode.Code(0x45), 0x301, "\x44", "b"))},
	}
	name := writeUDPPcap(t, frames)

	var xs []*flows.Exchange
	var fs []*rules.Finding
	var protos []string
	var records []string
	opts := analysis.Options{Rules: rules.All(), OnFinding: func(f *rules.Finding) { fs = append(fs, f) }}
	e, err := analysis.RunFiles([]string{name}, opts, func(p *analysis.Packet) {
		protos = append(protos, p.ProtoName())
		records = append(records, string((&export.Packet{Packet: p}).AppendJSON(nil)))
	}, func(x *flows.Exchange) { xs = append(xs, x) })
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"t9", "coap", "coap", "t9", "t9", "t9"}; !slices.Equal(protos, want) {
		t.Errorf("packet protos %v, want %v", protos, want)
	}
	// The packet record of a datagram with two messages lists the second.
	if r := records[4]; !strings.Contains(r, `"token":"33"`) || !strings.Contains(r, `"more_coap":[{"msgtype":"NON","code":"0.01","code_name":"GET","mid":258,"token":"44"`) {
		t.Errorf("packet record of frame 5: %s", r)
	}
	if p := e.Summary(); p.CoAPFrames != 6 || p.MalformedFrames != 0 {
		t.Errorf("summary: %d CoAP frames, %d malformed; want 6, 0", p.CoAPFrames, p.MalformedFrames)
	}
	if len(xs) != 3 {
		t.Fatalf("%d exchanges, want 3: %+v", len(xs), xs)
	}
	x := xs[0]
	if len(x.Legs) != 2 || x.Legs[0].Transport != "t9" || x.Legs[1].Transport != "" {
		t.Fatalf("proxied exchange legs: %+v", x.Legs)
	}
	if !slices.Equal(x.Legs[0].ResponseFrames, []int{4}) || !slices.Equal(x.Legs[1].ResponseFrames, []int{3}) {
		t.Errorf("response frames %v and %v", x.Legs[0].ResponseFrames, x.Legs[1].ResponseFrames)
	}
	for _, y := range xs[1:] {
		if len(y.Legs) != 1 || y.Legs[0].Transport != "t9" || y.Code != "2.05" {
			t.Errorf("direct exchange %s: %+v", y.ID, y)
		}
	}
	var altered *rules.Finding
	for _, f := range fs {
		if f.Rule == "altered-response" {
			altered = f
		}
	}
	if altered == nil || altered.Certainty != rules.Did || !slices.Equal(altered.Frames, []int{3, 4}) {
		t.Fatalf("altered-response finding %v among %v", altered, fs)
	}

	// Export names the transport of each leg.
	var out bytes.Buffer
	w := export.NewNDJSONWriter(&out)
	if err := w.Write(export.Exchange{Exchange: x}); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if s := out.String(); strings.Count(s, `"transport":"t9"`) != 1 {
		t.Errorf("exported exchange: %s", s)
	}
	if protoT9.String() != "t9" || !protoT9.Clear() || protoT9.Transport().Reliable {
		t.Errorf("registered proto %v", protoT9)
	}
}
