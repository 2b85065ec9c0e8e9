package flows

import (
	"encoding/json"
	"net/netip"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/coapaudit/coapaudit/decode"
)

const (
	client  = "10.0.0.1:40000"
	client2 = "10.0.0.2:40000"
	proxyIn = "10.0.0.9:5683"
	proxyO  = "10.0.0.9:50000"
	origin  = "10.0.0.20:5683"
	ms      = time.Millisecond
)

func one(t *testing.T, xs []*Exchange) *Exchange {
	t.Helper()
	if len(xs) != 1 {
		t.Fatalf("%d exchanges, want 1:\n%s", len(xs), dump(xs))
	}
	return xs[0]
}

func TestPiggybackedAndSeparate(t *testing.T) {
	s := newSim(t, Config{})
	s.send(client, origin, con(decode.CodeGET, 1, "a").path("x"))
	s.after(ms).send(origin, client, ack(decode.CodeContent, 1, "a").body("v"))
	s.after(ms).send(client, origin, con(decode.CodeGET, 2, "b").path("y"))
	s.after(ms).send(origin, client, emptyACK(2))
	s.after(time.Second).send(origin, client, con(decode.CodeContent, 900, "b").body("w"))
	s.after(ms).send(client, origin, emptyACK(900))
	xs := s.close()
	if len(xs) != 2 {
		t.Fatalf("got:\n%s", dump(xs))
	}
	a, b := xs[0], xs[1]
	if a.Status != Complete || a.Code != "2.05" || a.URI != "coap://10.0.0.20/x" || !slices.Equal(a.Frames, []int{1, 2}) || a.RTT.D != ms {
		t.Errorf("piggybacked:\n%s", dump(xs[:1]))
	}
	if b.Status != Complete || !slices.Equal(b.Legs[0].ResponseFrames, []int{5}) || !slices.Equal(b.Legs[0].OtherFrames, []int{4, 6}) || b.RTT.D != time.Second+ms {
		t.Errorf("separate:\n%s", dump(xs[1:]))
	}
}

func TestMessageLayerCopies(t *testing.T) {
	s := newSim(t, Config{})
	req := con(decode.CodeGET, 7, "t").path("r")
	s.send(client, origin, req)
	s.after(10*ms).send(client, origin, req)         // too soon for a timeout: a duplicate
	s.after(2*time.Second).send(client, origin, req) // after ACK_TIMEOUT: a retransmission
	s.after(ms).send(origin, client, ack(decode.CodeContent, 7, "t"))
	s.after(ms).send(origin, client, ack(decode.CodeContent, 7, "t")) // one per request copy is fine
	s.after(ms).send(origin, client, ack(decode.CodeContent, 7, "t"))
	s.after(ms).send(origin, client, ack(decode.CodeContent, 7, "t")) // a fourth: flood
	// A different message with the same Message ID within its lifetime.
	s.after(time.Second).send(client, origin, con(decode.CodeGET, 7, "u").path("other"))
	s.after(ms).send(origin, client, ack(decode.CodeNotFound, 7, "u"))
	xs := s.close()
	if len(xs) != 2 {
		t.Fatalf("got:\n%s", dump(xs))
	}
	l := xs[0].Legs[0]
	if l.Duplicates != 1 || l.Retransmissions != 1 || l.ResponseRetransmissions != 2 || l.ResponseDuplicates != 1 ||
		!slices.Equal(l.RequestFrames, []int{1, 2, 3}) || !slices.Equal(l.ResponseFrames, []int{4, 5, 6, 7}) {
		t.Errorf("copies: %+v", l)
	}
	if xs[1].Code != "4.04" || xs[1].URI != "coap://10.0.0.20/other" {
		t.Errorf("Message ID reuse:\n%s", dump(xs[1:]))
	}
	st := s.tr.Stats()
	if st.MessageIDReuse != 1 || st.Duplicates != 1 || st.Retransmissions != 1 || st.ResponseDuplicates != 1 || st.Requests != 2 {
		t.Errorf("stats %+v", st)
	}
}

func TestNONDuplicateAndEmptyToken(t *testing.T) {
	s := newSim(t, Config{})
	req := non(decode.CodeGET, 3, "").path("n")
	s.send(client, origin, req)
	s.after(3*time.Second).send(client, origin, req) // NON is never retransmitted
	s.after(ms).send(origin, client, non(decode.CodeContent, 44, "").body("1"))
	x := one(t, s.close())
	if x.Status != Complete || x.Legs[0].Duplicates != 1 || x.Legs[0].Retransmissions != 0 || x.Legs[0].Token.String() != "" || x.Legs[0].Type != "NON" {
		t.Errorf("got:\n%s", dump([]*Exchange{x}))
	}
}

func TestUnmatched(t *testing.T) {
	s := newSim(t, Config{})
	s.send(origin, client, con(decode.CodeContent, 5, "zz").observe(9).body("a"))
	s.after(ms).send(client, origin, emptyACK(5))
	s.after(time.Second).send(origin, client, con(decode.CodeContent, 6, "zz").observe(10).body("b"))
	s.after(ms).send(client, origin, emptyACK(777)) // matches nothing
	s.after(ms).send(client, origin, rst(778))      // matches nothing
	s.after(ms).send(origin, client, ack(decode.CodeContent, 999, "q"))
	xs := s.close()
	if len(xs) != 2 {
		t.Fatalf("got:\n%s", dump(xs))
	}
	// A notification stream whose registration was not captured stays one
	// exchange.
	if x := xs[0]; x.Status != Unmatched || x.Method != "" || x.Client != ap(client) || x.Server != ap(origin) ||
		!slices.Equal(x.Frames, []int{1, 2, 3}) || x.Notifications != 1 {
		t.Errorf("got:\n%s", dump(xs))
	}
	if xs[1].Status != Unmatched || !slices.Equal(xs[1].Frames, []int{6}) {
		t.Errorf("got:\n%s", dump(xs))
	}
	st := s.tr.Stats()
	if st.UnmatchedResponses != 2 || st.UnmatchedACKs != 1 || st.UnmatchedResets != 1 {
		t.Errorf("stats %+v", st)
	}
}

func TestObserveFreshness(t *testing.T) {
	s := newSim(t, Config{})
	s.send(client, origin, con(decode.CodeGET, 1, "o").path("obs").observe(0))
	s.after(ms).send(origin, client, ack(decode.CodeContent, 1, "o").observe(0xfffffe))
	for i, seq := range []uint32{0xffffff, 0, 1, 0xfffff0, 2} { // wraps; 0xfffff0 is stale
		s.after(time.Second).send(origin, client, non(decode.CodeContent, uint16(100+i), "o").observe(seq))
	}
	// Long after: the 128 s rule makes any number fresh.
	s.after(200*time.Second).send(origin, client, non(decode.CodeContent, 200, "o").observe(1))
	s.after(time.Second).send(origin, client, non(decode.CodeContent, 201, "o").observe(0))
	// RST to a CON notification cancels; later ones are late.
	n := s.after(time.Second).send(origin, client, con(decode.CodeContent, 202, "o").observe(2))
	s.after(ms).send(client, origin, rst(202))
	s.after(time.Second).send(origin, client, non(decode.CodeContent, 203, "o").observe(3))
	x := one(t, s.close())
	o := x.Observe
	if x.Status != Observing || o == nil || o.Stale != 2 || o.Ended != "reset" || o.EndFrame != n+1 || o.Late != 1 || o.LastSeq != 3 || x.Notifications != 9 {
		t.Errorf("got %+v:\n%s", o, dump([]*Exchange{x}))
	}
	if x.Legs[0].Rejected != 1 {
		t.Errorf("rejected %d", x.Legs[0].Rejected)
	}
}

func TestFresher(t *testing.T) {
	for _, c := range []struct {
		v1, v2 uint32
		dt     time.Duration
		want   bool
	}{
		{1, 2, 0, true},
		{2, 1, 0, false},
		{0xffffff, 0, 0, true},
		{0, 0xffffff, 0, false},
		{5, 5, 0, false},
		{5, 5, 129 * time.Second, true},
		{1, 1 + 1<<23, 0, false},
	} {
		if got := fresher(c.v1, c.v2, 0, int64(c.dt)); got != c.want {
			t.Errorf("fresher(%d, %d, %v) = %v", c.v1, c.v2, c.dt, got)
		}
	}
}

func TestForwardProxyChain(t *testing.T) {
	const p2 = "10.0.0.10:5683"
	s := newSim(t, Config{})
	uri := "coap://10.0.0.20/sensors/t?u=c"
	s.send(client, proxyIn, con(decode.CodeGET, 1, "a").str(decode.OptProxyURI, uri))
	s.after(2*ms).send(proxyO, p2, con(decode.CodeGET, 2, "b").str(decode.OptProxyURI, uri)) // kept: next hop is a proxy
	s.after(3*ms).send("10.0.0.10:6000", origin, con(decode.CodeGET, 3, "c").path("sensors/t").str(decode.OptURIQuery, "u=c"))
	s.after(4*ms).send(origin, "10.0.0.10:6000", ack(decode.CodeContent, 3, "c").body("21"))
	s.after(5*ms).send(p2, proxyO, ack(decode.CodeContent, 2, "b").body("21"))
	s.after(6*ms).send(proxyIn, client, ack(decode.CodeContent, 1, "a").body("21"))
	x := one(t, s.close())
	if x.Status != Complete || len(x.Legs) != 3 || x.Proxy != ap(proxyIn) || !slices.Equal(x.Proxies, []netip.AddrPort{ap(proxyIn), ap(p2)}) ||
		x.Server != ap(origin) || x.URI != uri {
		t.Fatalf("got:\n%s", dump([]*Exchange{x}))
	}
	r := x.Residence
	if len(r) != 2 || r[0].Request.D != 2*ms || r[1].Request.D != 3*ms || r[1].Response.D != 5*ms || r[0].Response.D != 6*ms || !r[0].Relayed || !r[1].Relayed {
		t.Errorf("residence %+v", r)
	}
}

func TestForwardProxySchemeAndTarget(t *testing.T) {
	s := newSim(t, Config{})
	req := con(decode.CodePUT, 1, "a").str(decode.OptProxyScheme, "coap").str(decode.OptURIHost, "10.0.0.20").path("v").body("3")
	s.send(client, proxyIn, req)
	// The same request to another server is no forward of it.
	s.after(ms).send(proxyO, "10.0.0.21:5683", con(decode.CodePUT, 2, "b").path("v").body("3"))
	s.after(ms).send(proxyO, origin, con(decode.CodePUT, 3, "c").path("v").body("3"))
	s.after(ms).send(origin, proxyO, ack(decode.CodeChanged, 3, "c"))
	s.after(ms).send(proxyIn, client, ack(decode.CodeChanged, 1, "a"))
	xs := s.close()
	if len(xs) != 2 || len(xs[0].Legs) != 2 || xs[0].Legs[1].To != ap(origin) || xs[0].URI != "coap://10.0.0.20/v" || xs[0].Status != Complete {
		t.Errorf("got:\n%s", dump(xs))
	}
}

func TestReverseProxyHeuristic(t *testing.T) {
	// A plain reverse proxy: the node that got the request sends the same
	// request on from its own address.
	s := newSim(t, Config{})
	s.send(client, proxyIn, con(decode.CodeGET, 1, "a").path("temp"))
	s.after(ms).send(proxyO, origin, con(decode.CodeGET, 2, "b").path("temp"))
	s.after(ms).send(origin, proxyO, ack(decode.CodeContent, 2, "b").body("20"))
	s.after(ms).send(proxyIn, client, ack(decode.CodeContent, 1, "a").body("20"))
	x := one(t, s.close())
	if x.Status != Complete || x.Proxy != ap(proxyIn) || x.Server != ap(origin) || len(x.Legs) != 2 {
		t.Errorf("got:\n%s", dump([]*Exchange{x}))
	}

	// The same, sent on from an unrelated address: not linked unless the
	// proxy is configured (by address, any port).
	run := func(cfg Config) []*Exchange {
		s := newSim(t, cfg)
		s.send(client, proxyIn, con(decode.CodeGET, 1, "a").path("temp"))
		s.after(ms).send("10.0.0.99:1234", origin, con(decode.CodeGET, 2, "b").path("temp"))
		s.after(ms).send(origin, "10.0.0.99:1234", ack(decode.CodeContent, 2, "b").body("20"))
		s.after(ms).send(proxyIn, client, ack(decode.CodeContent, 1, "a").body("20"))
		return s.close()
	}
	if xs := run(Config{}); len(xs) != 2 {
		t.Errorf("unconfigured: got:\n%s", dump(xs))
	}
	xs := run(Config{Proxies: []netip.AddrPort{netip.AddrPortFrom(netip.MustParseAddr("10.0.0.9"), 0)}})
	if len(xs) != 1 || len(xs[0].Legs) != 2 || xs[0].Status != Complete {
		t.Errorf("configured: got:\n%s", dump(xs))
	}
}

func TestProxyStatuses(t *testing.T) {
	s := newSim(t, Config{})
	// X1: a normal forward, which teaches that proxyIn is a proxy.
	s.send(client, proxyIn, con(decode.CodeGET, 1, "a").path("r"))
	s.after(ms).send(proxyO, origin, con(decode.CodeGET, 2, "b").path("r"))
	s.after(ms).send(origin, proxyO, ack(decode.CodeContent, 2, "b").body("x"))
	s.after(ms).send(proxyIn, client, ack(decode.CodeContent, 1, "a").body("x"))
	// X2: answered from the proxy's cache, with the body X1 carried.
	s.after(ms).send(client2, proxyIn, con(decode.CodeGET, 3, "c").path("r"))
	s.after(ms).send(proxyIn, client2, ack(decode.CodeContent, 3, "c").body("x"))
	// X3: the server answers, the client never hears of it.
	s.after(ms).send(client, proxyIn, con(decode.CodeGET, 4, "d").path("s"))
	s.after(ms).send(proxyO, origin, con(decode.CodeGET, 5, "e").path("s"))
	s.after(ms).send(origin, proxyO, ack(decode.CodeContent, 5, "e").body("y"))
	// X4: the proxy answers before the server did: not relayed.
	s.after(ms).send(client, proxyIn, con(decode.CodeGET, 6, "f").path("u"))
	s.after(ms).send(proxyO, origin, con(decode.CodeGET, 7, "g").path("u"))
	s.after(ms).send(proxyIn, client, ack(decode.CodeContent, 6, "f").body("forged"))
	s.after(ms).send(origin, proxyO, ack(decode.CodeContent, 7, "g").body("real"))
	// X5: nobody answers.
	s.after(ms).send(client, proxyIn, con(decode.CodeGET, 8, "h").path("v"))
	xs := s.close()
	want := []Status{Complete, ServedByIntermediary, Withheld, ServedByIntermediary, Unanswered}
	if len(xs) != len(want) {
		t.Fatalf("got:\n%s", dump(xs))
	}
	for i, w := range want {
		if xs[i].Status != w {
			t.Errorf("%s: %s, want %s", xs[i].ID, xs[i].Status, w)
		}
	}
	if !slices.Equal(xs[1].Links, []Link{{Kind: "cached-from", Exchange: "X1", Frame: 6}}) || xs[1].Proxy != ap(proxyIn) {
		t.Errorf("cache hit:\n%s", dump(xs[1:2]))
	}
	if xs[3].Residence[0].Relayed || xs[3].Residence[0].Response.Valid {
		t.Errorf("forged response counted as relayed: %+v", xs[3].Residence)
	}
	if xs[4].Proxy != ap(proxyIn) || xs[4].RTT.Valid {
		t.Errorf("unanswered:\n%s", dump(xs[4:]))
	}
}

func TestObserveFanOut(t *testing.T) {
	// One server-leg observation feeds two clients (seed section 2.2.2,
	// figure 9).
	s := newSim(t, Config{})
	s.send(client, proxyIn, con(decode.CodeGET, 1, "a").path("t").observe(0))
	s.after(ms).send(proxyO, origin, con(decode.CodeGET, 2, "b").path("t").observe(0))
	s.after(ms).send(origin, proxyO, ack(decode.CodeContent, 2, "b").observe(1).body("20"))
	s.after(ms).send(proxyIn, client, ack(decode.CodeContent, 1, "a").observe(1).body("20"))
	s.after(ms).send(client2, proxyIn, con(decode.CodeGET, 3, "c").path("t").observe(0))
	s.after(ms).send(proxyIn, client2, ack(decode.CodeContent, 3, "c").observe(1).body("20"))
	for i := range 3 {
		body := string(rune('a' + i))
		s.after(time.Second).send(origin, proxyO, non(decode.CodeContent, uint16(10+i), "b").observe(uint32(2+i)).body(body))
		s.after(ms).send(proxyIn, client, non(decode.CodeContent, uint16(20+i), "a").observe(uint32(2+i)).body(body))
		s.after(ms).send(proxyIn, client2, non(decode.CodeContent, uint16(30+i), "c").observe(uint32(2+i)).body(body))
	}
	xs := s.close()
	if len(xs) != 2 {
		t.Fatalf("got:\n%s", dump(xs))
	}
	a, b := xs[0], xs[1]
	if a.Status != Observing || len(a.Legs) != 2 || a.Notifications != 3 || a.Legs[1].Notifications != 3 {
		t.Errorf("owner:\n%s", dump(xs))
	}
	if b.Status != Observing || len(b.Legs) != 2 || b.Legs[1].Shared != "X1" || b.Notifications != 3 ||
		!slices.Equal(b.Links, []Link{{Kind: "cached-from", Exchange: "X1", Frame: 6}, {Kind: "fed-by", Exchange: "X1", Frame: 9}}) {
		t.Errorf("fed client:\n%s", dump(xs))
	}
	if r := a.Residence[0]; r.MaxNotification.D != ms || !r.Relayed {
		t.Errorf("notification residence %+v", r)
	}
	st := s.tr.Stats()
	if st.Proxied != 1 {
		t.Errorf("proxied %d, want 1 (the shared leg is not a hop of X2)", st.Proxied)
	}
}

func TestPubSubBroker(t *testing.T) {
	const broker = "10.0.0.50:5683"
	s := newSim(t, Config{})
	s.send(client, broker, con(decode.CodeGET, 1, "s1").path("ps/temp").observe(0))
	s.after(ms).send(broker, client, ack(decode.CodeContent, 1, "s1").observe(1).body("19"))
	s.after(ms).send(client2, broker, con(decode.CodeGET, 1, "s2").path("ps/temp").observe(0))
	s.after(ms).send(broker, client2, ack(decode.CodeContent, 1, "s2").observe(1).body("19"))
	// A publication on another topic with the same body is not linked.
	s.after(ms).send("10.0.0.60:40000", broker, con(decode.CodePUT, 9, "p0").path("ps/other").body("21"))
	s.after(ms).send(broker, "10.0.0.60:40000", ack(decode.CodeChanged, 9, "p0"))
	s.after(time.Second).send("10.0.0.60:40000", broker, con(decode.CodePUT, 10, "p").path("ps/temp").body("21"))
	s.after(ms).send(broker, "10.0.0.60:40000", ack(decode.CodeChanged, 10, "p"))
	n1 := s.after(ms).send(broker, client, non(decode.CodeContent, 100, "s1").observe(2).body("21"))
	n2 := s.after(ms).send(broker, client2, non(decode.CodeContent, 101, "s2").observe(2).body("21"))
	xs := s.close()
	if len(xs) != 4 {
		t.Fatalf("got:\n%s", dump(xs))
	}
	pub := xs[3]
	c1, c2 := netip.MustParseAddrPort(client), netip.MustParseAddrPort(client2)
	if !slices.Equal(pub.Links, []Link{{Kind: "delivered-to", Exchange: "X1", Frame: n1, Peer: c1}, {Kind: "delivered-to", Exchange: "X2", Frame: n2, Peer: c2}}) {
		t.Errorf("publication links %+v", pub.Links)
	}
	if !slices.Equal(xs[0].Links, []Link{{Kind: "published-by", Exchange: "X4", Frame: n1, Peer: pub.Client}}) || len(xs[2].Links) != 0 {
		t.Errorf("subscriber links %+v / other topic %+v", xs[0].Links, xs[2].Links)
	}
}

func TestBlockwiseInterleaved(t *testing.T) {
	// Two Block2 transfers of different resources from one client,
	// interleaved, each block with a fresh token; and two Block1 uploads
	// to one resource kept apart by Request-Tag.
	s := newSim(t, Config{})
	mid := uint16(0)
	get := func(path, tok string, num uint32) {
		mid++
		s.after(ms).send(client, origin, con(decode.CodeGET, mid, tok).path(path).block2(num, false, 2))
	}
	resp := func(tok string, num uint32, more bool) {
		s.after(ms).send(origin, client, ack(decode.CodeContent, mid, tok).block2(num, more, 2).body(strings.Repeat("z", 64)))
	}
	get("a", "a0", 0)
	resp("a0", 0, true)
	get("b", "b0", 0)
	resp("b0", 0, true)
	get("a", "a1", 1)
	resp("a1", 1, true)
	get("b", "b1", 1)
	resp("b1", 1, false)
	get("a", "a3", 3) // block 2 skipped
	resp("a3", 3, false)
	put := func(tag, tok string, num uint32, more bool) {
		mid++
		s.after(ms).send(client, origin, con(decode.CodePUT, mid, tok).path("up").block1(num, more, 0).str(decode.OptRequestTag, tag).body(strings.Repeat("u", 16)))
		code := decode.CodeContinue
		if !more {
			code = decode.CodeChanged
		}
		s.after(ms).send(origin, client, ack(code, mid, tok).block1(num, more, 0))
	}
	put("1", "p1", 0, true)
	put("2", "q1", 0, true)
	put("1", "p2", 1, true)
	put("2", "q2", 1, false)
	put("1", "p3", 2, false)
	xs := s.close()
	if len(xs) != 4 {
		t.Fatalf("got:\n%s", dump(xs))
	}
	wantBlk := []BlockInfo{
		{Option: "block2", Blocks: 3, Missing: 1, Complete: true, Bytes: 192},
		{Option: "block2", Blocks: 2, Complete: true, Bytes: 128},
		{Option: "block1", Blocks: 3, Complete: true, Bytes: 48},
		{Option: "block1", Blocks: 2, Complete: true, Bytes: 32},
	}
	wantFrames := [][]int{{1, 2, 5, 6, 9, 10}, {3, 4, 7, 8}, {11, 12, 15, 16, 19, 20}, {13, 14, 17, 18}}
	for i, x := range xs {
		if x.Block == nil || *x.Block != wantBlk[i] || !slices.Equal(x.Frames, wantFrames[i]) || x.Status != Complete {
			t.Errorf("%s: block %+v frames %v status %s, want %+v %v", x.ID, x.Block, x.Frames, x.Status, wantBlk[i], wantFrames[i])
		}
	}
}

func TestProxyReblocks(t *testing.T) {
	// The client reads 1024-byte blocks from the proxy; the proxy fetches
	// 256-byte blocks from the server: linked at the transfer level.
	s := newSim(t, Config{})
	uri := "coap://10.0.0.20/fw"
	s.send(client, proxyIn, con(decode.CodeGET, 1, "c0").str(decode.OptProxyURI, uri).block2(0, false, 6))
	for i := range 8 {
		s.after(ms).send(proxyO, origin, con(decode.CodeGET, uint16(100+i), "s"+string(rune('0'+i))).path("fw").block2(uint32(i), false, 4))
		s.after(ms).send(origin, proxyO, ack(decode.CodeContent, uint16(100+i), "s"+string(rune('0'+i))).block2(uint32(i), i < 7, 4).body(strings.Repeat("f", 256)))
	}
	s.after(ms).send(proxyIn, client, ack(decode.CodeContent, 1, "c0").block2(0, true, 6).body(strings.Repeat("f", 1024)))
	s.after(ms).send(client, proxyIn, con(decode.CodeGET, 2, "c1").str(decode.OptProxyURI, uri).block2(1, false, 6))
	s.after(ms).send(proxyIn, client, ack(decode.CodeContent, 2, "c1").block2(1, false, 6).body(strings.Repeat("f", 1024)))
	x := one(t, s.close())
	if x.Status != Complete || len(x.Legs) != 2 || x.Block == nil || !x.Block.SizeChanged || !x.Block.Complete || x.Block.Blocks != 2 ||
		x.Legs[0].BlockSize != 1024 || x.Legs[1].BlockSize != 256 || len(x.Legs[1].RequestFrames) != 8 {
		t.Errorf("got:\n%s", dump([]*Exchange{x}))
	}
}

func TestProxyReassemblesBlock1(t *testing.T) {
	s := newSim(t, Config{})
	s.send(client, proxyIn, con(decode.CodePUT, 1, "a").str(decode.OptProxyURI, "coap://10.0.0.20/cfg").block1(0, true, 0).body(strings.Repeat("k", 16)))
	s.after(ms).send(proxyIn, client, ack(decode.CodeContinue, 1, "a").block1(0, true, 0))
	s.after(ms).send(client, proxyIn, con(decode.CodePUT, 2, "a").str(decode.OptProxyURI, "coap://10.0.0.20/cfg").block1(1, false, 0).body("kk"))
	s.after(ms).send(proxyO, origin, con(decode.CodePUT, 3, "z").path("cfg").body(strings.Repeat("k", 18)))
	s.after(ms).send(origin, proxyO, ack(decode.CodeChanged, 3, "z"))
	s.after(ms).send(proxyIn, client, ack(decode.CodeChanged, 2, "a"))
	x := one(t, s.close())
	if x.Status != Complete || len(x.Legs) != 2 || x.Block == nil || x.Block.Option != "block1" || !x.Block.Complete {
		t.Errorf("got:\n%s", dump([]*Exchange{x}))
	}
}

func TestOSCOREDecryptedBlocks(t *testing.T) {
	// With the inner message decrypted, the blocks of one transfer are
	// one exchange even though every block has its own token; the method
	// and URI are the inner ones.
	s := newSim(t, Config{})
	inner := func(c *cm) *OSCOREInfo {
		var m decode.Message
		if err := m.Decode(c.bytes()); err != nil {
			t.Fatal(err)
		}
		return &OSCOREInfo{KID: []byte{1}, PIV: []byte{byte(c.mid)}, Tried: true, Verified: true, Inner: &m}
	}
	for i := range 3 {
		tok := string(rune('a' + i))
		ct := "ciphertext" + tok
		s.after(ms).sendOSCORE(client, origin,
			con(decode.CodeFETCH, uint16(i+1), tok).opt(decode.OptOSCORE, []byte{0x09, byte(i), 1}).body(ct),
			inner(con(decode.CodeGET, uint16(i+1), "").path("firmware").block2(uint32(i), false, 6)))
		s.after(ms).sendOSCORE(origin, client,
			ack(decode.CodeContent, uint16(i+1), tok).opt(decode.OptOSCORE, nil).body("enc"+tok),
			inner(ack(decode.CodeContent, 0, "").block2(uint32(i), i < 2, 6).body(strings.Repeat("f", 1024))))
	}
	x := one(t, s.close())
	if x.Method != "GET" || x.URI != "coap://10.0.0.20/firmware" || x.Protected != "oscore" || x.Block == nil || x.Block.Blocks != 3 || !x.Block.Complete ||
		x.OSCORE == nil || x.OSCORE.KID.String() != "01" || x.OSCORE.RequestVerified != "yes" || x.OSCORE.ResponseVerified != "yes" {
		t.Errorf("got %+v %+v:\n%s", x.OSCORE, x.Block, dump([]*Exchange{x}))
	}
}

func TestMulticast(t *testing.T) {
	s := newSim(t, Config{})
	s.send(client, "[ff02::fd]:5683", non(decode.CodeGET, 1, "m").path(".well-known/core"))
	s.after(ms).send("10.0.0.31:5683", client, non(decode.CodeContent, 50, "m").body("</a>"))
	s.after(ms).send("10.0.0.32:5683", client, non(decode.CodeContent, 51, "m").body("</b>"))
	x := one(t, s.close())
	if x.Status != Complete || !slices.Equal(x.Legs[0].ResponseFrames, []int{2, 3}) {
		t.Errorf("got:\n%s", dump([]*Exchange{x}))
	}
}

func TestSecureAndLongToken(t *testing.T) {
	s := newSim(t, Config{})
	tok := "0123456789abcdef" // 16 bytes, RFC 8974
	s.tr.Add(&Packet{})       // no message: ignored
	s.send(client, "10.0.0.20:5684", con(decode.CodeGET, 1, tok).path("s"))
	// Mark the next frames as decrypted DTLS by hand.
	x := func() *Exchange {
		s.after(ms).send("10.0.0.20:5684", client, ack(decode.CodeContent, 1, tok))
		return one(t, s.close())
	}()
	if x.Status != Complete || x.Legs[0].Token.String() != "30313233343536373839616263646566" {
		t.Errorf("got:\n%s", dump([]*Exchange{x}))
	}
	s2 := newSim(t, Config{})
	var m decode.Message
	if err := m.Decode(con(decode.CodeGET, 1, "d").path("s").bytes()); err != nil {
		t.Fatal(err)
	}
	s2.tr.Add(&Packet{Frame: 1, Time: epoch, Src: ap(client), Dst: ap("10.0.0.20:5684"), Msg: &m, Secure: true})
	if y := one(t, s2.close()); y.Protected != "dtls" || y.URI != "coaps://10.0.0.20/s" || y.Status != Unanswered {
		t.Errorf("got:\n%s", dump([]*Exchange{y}))
	}
}

func TestCaptureDuplicatesAcrossFiles(t *testing.T) {
	// One transmission seen in two capture files (each side of a proxy)
	// is one message, not a retransmission.
	s := newSim(t, Config{})
	req := con(decode.CodeGET, 1, "a").path("r")
	s.send(client, origin, req)
	s.file = 1
	s.after(300*time.Microsecond).send(client, origin, req)
	s.file = 0
	s.after(ms).send(origin, client, ack(decode.CodeContent, 1, "a"))
	x := one(t, s.close())
	if l := x.Legs[0]; l.Retransmissions+l.Duplicates != 0 || !slices.Equal(l.RequestFrames, []int{1, 2}) {
		t.Errorf("got %+v", l)
	}
	if st := s.tr.Stats(); st.CaptureDuplicates != 1 {
		t.Errorf("stats %+v", st)
	}
}

func TestLifetimesOnCaptureTime(t *testing.T) {
	s := newSim(t, Config{})
	s.send(client, origin, con(decode.CodeGET, 1, "a").path("slow"))
	s.after(ms).send(client, origin, non(decode.CodeGET, 2, "b").path("slow"))
	s.after(ms).send(client, origin, con(decode.CodeGET, 3, "c").path("fast"))
	s.after(ms).send(origin, client, ack(decode.CodeContent, 3, "c"))
	// Nothing expires while capture time stands still.
	if len(s.out) != 0 {
		t.Fatalf("emitted early: %v", dump(s.out))
	}
	s.tr.Flush(s.now.Add(MaxTransmitSpan + time.Second))
	if len(s.out) != 1 || s.out[0].ID != "X3" {
		t.Fatalf("after the linger time, want X3 only:\n%s", dump(s.out))
	}
	s.tr.Flush(s.now.Add(NonLifetime + time.Second))
	if len(s.out) != 2 || s.out[1].ID != "X2" || s.out[1].Status != Unanswered {
		t.Fatalf("after NON_LIFETIME, want X2:\n%s", dump(s.out))
	}
	// Add advances time too.
	s.after(ExchangeLifetime+time.Second).send(client2, origin, con(decode.CodeGET, 9, "z"))
	if len(s.out) != 3 || s.out[2].ID != "X1" || s.out[2].Status != Unanswered {
		t.Fatalf("after EXCHANGE_LIFETIME, want X1:\n%s", dump(s.out))
	}
	if st := s.tr.Stats(); st.LiveExchanges != 1 || st.LiveMessages != 1 {
		t.Errorf("live state %+v", st)
	}
	// A retransmission long after the lifetime is a new message.
	s.after(ExchangeLifetime+time.Second).send(client2, origin, con(decode.CodeGET, 9, "z"))
	if st := s.tr.Stats(); st.Retransmissions != 0 || st.Requests != 5 {
		t.Errorf("stats %+v", st)
	}
}

func TestCaps(t *testing.T) {
	s := newSim(t, Config{MaxPending: 4, MaxPendingPerPair: 2, MaxMessages: 8})
	// Three unanswered requests on one pair: the oldest is evicted.
	for i := range 3 {
		s.after(ms).send(client, origin, con(decode.CodeGET, uint16(i), "t"+string(rune('0'+i))))
	}
	if len(s.out) != 1 || s.out[0].ID != "X1" || s.out[0].Status != Evicted {
		t.Fatalf("per-pair cap:\n%s", dump(s.out))
	}
	// Answered ones from other clients: when MaxPending is hit the one
	// closest to expiry goes first, and a finished one is no eviction.
	s.after(ms).send(client2, origin, con(decode.CodeGET, 1, "u"))
	s.after(ms).send(origin, client2, ack(decode.CodeContent, 1, "u"))
	s.after(ms).send("10.0.0.3:1", origin, con(decode.CodeGET, 1, "v"))
	s.after(ms).send("10.0.0.4:1", origin, con(decode.CodeGET, 1, "w"))
	st := s.tr.Stats()
	if st.EvictedPerPair != 1 || st.EarlyEmits != 1 || st.EvictedPending != 0 || st.LiveExchanges != 4 {
		t.Errorf("stats %+v\n%s", st, dump(s.out))
	}
	s.after(ms).send("10.0.0.5:1", origin, con(decode.CodeGET, 1, "x"))
	st = s.tr.Stats()
	if st.EvictedPending != 1 || st.LiveExchanges != 4 || st.PeakExchanges != 4 {
		t.Errorf("stats %+v", st)
	}
	for i := range 20 {
		s.after(ms).send("10.0.1.1:1", "10.0.1.2:2", non(decode.CodeGET, uint16(i), "m"))
	}

	// An observation forced out stays an observation, marked evicted.
	o := newSim(t, Config{MaxPending: 1})
	o.send(client, origin, con(decode.CodeGET, 1, "o").path("obs").observe(0))
	o.after(ms).send(origin, client, ack(decode.CodeContent, 1, "o").observe(1))
	o.after(ms).send(client2, origin, con(decode.CodeGET, 1, "p"))
	if len(o.out) != 1 || o.out[0].Status != Observing || !o.out[0].Evicted {
		t.Errorf("evicted observation:\n%s", dump(o.out))
	}
	if st := s.tr.Stats(); st.LiveMessages > 8 || st.EvictedMessages == 0 {
		t.Errorf("message table %+v", st)
	}
}

func TestExchangeJSON(t *testing.T) {
	s := newSim(t, Config{})
	s.send(client, origin, con(decode.CodeGET, 1, "\xab").path("j"))
	s.after(2*ms).send(origin, client, ack(decode.CodeContent, 1, "\xab"))
	s.after(ms).send(client, origin, con(decode.CodeGET, 2, "c").path("k"))
	xs := s.close()
	b, err := json.Marshal(xs)
	if err != nil {
		t.Fatal(err)
	}
	var got []map[string]any
	if err := json.Unmarshal(b, &got); err != nil {
		t.Fatal(err)
	}
	a, u := got[0], got[1]
	leg := a["legs"].([]any)[0].(map[string]any)
	if a["id"] != "X1" || a["client"] != client || a["proxy"] != "" || a["rtt"] != 0.002 || leg["token"] != "ab" ||
		a["status"] != "complete" || leg["request_time"] != "2026-01-02T03:04:05Z" {
		t.Errorf("json %s", b)
	}
	if _, ok := u["rtt"]; ok {
		t.Errorf("unanswered exchange has an rtt: %s", b)
	}
}

func TestDetachedCopies(t *testing.T) {
	s := newSim(t, Config{})
	req := con(decode.CodeGET, 1, "a").path("d")
	s.send(client, origin, req)
	s.after(ms).send(origin, client, ack(decode.CodeContent, 1, "a"))
	s.tr.Flush(s.now.Add(MaxTransmitSpan + time.Second))
	if len(s.out) != 1 {
		t.Fatalf("not emitted: %s", dump(s.out))
	}
	// The Message ID is still remembered, the exchange is gone.
	s.after(MaxTransmitSpan+2*time.Second).send(client, origin, req)
	if st := s.tr.Stats(); st.Detached != 1 || st.Replays+st.Retransmissions != 1 || st.LiveExchanges != 0 {
		t.Errorf("stats %+v", st)
	}
}

// TestAddAllocs checks that packets which create no state allocate
// nothing: notifications of a known observation and their ACKs.
func TestAddAllocs(t *testing.T) {
	tr := NewTracker(Config{MaxMessages: 64, MaxFrames: 16}, nil)
	now := epoch
	feed := func(src, dst string, c *cm) *Packet {
		var m decode.Message
		if err := m.Decode(c.bytes()); err != nil {
			t.Fatal(err)
		}
		return &Packet{Time: now, Src: ap(src), Dst: ap(dst), Msg: &m, Size: len(m.Raw)}
	}
	tr.Add(feed(client, origin, con(decode.CodeGET, 1, "o").path("obs").observe(0)))
	tr.Add(feed(origin, client, ack(decode.CodeContent, 1, "o").observe(1).body("x")))
	const n = 400
	var pkts []*Packet
	for i := range n {
		pkts = append(pkts,
			feed(origin, client, con(decode.CodeContent, uint16(100+i), "o").observe(uint32(2+i)).body("v")),
			feed(client, origin, emptyACK(uint16(100+i))))
	}
	i := 0
	step := func() {
		for _, p := range pkts[2*i : 2*i+2] {
			now = now.Add(ms)
			p.Time = now
			tr.Add(p)
		}
		i++
	}
	for range 100 { // warm up: the ring and the frame lists reach their caps
		step()
	}
	if a := testing.AllocsPerRun(n/2-101, step); a != 0 {
		t.Errorf("%v allocations per notification and ACK", a)
	}
	tr.Close()
}

func TestObserveBlockSameToken(t *testing.T) {
	// A client that fetches the rest of a notification with the
	// observation's own token.
	s := newSim(t, Config{})
	s.send(client, origin, con(decode.CodeGET, 1, "o").path("big").observe(0))
	s.after(ms).send(origin, client, ack(decode.CodeContent, 1, "o").observe(5).block2(0, true, 0).body(strings.Repeat("a", 16)))
	s.after(ms).send(client, origin, con(decode.CodeGET, 2, "o").path("big").block2(1, false, 0))
	s.after(ms).send(origin, client, ack(decode.CodeContent, 2, "o").block2(1, false, 0).body("b"))
	s.after(time.Second).send(origin, client, non(decode.CodeContent, 9, "o").observe(6).block2(0, true, 0).body(strings.Repeat("c", 16)))
	s.after(ms).send(client, origin, con(decode.CodeGET, 3, "o").path("big").block2(1, false, 0))
	s.after(ms).send(origin, client, ack(decode.CodeContent, 3, "o").block2(1, false, 0).body("d"))
	x := one(t, s.close())
	if x.Status != Observing || x.Observe.Ended != "" || x.Notifications != 1 || len(x.Legs) != 2 ||
		!slices.Equal(x.Legs[1].RequestFrames, []int{3, 6}) || x.Block == nil || !x.Block.Complete || x.Block.Bytes != 17 {
		t.Errorf("got %+v:\n%s", x.Block, dump([]*Exchange{x}))
	}
}

func TestRelinkByResponse(t *testing.T) {
	// Two clients ask for the same resource; the proxy forwards them out
	// of order. The responses show which forward was whose.
	s := newSim(t, Config{})
	uri := "coap://10.0.0.20/t"
	// Teach the proxy's outbound address and residence first.
	s.send(client2, proxyIn, con(decode.CodeGET, 1, "w").str(decode.OptProxyURI, "coap://10.0.0.20/warmup"))
	s.after(ms).send(proxyO, origin, con(decode.CodeGET, 1, "w").path("warmup"))
	s.after(ms).send(origin, proxyO, ack(decode.CodeContent, 1, "w").body("ok"))
	s.after(ms).send(proxyIn, client2, ack(decode.CodeContent, 1, "w").body("ok"))
	// A request the proxy never forwards.
	stale := s.after(time.Second).send("10.0.0.3:40000", proxyIn, con(decode.CodeGET, 7, "s").str(decode.OptProxyURI, uri))
	a := s.after(time.Second).send(client, proxyIn, con(decode.CodeGET, 2, "a").str(decode.OptProxyURI, uri))
	b := s.after(ms/2).send(client2, proxyIn, con(decode.CodeGET, 3, "b").str(decode.OptProxyURI, uri))
	fb := s.after(ms/2).send(proxyO, origin, con(decode.CodeGET, 4, "fb").path("t")) // B's, sent first
	fa := s.after(ms/2).send(proxyO, origin, con(decode.CodeGET, 5, "fa").path("t"))
	s.after(ms).send(origin, proxyO, ack(decode.CodeContent, 4, "fb").body("for b"))
	s.after(ms).send(origin, proxyO, ack(decode.CodeContent, 5, "fa").body("for a"))
	s.after(ms).send(proxyIn, client, ack(decode.CodeContent, 2, "a").body("for a"))
	s.after(ms).send(proxyIn, client2, ack(decode.CodeContent, 3, "b").body("for b"))
	xs := s.close()
	byFirst := map[int]*Exchange{}
	for _, x := range xs {
		byFirst[x.Legs[0].RequestFrames[0]] = x
	}
	xa, xb, xs2 := byFirst[a], byFirst[b], byFirst[stale]
	if xa == nil || xb == nil || xs2 == nil || len(xa.Legs) != 2 || len(xb.Legs) != 2 ||
		xa.Legs[1].RequestFrames[0] != fa || xb.Legs[1].RequestFrames[0] != fb ||
		xa.Status != Complete || xb.Status != Complete || !xa.Residence[0].Relayed || !xb.Residence[0].Relayed {
		t.Fatalf("got:\n%s", dump(xs))
	}
	if len(xs2.Legs) != 1 || xs2.Status != Unanswered {
		t.Errorf("the request never forwarded took a leg:\n%s", dump([]*Exchange{xs2}))
	}
	// In arrival order the forwards were crossed; A's response fixed it.
	if st := s.tr.Stats(); st.Relinks != 1 || st.ProxyLinks != 3 {
		t.Errorf("stats %+v", st)
	}
}

func TestDeterministic(t *testing.T) {
	for _, name := range []string{"libcoap-fwdproxy.pcap", "aiocoap-oscore-evilproxy.pcap", filepath.Join("public", "fuzzcoap-conversation.pcapng")} {
		a, err1 := json.Marshal(analyze(t, name, Config{}).xs)
		b, err2 := json.Marshal(analyze(t, name, Config{}).xs)
		if err1 != nil || err2 != nil || string(a) != string(b) {
			t.Errorf("%s: two runs differ (%v %v)", name, err1, err2)
		}
	}
}
