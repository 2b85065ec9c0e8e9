package decode

import (
	"bufio"
	"bytes"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/coapaudit/coapaudit/internal/testenv"
	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"
	"github.com/google/gopacket/pcapgo"
)

// coapDatagram is one UDP datagram read from a capture file.
type coapDatagram struct {
	Frame            int // 1-based, in file order
	SrcPort, DstPort uint16
	Payload          []byte
}

// coapCapturesDir returns the shared captures directory, which sits beside
// the checkout. Tests skip without it unless COAPAUDIT_REQUIRE_TOOLS=1.
func coapCapturesDir(tb testing.TB) string {
	tb.Helper()
	return testenv.CapturesDir(tb)
}

// coapCaptureFiles lists every pcap and pcapng file under the captures
// directory, relative to it.
func coapCaptureFiles(tb testing.TB, dir string) []string {
	tb.Helper()
	var files []string
	err := filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.IsDir() && (strings.HasSuffix(p, ".pcap") || strings.HasSuffix(p, ".pcapng")) {
			rel, err := filepath.Rel(dir, p)
			if err != nil {
				return err
			}
			files = append(files, filepath.ToSlash(rel))
		}
		return nil
	})
	if err != nil {
		tb.Fatal(err)
	}
	slices.Sort(files)
	return files
}

// coapReadUDP returns the UDP datagrams of a pcap or pcapng file. Datagrams
// quoted inside ICMP errors are not included.
func coapReadUDP(tb testing.TB, path string) []coapDatagram {
	tb.Helper()
	f, err := os.Open(path)
	if err != nil {
		tb.Fatal(err)
	}
	defer f.Close()
	br := bufio.NewReader(f)
	magic, err := br.Peek(4)
	if err != nil {
		tb.Fatalf("%s: %v", path, err)
	}
	// read returns the next frame and its link type.
	var read func() ([]byte, layers.LinkType, error)
	if bytes.Equal(magic, []byte{0x0a, 0x0d, 0x0d, 0x0a}) {
		r, err := pcapgo.NewNgReader(br, pcapgo.NgReaderOptions{WantMixedLinkType: true})
		if err != nil {
			tb.Fatalf("%s: %v", path, err)
		}
		read = func() ([]byte, layers.LinkType, error) {
			d, ci, err := r.ReadPacketData()
			if err != nil {
				return nil, 0, err
			}
			intf, err := r.Interface(ci.InterfaceIndex)
			return d, intf.LinkType, err
		}
	} else {
		r, err := pcapgo.NewReader(br)
		if err != nil {
			tb.Fatalf("%s: %v", path, err)
		}
		read = func() ([]byte, layers.LinkType, error) {
			d, _, err := r.ReadPacketData()
			return d, r.LinkType(), err
		}
	}
	var out []coapDatagram
	for frame := 1; ; frame++ {
		data, link, err := read()
		if err == io.EOF || err == io.ErrUnexpectedEOF {
			break
		}
		if err != nil {
			tb.Fatalf("%s frame %d: %v", path, frame, err)
		}
		p := gopacket.NewPacket(data, link, gopacket.DecodeOptions{Lazy: true, NoCopy: true})
		if p.Layer(layers.LayerTypeICMPv4) != nil || p.Layer(layers.LayerTypeICMPv6) != nil {
			continue
		}
		udp, _ := p.Layer(layers.LayerTypeUDP).(*layers.UDP)
		if udp == nil {
			continue
		}
		out = append(out, coapDatagram{
			Frame:   frame,
			SrcPort: uint16(udp.SrcPort),
			DstPort: uint16(udp.DstPort),
			Payload: udp.Payload,
		})
	}
	return out
}

// coapPort reports whether the datagram uses the CoAP port.
func (d coapDatagram) coapPort() bool { return d.SrcPort == 5683 || d.DstPort == 5683 }
