package flows

import (
	"encoding/binary"
	"net/netip"
	"runtime"
	"strconv"
	"testing"
	"time"

	"github.com/coapaudit/coapaudit/decode"
)

// trafficGen makes synthetic proxied traffic: clients from many addresses
// ask a forward proxy (Proxy-Uri) for one of 100 resources of an origin
// server; the proxy forwards from one of 1000 ports; the answers come back
// piggybacked. Every tenth request is never answered nor forwarded.
type trafficGen struct {
	k    int
	base time.Time
	gap  time.Duration // between the starts of two exchanges
	bufs [4][]byte
	msgs [4]decode.Message
	pkts [4]Packet
}

var (
	genProxy  = netip.MustParseAddrPort("10.200.0.1:5683")
	genOrigin = netip.MustParseAddrPort("10.201.0.1:5683")
)

// next returns the packets of the next exchange. They are valid until the
// following call.
func (g *trafficGen) next() []Packet {
	k := g.k
	g.k++
	t0 := g.base.Add(time.Duration(k) * g.gap)
	cl := netip.AddrPortFrom(netip.AddrFrom4([4]byte{10, byte(k >> 16), byte(k >> 8), byte(k)}), uint16(1024+k%50000))
	out := netip.AddrPortFrom(genProxy.Addr(), uint16(20000+k%1000))
	var tok [4]byte
	binary.BigEndian.PutUint32(tok[:], uint32(k))
	res := "sensor/" + strconv.Itoa(k%100)
	body := "v" + strconv.Itoa(k%1000)
	mid := uint16(k)
	n := 0
	add := func(src, dst netip.AddrPort, at time.Duration, c *cm) {
		g.bufs[n] = append(g.bufs[n][:0], c.bytes()...)
		if err := g.msgs[n].Decode(g.bufs[n]); err != nil {
			panic(err)
		}
		g.pkts[n] = Packet{Frame: 4*k + n + 1, Time: t0.Add(at), Src: src, Dst: dst, Msg: &g.msgs[n], Size: len(g.bufs[n])}
		n++
	}
	add(cl, genProxy, 0, con(decode.CodeGET, mid, string(tok[:])).str(decode.OptProxyURI, "coap://10.201.0.1/"+res))
	if k%10 != 9 {
		add(out, genOrigin, 100*time.Microsecond, con(decode.CodeGET, mid, string(tok[1:])).path(res))
		add(genOrigin, out, 300*time.Microsecond, ack(decode.CodeContent, mid, string(tok[1:])).body(body))
		add(genProxy, cl, 400*time.Microsecond, ack(decode.CodeContent, mid, string(tok[:])).body(body))
	}
	return g.pkts[:n]
}

// liveState counts the entries of every table of t.
func liveState(t *Tracker) (exchanges, msgs, toks, fwd, pairs, blks, pool int) {
	return t.live, t.msgs.n, len(t.toks), len(t.fwd), len(t.pairs), len(t.blks), len(t.hops)
}

// TestMemoryFlat feeds a million packets spread over hours of capture time
// and checks that the Tracker's state stays under its caps and does not
// grow with the input.
func TestMemoryFlat(t *testing.T) {
	if testing.Short() {
		t.Skip("a million packets")
	}
	for _, tc := range []struct {
		name string
		cfg  Config
		gap  time.Duration
	}{
		// 200 exchanges a second: the lifetimes bound the state.
		{"lifetimes", Config{}, 5 * time.Millisecond},
		// 20000 exchanges a second against small caps.
		{"caps", Config{MaxPending: 2000, MaxPendingPerPair: 4, MaxMessages: 5000}, 50 * time.Microsecond},
	} {
		t.Run(tc.name, func(t *testing.T) {
			emitted := 0
			tr := NewTracker(tc.cfg, func(*Exchange) { emitted++ })
			g := &trafficGen{base: epoch, gap: tc.gap}
			cfg := tc.cfg.withDefaults()
			var peak [2][7]int
			packets := 0
			for packets < 1_000_000 {
				for _, p := range g.next() {
					tr.Add(&p)
					packets++
				}
				half := 0
				if packets > 500_000 {
					half = 1
				}
				x, m, tk, fw, pr, bl, pool := liveState(tr)
				for i, v := range [...]int{x, m, tk, fw, pr, bl, pool} {
					peak[half][i] = max(peak[half][i], v)
				}
				if x > cfg.MaxPending || m > cfg.MaxMessages {
					t.Fatalf("after %d packets: %d exchanges (cap %d), %d messages (cap %d)", packets, x, cfg.MaxPending, m, cfg.MaxMessages)
				}
			}
			// The Message-ID index stays within twice the cap, whatever
			// the churn.
			if len(tr.msgs.tab) > tr.msgs.max || tr.msgs.max > 4*cfg.MaxMessages {
				t.Errorf("message index of %d positions (cap %d messages)", len(tr.msgs.tab), cfg.MaxMessages)
			}
			tr.Close()
			st := tr.Stats()
			t.Logf("packets %d span %v emitted %d peaks first half %v second half %v (exchanges msgs toks fwd pairs blks pool) stats %+v",
				packets, time.Duration(g.k)*g.gap, emitted, peak[0], peak[1], st)
			if emitted != g.k || int(st.Exchanges) != g.k {
				t.Errorf("emitted %d exchanges of %d", emitted, g.k)
			}
			// Flat: the second half of the input needs no more state than
			// the first (10% slack for the phase of the lifetimes).
			for i := range peak[0] {
				if peak[1][i] > peak[0][i]+peak[0][i]/10+16 {
					t.Errorf("table %d grew from %d to %d", i, peak[0][i], peak[1][i])
				}
			}
			if x, m, tk, fw, pr, bl, _ := liveState(tr); x+m+tk+fw+pr+bl != 0 {
				t.Errorf("state left after Close: %d %d %d %d %d %d", x, m, tk, fw, pr, bl)
			}
		})
	}
}

// BenchmarkTrackerAdd measures Add per packet on proxied traffic, 10% of
// it unanswered, with exchanges emitted as they expire.
func BenchmarkTrackerAdd(b *testing.B) {
	// Pre-decode a window of traffic, then replay it shifted in time so
	// that every round starts after the previous one's state expired.
	const exchanges = 1 << 15
	g := &trafficGen{base: epoch, gap: 100 * time.Microsecond}
	var pkts []Packet
	for range exchanges {
		for _, p := range g.next() {
			buf := append([]byte(nil), p.Msg.Raw...)
			m := new(decode.Message)
			if err := m.Decode(buf); err != nil {
				b.Fatal(err)
			}
			p.Msg = m
			pkts = append(pkts, p)
		}
	}
	span := time.Duration(exchanges)*g.gap + ExchangeLifetime + time.Minute
	tr := NewTracker(Config{}, func(*Exchange) {})
	b.ReportAllocs()
	i, round := 0, 0
	var p Packet
	for b.Loop() {
		p = pkts[i]
		p.Time = p.Time.Add(time.Duration(round) * span)
		tr.Add(&p)
		if i++; i == len(pkts) {
			i, round = 0, round+1
		}
	}
	b.StopTimer()
	tr.Close()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	b.ReportMetric(float64(tr.Stats().PeakExchanges), "peak-exchanges")
}
