package flows

import (
	"net/netip"
	"reflect"
	"testing"
	"time"
)

func TestSummaryLibcoap(t *testing.T) {
	res := analyze(t, "libcoap-fwdproxy.pcap", Config{})
	s := NewSummary(0)
	for _, x := range res.xs {
		s.Add(x)
	}
	r := s.Report()
	if r.Exchanges != 9 || r.Notifications != 8 || r.Unanswered != 0 || r.Unmatched != 0 {
		t.Errorf("totals %+v", r)
	}
	if want := []NameCount{{"complete", 8}, {"observe", 1}}; !reflect.DeepEqual(r.Statuses, want) {
		t.Errorf("statuses %v", r.Statuses)
	}
	if want := []EndpointCount{{ap("127.0.0.32:5683"), 9}}; !reflect.DeepEqual(r.Proxies, want) {
		t.Errorf("proxies %v", r.Proxies)
	}
	if want := []EndpointCount{{ap("127.0.0.31:5683"), 9}}; !reflect.DeepEqual(r.Servers, want) {
		t.Errorf("servers %v", r.Servers)
	}
	if len(r.Clients) != 8 || r.Clients[0] != (EndpointCount{ap("127.0.0.1:35014"), 2}) {
		t.Errorf("clients %v", r.Clients)
	}
	// GET /time: the observation (X6), its cancellation (X7) and the
	// request with an unknown critical option (X9).
	top := r.Resources[0]
	if top.Method != "GET" || top.URI != "coap://127.0.0.31:5683/time" || top.Exchanges != 3 || top.Answered != 3 ||
		!reflect.DeepEqual(top.Codes, []NameCount{{"2.05", 2}, {"4.02", 1}}) {
		t.Errorf("top resource %+v", top)
	}
	rtts := []time.Duration{res.byID["X6"].RTT.D, res.byID["X7"].RTT.D, res.byID["X9"].RTT.D}
	if top.RTTMedian.D != sortedMid(rtts) || top.RTTMax.D != max(rtts[0], rtts[1], rtts[2]) {
		t.Errorf("rtt %v %v, from %v", top.RTTMedian, top.RTTMax, rtts)
	}
	if len(r.Resources) != 7 {
		t.Errorf("%d resources", len(r.Resources))
	}

}

// squeeze collapses the blanks of each line of tabwriter output.

func sortedMid(d []time.Duration) time.Duration {
	a, b, c := d[0], d[1], d[2]
	return max(min(a, b), min(max(a, b), c))
}

func TestSummaryQuantilesAndCaps(t *testing.T) {
	mk := func(i int, rtt time.Duration, uri string) *Exchange {
		return &Exchange{
			Client: netip.AddrPortFrom(netip.MustParseAddr("10.0.0.1"), uint16(1000+i%3)),
			Server: ap("10.0.0.2:5683"), Method: "GET", URI: uri, Code: "2.05", Status: Complete,
			RTT: someDuration(rtt),
		}
	}
	s := NewSummary(2)
	for i := 1; i <= 100; i++ {
		s.Add(mk(i, time.Duration(i)*time.Millisecond, "coap://a/x"))
	}
	s.Add(mk(0, time.Second, "coap://a/y"))
	s.Add(mk(0, time.Second, "coap://a/z")) // a third resource: overflow
	s.Add(&Exchange{Client: ap("10.0.0.1:1000"), Status: Unmatched})
	s.Add(&Exchange{Client: ap("10.0.0.1:1000"), Method: "GET", URI: "coap://a/x", Status: Unanswered})
	r := s.Report()
	x := r.Resources[0]
	if x.Exchanges != 101 || x.Answered != 100 || x.RTTMedian.D != 50*time.Millisecond || x.RTTP95.D != 95*time.Millisecond || x.RTTMax.D != 100*time.Millisecond {
		t.Errorf("quantiles %+v", x)
	}
	if r.Overflow != (Overflow{Clients: 37, Resources: 1}) || len(r.Clients) != 2 || len(r.Resources) != 2 || r.Unmatched != 1 || r.Unanswered != 1 {
		t.Errorf("caps %+v", r)
	}

	// Beyond the sample size the reservoir keeps the quantiles close and
	// the report deterministic.
	run := func() Report {
		s := NewSummary(0)
		for i := range 100_000 {
			s.Add(mk(i, time.Duration(i%1000+1)*time.Millisecond, "coap://a/x"))
		}
		return s.Report()
	}
	a, b := run(), run()
	if !reflect.DeepEqual(a, b) {
		t.Errorf("reports differ")
	}
	med := a.Resources[0].RTTMedian.D
	if med < 450*time.Millisecond || med > 550*time.Millisecond || a.Resources[0].RTTMax.D != time.Second {
		t.Errorf("sampled median %v max %v", med, a.Resources[0].RTTMax)
	}
}
