package flows

import (
	"net/netip"
	"testing"
	"time"

	"github.com/coapaudit/coapaudit/decode"
)

// FuzzTracker feeds arbitrary message sequences among a few endpoints and
// checks that the Tracker neither panics nor loses track: every frame ends
// up in at most one exchange, and Close leaves no state behind.
//
// The input is a sequence of records: one byte naming source and
// destination (low and high nibble, modulo the endpoints), one byte of
// time step, one byte of length, then the message.
func FuzzTracker(f *testing.F) {
	rec := func(sd, dt byte, c *cm) []byte {
		b := c.bytes()
		return append([]byte{sd, dt, byte(len(b))}, b...)
	}
	var seed []byte
	seed = append(seed, rec(0x10, 1, con(decode.CodeGET, 1, "a").str(decode.OptProxyURI, "coap://10.0.0.3/x").observe(0))...)
	seed = append(seed, rec(0x32, 1, con(decode.CodeGET, 2, "b").path("x").observe(0))...)
	seed = append(seed, rec(0x23, 1, ack(decode.CodeContent, 2, "b").observe(1).body("v"))...)
	seed = append(seed, rec(0x01, 1, ack(decode.CodeContent, 1, "a").observe(1).body("v"))...)
	seed = append(seed, rec(0x23, 200, con(decode.CodeContent, 9, "b").observe(2).block2(0, true, 0).body("w"))...)
	seed = append(seed, rec(0x32, 1, rst(9))...)
	seed = append(seed, rec(0x10, 1, con(decode.CodePUT, 3, "c").block1(1, true, 1).str(decode.OptRequestTag, "t"))...)
	seed = append(seed, rec(0x10, 1, con(decode.CodeEmpty, 4, ""))...)
	f.Add(seed)
	f.Add(rec(0x00, 0, con(decode.CodeGET, 1, "0123456789abcdef0").path("a")))
	f.Fuzz(runFuzzInput)
}

var fuzzEndpoints = [...]netip.AddrPort{
	ap("10.0.0.1:40000"), ap("10.0.0.2:5683"), ap("10.0.0.2:50000"), ap("10.0.0.3:5683"),
	ap("[ff02::fd]:5683"), ap("10.0.0.1:40001"),
}

func runFuzzInput(t *testing.T, data []byte) {
	eps := fuzzEndpoints
	{
		var frames []int
		owner := map[int]string{}
		tr := NewTracker(Config{MaxPending: 8, MaxPendingPerPair: 3, MaxMessages: 16, MaxFrames: 64, MaxLegs: 4,
			Proxies: []netip.AddrPort{eps[1]}}, func(x *Exchange) {
			for _, fr := range x.Frames {
				if o, ok := owner[fr]; ok {
					t.Fatalf("frame %d in %s and %s", fr, o, x.ID)
				}
				owner[fr] = x.ID
			}
		})
		now := epoch
		var m decode.Message
		frame := 0
		for len(data) >= 3 {
			sd, dt, n := data[0], data[1], int(data[2])
			data = data[3:]
			n = min(n, len(data))
			msg := append([]byte(nil), data[:n]...)
			data = data[n:]
			now = now.Add(time.Duration(dt) * time.Second)
			frame++
			if err := m.Decode(msg); err != nil && len(msg) < 4 {
				continue
			}
			frames = append(frames, frame)
			tr.Add(&Packet{Frame: frame, Time: now, Src: eps[int(sd&15)%len(eps)], Dst: eps[int(sd>>4)%len(eps)], Msg: &m, Size: n})
			clear(msg)
		}
		tr.Close()
		if x, m, tk, fw, pr, bl, _ := liveState(tr); x+m+tk+fw+pr+bl != 0 {
			t.Fatalf("state left after Close: %d %d %d %d %d %d", x, m, tk, fw, pr, bl)
		}
		if len(tr.heap) != 0 {
			t.Fatalf("heap holds %d", len(tr.heap))
		}
		_ = frames
	}
}
