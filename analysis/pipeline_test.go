package analysis

import (
	"encoding/json"
	"path/filepath"
	"testing"
	"time"

	"github.com/coapaudit/coapaudit/capture"
	"github.com/coapaudit/coapaudit/flows"
	"github.com/coapaudit/coapaudit/internal/testenv"
	"github.com/coapaudit/coapaudit/oscore"
	"github.com/coapaudit/coapaudit/rules"
	"github.com/coapaudit/coapaudit/tlskeys"
)

// TestPipelineSame feeds captures to an Engine frame by frame with
// expiries in between, as a live run does on its ticks (and Frame does
// when a frame's time moves on), once in one
// goroutine and once through the pipeline: the exchanges, findings and
// summary must come out the same and in the same order.
func TestPipelineSame(t *testing.T) {
	root := testenv.RepoRoot()
	keys := func(file string) *oscore.Keyring { return loadKeyring(t, filepath.Join(root, file)) }
	psk, err := tlskeys.ParsePSK("686f704b6579")
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		file string
		opts Options
	}{
		{"samples/libcoap-fwdproxy.pcap", Options{}},
		{"samples/aiocoap-oscore-evilproxy.pcap", Options{Keys: keys("samples/aiocoap.oscore_contexts")}},
		{"samples/libcoap-dtls-proxy.pcap", Options{}},
		{"dtlsdec/testdata/libcoap-psk-proxy.pcap", Options{TLSKeys: &tlskeys.Keys{PSKs: []tlskeys.PSK{psk}}}},
		{"coaptcp/testdata/libcoap-tcp.pcap", Options{}},
		{"testdata/captures/relay-tcp.pcap", Options{}},
	}
	for _, c := range cases {
		for _, every := range []int{1, 5, 1 << 30} {
			one := feedEngine(t, filepath.Join(root, c.file), c.opts, every, false)
			piped := feedEngine(t, filepath.Join(root, c.file), c.opts, every, true)
			if len(one) < 3 {
				t.Fatalf("%s: only %d records", c.file, len(one))
			}
			if i := firstDiff(one, piped); i >= 0 {
				t.Fatalf("%s, flush every %d frames: record %d of %d differs:\npipeline: %.500s\n     one: %.500s",
					c.file, every, i, len(one), at(piped, i), at(one, i))
			}
		}
	}
}

// feedEngine runs a capture through an Engine with every stage on,
// flushing state older than a frame's time every so many frames, and
// returns what came out, in order.
func feedEngine(t *testing.T, name string, opts Options, every int, pipeline bool) []string {
	t.Helper()
	out, rec := recorder(t)
	opts.TrackExchanges, opts.Leaks, opts.Rules = true, true, rules.All()
	opts.OnFinding = func(f *rules.Finding) { rec("finding", f) }
	e, err := NewEngine(opts, func(x *flows.Exchange) { rec("exchange", x) })
	if err != nil {
		t.Fatal(err)
	}
	r, err := capture.Open(name)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if pipeline {
		e.startPipeline()
	}
	var d capture.Datagram
	for i := 1; r.Next(&d) == nil; i++ {
		e.Frame(&d, 0, "")
		if i%every == 0 {
			// As after a quiet minute: lingering exchanges go, the
			// rules judge them at that time.
			e.Flush(d.Time.Add(time.Minute))
		}
	}
	e.stopPipeline()
	s := e.Finish()
	rec("summary", s)
	rec("leaks", e.Leaks())
	return *out
}

// recorder returns a list of records and the function that appends one:
// its kind and its JSON.
func recorder(t testing.TB) (*[]string, func(kind string, v any)) {
	var out []string
	return &out, func(kind string, v any) {
		b, err := json.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, kind+" "+string(b))
	}
}

func firstDiff(a, b []string) int {
	for i := range max(len(a), len(b)) {
		if at(a, i) != at(b, i) {
			return i
		}
	}
	return -1
}

func at(l []string, i int) string {
	if i < len(l) {
		return l[i]
	}
	return "(none)"
}
