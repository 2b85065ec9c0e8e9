package tui

import (
	"bytes"
	"errors"
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"testing"

	"github.com/coapaudit/coapaudit/analysis"
	"github.com/coapaudit/coapaudit/dissect"
)

func blob(i, n int) []byte {
	b := make([]byte, n)
	for j := range b {
		b[j] = byte(i*7 + j)
	}
	return b
}

func TestStoreSpillsAndReads(t *testing.T) {
	dir := t.TempDir()
	s := newByteStore(0, 64<<20, dir) // the smallest memory budget: two segments
	type item struct {
		ref blobRef
		n   int
	}
	var items []item
	rng := rand.New(rand.NewPCG(1, 2))
	for i := 0; i < 5000; i++ {
		n := 1 + rng.IntN(3000)
		if i == 100 {
			n = segmentSize + 10 // larger than a segment
		}
		b := blob(i, n)
		items = append(items, item{s.add(b[:n/2], b[n/2:]), n})
	}
	mem, disk, dropped := s.stats()
	if mem > 2*segmentSize+segmentSize+10 || disk == 0 || dropped != 0 {
		t.Fatalf("mem %d disk %d dropped %d", mem, disk, dropped)
	}
	for i, it := range items {
		got, err := s.read(it.ref, it.n)
		if err != nil {
			t.Fatalf("item %d: %v", i, err)
		}
		if !bytes.Equal(got, blob(i, it.n)) {
			t.Fatalf("item %d: bytes differ", i)
		}
	}
	if err := s.close(); err != nil {
		t.Fatal(err)
	}
	if m, _ := filepath.Glob(filepath.Join(dir, "*")); len(m) != 0 {
		t.Errorf("temporary files left: %v", m)
	}
}

func TestStoreDropsBeyondBudgets(t *testing.T) {
	s := newByteStore(0, 0, t.TempDir()) // no disk
	defer s.close()
	first := s.add(blob(0, 1000))
	for i := 1; i < 4*segmentSize/1000; i++ {
		s.add(blob(i, 1000))
	}
	if _, err := s.read(first, 1000); !errors.Is(err, errBlobGone) {
		t.Errorf("oldest bytes: err %v, want errBlobGone", err)
	}
	_, _, dropped := s.stats()
	if dropped == 0 {
		t.Error("drops not counted")
	}
	last := s.add(blob(9, 10))
	if b, err := s.read(last, 10); err != nil || !bytes.Equal(b, blob(9, 10)) {
		t.Errorf("newest bytes: %v", err)
	}
	s.dropBefore(last)
	if b, err := s.read(last, 10); err != nil || !bytes.Equal(b, blob(9, 10)) {
		t.Errorf("dropBefore dropped the segment it was given: %v", err)
	}
	if _, err := s.read(blobRef{seg: last.seg - 1}, 1); !errors.Is(err, errBlobGone) {
		t.Errorf("dropped segment reads %v", err)
	}
	if _, err := s.read(last, 1<<20); err == nil {
		t.Error("read beyond the segment succeeded")
	}
}

// TestFramesOnDemand checks that a frame decoded again from the store is
// the message the engine decoded, with the same options, spans and
// decrypted inner message.
func TestFramesOnDemand(t *testing.T) {
	dir := capturesDir(t)
	opts := analysis.Options{Keys: keyring(t, dir)}
	name := filepath.Join(dir, "aiocoap-oscore-revproxy.pcap")
	type want struct {
		opts, inner string
		verified    bool
	}
	wants := map[int]want{}
	describe := func(raw []byte, offs [][2]int, ids []uint16) string {
		var b bytes.Buffer
		for i := range ids {
			fmt.Fprintf(&b, "%d@%d+%d=%x;", ids[i], offs[i][0], offs[i][1], raw[offs[i][0]:offs[i][0]+offs[i][1]])
		}
		return b.String()
	}
	st := newByteStore(0, 1<<30, t.TempDir())
	defer st.close()
	fs := frames{max: 1 << 20, store: st}
	ld := newLoader(t.Context(), nil, st, nil, nil)
	ld.flushFrames = 1 << 30
	ld.flushEvery = 1 << 62
	_, err := analysis.RunFiles([]string{name}, opts, func(pk *analysis.Packet) {
		ld.Packet(pk, 0)
		if pk.F.Proto != dissect.ProtoCoAP {
			return
		}
		m := &pk.F.CoAP
		var w want
		var offs [][2]int
		var ids []uint16
		for _, o := range m.Options {
			offs = append(offs, [2]int{o.Span.Off, o.Span.Len})
			ids = append(ids, uint16(o.ID))
		}
		w.opts = describe(m.Raw, offs, ids)
		if r := pk.OSCORE; r != nil && r.Verified {
			w.verified = true
			offs, ids = nil, nil
			for _, o := range r.Inner.Options {
				offs = append(offs, [2]int{o.Span.Off, o.Span.Len})
				ids = append(ids, uint16(o.ID))
			}
			w.inner = describe(r.Inner.Raw, offs, ids)
		}
		wants[pk.D.Number] = w
	}, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range ld.cur.frames {
		fs.add(r)
	}
	cache := newFrameCache(4)
	inner := 0
	for num, w := range wants {
		r := fs.lookup(num)
		if r == nil {
			t.Fatalf("frame %d not kept", num)
		}
		d := cache.get(st, r)
		if d.gone != nil || d.err != nil {
			t.Fatalf("frame %d: %v %v", num, d.gone, d.err)
		}
		var offs [][2]int
		var ids []uint16
		for _, o := range d.msg.Options {
			offs = append(offs, [2]int{o.Span.Off, o.Span.Len})
			ids = append(ids, uint16(o.ID))
		}
		if got := describe(d.msg.Raw, offs, ids); got != w.opts {
			t.Errorf("frame %d options %s, want %s", num, got, w.opts)
		}
		// The message sits at its offset in the frame.
		if !bytes.Equal(d.data[r.coapOff:int(r.coapOff)+int(r.coapLen)], d.msg.Raw) {
			t.Errorf("frame %d: CoAP message not at offset %d", num, r.coapOff)
		}
		if !w.verified {
			if d.hasInner {
				t.Errorf("frame %d has an inner message it should not", num)
			}
			continue
		}
		inner++
		offs, ids = nil, nil
		for _, o := range d.innerMsg.Options {
			offs = append(offs, [2]int{o.Span.Off, o.Span.Len})
			ids = append(ids, uint16(o.ID))
		}
		if got := describe(d.inner, offs, ids); got != w.inner {
			t.Errorf("frame %d inner options %s, want %s", num, got, w.inner)
		}
		// Spans mapped to the plaintext cover the same bytes.
		pt := d.plaintext()
		for _, o := range d.innerMsg.Options {
			s := d.innerSpan(o.Span)
			if !bytes.Equal(pt[s.Off:s.Off+s.Len], d.inner[o.Span.Off:o.Span.Off+o.Span.Len]) {
				t.Errorf("frame %d option %v: plaintext span differs", num, o.ID)
			}
		}
		if pt[0] != d.inner[1] {
			t.Errorf("frame %d: plaintext starts with %#x, want the inner code %#x", num, pt[0], d.inner[1])
		}
	}
	if inner == 0 {
		t.Error("nothing was decrypted")
	}
	if cache.len() != 4 {
		t.Errorf("cache holds %d frames, want its limit 4", cache.len())
	}
}

func TestFramesKeepNewest(t *testing.T) {
	// add stores a frame's record and passes it to fs, as the loader and
	// the viewer do.
	add := func(fs *frames, n int) {
		r := frameRec{num: uint32(n), t: int64(n) * 1e6, coapOff: -1}
		fs.add(frameAt{ref: fs.store.add(r.appendHeader(nil)), num: r.num})
	}
	st := newByteStore(0, 0, t.TempDir())
	defer st.close()
	fs := frames{max: 8, keepNewest: true, store: st}
	for n := 1; n <= 20; n++ {
		add(&fs, n)
	}
	if fs.lookup(20) == nil || fs.lookup(1) != nil {
		t.Errorf("keepNewest kept %d..%d", fs.files[0].base, fs.files[0].base+fs.files[0].refs.len()-1)
	}
	if r := fs.lookup(20); r == nil || r.num != 20 || r.t != 20e6 || r.coapOff != -1 {
		t.Errorf("record of frame 20 read back as %+v", r)
	}
	if got := fs.notKept + fs.files[0].refs.len(); got != 20 {
		t.Errorf("kept + forgotten = %d, want 20", got)
	}
	fs = frames{max: 8, store: st}
	for n := 1; n <= 20; n++ {
		add(&fs, n)
	}
	if fs.lookup(1) == nil || fs.lookup(9) != nil || fs.notKept != 12 {
		t.Errorf("keep first: notKept %d", fs.notKept)
	}
}

// TestFrameHeader checks that a frame's record reads back from its
// stored header field for field.
func TestFrameHeader(t *testing.T) {
	r := frameRec{t: -1 << 40, num: 1<<32 - 2, file: 3, ref: blobRef{seg: 5, off: 7}, data: 1 << 24, inner: 70000,
		note: 65535, innerHdr: 9, coapOff: -1, coapLen: 1 << 20, wire: 1<<32 - 1, pair: 0xdeadbeef, mid: 0xabcd,
		proto: 1, typ: 2, code: 0x45, osc: oscVerified, flags: flagReplay | flagStored}
	b := r.appendHeader([]byte{0xff})
	if len(b) != 1+frameHdrSize {
		t.Fatalf("header of %d bytes, want %d", len(b)-1, frameHdrSize)
	}
	if got := parseHeader(b[1:], r.ref); got != r {
		t.Errorf("read back %+v, want %+v", got, r)
	}
}
