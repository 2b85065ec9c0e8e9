//go:build linux && !pcap

package capture

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"os"
	"sync"
	"syscall"
	"time"
	"unsafe"

	"github.com/google/gopacket"
	"golang.org/x/sys/unix"
)

// A handle is an AF_PACKET socket read through the runtime's network
// poller, so that a read waits without holding a thread, honours a
// deadline, and returns when the socket is closed from another goroutine.
// (A blocking recvmsg, as pcapgo.EthernetHandle makes, does neither: on
// Linux, closing a socket does not wake a thread blocked reading it.)
//
// Frames come from the socket's TPACKET_V3 receive ring (ring), or,
// where the kernel offers none, one recvmsg each; either way into a
// buffer the handle owns, and nothing is allocated per frame.
type handle struct {
	f  *os.File
	rc syscall.RawConn

	snap   int
	cooked bool // SOCK_DGRAM: Live writes a Linux cooked header in front
	vlan   bool // reinsert the 802.1Q tag the kernel took out of the frame

	// buf holds headroom bytes for a cooked header or a VLAN tag, then the
	// frame as recvmsg wrote it.
	buf   []byte
	oob   []byte
	msg   unix.Msghdr
	iov   unix.Iovec
	sa    unix.RawSockaddrLinklayer
	recv  func(fd uintptr) bool // h.recvmsg, bound once
	n     int                   // what the last recvmsg returned
	errno unix.Errno

	rcvbuf int // the receive buffer the kernel granted, in bytes

	// ring, when the kernel gave one, is read instead of recvmsg;
	// ringMu keeps Close from unmapping it under a read.
	ring   *ring
	ringMu sync.Mutex
}

// liveRing turns the receive ring on; tests turn it off to compare the
// two ways of reading.
var liveRing = true

// sizeofAuxdata is the size of struct tpacket_auxdata.
const sizeofAuxdata = int(unsafe.Sizeof(unix.TpacketAuxdata{}))

// headroom is room in front of a received frame for the 16-byte Linux
// cooked header or a 4-byte VLAN tag.
const headroom = 16

// htons returns v in network byte order, as packet sockets take protocol
// numbers.
func htons(v uint16) uint16 {
	var b [2]byte
	binary.BigEndian.PutUint16(b[:], v)
	return binary.NativeEndian.Uint16(b[:])
}

// linkOf maps an ARPHRD_ device type to the link type of the frames a
// SOCK_RAW packet socket returns and to where filters find the network
// header. Other device types are captured in cooked mode.
func linkOf(hatype uint16) (LinkType, filterLayout, bool) {
	switch hatype {
	case unix.ARPHRD_ETHER, unix.ARPHRD_LOOPBACK:
		return LinkTypeEthernet, layoutEthernet, true
	case unix.ARPHRD_NONE, unix.ARPHRD_RAWIP: // tun devices, WireGuard, cellular modems
		return LinkTypeRaw, layoutIP, true
	case unix.ARPHRD_IEEE802154:
		return linkTypeWPANNoFCS, layoutOpaque, true
	}
	return LinkTypeLinuxSLL, layoutIP, false
}

// linkTypeWPANNoFCS is LINKTYPE_IEEE802_15_4_NOFCS: what Linux hands a
// packet socket on an IEEE 802.15.4 device.
const linkTypeWPANNoFCS LinkType = 230

func openHandle(iface string, opts *LiveOptions) (h *handle, link LinkType, err error) {
	ifindex := 0
	all := iface == "any"
	if !all {
		ifi, err := net.InterfaceByName(iface)
		if err != nil {
			return nil, 0, liveError(iface, "%v", unwrapOp(err))
		}
		ifindex = ifi.Index
	}
	if all && opts.Promisc {
		return nil, 0, liveError(iface, "promiscuous mode is not supported on \"any\"")
	}

	// A packet socket of protocol 0 receives nothing: frames are queued
	// only once it is bound to ETH_P_ALL, after its filter is in place.
	fd, err := socket(iface, unix.SOCK_RAW)
	if err != nil {
		return nil, 0, err
	}
	defer func() {
		if err != nil && fd >= 0 {
			unix.Close(fd)
		}
	}()
	layout := layoutIP
	link = LinkTypeLinuxSLL
	raw := false
	var hatype uint16
	if !all {
		ifr, err := unix.NewIfreq(iface)
		if err != nil {
			return nil, 0, liveError(iface, "%v", err)
		}
		if err := unix.IoctlIfreq(fd, unix.SIOCGIFHWADDR, ifr); err != nil {
			return nil, 0, liveError(iface, "device type: %w", err)
		}
		hatype = ifr.Uint16()
		link, layout, raw = linkOf(hatype)
	}
	if !raw {
		// Cooked mode: the kernel strips the link-layer header, and Live
		// writes a Linux cooked header from the packet's address instead.
		unix.Close(fd)
		if fd, err = socket(iface, unix.SOCK_DGRAM); err != nil {
			return nil, 0, err
		}
	}

	if err := unix.SetsockoptInt(fd, unix.SOL_PACKET, unix.PACKET_AUXDATA, 1); err != nil {
		return nil, 0, liveError(iface, "PACKET_AUXDATA: %w", err)
	}
	if err := unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_TIMESTAMPNS, 1); err != nil {
		return nil, 0, liveError(iface, "SO_TIMESTAMPNS: %w", err)
	}
	// SO_RCVBUFFORCE (CAP_NET_ADMIN) may exceed net.core.rmem_max;
	// SO_RCVBUF is capped by it.
	if unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_RCVBUFFORCE, opts.BufferSize) != nil {
		if err := unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_RCVBUF, opts.BufferSize); err != nil {
			return nil, 0, liveError(iface, "SO_RCVBUF: %w", err)
		}
	}
	rcvbuf, err := unix.GetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_RCVBUF)
	if err != nil {
		return nil, 0, liveError(iface, "SO_RCVBUF: %w", err)
	}

	spec := filterSpec{layout: layout, ports: dedupPorts(opts.Ports), tcp: dedupPorts(opts.TCPPorts), snaplen: opts.Snaplen, user: opts.BPF}
	switch {
	case hatype == unix.ARPHRD_LOOPBACK:
		spec.dedup.device = true
	case all:
		spec.dedup.index, spec.dedup.any = loopbackIndex()
	}
	if opts.Filter != "" {
		if spec.user, err = compileFilter(opts.Filter, layout, opts.Snaplen); err != nil {
			return nil, 0, liveError(iface, "%v", err)
		}
	}
	prog, err := spec.build()
	if err != nil {
		return nil, 0, liveError(iface, "%v", err)
	}
	if len(prog) > 0 {
		sf := make([]unix.SockFilter, len(prog))
		for i, ins := range prog {
			sf[i] = unix.SockFilter{Code: ins.Op, Jt: ins.Jt, Jf: ins.Jf, K: ins.K}
		}
		fprog := unix.SockFprog{Len: uint16(len(sf)), Filter: &sf[0]}
		if err := unix.SetsockoptSockFprog(fd, unix.SOL_SOCKET, unix.SO_ATTACH_FILTER, &fprog); err != nil {
			return nil, 0, liveError(iface, "attaching the filter: %w", err)
		}
	}
	if opts.Promisc {
		mreq := unix.PacketMreq{Ifindex: int32(ifindex), Type: unix.PACKET_MR_PROMISC}
		if err := unix.SetsockoptPacketMreq(fd, unix.SOL_PACKET, unix.PACKET_ADD_MEMBERSHIP, &mreq); err != nil {
			return nil, 0, liveError(iface, "promiscuous mode: %w", err)
		}
	}
	// The ring goes in before the socket is bound, so that no frame is
	// queued where only recvmsg would find it.
	var rg *ring
	if liveRing {
		rg, _ = setupRing(fd, opts.BufferSize, opts.Snaplen) // on failure, recvmsg reads the socket's queue
	}
	defer func() {
		if err != nil && rg != nil {
			unix.Munmap(rg.mem)
		}
	}()
	if err := unix.Bind(fd, &unix.SockaddrLinklayer{Protocol: htons(unix.ETH_P_ALL), Ifindex: ifindex}); err != nil {
		return nil, 0, liveError(iface, "bind: %w", err)
	}

	// fd is non-blocking, so os.NewFile registers it with the poller.
	f := os.NewFile(uintptr(fd), "packet:"+iface)
	fd = -1 // owned by f
	defer func() {
		if err != nil {
			f.Close()
		}
	}()
	rc, err := f.SyscallConn()
	if err != nil {
		return nil, 0, liveError(iface, "%v", err)
	}
	h = &handle{
		f:      f,
		rc:     rc,
		snap:   opts.Snaplen,
		cooked: !raw,
		vlan:   link == LinkTypeEthernet,
		buf:    make([]byte, headroom+opts.Snaplen),
		oob:    make([]byte, unix.CmsgSpace(sizeofAuxdata)+unix.CmsgSpace(int(unsafe.Sizeof(unix.Timespec{})))),
		rcvbuf: rcvbuf,
		ring:   rg,
	}
	h.iov.Base = &h.buf[headroom]
	h.iov.SetLen(opts.Snaplen)
	h.msg.Name = (*byte)(unsafe.Pointer(&h.sa))
	h.msg.Iov = &h.iov
	h.msg.Iovlen = 1
	h.msg.Control = &h.oob[0]
	h.recv = h.recvmsg
	return h, link, nil
}

// socket opens a non-blocking packet socket of protocol 0.
func socket(iface string, typ int) (int, error) {
	fd, err := unix.Socket(unix.AF_PACKET, typ|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		if errors.Is(err, unix.EPERM) || errors.Is(err, unix.EACCES) {
			return -1, liveError(iface, "a packet socket needs root or CAP_NET_RAW: %w", err)
		}
		return -1, liveError(iface, "packet socket: %w", err)
	}
	return fd, nil
}

// loopbackIndex returns the index of the loopback interface.
func loopbackIndex() (uint32, bool) {
	ifs, err := net.Interfaces()
	if err != nil {
		return 0, false
	}
	for _, ifi := range ifs {
		if ifi.Flags&net.FlagLoopback != 0 {
			return uint32(ifi.Index), true
		}
	}
	return 0, false
}

// unwrapOp drops the "route ip+net:" prefix net puts on interface errors.
func unwrapOp(err error) error {
	var op *net.OpError
	if errors.As(err, &op) {
		return op.Err
	}
	return err
}

// recvmsg reads one frame; it reports false when none is queued, for the
// poller to wait.
func (h *handle) recvmsg(fd uintptr) bool {
	for {
		h.msg.Namelen = unix.SizeofSockaddrLinklayer
		h.msg.SetControllen(len(h.oob))
		h.msg.Flags = 0
		n, _, e := unix.Syscall(unix.SYS_RECVMSG, fd, uintptr(unsafe.Pointer(&h.msg)), unix.MSG_TRUNC)
		switch e {
		case unix.EINTR:
			continue
		case unix.EAGAIN:
			return false
		}
		h.n, h.errno = int(n), e
		return true
	}
}

// align rounds a control message length up as CMSG_ALIGN does.
func align(n int) int { return (n + unix.SizeofPtr - 1) &^ (unix.SizeofPtr - 1) }

func (h *handle) read() ([]byte, gopacket.CaptureInfo, error) {
	if h.ring != nil {
		return h.readRing()
	}
	if err := h.rc.Read(h.recv); err != nil {
		return nil, gopacket.CaptureInfo{}, err
	}
	if h.errno != 0 {
		return nil, gopacket.CaptureInfo{}, fmt.Errorf("capture: recvmsg: %w", h.errno)
	}
	var ci gopacket.CaptureInfo
	wire := h.n // MSG_TRUNC: the whole length, whatever was copied
	var auxStatus uint32
	var vlanTCI, vlanTPID uint16
	oob := h.oob[:h.msg.Controllen]
	for len(oob) >= unix.SizeofCmsghdr {
		hdr := (*unix.Cmsghdr)(unsafe.Pointer(&oob[0]))
		l := int(hdr.Len)
		if l < unix.SizeofCmsghdr || l > len(oob) {
			break
		}
		data := oob[align(unix.SizeofCmsghdr):l]
		switch {
		case hdr.Level == unix.SOL_PACKET && hdr.Type == unix.PACKET_AUXDATA && len(data) >= sizeofAuxdata:
			aux := (*unix.TpacketAuxdata)(unsafe.Pointer(&data[0]))
			wire = int(aux.Len)
			auxStatus, vlanTCI, vlanTPID = aux.Status, aux.Vlan_tci, aux.Vlan_tpid
		case hdr.Level == unix.SOL_SOCKET && hdr.Type == unix.SO_TIMESTAMPNS && len(data) >= int(unsafe.Sizeof(unix.Timespec{})):
			ts := (*unix.Timespec)(unsafe.Pointer(&data[0]))
			ci.Timestamp = time.Unix(int64(ts.Sec), int64(ts.Nsec))
		}
		oob = oob[min(align(l), len(oob)):]
	}
	start, end := headroom, headroom+min(h.n, h.snap)
	switch {
	case h.cooked:
		start -= 16
		h.cookedHeader(h.buf[start:headroom])
		wire += 16
	case h.vlan && auxStatus&unix.TP_STATUS_VLAN_VALID != 0 && end-start >= 12:
		if auxStatus&unix.TP_STATUS_VLAN_TPID_VALID == 0 {
			vlanTPID = 0x8100
		}
		start = h.insertVLAN(vlanTPID, vlanTCI)
		wire += 4
	}
	end = min(end, start+h.snap)
	ci.CaptureLength = end - start
	ci.Length = max(wire, ci.CaptureLength)
	return h.buf[start:end], ci, nil
}

// insertVLAN puts back the VLAN tag the kernel took out of the frame in
// h.buf[headroom:], after the MAC addresses, as libpcap does, and returns
// where the frame now starts.
func (h *handle) insertVLAN(tpid, tci uint16) int {
	start := headroom - 4
	copy(h.buf[start:start+12], h.buf[headroom:headroom+12])
	binary.BigEndian.PutUint16(h.buf[start+12:], tpid)
	binary.BigEndian.PutUint16(h.buf[start+14:], tci)
	return start
}

// cookedHeader writes the LINKTYPE_LINUX_SLL header of the frame just
// received into b, from the address recvmsg filled in.
func (h *handle) cookedHeader(b []byte) {
	sa := &h.sa
	binary.BigEndian.PutUint16(b[0:], uint16(sa.Pkttype))
	binary.BigEndian.PutUint16(b[2:], sa.Hatype)
	binary.BigEndian.PutUint16(b[4:], uint16(sa.Halen))
	clear(b[6:14])
	copy(b[6:14], sa.Addr[:min(int(sa.Halen), 8)])
	binary.NativeEndian.PutUint16(b[14:], sa.Protocol) // in network byte order
}

func (h *handle) setReadDeadline(t time.Time) error { return h.f.SetReadDeadline(t) }

func (h *handle) stats() (LiveStats, error) {
	var st *unix.TpacketStats
	var err error
	if cerr := h.rc.Control(func(fd uintptr) {
		st, err = unix.GetsockoptTpacketStats(int(fd), unix.SOL_PACKET, unix.PACKET_STATISTICS)
	}); cerr != nil {
		return LiveStats{}, cerr
	}
	if err != nil {
		return LiveStats{}, err
	}
	// The kernel counts dropped frames in tp_packets too.
	return LiveStats{Received: uint64(st.Packets), Dropped: uint64(st.Drops)}, nil
}

func (h *handle) bufferSize() int {
	if h.ring != nil {
		return h.ring.blockSize * h.ring.blocks
	}
	return h.rcvbuf
}

func (h *handle) close() error {
	err := h.f.Close() // returns once no read waits in the poller
	if h.ring != nil {
		if rerr := h.closeRing(); err == nil {
			err = rerr
		}
	}
	return err
}
