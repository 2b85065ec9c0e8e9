package capture

import (
	"bytes"
	"errors"
	"io"
	"os"
	"testing"

	"github.com/coapaudit/coapaudit/internal/testenv"
	"github.com/google/gopacket/layers"
)

// FuzzReader reads arbitrary bytes as a capture stream: no panic, every
// frame numbered and counted, payloads inside their frames, and the stream
// ends in io.EOF, ErrTruncated or ErrCorrupt.
func FuzzReader(f *testing.F) {
	if testenv.CapturesDirIfPresent() != "" {
		for _, name := range smallCaptures(f, 2048) {
			b, err := os.ReadFile(name)
			if err != nil {
				f.Fatal(err)
			}
			f.Add(b)
		}
	}
	sections, _ := sectionsFile(f)
	f.Add(sections)
	f.Add(gzipBytes(f, sections))
	f.Add(writePcapgo(f, layers.LinkTypeEthernet, fragmentedTraffic(f, 2)...))
	var links []byte
	for _, c := range linkCases(f)[:12] {
		links = append(links, pcapFile{link: c.link}.record(t0, c.frame, len(c.frame))...)
	}
	f.Add(append(pcapFile{link: 1}.header(), links...))
	lowpan := lowpanTraffic()
	f.Add(pcapFile{link: uint32(LinkTypeIEEE802154NoFCS)}.file(append(lowpan[:8:8], lowpan[len(lowpan)-12:]...)...))

	f.Fuzz(func(t *testing.T, data []byte) {
		r, err := NewReader(bytes.NewReader(data))
		if err != nil {
			return
		}
		var d Datagram
		n := 0
		for {
			err := r.Next(&d)
			if err != nil {
				if err != io.EOF && !errors.Is(err, ErrTruncated) && !errors.Is(err, ErrCorrupt) {
					t.Fatalf("after %d frames: unexpected error %v", n, err)
				}
				if err2 := r.Next(&d); err2 != err {
					t.Fatalf("Next after %v returned %v", err, err2)
				}
				break
			}
			n++
			if d.Number != n || d.CapLen != len(d.Data) || d.CapLen > maxSnapLen {
				t.Fatalf("frame %d: number %d, caplen %d, %d bytes", n, d.Number, d.CapLen, len(d.Data))
			}
			switch {
			case d.Kind > KindTCP:
				t.Fatalf("frame %d: kind %v", n, d.Kind)
			case d.Kind != KindUDP && d.Reason == "":
				t.Fatalf("frame %d: %v without a reason", n, d.Kind)
			case d.Kind == KindTCP && d.PayloadOff < 0:
				t.Fatalf("frame %d: TCP segment without a payload offset", n)
			case d.Kind != KindTCP && d.TCP != (TCPHeader{}):
				t.Fatalf("frame %d: %v with a TCP header %+v", n, d.Kind, d.TCP)
			case d.PayloadOff >= 0 && (d.Kind != KindUDP && d.Kind != KindTCP || d.PayloadOff+len(d.Payload) > len(d.Data) ||
				len(d.Payload) > 0 && &d.Data[:d.PayloadOff+1][d.PayloadOff] != &d.Payload[:1][0]):
				t.Fatalf("frame %d: payload at %d (%d bytes) not inside the %d-byte frame", n, d.PayloadOff, len(d.Payload), len(d.Data))
			case d.Kind == KindUDP && len(d.Payload) > maxDatagram:
				t.Fatalf("frame %d: %d payload bytes", n, len(d.Payload))
			}
		}
		if s := r.Stats(); r.Frames() != n || s.Frames != n {
			t.Fatalf("%d frames, Frames() %d, Stats %d", n, r.Frames(), s.Frames)
		}
	})
}
