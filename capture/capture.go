// Package capture reads frames from pcap and pcapng files (plain or
// gzip-compressed) or from a live packet source, decodes the link, network
// and transport layers (IEEE 802.15.4 with 6LoWPAN among them), reassembles
// fragmented IPv4, IPv6 and 6LoWPAN datagrams, and hands each frame to the
// caller as a Datagram whose UDP payload is ready for package decode.
//
// A Reader streams: its memory use does not depend on the size of the
// capture. Every frame of the file comes back from Next exactly once, numbered from 1
// as Wireshark numbers frames; frames that carry no complete UDP datagram are
// returned too, as KindFragment or KindOther with a Reason, and TCP
// segments as KindTCP with their header fields, for a stream reassembler.
package capture

import (
	"errors"
	"fmt"
	"maps"
	"net/netip"
	"time"

	"github.com/google/gopacket"
)

// Kind classifies what a frame carries.
type Kind uint8

const (
	// KindUDP is a frame carrying a complete UDP datagram, or the frame that
	// completed a fragmented one.
	KindUDP Kind = iota
	// KindFragment is a frame carrying an IP or 6LoWPAN fragment of a UDP
	// datagram that is not (yet) complete.
	KindFragment
	// KindOther is any other frame: not IP, not UDP or TCP, malformed,
	// truncated before the UDP or TCP header, or of an unsupported link
	// type.
	KindOther
	// KindTCP is a frame carrying a TCP segment whose header is whole: its
	// fields are in Datagram.TCP, its payload (perhaps empty) in Payload.
	// Segments are handed out as they come, for a stream reassembler
	// (package coaptcp); a TCP segment in IP fragments is KindFragment or
	// KindOther "tcp", a truncated or malformed TCP header KindOther "tcp".
	KindTCP
)

var kindNames = [...]string{KindUDP: "udp", KindFragment: "ip-fragment", KindOther: "other", KindTCP: "tcp"}

// String returns "udp", "ip-fragment", "other" or "tcp".
func (k Kind) String() string {
	if int(k) < len(kindNames) {
		return kindNames[k]
	}
	return fmt.Sprintf("Kind(%d)", uint8(k))
}

// GoString returns the Go name of k.
func (k Kind) GoString() string {
	switch k {
	case KindUDP:
		return "capture.KindUDP"
	case KindFragment:
		return "capture.KindFragment"
	case KindOther:
		return "capture.KindOther"
	case KindTCP:
		return "capture.KindTCP"
	}
	return fmt.Sprintf("capture.Kind(%d)", uint8(k))
}

// LinkType is a pcap/pcapng LINKTYPE_ value (tcpdump.org/linktypes.html).
// It is 16 bits wide because gopacket's layers.LinkType (8 bits) cannot hold
// values such as LINKTYPE_LINUX_SLL2 (276).
type LinkType uint16

// Link types the decoder understands. Frames of any other link type are
// returned as KindOther with Reason "unsupported link type N".
const (
	LinkTypeNull      LinkType = 0   // BSD loopback, host byte order family
	LinkTypeEthernet  LinkType = 1   // Ethernet II, 802.3, 802.1Q/802.1ad tags
	LinkTypeRawDLT12  LinkType = 12  // DLT_RAW on most BSDs and Linux: raw IPv4/IPv6
	LinkTypeRawDLT14  LinkType = 14  // DLT_RAW on OpenBSD: raw IPv4/IPv6
	LinkTypeRaw       LinkType = 101 // LINKTYPE_RAW: raw IPv4/IPv6
	LinkTypeLoop      LinkType = 108 // OpenBSD loopback, network byte order family
	LinkTypeLinuxSLL  LinkType = 113 // Linux cooked capture v1
	LinkTypeIPv4      LinkType = 228 // raw IPv4
	LinkTypeIPv6      LinkType = 229 // raw IPv6
	LinkTypeLinuxSLL2 LinkType = 276 // Linux cooked capture v2

	// IEEE 802.15.4 MAC frames carrying 6LoWPAN.
	LinkTypeIEEE802154WithFCS   LinkType = 195 // with the FCS, which is checked
	LinkTypeIEEE802154NonaskPHY LinkType = 215 // after the PHY preamble, SFD and length; with the FCS
	LinkTypeIEEE802154NoFCS     LinkType = 230 // without the FCS
	LinkTypeIEEE802154TAP       LinkType = 283 // after a TAP header whose TLVs give the FCS length
)

var linkTypeNames = map[LinkType]string{
	LinkTypeNull:      "null",
	LinkTypeEthernet:  "ethernet",
	LinkTypeRawDLT12:  "raw",
	LinkTypeRawDLT14:  "raw",
	LinkTypeRaw:       "raw",
	LinkTypeLoop:      "loop",
	LinkTypeLinuxSLL:  "linux-sll",
	LinkTypeIPv4:      "ipv4",
	LinkTypeIPv6:      "ipv6",
	LinkTypeLinuxSLL2: "linux-sll2",

	LinkTypeIEEE802154WithFCS:   "wpan",
	LinkTypeIEEE802154NonaskPHY: "wpan-nonask-phy",
	LinkTypeIEEE802154NoFCS:     "wpan-nofcs",
	LinkTypeIEEE802154TAP:       "wpan-tap",
}

// String returns a short lowercase name, or "LinkType(N)" for link types the
// decoder does not handle.
func (t LinkType) String() string {
	if s, ok := linkTypeNames[t]; ok {
		return s
	}
	return fmt.Sprintf("LinkType(%d)", uint16(t))
}

// GoString returns a Go expression for t.
func (t LinkType) GoString() string { return fmt.Sprintf("capture.LinkType(%d)", uint16(t)) }

// Frame is one captured frame as the capture file describes it.
type Frame struct {
	Number    int       // from 1 in file order, as Wireshark numbers frames
	Time      time.Time // capture timestamp
	CapLen    int       // bytes captured
	OrigLen   int       // bytes on the wire
	LinkType  LinkType  // link type of the interface the frame was captured on
	Interface int       // pcapng interface index, 0 for pcap
	// Data is the whole captured frame. It is borrowed: it stays valid only
	// until the next call to Next; copy anything you keep.
	Data []byte
}

// Datagram is a frame with its UDP datagram, if it carries one.
type Datagram struct {
	Frame
	Kind Kind
	// Reason says why a frame is KindOther or KindFragment, in a short,
	// stable, lowercase form: "arp", "tcp", "icmpv6", "ipv4 truncated",
	// "udp malformed", "ethertype 0x88b5", "unsupported link type 105",
	// "ip-fragment", "ip-fragment invalid", "802.15.4 ack", "802.15.4
	// secured", "6lowpan-fragment". For KindUDP it is empty, except
	// "ip-fragment overlap" (or "6lowpan-fragment overlap") when the
	// fragments of a reassembled datagram overlapped (the bytes that arrived
	// first are kept), and "6lowpan context unknown" when 6LoWPAN compressed
	// an address against a context prefix, which the capture does not carry:
	// the prefix is left zero. For KindTCP it is "tcp", the Reason such
	// frames had as KindOther before TCP segments had a Kind of their own.
	Reason string
	// Src and Dst are the UDP endpoints. For fragments and other IP frames
	// they hold the innermost IP addresses with port 0 (for a 6LoWPAN
	// fragment, the addresses of its datagram once the first fragment has
	// been seen); for non-IP frames they are the zero AddrPort.
	Src, Dst netip.AddrPort
	// Payload is the UDP payload (KindTCP: the TCP segment's data), or as
	// much of it as was captured. It is
	// borrowed: it points into Frame.Data, or for reassembled datagrams into
	// a buffer owned by the Reader, and stays valid only until the next call
	// to Next.
	Payload []byte
	// PayloadOff is the offset of Payload in Frame.Data, or -1 when Payload
	// was reassembled from fragments or the frame carries no UDP datagram
	// or TCP segment.
	PayloadOff int
	// Fragments lists the frame numbers of all fragments of a reassembled
	// datagram in file order, this frame last. Borrowed like Payload; nil for
	// datagrams that were not fragmented.
	Fragments []int
	// UDPLength is the length field of the UDP header.
	UDPLength int
	// Truncated reports that Payload is incomplete: the frame was cut by the
	// snap length, or the UDP length exceeds the bytes that were captured
	// (or that the IP header says are there). For KindTCP: the IP header
	// says the segment has more bytes than were captured.
	Truncated bool
	// TCP holds the header of a KindTCP segment; zero otherwise.
	TCP TCPHeader
}

// TCPHeader is what a stream reassembler needs of a TCP header. Src and
// Dst of the Datagram hold the ports; Payload holds the segment's data.
type TCPHeader struct {
	Seq, Ack uint32
	Flags    TCPFlags
	Window   uint16
	// Missing is the number of payload bytes the IP header announces
	// beyond those captured (the snap length cut them): the segment
	// covers Seq to Seq+len(Payload)+Missing.
	Missing int
}

// TCPFlags are the flag bits of a TCP header (byte 13, RFC 9293).
type TCPFlags uint8

// TCP flag bits.
const (
	TCPFin TCPFlags = 1 << iota
	TCPSyn
	TCPRst
	TCPPsh
	TCPAck
	TCPUrg
	TCPEce
	TCPCwr
)

// Has reports whether all of the flags in x are set.
func (f TCPFlags) Has(x TCPFlags) bool { return f&x == x }

// Stats counts what a Reader has seen so far.
type Stats struct {
	Frames    int            // frames returned by Next
	UDP       int            // frames returned as KindUDP, reassembled datagrams included
	TCP       int            // frames returned as KindTCP
	Other     map[string]int // frames returned as KindOther, by Reason
	Fragments int            // frames carrying a fragment of a UDP datagram (KindFragment, and KindUDP frames that completed a datagram)
	// Reassembled counts datagrams completed from fragments.
	Reassembled int
	// FragmentOverlaps counts fragments that overlapped bytes already
	// received for their datagram.
	FragmentOverlaps int
	// FragmentsInvalid counts fragments that could not belong to any
	// datagram (beyond 65535 bytes, or beyond the datagram size a 6LoWPAN
	// fragment header gives).
	FragmentsInvalid int
	// DatagramsEvicted counts fragmented datagrams that never completed:
	// dropped after the reassembly timeout (in capture time), to stay within
	// the limits on pending datagrams and buffered bytes, or still incomplete
	// when the capture ended.
	DatagramsEvicted int
	// FragmentsEvicted counts the fragments of those datagrams.
	FragmentsEvicted int
}

// Errors that Next wraps. The caller stops at either, reports the capture as
// truncated or corrupt, and keeps the frames it got.
var (
	// ErrTruncated means the file ends in the middle of a record, after all
	// complete frames were returned.
	ErrTruncated = errors.New("capture truncated")
	// ErrCorrupt means a record could not be read: an absurd length, an
	// inconsistent block, an undecodable compressed stream.
	ErrCorrupt = errors.New("corrupt record")
)

// A FileError reports where a capture file went wrong.
type FileError struct {
	Name  string // the name given to Open, "stdin", or "input" for NewReader
	Off   int64  // offset of the record in the (decompressed) stream
	Frame int    // number the frame in that record would have had
	Err   error  // wraps ErrTruncated or ErrCorrupt, or an I/O error
}

func (e *FileError) Error() string {
	return fmt.Sprintf("capture: %s: frame %d at offset %d: %v", e.Name, e.Frame, e.Off, e.Err)
}

func (e *FileError) Unwrap() error { return e.Err }

// Source is a stream of captured frames: pcapgo.EthernetHandle, pcap.Handle,
// or anything else shaped like gopacket.ZeroCopyPacketDataSource.
type Source interface {
	// ZeroCopyReadPacketData returns the next frame; data is valid until
	// the next call.
	ZeroCopyReadPacketData() (data []byte, ci gopacket.CaptureInfo, err error)
}

var _ Source = gopacket.ZeroCopyPacketDataSource(nil)

// Reader reads a capture frame by frame. It is not safe for concurrent use.
type Reader struct {
	name   string
	in     *input // nil for a Reader built from a Source
	src    Source
	link   LinkType // the link type of a Source
	frames int
	err    error // sticky error of a file Reader
	dec    decoder
	stats  Stats
}

// Frames returns the number of frames returned so far.
func (r *Reader) Frames() int { return r.frames }

// Stats returns a copy of the counters.
func (r *Reader) Stats() Stats {
	s := r.stats
	s.Other = maps.Clone(r.stats.Other)
	return s
}

// NewSourceReader returns a Reader over a live source whose frames all have
// the given link type. Errors from src are returned by Next unchanged; unlike
// a file Reader it may be called again after an error such as a read
// timeout.
func NewSourceReader(src Source, link LinkType) *Reader {
	r := &Reader{name: "source", src: src, link: link}
	r.init()
	return r
}

func (r *Reader) init() {
	r.stats.Other = make(map[string]int)
	r.dec.init(&r.stats)
}

// Next reads the next frame into d. It returns io.EOF at the clean end of
// the capture, and an error wrapping ErrTruncated or ErrCorrupt (a
// *FileError) where the file stops making sense; every complete frame before
// that point has been returned. d's slices are borrowed until the next call.
func (r *Reader) Next(d *Datagram) error {
	if r.err != nil {
		return r.err
	}
	r.dec.defrag.release()
	data, ci, err := r.src.ZeroCopyReadPacketData()
	if err != nil {
		if r.in == nil {
			return err
		}
		r.err = r.in.failure(err, r.frames+1)
		r.dec.defrag.flush()
		return r.err
	}
	link := r.link
	if r.in != nil {
		link = r.in.linkType(ci.InterfaceIndex)
	}
	r.frames++
	*d = Datagram{
		Frame: Frame{
			Number:    r.frames,
			Time:      ci.Timestamp,
			CapLen:    ci.CaptureLength,
			OrigLen:   ci.Length,
			LinkType:  link,
			Interface: ci.InterfaceIndex,
			Data:      data,
		},
		PayloadOff: -1,
	}
	r.dec.decode(d)
	r.stats.Frames++
	switch d.Kind {
	case KindUDP:
		r.stats.UDP++
	case KindTCP:
		r.stats.TCP++
	case KindOther:
		r.stats.Other[d.Reason]++
	}
	return nil
}

// Close releases the Reader's resources and closes the file opened by Open.
// It does not close the io.Reader given to NewReader, nor stdin.
func (r *Reader) Close() error {
	if r.err == nil {
		r.err = fmt.Errorf("capture: %s: reader closed", r.name)
	}
	if r.in != nil {
		return r.in.close()
	}
	return nil
}
