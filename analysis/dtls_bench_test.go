package analysis

import (
	"testing"

	"github.com/coapaudit/coapaudit/rules"
)

// BenchmarkDTLSCapture analyses the libcoap capture through a DTLS proxy
// (111 frames, 7 PSK sessions with their handshakes, 48 protected records
// holding 20 CoAP messages) with the PSK, exchange tracking and every
// rule, per op: a new Engine each time, so key derivation and Finished
// checks are included; without keys, for the difference.
func BenchmarkDTLSCapture(b *testing.B) {
	pcap, keys := libcoapDTLS(b)
	for _, withKeys := range []bool{false, true} {
		b.Run(map[bool]string{false: "no-keys", true: "psk"}[withKeys], func(b *testing.B) {
			opts := Options{TrackExchanges: true, Rules: rules.All()}
			want := 0
			if withKeys {
				opts.TLSKeys = keys
				want = 48
			}
			records := 0
			b.ReportAllocs()
			for b.Loop() {
				e, err := RunFiles([]string{pcap}, opts, nil, nil)
				if err != nil {
					b.Fatal(err)
				}
				records = e.Summary().DTLSDecrypted
			}
			if records != want {
				b.Fatalf("%d records decrypted, want %d", records, want)
			}
			b.ReportMetric(float64(111*b.N)/b.Elapsed().Seconds(), "frames/s")
		})
	}
}
