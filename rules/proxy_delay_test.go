package rules

import (
	"net/netip"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/coapaudit/coapaudit/flows"
)

// TestProxyDelayAmbiguous: a residence far above the proxy's baseline is
// a "did" on an exchange linked on the evidence, and only a "could" on
// one whose legs were linked by arrival order among identical requests
// (Exchange.Ambiguous), where the request the proxy forwarded may have
// been another client's.
func TestProxyDelayAmbiguous(t *testing.T) {
	for _, ambiguous := range []bool{false, true} {
		var got []*Finding
		r, err := NewRunner([]*Rule{ProxyDelay}, Config{Proxies: []netip.AddrPort{netip.MustParseAddrPort("10.0.0.2:5683")}},
			func(f *Finding) { got = append(got, f) })
		if err != nil {
			t.Fatal(err)
		}
		proxy := netip.MustParseAddrPort("10.0.0.2:5683")
		base := time.Date(2024, 6, 3, 8, 0, 0, 0, time.UTC)
		for i := range 20 {
			held := time.Duration(2+i%3) * time.Millisecond
			x := &flows.Exchange{ID: "X" + strconv.Itoa(i+1), Method: "GET", URI: "coap://10.0.1.11/sensors/temp",
				Client: netip.MustParseAddrPort("10.1.0.1:40000"), Proxy: proxy, Server: netip.MustParseAddrPort("10.0.1.11:5683"),
				Legs: []flows.Leg{{RequestFrames: []int{4 * i}}, {RequestFrames: []int{4*i + 1}}},
				End:  base.Add(time.Duration(i) * time.Second)}
			if i == 15 {
				held = 2785 * time.Millisecond
				x.Ambiguous = ambiguous
			}
			x.Residence = []flows.Residence{{Proxy: proxy, Request: flows.Duration{D: held, Valid: true}}}
			r.Exchange(x)
		}
		r.Close()
		if len(got) != 1 || got[0].Exchange != "X16" {
			t.Fatalf("ambiguous=%v: %d findings, want 1 on X16", ambiguous, len(got))
		}
		f := got[0]
		want, wantSev := Did, Medium
		if ambiguous {
			want, wantSev = Could, Low
		}
		if f.Certainty != want || f.Severity != wantSev || !strings.Contains(f.Message, "2.785 s") {
			t.Errorf("ambiguous=%v: %s %s %q", ambiguous, f.Severity, f.Certainty, f.Message)
		}
	}
}
