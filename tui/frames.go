package tui

import (
	"container/list"
	"hash/maphash"
	"net/netip"

	"github.com/coapaudit/coapaudit/decode"
	"github.com/coapaudit/coapaudit/dissect"
)

// OSCORE states of a frame.
const (
	oscNone     uint8 = iota // no OSCORE option
	oscNoKey                 // OSCORE, no key tried
	oscVerified              // decrypted and verified
	oscFailed                // a key was tried and did not verify
)

// Frame flags.
const (
	flagMalformed uint8 = 1 << iota
	flagTruncated
	flagReplay
	flagStored // the bytes are in the store
)

// frameRec is what the viewer keeps of every frame: enough for the frames
// list, and where its bytes are. The frame is decoded again from those
// bytes when it comes into focus.
type frameRec struct {
	t        int64 // capture time, Unix nanoseconds
	num      uint32
	file     uint16
	ref      blobRef
	data     uint32 // stored frame (or reassembled datagram) bytes
	inner    uint32 // stored inner message bytes after the frame
	note     uint16 // stored note bytes after those
	innerHdr uint16 // header and token bytes of the inner message
	coapOff  int32  // offset of the CoAP message in the stored bytes
	coapLen  uint32
	wire     uint32 // length on the wire
	pair     uint32 // hash of source and destination
	mid      uint16
	proto    uint8
	typ      uint8
	code     uint8
	osc      uint8
	flags    uint8
}

func (r *frameRec) coap() bool { return dissect.Proto(r.proto).Clear() && r.coapOff >= 0 }

var pairSeed = maphash.MakeSeed()

// pairHash hashes a source and destination, to tell apart frames with
// the same number in merged captures.
func pairHash(src, dst netip.AddrPort) uint32 {
	var h maphash.Hash
	h.SetSeed(pairSeed)
	a, b := src.Addr().As16(), dst.Addr().As16()
	h.Write(a[:])
	h.Write(b[:])
	p := [4]byte{byte(src.Port() >> 8), byte(src.Port()), byte(dst.Port() >> 8), byte(dst.Port())}
	h.Write(p[:])
	return uint32(h.Sum64())
}

// frameIndex holds the records of one capture file, numbered densely from
// base.
type frameIndex struct {
	base int // number of recs[0]
	recs []frameRec
}

func (ix *frameIndex) get(num int) *frameRec {
	i := num - ix.base
	if i < 0 || i >= len(ix.recs) {
		return nil
	}
	return &ix.recs[i]
}

// frames are the records of every file, bounded.
type frames struct {
	files      []frameIndex
	max        int  // records kept per file
	keepNewest bool // forget the oldest records when full (live captures)
	notKept    int  // records not kept (or forgotten)
	store      *byteStore
}

// add appends a record. Records of a file arrive in frame order.
func (fs *frames) add(r frameRec) {
	for int(r.file) >= len(fs.files) {
		fs.files = append(fs.files, frameIndex{})
	}
	ix := &fs.files[r.file]
	if len(ix.recs) >= fs.max && !fs.keepNewest {
		fs.notKept++
		return
	}
	if len(ix.recs) > 0 && int(r.num) != ix.base+len(ix.recs) {
		// Not the next number: start over rather than misnumber.
		fs.notKept += len(ix.recs)
		ix.recs = ix.recs[:0]
	}
	if len(ix.recs) == 0 {
		ix.base = int(r.num)
	}
	if len(ix.recs) >= fs.max {
		n := max(1, len(ix.recs)/4)
		fs.notKept += n
		ix.base += n
		ix.recs = append(ix.recs[:0], ix.recs[n:]...)
		if fs.store != nil && len(fs.files) == 1 {
			for i := range ix.recs {
				if ix.recs[i].flags&flagStored != 0 {
					fs.store.dropBefore(ix.recs[i].ref)
					break
				}
			}
		}
	}
	ix.recs = append(ix.recs, r)
}

// lookup returns the record of frame num; with several files, the one
// whose endpoints hash to pair (or either of pairs), else any.
func (fs *frames) lookup(num int, pairs ...uint32) *frameRec {
	var any *frameRec
	for i := range fs.files {
		r := fs.files[i].get(num)
		if r == nil {
			continue
		}
		if len(fs.files) == 1 {
			return r
		}
		for _, p := range pairs {
			if r.pair == p {
				return r
			}
		}
		if any == nil {
			any = r
		}
	}
	return any
}

// frameKey identifies a frame across merged files.
type frameKey struct {
	file uint16
	num  uint32
}

func (r *frameRec) key() frameKey { return frameKey{r.file, r.num} }

// decodedFrame is a frame decoded again from its stored bytes.
type decodedFrame struct {
	rec  frameRec
	data []byte // the stored frame bytes
	// msg is the CoAP message at data[rec.coapOff:]; err its decode error.
	msg decode.Message
	err error
	// inner is the decrypted message (OSCORE), innerMsg its decoding.
	inner    []byte
	innerMsg decode.Message
	hasInner bool
	note     string
	// gone says why the bytes are not available.
	gone error
}

// plaintext returns the decrypted COSE plaintext: the inner code, then
// the inner options and payload (RFC 8613 section 5.3).
func (d *decodedFrame) plaintext() []byte {
	h := int(d.rec.innerHdr)
	if !d.hasInner || len(d.inner) < 4 || h > len(d.inner) {
		return nil
	}
	pt := make([]byte, 0, 1+len(d.inner)-h)
	pt = append(pt, d.inner[1])
	return append(pt, d.inner[h:]...)
}

// innerSpan maps a span of the inner message to the plaintext; the
// header maps to the code, the only part of it the plaintext holds.
func (d *decodedFrame) innerSpan(s decode.Span) decode.Span {
	h := int(d.rec.innerHdr)
	if s.Off < h {
		return decode.Span{Off: 0, Len: 1}
	}
	return decode.Span{Off: s.Off - h + 1, Len: s.Len}
}

// decodeFrame reads r's bytes from the store and decodes them.
func decodeFrame(st *byteStore, r *frameRec) *decodedFrame {
	d := &decodedFrame{rec: *r}
	if r.flags&flagStored == 0 {
		d.gone = errBlobGone
		return d
	}
	n := int(r.data) + int(r.inner) + int(r.note)
	b, err := st.read(r.ref, n)
	if err != nil {
		d.gone = err
		return d
	}
	d.data = b[:r.data:r.data]
	if r.coap() && int(r.coapOff)+int(r.coapLen) <= len(d.data) {
		d.err = d.msg.Decode(d.data[r.coapOff : int(r.coapOff)+int(r.coapLen)])
	}
	if r.inner > 0 {
		// The inner message decoded when it was decrypted; what decodes
		// of it is shown even if that changed.
		d.inner = b[r.data : r.data+r.inner : r.data+r.inner]
		d.innerMsg.Decode(d.inner)
		d.hasInner = true
	}
	d.note = string(b[r.data+r.inner:])
	return d
}

// frameCache keeps the most recently decoded frames (termshark keeps its
// PDML and hex per frame range in an LRU for the same reason: only the
// frames in focus are decoded).
type frameCache struct {
	max   int
	ll    *list.List
	items map[frameKey]*list.Element
}

func newFrameCache(max int) *frameCache {
	return &frameCache{max: max, ll: list.New(), items: map[frameKey]*list.Element{}}
}

func (c *frameCache) get(st *byteStore, r *frameRec) *decodedFrame {
	k := r.key()
	if e, ok := c.items[k]; ok {
		d := e.Value.(*decodedFrame)
		if d.rec.ref == r.ref {
			c.ll.MoveToFront(e)
			return d
		}
		c.ll.Remove(e)
		delete(c.items, k)
	}
	d := decodeFrame(st, r)
	c.items[k] = c.ll.PushFront(d)
	if c.ll.Len() > c.max {
		old := c.ll.Back()
		c.ll.Remove(old)
		delete(c.items, old.Value.(*decodedFrame).rec.key())
	}
	return d
}

func (c *frameCache) len() int { return c.ll.Len() }
