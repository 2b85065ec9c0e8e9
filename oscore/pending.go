package oscore

import (
	"bytes"
	"net/netip"
	"time"

	"github.com/coapaudit/coapaudit/decode"
)

// reqBytes holds a request's token, kid, Partial IV and kid context:
// inline when they fit, else in a slice of their own that is never
// written again once made (copies of a reqBytes may share it).
type reqBytes struct {
	inl               [32]byte
	ext               []byte
	tok, kid, piv, kc uint16 // lengths
	hasKID, hasKIDCtx bool
}

func (b *reqBytes) set(tok []byte, o *decode.OSCOREOption) {
	b.tok, b.kid, b.piv = uint16(len(tok)), uint16(len(o.KID)), uint16(len(o.PIV))
	b.kc = 0
	b.hasKID, b.hasKIDCtx = o.HasKID, o.HasKIDContext
	kc := o.KIDContext
	if o.HasKIDContext {
		b.kc = uint16(len(kc))
	}
	dst := b.inl[:0]
	b.ext = nil
	if n := len(tok) + len(o.KID) + len(o.PIV) + int(b.kc); n > len(b.inl) {
		b.ext = make([]byte, 0, n)
		dst = b.ext
	}
	dst = append(append(append(dst, tok...), o.KID...), o.PIV...)
	if o.HasKIDContext {
		dst = append(dst, kc...)
	}
	if b.ext != nil {
		b.ext = dst
	}
}

func (b *reqBytes) all() []byte {
	if b.ext != nil {
		return b.ext
	}
	return b.inl[:int(b.tok)+int(b.kid)+int(b.piv)+int(b.kc)]
}

func (b *reqBytes) token() []byte { return b.all()[:b.tok] }

// kidBytes returns the kid, nil when the request had none.
func (b *reqBytes) kidBytes() []byte {
	if !b.hasKID {
		return nil
	}
	return b.all()[b.tok : b.tok+b.kid]
}

func (b *reqBytes) pivBytes() []byte { return b.all()[b.tok+b.kid : b.tok+b.kid+b.piv] }

// kidCtx returns the kid context, nil when the request had none.
func (b *reqBytes) kidCtx() []byte {
	if !b.hasKIDCtx {
		return nil
	}
	a := b.all()
	return a[b.tok+b.kid+b.piv:]
}

// same reports whether o has the kid, Partial IV and kid context of b (an
// absent and an empty field count as the same).
func (b *reqBytes) same(o *decode.OSCOREOption) bool {
	kc := o.KIDContext
	if !o.HasKIDContext {
		kc = nil
	}
	return bytes.Equal(b.pivBytes(), o.PIV) && bytes.Equal(b.kidBytes(), o.KID) && bytes.Equal(b.kidCtx(), kc)
}

// lookup finds the endpoints that may have protected the request.
func (b *reqBytes) lookup(k *Keyring, dst []ref) []ref {
	return k.lookup(dst, b.kidBytes(), b.hasKID, b.kidCtx(), b.hasKIDCtx)
}

// describe names the request's kid for error messages.
func (b *reqBytes) describe() string {
	return describeKID(&decode.OSCOREOption{KID: b.kidBytes(), HasKID: b.hasKID, KIDContext: b.kidCtx(), HasKIDContext: b.hasKIDCtx})
}

// pendingReq is an OSCORE request waiting for responses: one slot of the
// pending table, keyed by client, server and token.
type pendingReq struct {
	reqBytes
	client, server netip.AddrPort
	h              uint64 // hash of client, server and token
	seq            uint64 // insertion counter, for eviction; 0: a free slot
	frame          int
	t              time.Time
	ctx            *Context // the context that verified it
	pt             party    // the requester's side of ctx
	verified       bool
	hasPlain       bool
	replay         ReplayStatus
	win            winRef // its replay window
	pivVal         uint64
	copies         int // times this request reached the server on this hop
	responses      int // responses without Partial IV matched to it
	firstResp      uint64
	firstPlain     uint64 // fingerprint of the first verified response plaintext
	report         int    // index+1 into Decryptor.reports, 0 if none
}

// pendingRef is an entry of the eviction queue: it still stands for the
// request in slot only if that request has the same seq (a new request
// with the same token replaces the entry).
type pendingRef struct {
	slot int32
	seq  uint64
}

// pendingTable holds the pending requests in slots that are reused, found
// by a flat index on the hash of their key and confirmed on the key. The
// slots come in chunks allocated as the table fills, so that growing never
// copies them.
type pendingTable struct {
	chunks []*[pendingChunk]pendingReq
	n      int // slots made
	free   []int32
	idx    flatIndex
	order  fifo[pendingRef] // insertion order, for eviction
	live   int
	seq    uint64
}

// find returns the slot of the request from client to server with token
// tok (hash h), or -1.
func (t *pendingTable) find(h uint64, client, server netip.AddrPort, tok []byte) int32 {
	for pos, e := t.idx.first(h); e >= 0; pos, e = t.idx.next(pos, h) {
		p := t.at(e)
		if p.client == client && p.server == server && bytes.Equal(p.token(), tok) {
			return e
		}
	}
	return -1
}

// get returns the request in slot i, or nil for -1.
func (t *pendingTable) get(i int32) *pendingReq {
	if i < 0 {
		return nil
	}
	return t.at(i)
}

// pendingChunk is how many slots a chunk holds.
const pendingChunk = 64

func (t *pendingTable) at(i int32) *pendingReq { return &t.chunks[i/pendingChunk][i%pendingChunk] }

// remove frees slot i.
func (t *pendingTable) remove(i int32) {
	p := t.at(i)
	t.idx.remove(p.h, i)
	*p = pendingReq{}
	t.free = append(t.free, i)
	t.live--
}

// put returns a cleared slot for a new request under hash h: slot old
// when the request replaces the one there, else a free one, evicting the oldest request
// when maxPending are held (counted in evicted). The slot has its new seq
// and is indexed; the caller fills in the rest.
func (t *pendingTable) put(old int32, h uint64, maxPending int, evicted *int) *pendingReq {
	i := old
	if old >= 0 {
		*t.at(i) = pendingReq{h: h}
	} else {
		for t.live >= maxPending && t.order.len() > 0 {
			e := t.order.pop()
			if t.at(e.slot).seq == e.seq {
				t.remove(e.slot)
				*evicted++
			}
		}
		if n := len(t.free); n > 0 {
			i = t.free[n-1]
			t.free = t.free[:n-1]
		} else {
			if t.n%pendingChunk == 0 {
				t.chunks = append(t.chunks, new([pendingChunk]pendingReq))
			}
			i = int32(t.n)
			t.n++
		}
		t.at(i).h = h
		t.idx.insert(h, i)
		t.live++
	}
	t.seq++
	p := t.at(i)
	p.seq = t.seq
	t.order.push(pendingRef{i, p.seq})
	if t.order.len() > 2*t.live+64 {
		t.compact()
	}
	return p
}

// compact drops the queue entries of replaced and flushed requests.
func (t *pendingTable) compact() {
	var q fifo[pendingRef]
	for t.order.len() > 0 {
		e := t.order.pop()
		if t.at(e.slot).seq == e.seq {
			q.push(e)
		}
	}
	t.order = q
}

// flush frees the requests received before the given time and returns how
// many.
func (t *pendingTable) flush(before time.Time) int {
	n := 0
	for i := range int32(t.n) {
		if p := t.at(i); p.seq != 0 && p.t.Before(before) {
			t.remove(i)
			n++
		}
	}
	return n
}
