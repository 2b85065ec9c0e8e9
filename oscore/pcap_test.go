package oscore

import (
	"bufio"
	"bytes"
	"encoding/json"
	"io"
	"net/netip"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/coapaudit/coapaudit/decode"
	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"
	"github.com/google/gopacket/pcapgo"
)

// testFrame is one UDP datagram of a test capture.
type testFrame struct {
	n        int
	ts       time.Time
	src, dst netip.AddrPort
	payload  []byte
}

// readUDP returns the UDP datagrams of a pcap file in the shared captures
// directory, numbered from 1 as Wireshark does.
func readUDP(t testing.TB, name string) []testFrame {
	t.Helper()
	f, err := os.Open(filepath.Join(capturesDir(t), name))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	br := bufio.NewReader(f)
	magic, err := br.Peek(4)
	if err != nil {
		t.Fatal(err)
	}
	var r interface {
		ReadPacketData() ([]byte, gopacket.CaptureInfo, error)
		LinkType() layers.LinkType
	}
	if bytes.Equal(magic, []byte{0x0a, 0x0d, 0x0d, 0x0a}) {
		r, err = pcapgo.NewNgReader(br, pcapgo.DefaultNgReaderOptions)
	} else {
		r, err = pcapgo.NewReader(br)
	}
	if err != nil {
		t.Fatal(err)
	}
	var out []testFrame
	for n := 1; ; n++ {
		data, ci, err := r.ReadPacketData()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		pkt := gopacket.NewPacket(data, r.LinkType(), gopacket.Default)
		udp, _ := pkt.Layer(layers.LayerTypeUDP).(*layers.UDP)
		if udp == nil {
			continue
		}
		var sa, da netip.Addr
		switch ip := pkt.NetworkLayer().(type) {
		case *layers.IPv4:
			sa, _ = netip.AddrFromSlice(ip.SrcIP.To4())
			da, _ = netip.AddrFromSlice(ip.DstIP.To4())
		case *layers.IPv6:
			sa, _ = netip.AddrFromSlice(ip.SrcIP)
			da, _ = netip.AddrFromSlice(ip.DstIP)
		default:
			continue
		}
		out = append(out, testFrame{
			n: n, ts: ci.Timestamp,
			src:     netip.AddrPortFrom(sa, uint16(udp.SrcPort)),
			dst:     netip.AddrPortFrom(da, uint16(udp.DstPort)),
			payload: udp.Payload,
		})
	}
	if len(out) == 0 {
		t.Fatalf("%s: no UDP datagrams", name)
	}
	return out
}

// frameResult is a frame with its decoded message and Decryptor result.
type frameResult struct {
	testFrame
	msg decode.Message
	res *Result
}

// runDecryptor feeds every datagram of a capture to d.
func runDecryptor(t testing.TB, d *Decryptor, frames []testFrame) []frameResult {
	t.Helper()
	out := make([]frameResult, len(frames))
	for i, f := range frames {
		out[i].testFrame = f
		if err := out[i].msg.Decode(f.payload); err != nil {
			t.Fatalf("frame %d: %v", f.n, err)
		}
		out[i].res = d.Process(f.ts, f.n, f.src, f.dst, &out[i].msg)
	}
	return out
}

// truthAct is one line of aiocoap-oscore-evilproxy.truth.jsonl.
type truthAct struct {
	Act   string  `json:"act"`
	N     int     `json:"n"`
	MID   uint16  `json:"mid"`
	Extra int     `json:"extra"`
	Sec   float64 `json:"seconds"`
}

func readTruth(t testing.TB, name string) []truthAct {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(capturesDir(t), name))
	if err != nil {
		t.Fatal(err)
	}
	var acts []truthAct
	dec := json.NewDecoder(bytes.NewReader(data))
	for dec.More() {
		var a truthAct
		if err := dec.Decode(&a); err != nil {
			t.Fatal(err)
		}
		acts = append(acts, a)
	}
	return acts
}
