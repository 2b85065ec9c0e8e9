package collect

import (
	"errors"
	"io"
	"net/netip"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/coapaudit/coapaudit/capture"
	"github.com/coapaudit/coapaudit/decode"
	"github.com/coapaudit/coapaudit/flows"
	"github.com/coapaudit/coapaudit/internal/testenv"
	"github.com/coapaudit/coapaudit/leaks"
)

func capturesDir(t *testing.T) string {
	t.Helper()
	return testenv.CapturesDir(t)
}

// checkWhatIf compares the allocation-free what-if with the reference in
// package leaks.
func checkWhatIf(t *testing.T, where string, m *decode.Message) {
	t.Helper()
	for _, p := range []*leaks.OSCOREParams{&whatIfRequest, &whatIfResponse, {PIVLen: 3, HasKID: true, KIDLen: 20, HasKIDContext: true, KIDContextLen: 8, TagLen: 16}} {
		want := leaks.WhatIfOSCORE(leaks.PlainFromMessage(m), *p)
		inner, outer, ok := whatIf(m, p)
		if !ok || inner != want.Inner || outer != want.Outer {
			t.Errorf("%s: whatIf = %d, %d, %v; leaks.WhatIfOSCORE = %+v", where, inner, outer, ok, want)
		}
	}
}

// TestWhatIfCaptures checks whatIf against leaks.WhatIfOSCORE on every
// plaintext CoAP message of the shared captures.
func TestWhatIfCaptures(t *testing.T) {
	dir := capturesDir(t)
	names, _ := filepath.Glob(filepath.Join(dir, "public", "ttproto", "*.pcap"))
	names = append(names, filepath.Join(dir, "libcoap-fwdproxy.pcap"), filepath.Join(dir, "public", "fuzzcoap-conversation.pcapng"))
	var m decode.Message
	var d capture.Datagram
	n := 0
	for _, name := range names {
		r, err := capture.Open(name)
		if err != nil {
			t.Fatal(err)
		}
		for {
			if err := r.Next(&d); err != nil {
				if !errors.Is(err, io.EOF) {
					t.Logf("%s: %v", name, err)
				}
				break
			}
			if d.Kind != capture.KindUDP || m.Decode(d.Payload) != nil || m.HasOption(decode.OptOSCORE) {
				continue
			}
			checkWhatIf(t, filepath.Base(name)+" frame "+strconv.Itoa(d.Number), &m)
			n++
		}
		r.Close()
	}
	if n < 1000 {
		t.Errorf("only %d messages checked", n)
	}
}

// TestWhatIfOptions covers option numbers and lengths that need extended
// deltas and lengths, Observe (inner and outer), and an unsorted message.
func TestWhatIfOptions(t *testing.T) {
	val := func(n int) []byte { return make([]byte, n) }
	m := decode.Message{
		Token: val(8),
		Options: []decode.Option{
			{ID: decode.OptIfMatch, Value: val(4)},
			{ID: decode.OptURIHost, Value: val(15)},
			{ID: decode.OptObserve, Value: val(3)},
			{ID: decode.OptURIPath, Value: val(300)},
			{ID: decode.OptURIPath, Value: val(12)},
			{ID: decode.OptProxyScheme, Value: val(4)},
			{ID: decode.OptSize1, Value: val(2)},
			{ID: 2053, Value: val(13)},
			{ID: 65000, Value: val(1)},
		},
		Payload: val(1000),
	}
	checkWhatIf(t, "many options", &m)
	m.Payload = nil
	checkWhatIf(t, "no payload", &m)
	m.Options = m.Options[:0]
	checkWhatIf(t, "no options", &m)
	m.Options = []decode.Option{{ID: decode.OptURIPath}, {ID: decode.OptObserve}}
	if _, _, ok := whatIf(&m, &whatIfRequest); ok {
		t.Error("options out of order accepted")
	}
}

// TestPacketAllocs: recording a message allocates nothing.
func TestPacketAllocs(t *testing.T) {
	c := New(Config{})
	var m decode.Message
	// GET /sensors/temp with a token, and an OSCORE request.
	get := []byte{0x42, 0x01, 0x12, 0x34, 0xab, 0xcd, 0xb7, 's', 'e', 'n', 's', 'o', 'r', 's', 0x04, 't', 'e', 'm', 'p'}
	osc := []byte{0x42, 0x02, 0x12, 0x35, 0xab, 0xcd, 0x92, 0x09, 0x00, 0xff, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12}
	p := flows.Packet{Src: netip.MustParseAddrPort("10.0.0.1:4000"), Dst: netip.MustParseAddrPort("10.0.0.2:5683"), Msg: &m}
	for _, b := range [][]byte{get, osc} {
		if err := m.Decode(b); err != nil {
			t.Fatal(err)
		}
		p.Size = len(b)
		allocs := testing.AllocsPerRun(100, func() {
			p.Frame++
			c.Packet(&p, nil)
		})
		if allocs != 0 {
			t.Errorf("Packet allocates %v times", allocs)
		}
		s := c.lookup(p.Frame, p.Src, p.Dst)
		if s == nil || int(s.size) != len(b) {
			t.Fatalf("window %+v", s)
		}
		if b[1] == 0x02 && (s.hash == 0 || s.inner != uint16(12-tagLen)) {
			t.Errorf("OSCORE message: %+v", s)
		}
		if b[1] == 0x01 && (s.hash != 0 || s.alt == unknown) {
			t.Errorf("plaintext message: %+v", s)
		}
	}
}
