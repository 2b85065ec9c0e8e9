package capture

import (
	"bufio"
	"fmt"
	"io"
	"runtime"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"
	"github.com/google/gopacket/pcapgo"
)

// writeBufSize is the buffer of a PcapngWriter.
const writeBufSize = 64 << 10

// A PcapngWriter writes frames to a pcapng stream with one interface, as
// `coapaudit live -w FILE` saves what it captured. Writes are buffered:
// Close (or Flush) writes out what is pending. It is not safe for
// concurrent use.
type PcapngWriter struct {
	bw     *bufio.Writer
	ng     *pcapgo.NgWriter
	frames int
	err    error // sticky
}

// NewPcapngWriter writes the section and interface headers of a pcapng
// stream whose frames have the given link type and snap length (0 for
// none) and returns a writer for its frames. The link type must fit in 8
// bits, as pcapgo writes it: every link type Live produces does.
func NewPcapngWriter(w io.Writer, link LinkType, snaplen int) (*PcapngWriter, error) {
	if link > 0xff {
		return nil, fmt.Errorf("capture: pcapng writer: link type %d does not fit in 8 bits", uint16(link))
	}
	if snaplen < 0 {
		return nil, fmt.Errorf("capture: pcapng writer: negative snap length %d", snaplen)
	}
	// pcapgo keeps a bufio.Writer of at least its own size as it is.
	bw := bufio.NewWriterSize(w, writeBufSize)
	ng, err := pcapgo.NewNgWriterInterface(bw, pcapgo.NgInterface{
		LinkType:            layers.LinkType(link),
		SnapLength:          uint32(snaplen),
		OS:                  runtime.GOOS,
		TimestampResolution: 9,
	}, pcapgo.NgWriterOptions{SectionInfo: pcapgo.NgSectionInfo{
		Hardware:    runtime.GOARCH,
		OS:          runtime.GOOS,
		Application: "coapaudit",
	}})
	if err != nil {
		return nil, fmt.Errorf("capture: pcapng writer: %w", err)
	}
	return &PcapngWriter{bw: bw, ng: ng}, nil
}

// WriteFrame appends a frame: its data, capture time and original length.
// The frame's data is not kept.
func (pw *PcapngWriter) WriteFrame(f *Frame) error {
	if pw.err != nil {
		return pw.err
	}
	ci := gopacket.CaptureInfo{
		Timestamp:     f.Time,
		CaptureLength: len(f.Data),
		Length:        max(f.OrigLen, len(f.Data)),
	}
	if err := pw.ng.WritePacket(ci, f.Data); err != nil {
		pw.err = fmt.Errorf("capture: pcapng writer: frame %d: %w", pw.frames+1, err)
		return pw.err
	}
	pw.frames++
	return nil
}

// Frames returns the number of frames written.
func (pw *PcapngWriter) Frames() int { return pw.frames }

// Flush writes out the buffered frames.
func (pw *PcapngWriter) Flush() error {
	if pw.err != nil {
		return pw.err
	}
	if err := pw.ng.Flush(); err != nil {
		pw.err = fmt.Errorf("capture: pcapng writer: %w", err)
	}
	return pw.err
}

// Close flushes the writer. It does not close the underlying io.Writer.
func (pw *PcapngWriter) Close() error { return pw.Flush() }
