package main

import (
	"encoding/json"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"
	"github.com/google/gopacket/pcapgo"
)

// A first IP fragment whose rest never comes is counted in the summary's
// ip_fragments_evicted, by analyze and by packets.
func TestIPFragmentsEvictedCounted(t *testing.T) {
	path := filepath.Join(t.TempDir(), "frag.pcap")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	w := pcapgo.NewWriter(f)
	if err := w.WriteFileHeader(65535, layers.LinkTypeEthernet); err != nil {
		t.Fatal(err)
	}
	eth := &layers.Ethernet{SrcMAC: net.HardwareAddr{2, 0, 0, 0, 0, 1}, DstMAC: net.HardwareAddr{2, 0, 0, 0, 0, 2}, EthernetType: layers.EthernetTypeIPv4}
	ip := &layers.IPv4{Version: 4, IHL: 5, TTL: 64, Protocol: layers.IPProtocolUDP, Id: 77, Flags: layers.IPv4MoreFragments,
		SrcIP: net.IP{10, 0, 0, 1}, DstIP: net.IP{10, 0, 0, 2}}
	// The first 16 bytes of a UDP datagram to 5683 that is longer.
	payload := []byte{0x9c, 0x40, 0x16, 0x33, 0x00, 0x40, 0, 0, 0x40, 0x01, 0, 1, 0xb1, 'x', 0xff, 'y'}
	buf := gopacket.NewSerializeBuffer()
	if err := gopacket.SerializeLayers(buf, gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true}, eth, ip, gopacket.Payload(payload)); err != nil {
		t.Fatal(err)
	}
	ci := gopacket.CaptureInfo{Timestamp: time.Unix(1796000000, 0), CaptureLength: len(buf.Bytes()), Length: len(buf.Bytes())}
	if err := w.WritePacket(ci, buf.Bytes()); err != nil {
		t.Fatal(err)
	}
	f.Close()
	for _, cmd := range []string{"analyze", "packets"} {
		sum := runSummary(t, cmd, path)
		if n, _ := sum["ip_fragments_evicted"].(float64); n != 1 {
			t.Errorf("%s: ip_fragments_evicted %v, want 1", cmd, sum["ip_fragments_evicted"])
		}
	}
}

// runSummary runs a command with NDJSON output and returns its summary
// record.
func runSummary(t *testing.T, cmd, path string) map[string]any {
	t.Helper()
	code, out, errOut := runCmd(cmd, "--format", "ndjson", path)
	if code != 0 {
		t.Fatalf("%s: exit %d: %s", cmd, code, errOut)
	}
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		var rec map[string]any
		if json.Unmarshal([]byte(line), &rec) == nil && rec["type"] == "summary" {
			return rec
		}
	}
	t.Fatalf("%s: no summary in %q", cmd, out)
	return nil
}
