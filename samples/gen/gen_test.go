package main

import (
	"bytes"
	"io"
	"net/netip"
	"path/filepath"
	"testing"
	"time"

	"github.com/coapaudit/coapaudit/capture"
	"github.com/coapaudit/coapaudit/decode"
	"github.com/coapaudit/coapaudit/oscore"
)

var proxyAddr = netip.AddrFrom4([4]byte{10, 0, 0, 2})

// readBack reads a generated capture with capture.Reader and checks what
// holds for every frame: a complete UDP datagram with port 5683 on one side
// carrying a CoAP version 1 message, in time order.
func readBack(t *testing.T, r *capture.Reader) (proxied, direct int) {
	t.Helper()
	var d capture.Datagram
	var last capture.Frame
	for {
		err := r.Next(&d)
		if err == io.EOF {
			return proxied, direct
		}
		if err != nil {
			t.Fatal(err)
		}
		if d.Kind != capture.KindUDP || d.Truncated || d.Src.Port() != 5683 && d.Dst.Port() != 5683 {
			t.Fatalf("frame %d: %v %q %v > %v truncated %v", d.Number, d.Kind, d.Reason, d.Src, d.Dst, d.Truncated)
		}
		if len(d.Payload) < 4 || d.Payload[0]>>6 != 1 || d.UDPLength != 8+len(d.Payload) {
			t.Fatalf("frame %d: not a CoAP message: % x", d.Number, d.Payload)
		}
		if d.Time.Before(last.Time) {
			t.Fatalf("frame %d at %v, before frame %d at %v", d.Number, d.Time, last.Number, last.Time)
		}
		last = d.Frame
		if d.Src.Addr() == proxyAddr || d.Dst.Addr() == proxyAddr {
			proxied++
		} else {
			direct++
		}
	}
}

func TestGenerateFile(t *testing.T) {
	name := filepath.Join(t.TempDir(), "gen.pcap")
	var stderr bytes.Buffer
	if code := run([]string{"-o", name, "-n", "1000", "-seed", "5"}, &stderr); code != 0 {
		t.Fatalf("exit %d: %s", code, stderr.String())
	}
	r, err := capture.Open(name)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	proxied, direct := readBack(t, r)
	if r.Frames() != 1000 {
		t.Errorf("%d frames, want 1000", r.Frames())
	}
	if proxied == 0 || direct == 0 || direct > proxied {
		t.Errorf("%d frames through the proxy, %d direct", proxied, direct)
	}
}

func TestGenerateDeterministic(t *testing.T) {
	gen := func(seed uint64, proxy bool) []byte {
		var b bytes.Buffer
		if err := generate(&b, 3000, newGenerator(seed, proxy)); err != nil {
			t.Fatal(err)
		}
		return b.Bytes()
	}
	a := gen(9, true)
	if !bytes.Equal(a, gen(9, true)) {
		t.Error("the same seed gave different files")
	}
	if bytes.Equal(a, gen(10, true)) {
		t.Error("different seeds gave the same file")
	}
	r, err := capture.NewReader(bytes.NewReader(gen(9, false)))
	if err != nil {
		t.Fatal(err)
	}
	if proxied, direct := readBack(t, r); proxied != 0 || direct != 3000 {
		t.Errorf("-proxy=false: %d frames through the proxy, %d direct", proxied, direct)
	}
}

// TestFlood: with -flood every frame is a new confirmable GET to the
// proxy (or a server), each with a token never seen before, and nothing
// answers.
func TestFlood(t *testing.T) {
	for _, proxy := range []bool{true, false} {
		var b bytes.Buffer
		g := newGenerator(3, proxy)
		g.flood = true
		if err := generate(&b, 5000, g); err != nil {
			t.Fatal(err)
		}
		r, err := capture.NewReader(bytes.NewReader(b.Bytes()))
		if err != nil {
			t.Fatal(err)
		}
		tokens := map[string]bool{}
		var d capture.Datagram
		var first, last capture.Frame
		for r.Next(&d) == nil {
			p := d.Payload
			if len(p) < 12 || p[0]>>4 != 0x4 || p[0]&0xf != 8 || p[1] != codeGET || d.Dst.Port() != 5683 {
				t.Fatalf("proxy=%v frame %d: not a CON GET with an 8-byte token: % x", proxy, d.Number, p)
			}
			if (d.Dst.Addr() == proxyAddr) != proxy {
				t.Fatalf("proxy=%v frame %d to %v", proxy, d.Number, d.Dst)
			}
			tokens[string(p[4:12])] = true
			if first.Number == 0 {
				first = d.Frame
			}
			last = d.Frame
		}
		if len(tokens) != 5000 || r.Frames() != 5000 {
			t.Errorf("proxy=%v: %d tokens in %d frames, want 5000", proxy, len(tokens), r.Frames())
		}
		// 10,000 requests a second.
		if span := last.Time.Sub(first.Time); span < 400*time.Millisecond || span > 600*time.Millisecond {
			t.Errorf("proxy=%v: 5000 requests over %v", proxy, span)
		}
	}
}

func TestUsage(t *testing.T) {
	for _, args := range [][]string{{}, {"-n", "10"}, {"-o", "x", "extra"}, {"-bogus"}} {
		var stderr bytes.Buffer
		if code := run(args, &stderr); code != 2 || stderr.Len() == 0 {
			t.Errorf("%q: exit %d, stderr %q", args, code, stderr.String())
		}
	}
}

// TestGenerateOSCORE: with -oscore-keys every message between a client and
// a server but the empty ones carries OSCORE, and verifies with the keys
// written; requests are fresh or retransmissions.
func TestGenerateOSCORE(t *testing.T) {
	dir := t.TempDir()
	name, keys := filepath.Join(dir, "gen.pcap"), filepath.Join(dir, "keys.json")
	var stderr bytes.Buffer
	if code := run([]string{"-o", name, "-n", "3000", "-seed", "9", "-oscore-keys", keys}, &stderr); code != 0 {
		t.Fatalf("exit %d: %s", code, stderr.String())
	}
	ps, errLoad := oscore.LoadKeyFile(keys)
	kr, errRing := oscore.NewKeyring(ps)
	if errLoad != nil || errRing != nil || kr.Len() != 500 {
		t.Fatalf("keys: %v, %v, %d contexts", errLoad, errRing, kr.Len())
	}
	r, err := capture.Open(name)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	d := oscore.NewDecryptor(kr)
	var dg capture.Datagram
	var m decode.Message
	protected, plain := 0, 0
	for r.Next(&dg) == nil {
		if err := m.Decode(dg.Payload); err != nil {
			t.Fatalf("frame %d: %v", dg.Number, err)
		}
		res := d.Process(dg.Time, dg.Number, dg.Src, dg.Dst, &m)
		switch {
		case res == nil && m.Code != 0:
			t.Fatalf("frame %d: %v without OSCORE", dg.Number, m.Code)
		case res == nil:
			plain++
		case !res.Verified:
			t.Fatalf("frame %d: %s", dg.Number, res.Err)
		case res.IsRequest && res.Replay != oscore.Fresh && res.Replay != oscore.Retransmission:
			t.Fatalf("frame %d: request %v", dg.Number, res.Replay)
		default:
			protected++
		}
	}
	if protected+plain != 3000 || protected < 2000 {
		t.Errorf("%d protected, %d empty messages", protected, plain)
	}
}
