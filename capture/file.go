package capture

import (
	"bufio"
	"compress/flate"
	"compress/gzip"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/google/gopacket/pcapgo"
)

const (
	// maxSnapLen is the largest frame accepted, as Wireshark's
	// WTAP_MAX_PACKET_SIZE_STANDARD; a longer record is corrupt.
	maxSnapLen = 262144
	// maxBlockLen bounds any pcapng block.
	maxBlockLen = 16 << 20
	// bufSize is the size of both read buffers. pcapng blocks whose options
	// gopacket parses (SHB, IDB, ISB) must fit in it, which also keeps every
	// option shorter than 64 KiB.
	bufSize = 64 << 10
	// maxInterfaces bounds the interfaces of one pcapng section.
	maxInterfaces = 1 << 16
)

// File magics, as the first four bytes read little-endian.
const (
	magicPcapMicro     = 0xa1b2c3d4
	magicPcapNano      = 0xa1b23c4d
	magicPcapMicroBE   = 0xd4c3b2a1
	magicPcapNanoBE    = 0x4d3cb2a1
	magicPcapKuznetzov = 0xa1b2cd34
	magicPcapng        = 0x0a0d0d0a
	ngByteOrderMagic   = 0x1a2b3c4d
)

// pcapng block types.
const (
	blockIDB = 1
	blockPB  = 2
	blockSPB = 3
	blockISB = 5
	blockEPB = 6
	blockSHB = magicPcapng
)

// Open opens a pcap or pcapng file, "-" meaning stdin. Gzip compression is
// detected by its magic bytes and undone transparently, then pcap (micro- or
// nanosecond timestamps, either byte order) or pcapng by theirs.
func Open(name string) (*Reader, error) {
	if name == "-" {
		return newReader(os.Stdin, "stdin", nil)
	}
	f, err := os.Open(name)
	if err != nil {
		return nil, fmt.Errorf("capture: %w", err)
	}
	r, err := newReader(f, name, f)
	if err != nil {
		f.Close()
		return nil, err
	}
	return r, nil
}

// NewReader returns a Reader for a pcap or pcapng stream, detected like Open
// does. Closing the Reader does not close rd.
func NewReader(rd io.Reader) (*Reader, error) {
	return newReader(rd, "input", nil)
}

// NewReadCloser is NewReader for an input that the Reader owns: errors
// name it name, and Close closes rc too. It suits a file read through a
// wrapper, such as one that counts bytes for a progress meter. rc is closed
// when NewReadCloser fails.
func NewReadCloser(rc io.ReadCloser, name string) (*Reader, error) {
	r, err := newReader(rc, name, rc)
	if err != nil {
		rc.Close()
		return nil, err
	}
	return r, nil
}

// input is a capture file being read through pcapgo.
type input struct {
	name   string
	closer io.Closer
	gz     *gzip.Reader
	f      *framing
	buf    *bufio.Reader // pcapgo reads from here; it reads from f
}

func newReader(rd io.Reader, name string, closer io.Closer) (*Reader, error) {
	in := &input{name: name, closer: closer}
	br := bufio.NewReaderSize(rd, bufSize)
	magic, err := br.Peek(4)
	if len(magic) >= 2 && magic[0] == 0x1f && magic[1] == 0x8b {
		if in.gz, err = gzip.NewReader(br); err != nil {
			return nil, in.openError("gzip: %v", err)
		}
		br = bufio.NewReaderSize(in.gz, bufSize)
		magic, err = br.Peek(4)
	}
	if len(magic) < 4 {
		if err != nil && err != io.EOF && err != io.ErrUnexpectedEOF {
			return nil, fmt.Errorf("capture: %s: %w", name, err)
		}
		return nil, in.openError("not a pcap or pcapng file (%d bytes)", len(magic))
	}
	r := &Reader{name: name, in: in}
	f := &framing{src: br, name: name, patchAt: -1}
	in.f = f
	in.buf = bufio.NewReaderSize(f, bufSize)
	switch m := binary.LittleEndian.Uint32(magic); m {
	case magicPcapMicro, magicPcapNano, magicPcapMicroBE, magicPcapNanoBE:
		f.order = binary.ByteOrder(binary.LittleEndian)
		if m == magicPcapMicroBE || m == magicPcapNanoBE {
			f.order = binary.BigEndian
		}
		hdr, _ := br.Peek(24)
		if len(hdr) < 24 {
			return nil, in.openError("pcap file header truncated (%d of 24 bytes): %w", len(hdr), ErrTruncated)
		}
		// The low 16 bits are the link type; the high bits may carry FCS
		// information.
		f.pcapLink = LinkType(f.order.Uint32(hdr[20:24]))
		f.left, f.segLen = 24, 24
		pr, err := pcapgo.NewReader(in.buf)
		if err != nil {
			return nil, in.openError("pcap file header: %v", err)
		}
		// Record lengths are checked against maxSnapLen before pcapgo sees
		// them, whatever the header's snap length says; Wireshark also
		// ignores it.
		pr.SetSnaplen(maxSnapLen)
		r.src = pr
	case magicPcapng:
		f.ng = true
		nr, err := pcapgo.NewNgReader(in.buf, pcapgo.NgReaderOptions{WantMixedLinkType: true})
		if err != nil {
			if f.fail != nil {
				return nil, in.openError("%w", f.fail.Err)
			}
			return nil, in.openError("pcapng section header: %v", err)
		}
		r.src = nr
	case magicPcapKuznetzov:
		return nil, in.openError("unsupported pcap variant (magic 0x%08x)", m)
	default:
		return nil, in.openError("not a pcap or pcapng file (magic 0x%08x)", binary.BigEndian.Uint32(magic))
	}
	r.init()
	return r, nil
}

func (in *input) openError(format string, args ...any) error {
	return fmt.Errorf("capture: %s: "+format, append([]any{in.name}, args...)...)
}

func (in *input) close() error {
	var err error
	if in.gz != nil {
		err = in.gz.Close()
	}
	if in.closer != nil {
		if cerr := in.closer.Close(); err == nil {
			err = cerr
		}
		in.closer = nil
	}
	return err
}

// consumed returns the stream offset pcapgo has read up to.
func (in *input) consumed() int64 { return in.f.off - int64(in.buf.Buffered()) }

// linkType returns the link type of interface i for the frame pcapgo has
// just returned. pcapgo reports link types in 8 bits; the framing layer
// keeps the 16-bit values of every section.
func (in *input) linkType(i int) LinkType {
	f := in.f
	if f.sections == nil {
		return f.pcapLink
	}
	pos := in.consumed()
	for len(f.sections) > 1 && f.sections[1].start < pos {
		f.sections = f.sections[1:]
	}
	if links := f.sections[0].links; i >= 0 && i < len(links) {
		return links[i]
	}
	return LinkType(0xffff)
}

// failure turns an error from pcapgo into what Next returns.
func (in *input) failure(err error, frame int) error {
	f := in.f
	switch {
	case f.fail != nil:
		f.fail.Frame = frame
		return f.fail
	case f.srcErr != nil && !isCompressionError(f.srcErr):
		return &FileError{Name: in.name, Off: in.consumed(), Frame: frame, Err: f.srcErr}
	case f.srcErr != nil:
		return &FileError{Name: in.name, Off: in.consumed(), Frame: frame, Err: fmt.Errorf("%w: gzip: %v", ErrCorrupt, f.srcErr)}
	case err == io.EOF && f.eof:
		return io.EOF
	case err == io.EOF || err == io.ErrUnexpectedEOF:
		return &FileError{Name: in.name, Off: f.segOff, Frame: frame, Err: fmt.Errorf("%w: file ends inside a record", ErrTruncated)}
	}
	return &FileError{Name: in.name, Off: in.consumed(), Frame: frame, Err: fmt.Errorf("%w: %v", ErrCorrupt, err)}
}

func isCompressionError(err error) bool {
	var ce flate.CorruptInputError
	return errors.Is(err, gzip.ErrChecksum) || errors.Is(err, gzip.ErrHeader) || errors.As(err, &ce)
}

// framing sits between the byte stream and pcapgo. It walks the record (pcap)
// or block (pcapng) structure ahead of pcapgo and vets every header before
// pcapgo sees it, so that pcapgo never sizes a buffer from an absurd length,
// never reads past a block, and never divides by a zero time unit; it tells a
// clean end of file from one inside a record, which pcapgo reports alike as
// io.EOF; and it keeps the 16-bit link type of each pcapng interface.
type framing struct {
	src   *bufio.Reader
	name  string
	order binary.ByteOrder // of the pcap file, or of the current pcapng section

	off    int64 // stream offset of the next byte handed out
	segOff int64 // offset of the current record or block
	segLen int   // its length
	left   int   // bytes of it not yet handed out

	// A patch replaces 4 bytes of the current segment on the way out.
	patchAt  int // offset in the segment, or -1
	patchVal [4]byte

	ng       bool      // pcapng rather than pcap
	pcapLink LinkType  // link type of a pcap file
	sections []section // pcapng sections not yet left behind by pcapgo

	fail   *FileError // the stream is corrupt or truncated here
	srcErr error      // the underlying reader failed
	eof    bool       // the stream ended at a record boundary
}

type section struct {
	start int64 // offset of the section header block
	order binary.ByteOrder
	links []LinkType // per interface
	snap0 uint32     // snap length of interface 0, for simple packet blocks
}

func (f *framing) Read(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	n := 0
	for n < len(p) {
		if f.left == 0 {
			if f.eof || f.fail != nil || f.srcErr != nil {
				break
			}
			// Hand out what is ready rather than block on a slow stream.
			if n > 0 && f.src.Buffered() < 32 {
				break
			}
			if !f.nextSegment() {
				break
			}
			continue
		}
		m := min(len(p)-n, f.left)
		if n > 0 {
			m = min(m, f.src.Buffered())
			if m == 0 {
				break
			}
		}
		k, err := f.src.Read(p[n : n+m])
		if f.patchAt >= 0 {
			f.applyPatch(p[n:n+k], f.segLen-f.left)
		}
		n += k
		f.left -= k
		f.off += int64(k)
		if err != nil {
			if f.left > 0 && (err == io.EOF || err == io.ErrUnexpectedEOF) {
				f.truncated(f.segLen - f.left)
			} else if err != io.EOF {
				f.srcErr = err
			}
			break
		}
	}
	if n > 0 {
		return n, nil
	}
	switch {
	case f.fail != nil:
		return 0, f.fail
	case f.srcErr != nil:
		return 0, f.srcErr
	}
	return 0, io.EOF
}

// applyPatch overwrites the bytes of b, which holds the segment from offset
// pos on, that fall in the patched range.
func (f *framing) applyPatch(b []byte, pos int) {
	for i := range f.patchVal {
		if j := f.patchAt + i - pos; j >= 0 && j < len(b) {
			b[j] = f.patchVal[i]
		}
	}
}

// peek returns the next n bytes of the stream, or records why it cannot.
func (f *framing) peek(n int) ([]byte, bool) {
	b, err := f.src.Peek(n)
	if len(b) == n {
		return b, true
	}
	switch {
	case len(b) == 0 && err == io.EOF:
		f.eof = true
	case err == io.EOF || err == io.ErrUnexpectedEOF:
		f.truncated(len(b))
	case err == bufio.ErrBufferFull:
		f.corrupt("block of %d bytes too large", n)
	default:
		f.srcErr = err
	}
	return nil, false
}

func (f *framing) truncated(have int) {
	f.fail = &FileError{Name: f.name, Off: f.segOff, Err: fmt.Errorf("%w: file ends %d bytes into a record", ErrTruncated, have)}
}

func (f *framing) corrupt(format string, args ...any) {
	f.fail = &FileError{Name: f.name, Off: f.off, Err: fmt.Errorf("%w: "+format, append([]any{ErrCorrupt}, args...)...)}
}

// nextSegment vets the header of the record or block at the current offset
// and makes it the current segment.
func (f *framing) nextSegment() bool {
	f.segOff = f.off
	f.patchAt = -1
	var n int
	if f.ng {
		n = f.ngBlock()
	} else {
		n = f.pcapRecord()
	}
	if n == 0 {
		return false
	}
	f.segLen, f.left = n, n
	return true
}

// pcapRecord vets a pcap record header and returns the record's length.
func (f *framing) pcapRecord() int {
	hdr, ok := f.peek(16)
	if !ok {
		return 0
	}
	caplen := f.order.Uint32(hdr[8:12])
	if caplen > maxSnapLen {
		f.corrupt("record length %d exceeds %d", caplen, maxSnapLen)
		return 0
	}
	// A captured length above the original one is accepted, as Wireshark
	// does; the original length is raised to match so pcapgo accepts it too.
	if f.order.Uint32(hdr[12:16]) < caplen {
		f.patchAt = 12
		f.order.PutUint32(f.patchVal[:], caplen)
	}
	return 16 + int(caplen)
}

// ngBlock vets a pcapng block and returns its length.
func (f *framing) ngBlock() int {
	hdr, ok := f.peek(12)
	if !ok {
		return 0
	}
	typ := binary.LittleEndian.Uint32(hdr[0:4])
	if typ == blockSHB {
		var order binary.ByteOrder
		switch {
		case binary.LittleEndian.Uint32(hdr[8:12]) == ngByteOrderMagic:
			order = binary.LittleEndian
		case binary.BigEndian.Uint32(hdr[8:12]) == ngByteOrderMagic:
			order = binary.BigEndian
		default:
			f.corrupt("section header byte-order magic 0x%x", hdr[8:12])
			return 0
		}
		// pcapgo reads at most bufSize bytes behind this point: sections
		// that ended before that are done with, even if pcapgo found no
		// packet in them to ask for a link type.
		for len(f.sections) > 1 && f.sections[1].start < f.off-bufSize {
			f.sections = f.sections[1:]
		}
		f.sections = append(f.sections, section{start: f.off, order: order})
		f.order = order
	} else if f.sections == nil {
		f.corrupt("pcapng block before the section header")
		return 0
	} else {
		typ = f.order.Uint32(hdr[0:4])
	}
	length := f.order.Uint32(hdr[4:8])
	switch {
	case length%4 != 0:
		f.corrupt("block length %d not a multiple of 4", length)
		return 0
	case length < minBlockLen(typ):
		f.corrupt("block type %d length %d too short", typ, length)
		return 0
	case length > maxBlockLen:
		f.corrupt("block length %d exceeds %d", length, maxBlockLen)
		return 0
	}
	n := int(length)
	sec := &f.sections[len(f.sections)-1]
	switch typ {
	case blockSHB, blockIDB, blockISB:
		b, ok := f.peek(n)
		if !ok {
			return 0
		}
		if f.order.Uint32(b[n-4:]) != length {
			f.corrupt("block length %d does not match trailer %d", length, f.order.Uint32(b[n-4:]))
			return 0
		}
		if !f.ngOptions(typ, b) {
			return 0
		}
		if typ == blockIDB {
			if len(sec.links) >= maxInterfaces {
				f.corrupt("more than %d interfaces", maxInterfaces)
				return 0
			}
			snap := f.order.Uint32(b[12:16])
			if snap > maxSnapLen {
				// pcapgo sizes its buffer by the snap length.
				snap = maxSnapLen
				f.patchAt = 12
				f.order.PutUint32(f.patchVal[:], snap)
			}
			if len(sec.links) == 0 {
				sec.snap0 = snap
			}
			sec.links = append(sec.links, LinkType(f.order.Uint16(b[8:10])))
		}
	case blockEPB, blockPB:
		b, ok := f.peek(24)
		if !ok {
			return 0
		}
		caplen := f.order.Uint32(b[20:24])
		if caplen > maxSnapLen || caplen > length-32 {
			f.corrupt("packet length %d exceeds block length %d", caplen, length)
			return 0
		}
	case blockSPB:
		caplen := f.order.Uint32(hdr[8:12])
		if sec.snap0 != 0 && caplen > sec.snap0 {
			caplen = sec.snap0
		}
		if caplen > length-16 {
			f.corrupt("packet length %d exceeds block length %d", caplen, length)
			return 0
		}
	}
	return n
}

// minBlockLen returns the smallest valid length of a block of type typ, the
// length below which pcapgo's accounting of the remaining bytes underflows.
func minBlockLen(typ uint32) uint32 {
	switch typ {
	case blockSHB:
		return 28
	case blockEPB, blockPB:
		return 32
	case blockISB:
		return 24
	case blockIDB:
		return 20
	case blockSPB:
		return 16
	}
	return 12
}

// ngOptions checks that the options of a block that pcapgo parses stay inside
// the block, and that a timestamp resolution is one pcapgo can compute with.
func (f *framing) ngOptions(typ uint32, b []byte) bool {
	pos := 16 // IDB: type, length, link type, reserved, snap length
	switch typ {
	case blockSHB:
		pos = 24 // type, length, byte-order magic, version, section length
	case blockISB:
		pos = 20 // type, length, interface, timestamp
	}
	end := len(b) - 4
	for pos+4 <= end {
		code := f.order.Uint16(b[pos:])
		n := int(f.order.Uint16(b[pos+2:]))
		if code == 0 {
			break
		}
		if pos+4+n > end {
			f.corrupt("option %d of length %d overruns its block", code, n)
			return false
		}
		if typ == blockIDB && code == 9 { // if_tsresol
			if n != 1 {
				f.corrupt("if_tsresol of length %d", n)
				return false
			}
			v := b[pos+4]
			if exp := v & 0x7f; v&0x80 != 0 && exp > 63 || v&0x80 == 0 && exp > 19 {
				f.corrupt("if_tsresol 0x%02x out of range", v)
				return false
			}
		}
		pos += 4 + (n+3)&^3
	}
	return true
}
