package tui

import (
	"container/list"
	"encoding/binary"
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

// frameRec is what the viewer knows of every frame: enough for the frames
// list, and where its bytes are. It is not kept in memory: it is written
// to the byte store as a fixed-size header (frameHdrSize bytes) followed
// by the frame's bytes, and the viewer keeps only where that went, 8
// bytes a frame. The header is read again when the frame is listed, and
// the frame decoded again from its bytes when it comes into focus.
type frameRec struct {
	t        int64 // capture time, Unix nanoseconds
	num      uint32
	file     uint16
	ref      blobRef // where the header is; the stored bytes follow it
	data     uint32  // stored frame (or reassembled datagram) bytes
	inner    uint32  // stored inner message bytes after the frame
	note     uint16  // stored note bytes after those
	innerHdr uint16  // header and token bytes of the inner message
	coapOff  int32   // offset of the CoAP message in the stored bytes
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

// frameHdrSize is the size of a frameRec in the store.
const frameHdrSize = 8 + 4 + 2 + 4 + 4 + 2 + 2 + 4 + 4 + 4 + 4 + 2 + 5

// appendHeader appends r as stored (all but ref).
func (r *frameRec) appendHeader(b []byte) []byte {
	le := binary.LittleEndian
	b = le.AppendUint64(b, uint64(r.t))
	b = le.AppendUint32(b, r.num)
	b = le.AppendUint16(b, r.file)
	b = le.AppendUint32(b, r.data)
	b = le.AppendUint32(b, r.inner)
	b = le.AppendUint16(b, r.note)
	b = le.AppendUint16(b, r.innerHdr)
	b = le.AppendUint32(b, uint32(r.coapOff))
	b = le.AppendUint32(b, r.coapLen)
	b = le.AppendUint32(b, r.wire)
	b = le.AppendUint32(b, r.pair)
	b = le.AppendUint16(b, r.mid)
	return append(b, r.proto, r.typ, r.code, r.osc, r.flags)
}

// parseHeader reads a header that appendHeader wrote at ref.
func parseHeader(b []byte, ref blobRef) frameRec {
	le := binary.LittleEndian
	return frameRec{
		t: int64(le.Uint64(b)), num: le.Uint32(b[8:]), file: le.Uint16(b[12:]), ref: ref,
		data: le.Uint32(b[14:]), inner: le.Uint32(b[18:]), note: le.Uint16(b[22:]), innerHdr: le.Uint16(b[24:]),
		coapOff: int32(le.Uint32(b[26:])), coapLen: le.Uint32(b[30:]), wire: le.Uint32(b[34:]), pair: le.Uint32(b[38:]),
		mid: le.Uint16(b[42:]), proto: b[44], typ: b[45], code: b[46], osc: b[47], flags: b[48],
	}
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

// frameAt is a frame as the loader passes it to the viewer: its number,
// its file, and where its record went in the store.
type frameAt struct {
	ref  blobRef
	num  uint32
	file uint16
}

// frameIndex holds where the records of one capture file are, numbered
// densely from base.
type frameIndex struct {
	base int // number of the first in refs
	refs chunked[blobRef]
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
func (fs *frames) add(r frameAt) {
	for int(r.file) >= len(fs.files) {
		fs.files = append(fs.files, frameIndex{})
	}
	ix := &fs.files[r.file]
	if ix.refs.len() >= fs.max && !fs.keepNewest {
		fs.notKept++
		return
	}
	if ix.refs.len() > 0 && int(r.num) != ix.base+ix.refs.len() {
		// Not the next number: start over rather than misnumber.
		fs.notKept += ix.refs.len()
		ix.refs.reset()
	}
	if ix.refs.len() == 0 {
		ix.base = int(r.num)
	}
	if ix.refs.len() >= fs.max {
		n := max(1, ix.refs.len()/4)
		fs.notKept += n
		ix.base += n
		ix.refs.dropFront(n)
		if fs.store != nil && len(fs.files) == 1 && ix.refs.len() > 0 {
			fs.store.dropBefore(*ix.refs.at(0))
		}
	}
	ix.refs.append(r.ref)
}

// get returns the record of frame num of file f, or nil when it is not
// kept.
func (fs *frames) get(f, num int) *frameRec {
	if f >= len(fs.files) || fs.store == nil {
		return nil
	}
	ix := &fs.files[f]
	i := num - ix.base
	if i < 0 || i >= ix.refs.len() {
		return nil
	}
	ref := *ix.refs.at(i)
	b, err := fs.store.read(ref, frameHdrSize)
	if err != nil {
		return nil
	}
	r := parseHeader(b, ref)
	return &r
}

// lookup returns the record of frame num; with several files, the one
// whose endpoints hash to pair (or either of pairs), else any.
func (fs *frames) lookup(num int, pairs ...uint32) *frameRec {
	var any *frameRec
	for i := range fs.files {
		r := fs.get(i, num)
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
	b, err := st.read(r.ref, frameHdrSize+n)
	if err != nil {
		d.gone = err
		return d
	}
	b = b[frameHdrSize:]
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
