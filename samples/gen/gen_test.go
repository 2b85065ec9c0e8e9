package main

import (
	"bytes"
	"io"
	"net/netip"
	"path/filepath"
	"testing"

	"github.com/coapaudit/coapaudit/capture"
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
		if err := generate(&b, 3000, seed, proxy); err != nil {
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

func TestUsage(t *testing.T) {
	for _, args := range [][]string{{}, {"-n", "10"}, {"-o", "x", "extra"}, {"-bogus"}} {
		var stderr bytes.Buffer
		if code := run(args, &stderr); code != 2 || stderr.Len() == 0 {
			t.Errorf("%q: exit %d, stderr %q", args, code, stderr.String())
		}
	}
}
