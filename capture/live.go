package capture

import (
	"errors"
	"fmt"
	"io"
	"sync"
	"time"

	"github.com/google/gopacket"
	"golang.org/x/net/bpf"
)

// DefaultSnaplen is the number of bytes kept of each live frame when
// LiveOptions.Snaplen is zero: enough for any frame, as tcpdump's default.
const DefaultSnaplen = maxSnapLen

// DefaultBufferSize is the size of the receive ring (Linux) when
// LiveOptions.BufferSize is zero. A small datagram takes about 160 bytes
// of the ring (its header, address and frame, aligned), so this holds some
// 200,000 of them: two thirds of a second at 300,000 frames/s while the
// reader is descheduled. Where the kernel gives no ring, it is the socket
// receive buffer asked for: Linux grants twice that and charges each
// queued frame with its whole kernel buffer (about 1 KiB for a small
// datagram on lo), some 60,000 small frames.
const DefaultBufferSize = 32 << 20

// maxFilterPorts bounds LiveOptions.Ports so that every jump of the port
// filter fits the 8-bit offsets of classic BPF.
const maxFilterPorts = 64

// LiveOptions configures OpenLive. When Ports and a filter (Filter or BPF)
// are both set, a frame is kept only if it passes both.
type LiveOptions struct {
	// Snaplen is the number of bytes kept of each frame; 0 means
	// DefaultSnaplen.
	Snaplen int
	// Promisc puts the interface in promiscuous mode while the capture is
	// open.
	Promisc bool
	// BufferSize is the size of the receive ring in bytes (on Linux,
	// rounded to whole blocks, at least two blocks that each hold a frame
	// of Snaplen bytes), or of the socket receive buffer where the kernel
	// gives no ring (then above net.core.rmem_max it needs CAP_NET_ADMIN;
	// without it the kernel caps the buffer at rmem_max); 0 means
	// DefaultBufferSize.
	BufferSize int
	// Ports, when not empty, keeps only IPv4 and IPv6 UDP datagrams whose
	// source or destination port is in the set, and every fragment of an
	// IPv4 or IPv6 UDP datagram, so that fragmented datagrams are still
	// reassembled. The filter runs in the kernel. It is not applied on
	// links that carry compressed headers (IEEE 802.15.4), where ports are
	// not at a fixed place.
	Ports []uint16
	// TCPPorts, with Ports, also keeps IPv4 and IPv6 TCP segments whose
	// source or destination port is in the set (CoAP over TCP, TLS and
	// WebSockets).
	TCPPorts []uint16
	// Filter is a tcpdump filter expression, compiled by running
	// `tcpdump -ddd` for the link type of the interface. It needs tcpdump
	// on the PATH.
	Filter string
	// BPF is a compiled classic BPF program, used instead of Filter. It
	// sees frames as the kernel holds them: from the link-layer header on
	// Ethernet, loopback, raw-IP and IEEE 802.15.4 interfaces, and from
	// the network-layer header on interfaces captured in cooked mode
	// (LinkTypeLinuxSLL), which Live prefixes with the cooked header only
	// after the filter ran.
	BPF []bpf.RawInstruction
}

// LiveStats are the kernel's counters of a live capture since it was
// opened. In a -tags pcap build they are libpcap's, which on some systems
// also count frames libpcap discards itself (on Linux, the outgoing copy
// of each loopback frame).
type LiveStats struct {
	// Received counts the frames that passed the filter, including those
	// that were then dropped.
	Received uint64
	// Dropped counts the frames that passed the filter but were dropped
	// because the socket's receive buffer was full: the reader did not keep
	// up.
	Dropped uint64
}

// ErrLiveUnsupported is returned by OpenLive on systems where live capture
// is not built in.
var ErrLiveUnsupported = errors.New("live capture needs Linux (or build with -tags pcap)")

// Live is a live capture on one network interface (or on all of them, as
// "any"). It is a Source whose frames are borrowed until the next read.
// Reading is not safe for concurrent use, but Close, Stats and
// SetReadDeadline may be called from any goroutine: Close makes a blocked
// read return io.EOF, which ends the Reader cleanly.
type Live struct {
	iface  string
	link   LinkType
	snap   int
	h      *handle
	reader *Reader

	mu     sync.Mutex
	stats  LiveStats
	closed bool
}

var _ Source = (*Live)(nil)

// OpenLive starts a capture on the named interface ("any" for all of them
// where the system supports it).
func OpenLive(iface string, opts LiveOptions) (*Live, error) {
	if opts.Snaplen == 0 {
		opts.Snaplen = DefaultSnaplen
	}
	if opts.BufferSize == 0 {
		opts.BufferSize = DefaultBufferSize
	}
	if opts.Snaplen < 0 || opts.Snaplen > maxSnapLen {
		return nil, liveError(iface, "snap length %d out of range 1..%d", opts.Snaplen, maxSnapLen)
	}
	if opts.BufferSize < 0 {
		return nil, liveError(iface, "buffer size %d negative", opts.BufferSize)
	}
	if opts.Filter != "" && len(opts.BPF) > 0 {
		return nil, liveError(iface, "both a filter expression and a BPF program given")
	}
	if n := len(dedupPorts(opts.Ports)); n > maxFilterPorts {
		return nil, liveError(iface, "%d ports to filter, at most %d", n, maxFilterPorts)
	}
	if n := len(dedupPorts(opts.TCPPorts)); n > maxFilterPorts {
		return nil, liveError(iface, "%d TCP ports to filter, at most %d", n, maxFilterPorts)
	}
	l := &Live{iface: iface, snap: opts.Snaplen}
	h, link, err := openHandle(iface, &opts)
	if err != nil {
		return nil, err
	}
	l.h, l.link = h, link
	l.reader = NewSourceReader(l, link)
	return l, nil
}

// Interface returns the name of the captured interface.
func (l *Live) Interface() string { return l.iface }

// LinkType returns the link type of the frames.
func (l *Live) LinkType() LinkType { return l.link }

// Snaplen returns the number of bytes kept of each frame.
func (l *Live) Snaplen() int { return l.snap }

// BufferSize returns the size of the receive ring, in bytes, or where
// there is none of the socket receive buffer the kernel granted (Linux
// reports twice the size asked for, the overhead of its bookkeeping
// included).
func (l *Live) BufferSize() int { return l.h.bufferSize() }

// Reader returns the Reader that decodes this capture's frames. It is the
// same Reader on every call.
func (l *Live) Reader() *Reader { return l.reader }

// ZeroCopyReadPacketData returns the next frame. The data is valid until
// the next call. After Close it returns io.EOF; after the read deadline
// passes, an error wrapping os.ErrDeadlineExceeded, and it may be called
// again once the deadline is moved.
func (l *Live) ZeroCopyReadPacketData() ([]byte, gopacket.CaptureInfo, error) {
	data, ci, err := l.h.read()
	if err != nil && l.isClosed() {
		return nil, gopacket.CaptureInfo{}, io.EOF
	}
	return data, ci, err
}

// SetReadDeadline sets the time after which a read that is waiting for a
// frame returns an error wrapping os.ErrDeadlineExceeded. A zero time
// means no deadline.
func (l *Live) SetReadDeadline(t time.Time) error { return l.h.setReadDeadline(t) }

// Stats returns the kernel's counters since the capture was opened. The
// kernel resets its counters whenever they are read; Live adds them up.
// After Close it returns the final counts.
func (l *Live) Stats() (LiveStats, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return l.stats, nil
	}
	err := l.collect()
	return l.stats, err
}

// collect adds the kernel's counters to l.stats; l.mu is held.
func (l *Live) collect() error {
	s, err := l.h.stats()
	if err != nil {
		return liveError(l.iface, "statistics: %v", err)
	}
	l.stats.Received += s.Received
	l.stats.Dropped += s.Dropped
	return nil
}

func (l *Live) isClosed() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.closed
}

// Close stops the capture. A read blocked in another goroutine returns
// io.EOF. Closing twice is harmless.
func (l *Live) Close() error {
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		return nil
	}
	err := l.collect()
	l.closed = true
	l.mu.Unlock()
	if cerr := l.h.close(); err == nil && cerr != nil {
		err = liveError(l.iface, "%v", cerr)
	}
	return err
}

// liveError returns an error about the capture on iface.
func liveError(iface, format string, args ...any) error {
	return fmt.Errorf("capture: live %s: "+format, append([]any{iface}, args...)...)
}
