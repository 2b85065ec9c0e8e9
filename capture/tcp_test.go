package capture

import (
	"bytes"
	"fmt"
	"io"
	"net/netip"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"
)

// tcpFrame builds an Ethernet frame with a TCP segment between src and dst.
func tcpFrame(t testing.TB, src, dst netip.AddrPort, hdr *layers.TCP, payload []byte) []byte {
	hdr.SrcPort, hdr.DstPort = layers.TCPPort(src.Port()), layers.TCPPort(dst.Port())
	var ip gopacket.NetworkLayer
	et := layers.EthernetTypeIPv4
	if src.Addr().Is4() {
		ip = &layers.IPv4{Version: 4, IHL: 5, TTL: 64, Protocol: layers.IPProtocolTCP, SrcIP: src.Addr().AsSlice(), DstIP: dst.Addr().AsSlice()}
	} else {
		et = layers.EthernetTypeIPv6
		ip = &layers.IPv6{Version: 6, HopLimit: 64, NextHeader: layers.IPProtocolTCP, SrcIP: src.Addr().AsSlice(), DstIP: dst.Addr().AsSlice()}
	}
	if err := hdr.SetNetworkLayerForChecksum(ip); err != nil {
		t.Fatal(err)
	}
	return ether(t, et, serialize(t, ip.(gopacket.SerializableLayer), hdr, gopacket.Payload(payload)))
}

var csm = []byte{0x40, 0xe1, 0x22, 0x04, 0x80, 0x20}

func TestTCPSegments(t *testing.T) {
	seg := func(src, dst netip.AddrPort, h layers.TCP, payload []byte) []byte {
		return tcpFrame(t, src, dst, &h, payload)
	}
	tsrc, tdst := ap("192.0.2.1:40000"), ap("198.51.100.7:5683")
	frames := [][]byte{
		seg(tsrc, tdst, layers.TCP{Seq: 1000, SYN: true, Window: 65535, Options: []layers.TCPOption{{OptionType: layers.TCPOptionKindMSS, OptionLength: 4, OptionData: []byte{5, 0xb4}}}}, nil),
		seg(tdst, tsrc, layers.TCP{Seq: 5000, Ack: 1001, SYN: true, ACK: true, Window: 1024}, nil),
		seg(tsrc, tdst, layers.TCP{Seq: 1001, Ack: 5001, ACK: true, PSH: true, Window: 512}, csm),
		seg(v6src, v6dst, layers.TCP{Seq: 0xfffffff0, Ack: 7, ACK: true, FIN: true, Window: 9}, coap),
		seg(tdst, tsrc, layers.TCP{Seq: 5001, RST: true}, nil),
	}
	want := []struct {
		src, dst netip.AddrPort
		h        TCPHeader
		payload  []byte
	}{
		{tsrc, tdst, TCPHeader{Seq: 1000, Flags: TCPSyn, Window: 65535}, nil},
		{tdst, tsrc, TCPHeader{Seq: 5000, Ack: 1001, Flags: TCPSyn | TCPAck, Window: 1024}, nil},
		{tsrc, tdst, TCPHeader{Seq: 1001, Ack: 5001, Flags: TCPAck | TCPPsh, Window: 512}, csm},
		{v6src, v6dst, TCPHeader{Seq: 0xfffffff0, Ack: 7, Flags: TCPAck | TCPFin, Window: 9}, coap},
		{tdst, tsrc, TCPHeader{Seq: 5001, Flags: TCPRst}, nil},
	}
	r := mustReader(t, pcapFile{link: 1}.file(frames...))
	var d Datagram
	for i, w := range want {
		if err := r.Next(&d); err != nil {
			t.Fatal(err)
		}
		if d.Kind != KindTCP || d.Reason != "tcp" || d.Src != w.src || d.Dst != w.dst || d.TCP != w.h || !bytes.Equal(d.Payload, w.payload) || d.Truncated || d.UDPLength != 0 {
			t.Errorf("segment %d: %v %q %v>%v %+v %x trunc %v", i+1, d.Kind, d.Reason, d.Src, d.Dst, d.TCP, d.Payload, d.Truncated)
		}
		// Ethernet pads short frames to 60 bytes; the IP length leaves the
		// padding out.
		if d.PayloadOff < 0 || d.PayloadOff+len(d.Payload) > len(d.Data) || len(d.Payload) > 0 && d.PayloadOff+len(d.Payload) != len(d.Data) {
			t.Errorf("segment %d: payload offset %d, %d bytes in %d", i+1, d.PayloadOff, len(d.Payload), len(d.Data))
		}
	}
	if s := r.Stats(); s.TCP != len(want) || s.Other["tcp"] != 0 || s.UDP != 0 {
		t.Errorf("stats %+v", s)
	}
}

// A segment cut by the snap length says how many bytes are missing; a
// TCP header cut short stays KindOther "tcp".
func TestTCPTruncated(t *testing.T) {
	full := tcpFrame(t, v4src, v4dst, &layers.TCP{Seq: 1, ACK: true}, bytes.Repeat([]byte{0x40}, 100))
	cut := full[:14+20+20+30]
	header := full[:14+20+12]
	p := pcapFile{link: 1}
	b := append(p.header(), p.record(t0, cut, len(full))...)
	b = append(b, p.record(t0, header, len(full))...)
	r := mustReader(t, b)
	var d Datagram
	if err := r.Next(&d); err != nil {
		t.Fatal(err)
	}
	if d.Kind != KindTCP || !d.Truncated || len(d.Payload) != 30 || d.TCP.Missing != 70 {
		t.Errorf("cut segment: %v trunc %v payload %d missing %d", d.Kind, d.Truncated, len(d.Payload), d.TCP.Missing)
	}
	if err := r.Next(&d); err != nil {
		t.Fatal(err)
	}
	if d.Kind != KindOther || d.Reason != "tcp" || d.TCP != (TCPHeader{}) {
		t.Errorf("cut header: %v %q %+v", d.Kind, d.Reason, d.TCP)
	}
}

func TestTCPAllocs(t *testing.T) {
	var frames [][]byte
	for i := range 100 {
		frames = append(frames, tcpFrame(t, v4src, v4dst, &layers.TCP{Seq: uint32(i * 13), ACK: true, Options: []layers.TCPOption{{OptionType: layers.TCPOptionKindNop}, {OptionType: layers.TCPOptionKindNop}, {OptionType: layers.TCPOptionKindTimestamps, OptionLength: 10, OptionData: make([]byte, 8)}}}, coap),
			tcpFrame(t, v6dst, v6src, &layers.TCP{Seq: uint32(i), ACK: true}, nil))
	}
	r := endless(t, "pcap", frames)
	var d Datagram
	next := func() {
		if err := r.Next(&d); err != nil || d.Kind != KindTCP {
			t.Fatalf("frame %d: %v %v", d.Number, err, d.Kind)
		}
	}
	for range 3 * len(frames) {
		next()
	}
	if n := testing.AllocsPerRun(5000, next); n != 0 {
		t.Errorf("%v allocations per TCP frame", n)
	}
}

// TestTCPMatchesTshark compares the TCP fields of every segment of the
// reliable-transport captures (coaptcp/testdata) with tshark's.
func TestTCPMatchesTshark(t *testing.T) {
	tshark := tool(t, "tshark")
	files, _ := filepath.Glob(filepath.Join("..", "coaptcp", "testdata", "*.pcap"))
	if len(files) == 0 {
		t.Fatal("no captures in coaptcp/testdata")
	}
	compared := 0
	for _, name := range files {
		out, err := exec.Command(tshark, "-n", "-r", name, "-T", "fields", "-E", "separator=/t",
			"-e", "frame.number", "-e", "tcp.srcport", "-e", "tcp.dstport", "-e", "tcp.seq_raw", "-e", "tcp.ack_raw",
			"-e", "tcp.flags", "-e", "tcp.window_size_value", "-e", "tcp.len").Output()
		if err != nil {
			t.Fatalf("tshark %s: %v", name, err)
		}
		recs, err := readFile(t, name)
		if err != io.EOF {
			t.Fatalf("%s: %v", name, err)
		}
		lines := strings.Split(strings.TrimSpace(string(out)), "\n")
		if len(lines) != len(recs) {
			t.Fatalf("%s: %d frames, tshark %d", name, len(recs), len(lines))
		}
		for i, line := range lines {
			f := strings.Split(line, "\t")
			r := recs[i]
			flags, _ := strconv.ParseUint(strings.TrimPrefix(f[5], "0x"), 16, 16)
			want := fmt.Sprintf("%s %s %s %s %d %s %s", f[1], f[2], f[3], f[4], flags&0xff, f[6], f[7])
			got := fmt.Sprintf("%d %d %d %d %d %d %d", r.Src.Port(), r.Dst.Port(), r.TCP.Seq, r.TCP.Ack, r.TCP.Flags, r.TCP.Window, len(r.Payload))
			if r.Kind != KindTCP || got != want {
				t.Errorf("%s frame %d: %v %s, tshark %s", name, i+1, r.Kind, got, want)
			}
			compared++
		}
	}
	t.Logf("%d segments compared", compared)
}
