package decode

import (
	"path/filepath"
	"testing"
)

var coapBenchMessages = []struct {
	name string
	hex  string
}{
	{"get", "40 01 7d 34 bb 74656d7065726174757265"},
	{"ack-content", "60 45 7d 34 ff 32322e332043"},
	{"oscore-request", "44022f8eef9bbf7a396c6f63616c686f73746b19140837cbf3210017a2d3ff72cd7273fd331ac45cffbe55c3"},
	{"proxy-request", "4101d44f01d10310dd060e636f61703a2f2f3132372e302e302e33313a353638332f74696d65"},
	{"anomalies", "40 20 00 01 30 00 ff"},
}

func BenchmarkDecode(b *testing.B) {
	for _, bm := range coapBenchMessages {
		in := coapHex(b, bm.hex)
		b.Run(bm.name, func(b *testing.B) {
			var m Message
			b.ReportAllocs()
			b.SetBytes(int64(len(in)))
			for b.Loop() {
				if err := m.Decode(in); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkDecodeCapture decodes every UDP payload on the CoAP port of a
// real capture, as the analyzer does.
func BenchmarkDecodeCapture(b *testing.B) {
	dir := coapCapturesDir(b)
	var payloads [][]byte
	size := 0
	for _, d := range coapReadUDP(b, filepath.Join(dir, "public", "fuzzcoap-conversation.pcapng")) {
		if d.coapPort() {
			payloads = append(payloads, d.Payload)
			size += len(d.Payload)
		}
	}
	var m Message
	b.ReportAllocs()
	b.SetBytes(int64(size))
	for b.Loop() {
		for _, p := range payloads {
			_ = m.Decode(p)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(payloads)), "ns/msg")
}

func BenchmarkLooksLikeCoAP(b *testing.B) {
	for _, bm := range coapBenchMessages {
		in := coapHex(b, bm.hex)
		b.Run(bm.name, func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(in)))
			for b.Loop() {
				LooksLikeCoAP(in)
			}
		})
	}
}

func BenchmarkParseOSCORE(b *testing.B) {
	v := coapHex(b, "19140837cbf3210017a2d3")
	b.ReportAllocs()
	b.SetBytes(int64(len(v)))
	for b.Loop() {
		if _, err := ParseOSCORE(v); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkAppendOptionValue(b *testing.B) {
	var m Message
	if err := m.Decode(coapHex(b, "4101d44f01d10310dd060e636f61703a2f2f3132372e302e302e33313a353638332f74696d65")); err != nil {
		b.Fatal(err)
	}
	buf := make([]byte, 0, 256)
	b.ReportAllocs()
	for b.Loop() {
		for _, o := range m.Options {
			buf = AppendOptionValue(buf[:0], o.ID, o.Value)
		}
	}
}
