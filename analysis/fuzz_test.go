package analysis

import (
	"encoding/binary"
	"net/netip"
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

// FuzzEngine runs arbitrary traffic among a client, a proxy and a server
// through every stage (dissection, DTLS and OSCORE with keys, TCP
// reassembly, the tracker with small caps, the 30 rules, the leak
// collector), once in one goroutine and once through the pipeline with
// flushes in between, and checks that nothing panics, every frame is
// counted, and both runs give the same records in the same order.
//
// The input is a script: one byte k, k endpoints of six bytes each (IPv4
// address, port; none: fuzzEndpoints), then frames, each: one byte
// naming the source and destination endpoints (low and high three bits,
// modulo the endpoints) with
// bit 6 for TCP and bit 7 for a gap in the TCP stream before the
// segment, one byte of time step (fuzzSteps), two bytes of length
// (big-endian), then the UDP payload or the TCP segment's data. The
// seeds are the repository's captures of real proxies, written as
// scripts.
func FuzzEngine(f *testing.F) {
	root := testenv.RepoRoot()
	for _, name := range []string{
		"samples/libcoap-fwdproxy.pcap",
		"samples/aiocoap-oscore-evilproxy.pcap",
		"dtlsdec/testdata/libcoap-psk-proxy.pcap",
		"coaptcp/testdata/libcoap-tcp.pcap",
		"testdata/captures/relay-tcp.pcap",
	} {
		f.Add(scriptOf(f, filepath.Join(root, name)))
	}
	keys, tls := fuzzKeys(f)
	f.Fuzz(func(t *testing.T, script []byte) {
		frames := 0
		play(script, func(*capture.Datagram) { frames++ })
		one, s1 := fuzzRun(t, script, keys, tls, false)
		piped, s2 := fuzzRun(t, script, keys, tls, true)
		if s1.Frames != frames || s2.Frames != frames {
			t.Fatalf("%d frames in the script, %d and %d counted", frames, s1.Frames, s2.Frames)
		}
		if i := firstDiff(one, piped); i >= 0 {
			t.Fatalf("record %d of %d differs:\npipeline: %.500s\n     one: %.500s", i, len(one), at(piped, i), at(one, i))
		}
	})
}

// fuzzKeys returns the keys of the seeds' captures: the aiocoap OSCORE
// contexts and libcoap's PSK.
func fuzzKeys(tb testing.TB) (*oscore.Keyring, *tlskeys.Keys) {
	tb.Helper()
	keys := loadKeyring(tb, filepath.Join(testenv.RepoRoot(), "samples/aiocoap.oscore_contexts"))
	psk, err := tlskeys.ParsePSK("686f704b6579")
	if err != nil {
		tb.Fatal(err)
	}
	return keys, &tlskeys.Keys{PSKs: []tlskeys.PSK{psk}}
}

// fuzzEndpoints: a client on two ports, a proxy listening and sending,
// a server on CoAP and CoAPS ports, a multicast group.
var fuzzEndpoints = [8]netip.AddrPort{
	netip.MustParseAddrPort("10.0.0.1:40000"),
	netip.MustParseAddrPort("10.0.0.2:5683"),
	netip.MustParseAddrPort("10.0.0.2:50000"),
	netip.MustParseAddrPort("10.0.0.3:5683"),
	netip.MustParseAddrPort("10.0.0.3:5684"),
	netip.MustParseAddrPort("10.0.0.1:40001"),
	netip.MustParseAddrPort("10.0.0.2:5684"),
	netip.MustParseAddrPort("[ff02::fd]:5683"),
}

// fuzzSteps are the time steps a script's byte chooses from (modulo):
// none, the spacing of a burst, retransmission timeouts, an exchange's
// lifetime and beyond.
var fuzzSteps = [...]time.Duration{0, time.Microsecond, time.Millisecond, 100 * time.Millisecond,
	2 * time.Second, 30 * time.Second, 250 * time.Second, time.Hour}

// play turns a script into datagrams, with TCP sequence numbers that
// follow on per direction (bit 7 skips 100 bytes).
func play(script []byte, frame func(*capture.Datagram)) {
	var d capture.Datagram
	eps := fuzzEndpoints[:]
	if len(script) > 0 {
		k := int(script[0])
		script = script[1:]
		if k > 0 && len(script) >= 6*k {
			eps = make([]netip.AddrPort, min(k, 8))
			for i := range eps {
				eps[i] = netip.AddrPortFrom(netip.AddrFrom4([4]byte(script[6*i:])), binary.BigEndian.Uint16(script[6*i+4:]))
			}
			script = script[6*k:]
		}
	}
	seq := map[[2]netip.AddrPort]uint32{}
	now := time.Unix(1_700_000_000, 0)
	for num := 1; len(script) >= 4; num++ {
		ep, step, n := script[0], script[1], int(binary.BigEndian.Uint16(script[2:]))
		script = script[4:]
		n = min(n, len(script))
		payload := script[:n:n]
		script = script[n:]
		now = now.Add(fuzzSteps[int(step)%len(fuzzSteps)] * time.Duration(1+int(step)/len(fuzzSteps)))
		d = capture.Datagram{
			Frame:      capture.Frame{Number: num, Time: now, CapLen: n + 28, OrigLen: n + 28, LinkType: capture.LinkTypeRaw, Data: payload},
			Kind:       capture.KindUDP,
			Src:        eps[int(ep&7)%len(eps)],
			Dst:        eps[int(ep>>3&7)%len(eps)],
			Payload:    payload,
			PayloadOff: 0,
			UDPLength:  n + 8,
		}
		if ep&0x40 != 0 {
			dir := [2]netip.AddrPort{d.Src, d.Dst}
			s := seq[dir]
			if ep&0x80 != 0 {
				s += 100
			}
			d.Kind, d.Reason, d.UDPLength = capture.KindTCP, "tcp", 0
			d.TCP = capture.TCPHeader{Seq: s, Flags: capture.TCPAck | capture.TCPPsh, Window: 65535}
			seq[dir] = s + uint32(n)
		}
		frame(&d)
	}
}

// scriptOf writes the UDP datagrams and TCP segments of a capture as a
// script: its first eight IPv4 endpoints in order of appearance (later
// ones share their numbers), then its frames.
func scriptOf(tb testing.TB, name string) []byte {
	tb.Helper()
	r, err := capture.Open(name)
	if err != nil {
		tb.Fatal(err)
	}
	defer r.Close()
	var eps []netip.AddrPort
	index := map[netip.AddrPort]byte{}
	id := func(a netip.AddrPort) byte {
		i, ok := index[a]
		if !ok {
			i = byte(len(index) % 8)
			index[a] = i
			if len(eps) < 8 {
				eps = append(eps, a)
			}
		}
		return i
	}
	var out []byte
	var last time.Time
	var d capture.Datagram
	for r.Next(&d) == nil {
		if d.Kind != capture.KindUDP && d.Kind != capture.KindTCP {
			continue
		}
		ep := id(d.Src) | id(d.Dst)<<3
		if d.Kind == capture.KindTCP {
			ep |= 0x40
		}
		step := byte(1) // a microsecond
		if gap := d.Time.Sub(last); !last.IsZero() && gap >= 100*time.Millisecond {
			step = 3
		}
		last = d.Time
		out = append(out, ep, step)
		out = binary.BigEndian.AppendUint16(out, uint16(len(d.Payload)))
		out = append(out, d.Payload...)
	}
	head := []byte{byte(len(eps))}
	for _, a := range eps {
		ip := a.Addr().Unmap().As4()
		head = binary.BigEndian.AppendUint16(append(head, ip[:]...), a.Port())
	}
	return append(head, out...)
}

// fuzzRun runs a script through an Engine with small caps and every stage
// on, flushing every seventh frame, and returns the records and the
// summary.
func fuzzRun(t *testing.T, script []byte, keys *oscore.Keyring, tls *tlskeys.Keys, pipeline bool) ([]string, *Summary) {
	out, rec := recorder(t)
	opts := Options{Keys: keys, TLSKeys: tls, TrackExchanges: true, Leaks: true, Rules: rules.All(), MaxDTLSSessions: 4,
		Flows: flows.Config{MaxPending: 8, MaxPendingPerPair: 3, MaxMessages: 16, MaxFrames: 64, MaxLegs: 4}}
	opts.OnFinding = func(f *rules.Finding) { rec("finding", f) }
	e, err := NewEngine(opts, func(x *flows.Exchange) { rec("exchange", x) })
	if err != nil {
		t.Fatal(err)
	}
	if pipeline {
		e.startPipeline()
	}
	i := 0
	play(script, func(d *capture.Datagram) {
		e.Frame(d, 0, "")
		if i++; i%7 == 0 {
			e.Flush(d.Time.Add(time.Minute))
		}
	})
	if pipeline {
		e.stopPipeline()
	}
	s := e.Finish()
	rec("summary", s)
	rec("leaks", e.Leaks())
	return *out, s
}

// TestFuzzSeeds: the seeds written from captures keep what makes them
// worth mutating: exchanges linked across the proxy, OSCORE and DTLS
// decrypted with the keys, CoAP over TCP reassembled, findings.
func TestFuzzSeeds(t *testing.T) {
	root := testenv.RepoRoot()
	keys, tls := fuzzKeys(t)
	for _, c := range []struct {
		name string
		got  func(s *Summary) int
	}{
		{"samples/libcoap-fwdproxy.pcap", func(s *Summary) int { return s.CoAPFrames }},
		{"samples/aiocoap-oscore-evilproxy.pcap", func(s *Summary) int { return s.Decrypted }},
		{"dtlsdec/testdata/libcoap-psk-proxy.pcap", func(s *Summary) int { return s.DTLSDecrypted }},
		{"coaptcp/testdata/libcoap-tcp.pcap", func(s *Summary) int { return s.ReliableMessages["tcp"] }},
		{"testdata/captures/relay-tcp.pcap", func(s *Summary) int { return s.ReliableMessages["tcp"] }},
	} {
		_, s := fuzzRun(t, scriptOf(t, filepath.Join(root, c.name)), keys, tls, false)
		if s.Exchanges == 0 || s.Findings == 0 || c.got(s) == 0 || s.MalformedFrames > 0 {
			t.Errorf("%s: %d exchanges, %d findings, %d of what the capture is for, %d malformed", c.name, s.Exchanges, s.Findings, c.got(s), s.MalformedFrames)
		}
	}
}
