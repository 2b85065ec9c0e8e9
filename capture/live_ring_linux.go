//go:build linux && !pcap

package capture

import (
	"fmt"
	"math/bits"
	"os"
	"sync/atomic"
	"time"
	"unsafe"

	"github.com/google/gopacket"
	"golang.org/x/sys/unix"
)

// A ring is the packet socket's TPACKET_V3 receive ring (packet_mmap,
// as libpcap and tcpdump read): the kernel writes frames into blocks of
// memory shared with the process and hands a block over when it is full
// or ringBlockTimeout old, so that one wake-up delivers many frames
// and no system call copies them. A frame is copied once, from the
// block into the handle's buffer, so that nothing the caller holds
// points into the ring: a block goes back to the kernel as soon as its
// last frame is read, and Close unmaps the ring whatever the caller
// still holds.
type ring struct {
	mem       []byte // the mapping
	blockSize int
	blocks    int
	cur       int  // the block being read or waited for
	held      bool // cur is the process's: frames left to read in it
	left      int  // frames of cur not yet read
	off       int  // offset in mem of cur's next frame
}

// ringBlockTimeout is how long, in milliseconds, the kernel fills a
// block before handing it over with what it holds: the longest a frame
// waits in a quiet capture. Long enough that blocks fill at high rates
// (with 10 ms, a reader busy for a moment found blocks a third full and
// the ring overflowed at 150,000 frames/s; BENCHMARKS.md), short for
// someone watching.
const ringBlockTimeout = 50

// Offsets in struct tpacket_block_desc: the block header (tpacket_hdr_v1)
// follows the version and the offset to the private area.
const (
	blockStatusOff = 8
	blockPktsOff   = 12
	blockFirstOff  = 16
)

// ringGeometry returns the block size and count of a ring of about size
// bytes whose blocks each hold a frame of snaplen bytes: blocks of a
// power of two from 128 KiB, at least two of them.
func ringGeometry(size, snaplen int) (blockSize, blocks int) {
	need := snaplen + unix.SizeofTpacket3Hdr + unix.SizeofSockaddrLinklayer + 64
	blockSize = max(128<<10, 1<<bits.Len(uint(need-1)))
	return blockSize, max(2, size/blockSize)
}

// setupRing asks for a TPACKET_V3 receive ring of about size bytes on
// fd and maps it. The caller falls back to recvmsg when it fails (a
// kernel or sandbox without packet_mmap).
func setupRing(fd, size, snaplen int) (*ring, error) {
	if err := unix.SetsockoptInt(fd, unix.SOL_PACKET, unix.PACKET_VERSION, unix.TPACKET_V3); err != nil {
		return nil, fmt.Errorf("PACKET_VERSION: %w", err)
	}
	bs, n := ringGeometry(size, snaplen)
	req := unix.TpacketReq3{
		Block_size:     uint32(bs),
		Block_nr:       uint32(n),
		Frame_size:     uint32(bs), // V3 packs frames of any size; the kernel checks only the arithmetic
		Frame_nr:       uint32(n),
		Retire_blk_tov: ringBlockTimeout,
	}
	if err := unix.SetsockoptTpacketReq3(fd, unix.SOL_PACKET, unix.PACKET_RX_RING, &req); err != nil {
		return nil, fmt.Errorf("PACKET_RX_RING: %w", err)
	}
	mem, err := unix.Mmap(fd, 0, bs*n, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED)
	if err != nil {
		// Frames would go to the ring unread: give it back, so that
		// recvmsg reads them.
		unix.SetsockoptTpacketReq3(fd, unix.SOL_PACKET, unix.PACKET_RX_RING, &unix.TpacketReq3{})
		return nil, fmt.Errorf("mapping the ring: %w", err)
	}
	return &ring{mem: mem, blockSize: bs, blocks: n}, nil
}

// status returns a word of the ring's memory as the kernel last wrote it.
func (r *ring) word(off int) *uint32 { return (*uint32)(unsafe.Pointer(&r.mem[off])) }

// ready reports whether block cur is the process's to read.
func (r *ring) ready() bool {
	return atomic.LoadUint32(r.word(r.cur*r.blockSize+blockStatusOff))&unix.TP_STATUS_USER != 0
}

// take starts reading block cur, which is ready.
func (r *ring) take() {
	b := r.cur * r.blockSize
	r.held = true
	r.left = int(*r.word(b + blockPktsOff))
	r.off = b + int(*r.word(b + blockFirstOff))
}

// release gives block cur back to the kernel and moves on to the next.
func (r *ring) release() {
	atomic.StoreUint32(r.word(r.cur*r.blockSize+blockStatusOff), unix.TP_STATUS_KERNEL)
	r.held = false
	r.cur = (r.cur + 1) % r.blocks
}

// readRing returns the next frame of the ring, waiting through the
// poller for a block when none is ready.
func (h *handle) readRing() ([]byte, gopacket.CaptureInfo, error) {
	h.ringMu.Lock()
	defer h.ringMu.Unlock()
	r := h.ring
	for {
		if r.mem == nil {
			return nil, gopacket.CaptureInfo{}, os.ErrClosed
		}
		if r.held && r.left > 0 {
			return h.ringFrame(r)
		}
		if r.held {
			r.release()
		}
		if r.ready() {
			r.take()
			continue
		}
		if err := h.rc.Read(h.ringReady); err != nil {
			return nil, gopacket.CaptureInfo{}, err
		}
	}
}

// ringFrame copies the next frame of the block being read into the
// handle's buffer, as read does with recvmsg.
func (h *handle) ringFrame(r *ring) ([]byte, gopacket.CaptureInfo, error) {
	hdr := (*unix.Tpacket3Hdr)(unsafe.Pointer(&r.mem[r.off]))
	start := r.off
	end := r.cur*r.blockSize + r.blockSize
	r.left--
	r.off += int(hdr.Next_offset)
	if hdr.Next_offset == 0 || r.off+unix.SizeofTpacket3Hdr > end {
		r.left = 0 // the last frame of the block, or a header out of bounds
	}
	data := start + int(hdr.Mac)
	caplen := int(hdr.Snaplen)
	if int(hdr.Mac) < ringFrameHeader || data+caplen > end {
		return nil, gopacket.CaptureInfo{}, fmt.Errorf("capture: ring frame out of its block (offset %d, %d bytes)", hdr.Mac, caplen)
	}
	caplen = min(caplen, h.snap)
	n := copy(h.buf[headroom:], r.mem[data:data+caplen])
	ci := gopacket.CaptureInfo{Timestamp: time.Unix(int64(hdr.Sec), int64(hdr.Nsec))}
	wire := int(hdr.Len)
	b0 := headroom
	switch {
	case h.cooked:
		h.sa = *(*unix.RawSockaddrLinklayer)(unsafe.Pointer(&r.mem[start+ringFrameHeader-unix.SizeofSockaddrLinklayer]))
		b0 -= 16
		h.cookedHeader(h.buf[b0:headroom])
		wire += 16
	case h.vlan && hdr.Status&unix.TP_STATUS_VLAN_VALID != 0 && n >= 12:
		tpid := uint16(hdr.Hv1.Vlan_tpid)
		if hdr.Status&unix.TP_STATUS_VLAN_TPID_VALID == 0 {
			tpid = 0x8100
		}
		b0 = h.insertVLAN(tpid, uint16(hdr.Hv1.Vlan_tci))
		wire += 4
	}
	e := min(headroom+n, b0+h.snap)
	ci.CaptureLength = e - b0
	ci.Length = max(wire, ci.CaptureLength)
	return h.buf[b0:e], ci, nil
}

// ringReady is the poller's test for the ring: true when block cur is
// ready.
func (h *handle) ringReady(uintptr) bool { return h.ring.ready() }

// ringFrameHeader is what precedes a frame's bytes in a block: struct
// tpacket3_hdr, aligned as TPACKET_ALIGN does (16 bytes), then the
// frame's struct sockaddr_ll.
const ringFrameHeader = (unix.SizeofTpacket3Hdr+15)&^15 + unix.SizeofSockaddrLinklayer

// closeRing unmaps the ring once no read uses it.
func (h *handle) closeRing() error {
	h.ringMu.Lock()
	defer h.ringMu.Unlock()
	if h.ring.mem == nil {
		return nil
	}
	err := unix.Munmap(h.ring.mem)
	h.ring.mem = nil
	return err
}
