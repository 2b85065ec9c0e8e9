package oscore

import (
	"bytes"
	"math/rand/v2"
	"net/netip"
	"testing"
	"time"

	"github.com/coapaudit/coapaudit/decode"
)

// winCheck records what a tracker says of Partial IVs of one key.
type winCheck struct {
	t  *testing.T
	tr *ReplayTracker
	k  ReplayKey
}

// The sender and receiver of the window tests.
var winSrc, winRcv = netip.MustParseAddrPort("10.0.0.1:1000"), netip.MustParseAddrPort("10.0.0.2:5683")

func (c winCheck) want(piv uint64, want ReplayStatus, wantFirst int) {
	c.t.Helper()
	if got, first := c.tr.Check(c.k, piv, winSrc, 0xffff); got != want || first != wantFirst {
		c.t.Errorf("%s Check(%d) = %v first %d, want %v first %d", c.k.KID, piv, got, first, want, wantFirst)
	}
}

// rec records piv in frame, with a Message ID of its own.
func (c winCheck) rec(piv uint64, frame int) { c.tr.Record(c.k, piv, frame, winSrc, uint16(frame)) }

func TestWindowInOrder(t *testing.T) {
	c := winCheck{t, NewReplayTracker(0), ReplayKey{Receiver: winRcv, KID: "\x01"}}
	for piv := range uint64(1000) {
		c.want(piv, Fresh, 0)
		c.rec(piv, int(piv)+1)
		c.want(piv, Duplicate, int(piv)+1)
	}
	if h, ok := c.tr.Highest(c.k); !ok || h != 999 {
		t.Errorf("Highest = %d %v", h, ok)
	}
}

func TestWindowOutOfOrder(t *testing.T) {
	c := winCheck{t, NewReplayTracker(0), ReplayKey{Receiver: winRcv, KID: "\x01"}}
	c.rec(100, 1)
	// Late but inside the window: fresh once, a duplicate after.
	for piv := uint64(100 - ReplayWindow + 1); piv < 100; piv += 3 {
		c.want(piv, Fresh, 0)
		c.rec(piv, int(piv))
		c.want(piv, Duplicate, int(piv))
	}
	c.want(100-ReplayWindow, Old, 0) // just below the window, never seen
	c.want(0, Old, 0)
	c.want(101, Fresh, 0)
	c.rec(140, 2) // the window moves up: 100 is now below it
	c.want(100, Duplicate, 1)
	c.want(101, Old, 0)
	c.want(139, Fresh, 0)
}

// TestWindowRecentSetEviction: once a Partial IV's record left the recent
// set, its window still tells a copy: a Duplicate without first frame up
// to seenSpan below the highest, Old below that, and a Partial IV in the
// window it never saw stays Fresh.
func TestWindowRecentSetEviction(t *testing.T) {
	tr := NewReplayTracker(4)
	c := winCheck{t, tr, ReplayKey{Receiver: winRcv, KID: "\x01"}}
	for i, piv := range []uint64{10, 12, 14, 300, 302, 310} {
		c.rec(piv, i+1)
	}
	if w, r := tr.Evictions(); w != 0 || r != 2 {
		t.Errorf("evictions: %d windows, %d records", w, r)
	}
	c.want(310, Duplicate, 6) // still recent
	c.want(14, Duplicate, 3)
	c.want(300, Duplicate, 4)
	c.want(12, Old, 0) // evicted, and 298 below the highest: beyond the bitmap
	c.want(11, Old, 0)
	c.want(309, Fresh, 0)
	for i, piv := range []uint64{400, 401, 402, 403} {
		c.rec(piv, 10+i)
	}
	c.want(300, Duplicate, 0) // evicted; 103 below 403: the bitmap remembers it
	c.want(302, Duplicate, 0)
	c.want(301, Old, 0)
	c.want(14, Old, 0) // evicted and 389 below: no longer known to be a copy
	c.want(10, Old, 0)
	c.want(400, Duplicate, 10)
}

func TestWindowPerSender(t *testing.T) {
	tr := NewReplayTracker(0)
	other := netip.MustParseAddrPort("10.0.0.3:5683")
	keys := []ReplayKey{
		{Receiver: winRcv, KID: "\x01"},
		{Receiver: winRcv, KID: "\x02"},
		{Receiver: winRcv, KID: "\x01", KIDContext: "\xaa"},
		{Receiver: winRcv, KID: "\x01", Response: true},
		{Receiver: other, KID: "\x01"},
		{Receiver: winRcv, KID: "", KIDContext: "\x01"}, // not kid 01 with no kid context
	}
	for i, k := range keys {
		tr.Record(k, uint64(1000*(i+1)), i+1, winSrc, uint16(i))
	}
	for i, k := range keys {
		c := winCheck{t, tr, k}
		base := uint64(1000 * (i + 1))
		c.want(base, Duplicate, i+1)
		c.want(base-ReplayWindow, Old, 0)
		c.want(base-1, Fresh, 0)
		for j := range keys {
			if j != i {
				c.want(uint64(1000*(j+1)), map[bool]ReplayStatus{true: Old, false: Fresh}[j < i], 0)
			}
		}
		if h, _ := tr.Highest(k); h != base {
			t.Errorf("%+v: highest %d", k, h)
		}
	}
}

// TestWindowLargeJumps moves the highest Partial IV by steps around the
// bitmap's span, where its bits wrap around.
func TestWindowLargeJumps(t *testing.T) {
	c := winCheck{t, NewReplayTracker(1), ReplayKey{Receiver: winRcv, KID: "\x01"}} // one record: the window alone decides
	c.rec(3, 1)
	c.rec(seenSpan+2, 2) // 3 is seenSpan-1 below: still seen
	c.rec(1000, 3)
	c.want(3, Old, 0)
	c.want(seenSpan+2, Old, 0) // 740 below
	c.rec(1000+seenSpan-1, 4)
	c.want(1000, Duplicate, 0) // seenSpan-1 below
	c.rec(1000+seenSpan, 5)
	c.want(1000, Old, 0) // seenSpan below: its bit was cleared, now another's
	c.want(1000+seenSpan-1, Duplicate, 0)
	// Inside the window, what was not seen is fresh.
	c.want(1000+seenSpan-ReplayWindow, Old, 0)
	c.want(1000+seenSpan-ReplayWindow+1, Fresh, 0)
	// The largest Partial IV (5 bytes), then far above any window.
	top := uint64(1<<40 - 1)
	c.rec(top, 6)
	c.want(top, Duplicate, 6)
	c.want(top-1, Fresh, 0)
	c.want(1000+seenSpan, Old, 0)
	c.want(0, Old, 0)
}

// TestWindowModel runs random traffic of a few senders and receivers
// through a small tracker and an unbounded model of it: every Partial IV
// ever seen per window, and the recent set as a FIFO.
func TestWindowModel(t *testing.T) {
	type wkey struct {
		rcv int
		kid byte
	}
	type mwin struct {
		max  uint64
		seen map[uint64]bool
	}
	rng := rand.New(rand.NewPCG(1, 2))
	const records = 64
	tr := NewReplayTracker(records)
	rcvs := []netip.AddrPort{winRcv, netip.MustParseAddrPort("10.0.0.3:5683"), netip.MustParseAddrPort("[2001:db8::1]:5683")}
	model := map[wkey]*mwin{}
	type recKey struct {
		w   wkey
		piv uint64
	}
	var recent []recKey
	recentFirst := map[recKey]int{} // the recent set: first frame, 0 if unknown
	for frame := 1; frame <= 20000; frame++ {
		wk := wkey{rng.IntN(len(rcvs)), byte(rng.IntN(4))}
		k := ReplayKey{Receiver: rcvs[wk.rcv], KID: string([]byte{wk.kid})}
		w := model[wk]
		var piv uint64
		switch {
		case w == nil:
			piv = rng.Uint64N(1000)
		case rng.IntN(4) == 0: // an older one
			piv = w.max - min(w.max, rng.Uint64N(600))
		case rng.IntN(8) == 0: // a jump
			piv = w.max + rng.Uint64N(2*seenSpan)
		default: // dense: the bitmap's bits wrap around often
			piv = w.max + rng.Uint64N(4)
		}
		want, wantFirst := Fresh, 0
		if w != nil {
			seen := w.seen[piv]
			first, recent := recentFirst[recKey{wk, piv}]
			switch {
			case recent:
				want, wantFirst = Duplicate, first
			case piv > w.max:
			case seen && w.max-piv < seenSpan:
				want = Duplicate
			case w.max-piv >= ReplayWindow:
				want = Old
			}
		}
		got, first := tr.Check(k, piv, winSrc, 0xffff)
		if got != want || first != wantFirst {
			t.Fatalf("frame %d, %v piv %d: %v first %d, want %v first %d", frame, k, piv, got, first, want, wantFirst)
		}
		if rng.IntN(3) == 0 {
			continue // a forgery: not recorded
		}
		tr.Record(k, piv, frame, winSrc, uint16(frame))
		if w == nil {
			w = &mwin{max: piv, seen: map[uint64]bool{}}
			model[wk] = w
		}
		// A Partial IV that the window remembers and the recent set does
		// not gets a record without first frame.
		rk := recKey{wk, piv}
		if _, ok := recentFirst[rk]; !ok {
			recentFirst[rk] = frame
			if w.seen[piv] && piv <= w.max && w.max-piv < seenSpan {
				recentFirst[rk] = 0
			}
			recent = append(recent, rk)
			if len(recent) > records {
				delete(recentFirst, recent[0])
				recent = recent[1:]
			}
		}
		w.seen[piv] = true
		w.max = max(w.max, piv)
	}
	if _, r := tr.Evictions(); r == 0 || len(tr.recs) != records || tr.recIdx.n != records {
		t.Errorf("recent set: %d evicted, %d held, %d indexed", r, len(tr.recs), tr.recIdx.n)
	}
}

// TestWindowHashCollisions gives every window and every Partial IV record
// the same hashes: the tracker must tell them apart by their keys.
func TestWindowHashCollisions(t *testing.T) {
	tr := NewReplayTracker(0)
	key := func(kid byte, rcv netip.AddrPort) windowKey {
		return windowKey{kid: []byte{kid}, rcv: rcv, sender: 7, h: 7}
	}
	other := netip.MustParseAddrPort("10.0.0.3:5683")
	for kid := range byte(20) {
		for _, rcv := range []netip.AddrPort{winRcv, other} {
			k := key(kid, rcv)
			tr.add(&k, tr.find(&k), uint64(kid)*10, int(kid)+1, winSrc, 1)
		}
	}
	for kid := range byte(20) {
		k := key(kid, winRcv)
		ref := tr.find(&k)
		if w := tr.win(ref); w == nil || w.kid != string([]byte{kid}) || w.max != uint64(kid)*10 {
			t.Fatalf("kid %d: window %+v", kid, w)
		}
		if s, first := tr.check(ref, uint64(kid)*10, winSrc, 2); s != Duplicate || first != int(kid)+1 {
			t.Errorf("kid %d: %v first %d", kid, s, first)
		}
		if s, _ := tr.check(ref, uint64(kid)*10+1, winSrc, 2); s != Fresh {
			t.Errorf("kid %d, next: %v", kid, s)
		}
	}
	if k := key(99, winRcv); tr.find(&k) != noWindow {
		t.Error("found a window for an unknown kid")
	}
}

// TestRelayedCopiesBounded: a Partial IV sent to many receivers keeps
// records at maxHops of them; the others still see copies by their window.
func TestRelayedCopiesBounded(t *testing.T) {
	tr := NewReplayTracker(0)
	for i := range 20 {
		k := ReplayKey{Receiver: netip.AddrPortFrom(winRcv.Addr(), uint16(6000+i)), KID: "\x01"}
		tr.Record(k, 5, i+1, winSrc, 1)
		want := i + 1
		if i >= maxHops {
			want = 0
		}
		if s, first := tr.Check(k, 5, winSrc, 2); s != Duplicate || first != want {
			t.Errorf("receiver %d: %v first %d", i, s, first)
		}
	}
	if n := len(tr.recs); n != maxHops {
		t.Errorf("%d records", n)
	}
}

func TestFlatIndex(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	var x flatIndex
	model := map[int32]uint64{} // entry -> hash
	for step := range 50000 {
		e := int32(rng.IntN(400))
		// Few distinct hashes, sharing home slots: long runs, many
		// collisions.
		h := uint64(rng.IntN(64)) * uint64(1+rng.IntN(3))
		if old, ok := model[e]; ok {
			if !x.remove(old, e) {
				t.Fatalf("step %d: entry %d not removed", step, e)
			}
			delete(model, e)
		} else {
			x.insert(h, e)
			model[e] = h
		}
		if x.n != len(model) {
			t.Fatalf("step %d: %d entries, want %d", step, x.n, len(model))
		}
		if step%97 == 0 {
			for e, h := range model {
				found := false
				for pos, f := x.first(h); f >= 0; pos, f = x.next(pos, h) {
					found = found || f == e
				}
				if !found {
					t.Fatalf("step %d: entry %d (hash %d) not found", step, e, h)
				}
			}
		}
	}
	if x.remove(12345, 999) {
		t.Error("removed an entry that was never there")
	}
	if len(x.slots) > 2048 {
		t.Errorf("index grew to %d slots for at most 400 entries", len(x.slots))
	}
}

// TestPendingTableCollisions puts requests under one hash: they are told
// apart by client, server and token.
func TestPendingTableCollisions(t *testing.T) {
	var pt pendingTable
	evicted := 0
	o := decode.OSCOREOption{PIV: []byte{1}, HasKID: true, KID: []byte{}}
	tok := func(i int) []byte { return []byte{byte(i), byte(i >> 8)} }
	for i := range 100 {
		p := pt.put(-1, 42, 64, &evicted)
		p.set(tok(i), &o)
		p.client, p.server, p.frame = winSrc, winRcv, i
	}
	if evicted != 36 || pt.live != 64 {
		t.Errorf("evicted %d, %d live", evicted, pt.live)
	}
	for i := range 100 {
		p := pt.get(pt.find(42, winSrc, winRcv, tok(i)))
		switch {
		case i < 36 && p != nil:
			t.Errorf("request %d not evicted", i)
		case i >= 36 && (p == nil || p.frame != i):
			t.Errorf("request %d: %+v", i, p)
		}
	}
	if pt.find(42, winRcv, winSrc, tok(50)) >= 0 || pt.find(43, winSrc, winRcv, tok(50)) >= 0 {
		t.Error("found a request under another hop or hash")
	}
}

// TestReqBytes: short requests stay inline, long ones get their own
// storage; absent fields stay nil.
func TestReqBytes(t *testing.T) {
	long := bytes.Repeat([]byte{0xcc}, 40)
	for _, o := range []decode.OSCOREOption{
		{PIV: []byte{1, 2}, KID: []byte{5}, HasKID: true, KIDContext: []byte{9, 9}, HasKIDContext: true},
		{PIV: []byte{1}},
		{PIV: []byte{1}, KID: []byte{}, HasKID: true, KIDContext: []byte{}, HasKIDContext: true},
		{PIV: []byte{1, 2, 3, 4, 5}, KID: []byte{7}, HasKID: true, KIDContext: long, HasKIDContext: true},
	} {
		var b reqBytes
		b.set([]byte("tok"), &o)
		if string(b.token()) != "tok" || !bytes.Equal(b.pivBytes(), o.PIV) || !bytes.Equal(b.kidBytes(), o.KID) ||
			!bytes.Equal(b.kidCtx(), o.KIDContext) || (b.kidBytes() == nil) != !o.HasKID || (b.kidCtx() == nil) != !o.HasKIDContext {
			t.Errorf("%+v: token %q kid %x piv %x kid context %x", o, b.token(), b.kidBytes(), b.pivBytes(), b.kidCtx())
		}
		if !b.same(&o) {
			t.Errorf("%+v: not the same as itself", o)
		}
		if (b.ext != nil) != (len(o.KIDContext) > 20) {
			t.Errorf("%+v: ext %v", o, b.ext != nil)
		}
	}
}

// TestProcessAllocs: a fresh request, and the response to it, cost one
// allocation each, the Result, once the tables are warm.
func TestProcessAllocs(t *testing.T) {
	k := fuzzKeyring(t)
	ctx := k.Contexts()[0]
	const n = 400
	reqs := protectedRequests(t, ctx, n, 40)
	resps := make([]decode.Message, n)
	for i := range reqs {
		wire, err := ctx.Reverse().ProtectResponse(&decode.Message{
			Type: decode.Acknowledgement, Code: 0x45, MessageID: reqs[i].MessageID, Token: reqs[i].Token,
			Options: []decode.Option{{ID: decode.OptContentFormat}}, Payload: []byte("21.5 C"),
		}, requestRef(t, &reqs[i]), 0, false)
		if err != nil {
			t.Fatal(err)
		}
		if err := resps[i].Decode(wire); err != nil {
			t.Fatal(err)
		}
	}
	client, server := netip.MustParseAddrPort("10.0.0.1:40000"), netip.MustParseAddrPort("10.0.0.2:5683")
	d := NewDecryptor(k, WithMaxPending(64), WithReplayTracker(NewReplayTracker(64)))
	i := 0
	step := func() {
		r := d.Process(time.Time{}, 2*i+1, client, server, &reqs[i])
		if !r.Verified || r.Replay != Fresh {
			t.Fatalf("request %d: %v %v", i, r.Err, r.Replay)
		}
		r = d.Process(time.Time{}, 2*i+2, server, client, &resps[i])
		if !r.Verified || r.RequestFrame != 2*i+1 || string(r.Inner.Payload) != "21.5 C" {
			t.Fatalf("response %d: %v frame %d", i, r.Err, r.RequestFrame)
		}
		i++
	}
	for range 200 { // fill the bounded tables
		step()
	}
	if allocs := testing.AllocsPerRun(100, step); allocs > 2 {
		t.Errorf("%.1f allocations per request and response, want 2 (the Results)", allocs)
	}
	if st := d.Stats(); st.Evicted == 0 || st.PIVsEvicted == 0 || st.Verified != 2*i {
		t.Errorf("stats %+v", st)
	}
}

func requestRef(t *testing.T, m *decode.Message) RequestRef {
	v, _ := findOSCORE(m)
	o, err := decode.ParseOSCORE(v)
	if err != nil {
		t.Fatal(err)
	}
	return RequestRef{KID: o.KID, PIV: o.PIV}
}

// TestResultOwned: a Result stays as it was while later messages are
// processed; the caller owns it.
func TestResultOwned(t *testing.T) {
	k := fuzzKeyring(t)
	reqs := protectedRequests(t, k.Contexts()[0], 300, 300)
	d := NewDecryptor(k, WithMaxPending(8))
	client, server := netip.MustParseAddrPort("10.0.0.1:40000"), netip.MustParseAddrPort("10.0.0.2:5683")
	type snap struct {
		plain, raw, kid, piv, kidCtx, reqKID []byte
		opts                                 []decode.Option
	}
	take := func(r *Result) snap {
		s := snap{plain: clone(r.Plaintext), raw: clone(r.Inner.Raw), kid: clone(r.Option.KID), piv: clone(r.Option.PIV),
			kidCtx: clone(r.Option.KIDContext), reqKID: clone(r.RequestKID)}
		for _, o := range r.Inner.Options {
			s.opts = append(s.opts, decode.Option{ID: o.ID, Value: clone(o.Value), Span: o.Span})
		}
		return s
	}
	var results []*Result
	var snaps []snap
	for i := range reqs {
		r := d.Process(time.Time{}, i+1, client, server, &reqs[i])
		if !r.Verified {
			t.Fatal(r.Err)
		}
		results, snaps = append(results, r), append(snaps, take(r))
	}
	for i, r := range results {
		s := take(r)
		if !bytes.Equal(s.plain, snaps[i].plain) || !bytes.Equal(s.raw, snaps[i].raw) || !bytes.Equal(s.kid, snaps[i].kid) ||
			!bytes.Equal(s.piv, snaps[i].piv) || !bytes.Equal(s.kidCtx, snaps[i].kidCtx) || !bytes.Equal(s.reqKID, snaps[i].reqKID) ||
			len(s.opts) != len(snaps[i].opts) {
			t.Fatalf("result %d changed", i)
		}
		for j := range s.opts {
			if s.opts[j].ID != snaps[i].opts[j].ID || !bytes.Equal(s.opts[j].Value, snaps[i].opts[j].Value) {
				t.Fatalf("result %d, option %d changed", i, j)
			}
		}
		if len(r.Inner.Payload) != i%300 {
			t.Fatalf("result %d: payload of %d bytes", i, len(r.Inner.Payload))
		}
	}
}
