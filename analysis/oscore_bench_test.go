package analysis

import (
	"bytes"
	"io"
	"net/netip"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/coapaudit/coapaudit/capture"
	"github.com/coapaudit/coapaudit/internal/testenv"
	"github.com/coapaudit/coapaudit/oscore"
	"github.com/coapaudit/coapaudit/rules"
)

// evilProxySample returns the path of the aiocoap capture through the evil
// proxy in samples/ and the keyring of its keys.
func evilProxySample(tb testing.TB) (string, *oscore.Keyring) {
	tb.Helper()
	dir := filepath.Join(testenv.RepoRoot(), "samples")
	return filepath.Join(dir, "aiocoap-oscore-evilproxy.pcap"), loadKeyring(tb, filepath.Join(dir, "aiocoap.oscore_contexts"))
}

// BenchmarkOSCORECapture analyses the aiocoap capture through the evil
// proxy (samples/, 48 OSCORE messages of which 47 verify) as `coapaudit
// analyze --keys samples/aiocoap.oscore_contexts` does: with its keys,
// exchange tracking and every rule, a new Engine per op (reading the file
// included, the keys derived once); without keys, for the difference. It
// reports the OSCORE messages decrypted per second of the whole analysis.
func BenchmarkOSCORECapture(b *testing.B) {
	pcap, kr := evilProxySample(b)
	for _, run := range []struct {
		name string
		keys *oscore.Keyring
		want int // messages decrypted
	}{{"no-keys", nil, 0}, {"keys", kr, 47}} {
		b.Run(run.name, func(b *testing.B) {
			var s Summary
			b.ReportAllocs()
			for b.Loop() {
				e, err := RunFiles([]string{pcap}, Options{Keys: run.keys, TrackExchanges: true, Rules: rules.All()}, nil, nil)
				if err != nil {
					b.Fatal(err)
				}
				s = *e.Summary()
			}
			if s.Decrypted != run.want || s.Frames == 0 {
				b.Fatalf("%d messages decrypted, want %d (%d frames)", s.Decrypted, run.want, s.Frames)
			}
			sec := b.Elapsed().Seconds()
			b.ReportMetric(float64(s.Frames*b.N)/sec, "frames/s")
			b.ReportMetric(float64(s.Decrypted*b.N)/sec, "decryptions/s")
		})
	}
}

// BenchmarkOSCOREStream feeds one long-lived Engine with the keys the
// frames of the evil proxy capture again and again, as a long capture
// would: every pass comes from other hosts (the addresses' middle bytes
// count the passes) and later in time, so that each pass's Partial IVs
// are fresh in new replay windows and its requests new pending ones, with
// exchange tracking and every rule. One op is one pass (the whole
// capture); decryptions/s counts the OSCORE messages verified.
func BenchmarkOSCOREStream(b *testing.B) {
	pcap, kr := evilProxySample(b)
	frames := readDatagrams(b, pcap)
	span := frames[len(frames)-1].Time.Sub(frames[0].Time) + time.Second
	e, err := NewEngine(Options{Keys: kr, TrackExchanges: true, Rules: rules.All()}, nil)
	if err != nil {
		b.Fatal(err)
	}
	var d capture.Datagram
	pass := 0
	b.ReportAllocs()
	for b.Loop() {
		for i := range frames {
			d = frames[i]
			d.Number += pass * len(frames)
			d.Time = d.Time.Add(time.Duration(pass) * span)
			d.Src, d.Dst = passAddr(d.Src, pass), passAddr(d.Dst, pass)
			e.Frame(&d, 0, "")
		}
		pass++
	}
	s := e.Finish()
	if want := 47 * pass; s.Decrypted != want || s.DecryptFailures != pass {
		b.Fatalf("%d passes: %d decrypted (want %d), %d failures", pass, s.Decrypted, want, s.DecryptFailures)
	}
	sec := b.Elapsed().Seconds()
	b.ReportMetric(float64(len(frames)*b.N)/sec, "frames/s")
	b.ReportMetric(float64(s.Decrypted)/sec, "decryptions/s")
}

// passAddr moves an endpoint to another host for each pass.
func passAddr(a netip.AddrPort, pass int) netip.AddrPort {
	b := a.Addr().As16()
	b[13] ^= byte(pass >> 8)
	b[14] ^= byte(pass)
	ip := netip.AddrFrom16(b)
	if a.Addr().Is4() {
		ip = ip.Unmap()
	}
	return netip.AddrPortFrom(ip, a.Port())
}

// readDatagrams reads a capture's frames and copies them.
func readDatagrams(tb testing.TB, name string) []capture.Datagram {
	tb.Helper()
	r, err := capture.Open(name)
	if err != nil {
		tb.Fatal(err)
	}
	defer r.Close()
	var out []capture.Datagram
	for {
		var d capture.Datagram
		if err := r.Next(&d); err == io.EOF {
			return out
		} else if err != nil {
			tb.Fatal(err)
		}
		d.Data = bytes.Clone(d.Data)
		if d.PayloadOff >= 0 {
			d.Payload = d.Data[d.PayloadOff : d.PayloadOff+len(d.Payload)]
		} else {
			d.Payload = bytes.Clone(d.Payload)
		}
		d.Fragments = slices.Clone(d.Fragments)
		out = append(out, d)
	}
}
