package flows

import (
	"math/rand/v2"
	"os"
	"testing"
	"time"
)

func TestHangHunt(t *testing.T) {
	if os.Getenv("HANG") == "" {
		t.Skip()
	}
	r := rand.New(rand.NewPCG(1, 2))
	seeds := [][]byte{}
	for i := 0; i < 200000; i++ {
		// records: sd, dt, len, msg
		var in []byte
		for j := 0; j < 1+r.IntN(30); j++ {
			c := &cm{typ: 0, code: 0}
			c.typ = []byte{0, 1, 2, 3}[r.IntN(4)]
			c.code = []byte{0, 1, 2, 3, 4, 0x45, 0x44, 0x5f, 0x84}[r.IntN(9)]
			c.mid = uint16(r.IntN(4))
			c.tok = []byte{"", "a", "b"}[r.IntN(3)]
			if r.IntN(2) == 0 {
				c.observe(uint32(r.IntN(3)))
			}
			if r.IntN(3) == 0 {
				c.block2(uint32(r.IntN(3)), r.IntN(2) == 0, byte(r.IntN(3)))
			}
			if r.IntN(3) == 0 {
				c.block1(uint32(r.IntN(3)), r.IntN(2) == 0, byte(r.IntN(3)))
			}
			if r.IntN(4) == 0 {
				c.path("x")
			}
			if r.IntN(5) == 0 {
				c.str(35, "coap://10.0.0.3/x")
			}
			if r.IntN(3) == 0 {
				c.body("v")
			}
			b := c.bytes()
			in = append(in, byte(r.IntN(256)), byte(r.IntN(3)), byte(len(b)))
			in = append(in, b...)
		}
		done := make(chan bool)
		go func() {
			defer func() { recover(); close(done) }()
			runFuzzInput(t, in)
		}()
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			os.WriteFile("/tmp/hang/input", in, 0o644)
			t.Fatalf("hang at %d", i)
		}
		_ = seeds
	}
}
