package flows

import (
	"math/rand/v2"
	"net/netip"
	"testing"
)

// TestMsgIndex drives the Message-ID ring and its index with random
// messages from few endpoints (so that keys repeat and runs of the table
// collide) against a map that holds the newest slot of every key, and
// checks every lookup, the count, the growth of the ring and of the
// table, and that the table never exceeds its bound.
func TestMsgIndex(t *testing.T) {
	for _, maxMsgs := range []int{1, 7, 1000, 5000} {
		tr := NewTracker(Config{MaxMessages: maxMsgs}, nil)
		ref := map[midKey]int{}
		rnd := rand.New(rand.NewPCG(1, uint64(maxMsgs)))
		var keys []midKey
		for i := range 40000 {
			var k midKey
			k.src.ip[15], k.dst.ip[15] = byte(rnd.IntN(3)), byte(rnd.IntN(3))
			k.src.port, k.dst.port = uint16(rnd.IntN(4)), uint16(rnd.IntN(2))
			k.mid = uint16(rnd.IntN(3000))
			keys = append(keys, k)
			tr.now = int64(i)
			if tr.ringLen == maxMsgs {
				old := tr.keyAt(tr.ringHead)
				if ref[old] == tr.ringHead {
					delete(ref, old)
				}
			}
			tr.putMsg(k, msgEntry{t: int64(i), frame: uint32(i)})
			ref[k] = (tr.ringHead + tr.ringLen - 1) % len(tr.ring)
			if tr.msgs.n != len(ref) {
				t.Fatalf("cap %d step %d: index holds %d keys, want %d", maxMsgs, i, tr.msgs.n, len(ref))
			}
			if i%97 == 0 {
				// The endpoint table holds exactly the endpoints of the
				// ring, each counted once per use.
				uses := map[endpoint]uint32{}
				for j := range tr.ringLen {
					k := tr.keyAt((tr.ringHead + j) % len(tr.ring))
					uses[k.src]++
					uses[k.dst]++
				}
				if len(tr.eps.ids) != len(uses) {
					t.Fatalf("cap %d step %d: %d endpoints numbered, %d in the ring", maxMsgs, i, len(tr.eps.ids), len(uses))
				}
				for e, n := range uses {
					if id := tr.eps.ids[e]; tr.eps.eps[id].refs != n {
						t.Fatalf("cap %d step %d: endpoint %v counted %d times, used %d", maxMsgs, i, e, tr.eps.eps[id].refs, n)
					}
				}
				for _, q := range keys[max(0, len(keys)-300):] {
					s, ok := tr.slotOf(q)
					want, wok := ref[q]
					if ok != wok || ok && s != want {
						t.Fatalf("cap %d step %d: key %v at %d,%v, want %d,%v", maxMsgs, i, q, s, ok, want, wok)
					}
					if ok && tr.keyAt(s) != q {
						t.Fatalf("slot %d holds another key", s)
					}
				}
			}
		}
		if len(tr.msgs.tab) > tr.msgs.max || tr.msgs.max < 2*maxMsgs || len(tr.ring) != maxMsgs {
			t.Errorf("cap %d: table %d (bound %d), ring %d", maxMsgs, len(tr.msgs.tab), tr.msgs.max, len(tr.ring))
		}
		tr.Close()
		if tr.msgs.n != 0 || len(tr.eps.ids) != 0 {
			t.Errorf("cap %d: %d keys left after Close", maxMsgs, tr.msgs.n)
		}
	}
}

// TestMsgIndexAllocs: once the ring is at its cap, remembering a message
// (forgetting the oldest) and looking one up allocate nothing.
func TestMsgIndexAllocs(t *testing.T) {
	tr := NewTracker(Config{MaxMessages: 1000}, nil)
	var k midKey
	i := 0
	put := func() {
		k.mid = uint16(i)
		k.src.port = uint16(i >> 16)
		tr.now = int64(i)
		tr.putMsg(k, msgEntry{t: int64(i)})
		tr.getMsg(k, int64(i))
		i++
	}
	for range 5000 {
		put()
	}
	if n := testing.AllocsPerRun(1000, put); n != 0 {
		t.Errorf("%v allocations per message at the cap", n)
	}
	if tr.msgs.n != 1000 {
		t.Errorf("%d messages indexed, want the cap, 1000", tr.msgs.n)
	}
}

// TestPooledBuffersStaySmall: buffers of released legs and response sets
// are kept for reuse only while small, so that the pools do not grow to
// the largest message ever seen.
func TestPooledBuffersStaySmall(t *testing.T) {
	tr := NewTracker(Config{}, nil)
	s := tr.newRecent()
	s[0].raw = make([]byte, 100)
	s[1].raw = make([]byte, 2000)
	tr.freeRecent(s)
	if got := tr.newRecent(); got != s || cap(got[0].raw) != 100 || len(got[0].raw) != 0 || got[1].raw != nil {
		t.Errorf("pooled set: same %v, caps %d and %d", got == s, cap(got[0].raw), cap(got[1].raw))
	}
	h := &hop{reqRaw: make([]byte, 4000), uri: make([]byte, 10)}
	h.clear()
	if h.reqRaw != nil || h.uri == nil {
		t.Errorf("cleared leg keeps a request copy of %d bytes, uri %v", cap(h.reqRaw), h.uri)
	}
}

// The endpoint table's cache never answers for an id that now names
// another endpoint or none.
func TestEPTableCache(t *testing.T) {
	tb := newEPTable()
	a, b := ep(netip.MustParseAddrPort("10.0.0.1:5683")), ep(netip.MustParseAddrPort("10.0.0.2:5683"))
	ida := tb.acquire(a)
	if id, ok := tb.lookup(a); !ok || id != ida {
		t.Fatalf("lookup of a: %d %v", id, ok)
	}
	tb.release(ida)
	if _, ok := tb.lookup(a); ok {
		t.Fatal("a found after its last release")
	}
	idb := tb.acquire(b) // takes a's id
	if idb != ida {
		t.Fatalf("b got id %d, a had %d", idb, ida)
	}
	if _, ok := tb.lookup(a); ok {
		t.Fatal("a found under b's id")
	}
	for i := range 1000 { // collisions in the cache
		e := ep(netip.AddrPortFrom(netip.AddrFrom4([4]byte{10, 1, byte(i >> 8), byte(i)}), uint16(i)))
		id := tb.acquire(e)
		if got, ok := tb.lookup(e); !ok || got != id {
			t.Fatalf("endpoint %d: %d %v, want %d", i, got, ok, id)
		}
	}
	if id, ok := tb.lookup(b); !ok || id != idb {
		t.Fatalf("b after collisions: %d %v", id, ok)
	}
}
