package analysis

import (
	"os"
	"testing"
)

// benchCapture is a large capture for the leak benchmarks, such as the
// output of `go run ./samples/gen -o /tmp/gen-1M.pcap -n 1000000`
// (COAPAUDIT_BENCH_PCAP names another); the benchmarks skip without it.
func benchCapture(b *testing.B) string {
	name := os.Getenv("COAPAUDIT_BENCH_PCAP")
	if name == "" {
		name = "/tmp/gen-1M.pcap"
	}
	if _, err := os.Stat(name); err != nil {
		b.Skip("no benchmark capture: set COAPAUDIT_BENCH_PCAP")
	}
	return name
}

// BenchmarkRunFilesLeaks analyses the benchmark capture with the leak
// analysis off and on; the difference is its cost.
func BenchmarkRunFilesLeaks(b *testing.B) {
	name := benchCapture(b)
	for _, on := range []bool{false, true} {
		b.Run(map[bool]string{false: "off", true: "on"}[on], func(b *testing.B) {
			for b.Loop() {
				if _, err := RunFiles([]string{name}, Options{TrackExchanges: true, Leaks: on}, nil, nil); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
