//go:build pcap

package capture

import (
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/google/gopacket"
	"github.com/google/gopacket/pcap"
)

// This file builds live capture on libpcap (cgo, -tags pcap), for systems
// other than Linux. libpcap drops the second copy of loopback frames
// itself and compiles filter expressions, so tcpdump is not needed.

// pcapPoll is how long libpcap waits for frames before a read checks its
// deadline and whether the capture was closed.
const pcapPoll = 100 * time.Millisecond

// A handle is a libpcap capture. Each frame is copied out of libpcap's
// buffer, which Close frees, into one the handle owns, so that a frame a
// reader still holds stays valid when another goroutine closes the
// capture.
type handle struct {
	mu       sync.Mutex // held by a read, and by close
	p        *pcap.Handle
	closed   bool
	buf      []byte
	deadline atomic.Int64 // Unix nanoseconds, 0 for none
	last     pcap.Stats   // libpcap's counters at the previous stats call
	bufSize  int
}

// pcapNoPortLinks are the IEEE 802.15.4 link types, whose frames carry
// compressed headers that a port filter cannot look into.
var pcapNoPortLinks = map[LinkType]bool{195: true, 215: true, 230: true, 283: true}

func openHandle(iface string, opts *LiveOptions) (*handle, LinkType, error) {
	in, err := pcap.NewInactiveHandle(iface)
	if err != nil {
		return nil, 0, liveError(iface, "%v", err)
	}
	defer in.CleanUp()
	for _, set := range []func() error{
		func() error { return in.SetSnapLen(opts.Snaplen) },
		func() error { return in.SetPromisc(opts.Promisc) },
		func() error { return in.SetTimeout(pcapPoll) },
		func() error { return in.SetBufferSize(opts.BufferSize) },
	} {
		if err := set(); err != nil {
			return nil, 0, liveError(iface, "%v", err)
		}
	}
	p, err := in.Activate()
	if err != nil {
		if strings.Contains(err.Error(), "Permission Denied") {
			err = fmt.Errorf("%w: %v", os.ErrPermission, err)
		}
		return nil, 0, liveError(iface, "%v", err)
	}
	link := LinkType(p.LinkType())
	if err := setPcapFilter(p, link, opts); err != nil {
		p.Close()
		return nil, 0, liveError(iface, "%v", err)
	}
	return &handle{p: p, buf: make([]byte, opts.Snaplen), bufSize: opts.BufferSize}, link, nil
}

// setPcapFilter attaches the port filter and the user's filter.
func setPcapFilter(p *pcap.Handle, link LinkType, opts *LiveOptions) error {
	ports, tcp := dedupPorts(opts.Ports), dedupPorts(opts.TCPPorts)
	if pcapNoPortLinks[link] {
		ports, tcp = nil, nil
	}
	if len(opts.BPF) > 0 {
		prog := opts.BPF
		if len(ports)+len(tcp) > 0 {
			var layout filterLayout
			switch link {
			case LinkTypeEthernet:
				layout = layoutEthernet
			case LinkTypeRaw, LinkTypeRawDLT12, LinkTypeRawDLT14:
				layout = layoutIP
			default:
				return fmt.Errorf("ports and a BPF program together on link type %v", link)
			}
			var err error
			spec := filterSpec{layout: layout, ports: ports, tcp: tcp, user: opts.BPF, snaplen: opts.Snaplen}
			if prog, err = spec.build(); err != nil {
				return err
			}
		}
		ins := make([]pcap.BPFInstruction, len(prog))
		for i, r := range prog {
			ins[i] = pcap.BPFInstruction{Code: r.Op, Jt: r.Jt, Jf: r.Jf, K: r.K}
		}
		return p.SetBPFInstructionFilter(ins)
	}
	var expr []string
	portList := func(ports []uint16) string {
		var ps []string
		for _, port := range ports {
			ps = append(ps, fmt.Sprintf("port %d", port))
		}
		return strings.Join(ps, " or ")
	}
	var keep []string
	if len(ports) > 0 {
		keep = append(keep, fmt.Sprintf("(udp and (%s)) or (ip and ip[9] = 17 and ip[6:2] & 0x3fff != 0) or (ip6 and ip6[6] = 44 and ip6[40] = 17)",
			portList(ports)))
	}
	if len(tcp) > 0 {
		keep = append(keep, fmt.Sprintf("(tcp and (%s))", portList(tcp)))
	}
	if len(keep) > 0 {
		expr = append(expr, "("+strings.Join(keep, " or ")+")")
	}
	if opts.Filter != "" {
		expr = append(expr, "("+opts.Filter+")")
	}
	if len(expr) == 0 {
		return nil
	}
	if err := p.SetBPFFilter(strings.Join(expr, " and ")); err != nil {
		return fmt.Errorf("filter %q: %v", opts.Filter, err)
	}
	return nil
}

var errPcapClosed = errors.New("capture closed")

func (h *handle) read() ([]byte, gopacket.CaptureInfo, error) {
	for {
		h.mu.Lock()
		if h.closed {
			h.mu.Unlock()
			return nil, gopacket.CaptureInfo{}, errPcapClosed
		}
		data, ci, err := h.p.ZeroCopyReadPacketData()
		if err == nil {
			n := copy(h.buf, data)
			h.mu.Unlock()
			ci.CaptureLength = n
			ci.InterfaceIndex = 0
			return h.buf[:n], ci, nil
		}
		h.mu.Unlock()
		if err != pcap.NextErrorTimeoutExpired {
			return nil, gopacket.CaptureInfo{}, err
		}
		if d := h.deadline.Load(); d != 0 && time.Now().UnixNano() >= d {
			return nil, gopacket.CaptureInfo{}, fmt.Errorf("capture: read: %w", os.ErrDeadlineExceeded)
		}
	}
}

func (h *handle) setReadDeadline(t time.Time) error {
	var d int64
	if !t.IsZero() {
		d = t.UnixNano()
	}
	h.deadline.Store(d)
	return nil
}

func (h *handle) stats() (LiveStats, error) {
	s, err := h.p.Stats()
	if err != nil {
		return LiveStats{}, err
	}
	// libpcap's counters are cumulative (and 32 bits wide on some
	// systems); Live adds up differences.
	d := LiveStats{
		Received: uint64(uint32(s.PacketsReceived - h.last.PacketsReceived)),
		Dropped:  uint64(uint32(s.PacketsDropped - h.last.PacketsDropped)),
	}
	h.last = *s
	return d, nil
}

func (h *handle) bufferSize() int { return h.bufSize }

func (h *handle) close() error {
	h.mu.Lock()
	defer h.mu.Unlock()
	if !h.closed {
		h.closed = true
		h.p.Close()
	}
	return nil
}
