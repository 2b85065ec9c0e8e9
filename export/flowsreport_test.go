package export_test

import (
	"net/netip"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/coapaudit/coapaudit/export"
	"github.com/coapaudit/coapaudit/flows"
)

func squeeze(s string) string {
	var b strings.Builder
	for _, l := range strings.Split(s, "\n") {
		b.WriteString(strings.Join(strings.Fields(l), " "))
		b.WriteByte('\n')
	}
	return b.String()
}

// The exchange report's text: totals, the top entries of each table with
// what was left out, and the resources with their codes and RTTs.
func TestWriteReportText(t *testing.T) {
	s := flows.NewSummary(0)
	proxy := netip.MustParseAddrPort("10.0.0.2:5683")
	for i := range 5 {
		x := &flows.Exchange{Client: netip.MustParseAddrPort("10.0.1." + strconv.Itoa(i+1) + ":40000"), Proxy: proxy,
			Server: netip.MustParseAddrPort("10.0.0.3:5683"), Method: "GET", URI: "coap://10.0.0.3/r" + strconv.Itoa(i%2),
			Code: "2.05", Status: flows.Complete, RTT: flows.Duration{D: time.Duration(i+1) * time.Millisecond, Valid: true}}
		s.Add(x)
	}
	s.Add(&flows.Exchange{Client: netip.MustParseAddrPort("10.0.0.1:1"), Server: netip.MustParseAddrPort("10.0.0.2:5683"),
		Method: "GET", URI: "coap://x/1", Status: flows.Unanswered})
	var b strings.Builder
	if err := export.WriteReportText(&b, s.Report(), 3); err != nil {
		t.Fatal(err)
	}
	out := squeeze(b.String())
	for _, want := range []string{"exchanges 6\n", "complete 5\n", "unanswered 1\n", "proxies exchanges\n10.0.0.2:5683 5\n",
		"(3 more)", "GET coap://x/1 1 0 - - -\n", "GET coap://10.0.0.3/r0 3 3 2.05:3 "} {
		if !strings.Contains(out, want) {
			t.Errorf("text lacks %q:\n%s", want, out)
		}
	}
}
