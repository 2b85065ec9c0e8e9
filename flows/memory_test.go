package flows

import (
	"fmt"
	"runtime"
	"testing"
	"time"
	"unsafe"

	"github.com/coapaudit/coapaudit/decode"
)

// TestStateSizes pins the size of the per-leg, per-exchange and
// per-Message-ID state that the caps multiply (MaxPending exchanges of
// one to MaxLegs legs, MaxMessages ring slots): a field added to them
// must fit or be moved out of line (hopExt) and the bound here raised
// with the memory figures of docs/ and BENCHMARKS.md.
func TestStateSizes(t *testing.T) {
	atMost := func(name string, got, want uintptr) {
		if got > want {
			t.Errorf("%s: %d bytes, more than %d", name, got, want)
		}
	}
	atMost("hop", unsafe.Sizeof(hop{}), 640)
	atMost("hopExt", unsafe.Sizeof(hopExt{}), 144)
	atMost("hopMore", unsafe.Sizeof(hopMore{}), 288)
	atMost("xstate", unsafe.Sizeof(xstate{}), 120)
	atMost("msgEntry (ring slot)", unsafe.Sizeof(msgEntry{}), 80)
	atMost("msgSlot (index entry)", unsafe.Sizeof(msgSlot{}), 8)
}

// heldBytes feeds n proxied exchanges (client to proxy with Proxy-Uri,
// proxy to server, the piggybacked 2.05 back on both legs, 1 ms apart)
// to a Tracker capped at held exchanges and 4*held Message IDs, and
// returns the heap it holds afterwards, per held exchange: its legs,
// their buffers and indexes, and its four Message IDs.
func heldBytes(t *testing.T, held, n int) float64 {
	var ms runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&ms)
	before := ms.HeapAlloc
	s := newSim(t, Config{MaxPending: held, MaxMessages: 4 * held})
	s.tr.emit = nil
	const proxy, server = "10.0.0.2:5683", "10.0.1.1:5683"
	for i := range n {
		client := fmt.Sprintf("10.1.%d.%d:%d", i/250%2, i%250+1, 40000+i%7)
		tok := fmt.Sprintf("%08x", i)
		mid := uint16(i)
		uri := fmt.Sprintf("coap://10.0.1.1/sensors/s%d", i%50)
		s.send(client, proxy, con(decode.CodeGET, mid, tok).str(decode.OptProxyURI, uri))
		s.after(100 * time.Microsecond)
		s.send("10.0.0.2:40001", server, con(decode.CodeGET, mid^0x5555, tok[4:]).path(fmt.Sprintf("sensors/s%d", i%50)))
		s.after(100 * time.Microsecond)
		s.send(server, "10.0.0.2:40001", ack(decode.CodeContent, mid^0x5555, tok[4:]).body("21.5"))
		s.after(100 * time.Microsecond)
		s.send(proxy, client, ack(decode.CodeContent, mid, tok).body("21.5"))
		s.after(700 * time.Microsecond)
	}
	if s.tr.live != held {
		t.Fatalf("%d exchanges held, want the cap %d", s.tr.live, held)
	}
	runtime.GC()
	runtime.ReadMemStats(&ms)
	per := (float64(ms.HeapAlloc) - float64(before)) / float64(held)
	t.Logf("%d legs pooled, %d in use, proxied %d, ring %d", len(s.tr.hops), len(s.tr.hops)-len(s.tr.hopFree), s.tr.stats.Proxied, s.tr.ringLen)
	runtime.KeepAlive(s)
	return per
}

// TestBytesPerHeldExchange bounds the memory of an exchange held for late
// copies, the state that MaxPending multiplies (16,384 by default).
func TestBytesPerHeldExchange(t *testing.T) {
	if testing.Short() {
		t.Skip("feeds 24,000 exchanges")
	}
	const held = 4096
	per := heldBytes(t, held, 6*held)
	t.Logf("%.0f bytes per held exchange (2 legs, 4 Message IDs)", per)
	if per > 3400 {
		t.Errorf("%.0f bytes per held exchange", per)
	}
}
