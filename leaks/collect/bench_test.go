package collect_test

import (
	"os"
	"testing"

	"github.com/coapaudit/coapaudit/analysis"
	"github.com/coapaudit/coapaudit/flows"
	"github.com/coapaudit/coapaudit/leaks/collect"
)

// BenchmarkExchange feeds the exchanges of a generated capture
// (COAPAUDIT_BENCH_PCAP, such as `go run ./samples/gen -o
// /tmp/gen-200k.pcap -n 200000`) to a Collector and computes the report;
// their frames are not in its window, so Packet's part is left out.
func BenchmarkExchange(b *testing.B) {
	name := os.Getenv("COAPAUDIT_BENCH_PCAP")
	if name == "" {
		b.Skip("set COAPAUDIT_BENCH_PCAP to a capture")
	}
	var xs []*flows.Exchange
	if _, err := analysis.RunFiles([]string{name}, analysis.Options{TrackExchanges: true}, nil, func(x *flows.Exchange) { xs = append(xs, x) }); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		c := collect.New(collect.Config{})
		for _, x := range xs {
			c.Exchange(x)
		}
		c.Report()
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(xs)), "ns/exchange")
}
