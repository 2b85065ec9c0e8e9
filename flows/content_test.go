package flows

import (
	"encoding/binary"
	"slices"
	"testing"
	"time"

	"github.com/coapaudit/coapaudit/decode"
)

const (
	cli    = "10.0.0.1:40000"
	prx    = "10.0.0.2:5683"
	prxOut = "10.0.0.2:41000"
	srv    = "10.0.0.3:5683"
)

func diffFields(x *Exchange, dir string) []string {
	var out []string
	for _, d := range x.Diff {
		if d.Dir == dir && d.Allowed == "" {
			out = append(out, d.Field)
		}
	}
	return out
}

// A forward proxy that drops the path when it decomposes Proxy-Uri: the
// origin sees "/". The legs are still one exchange, linked on the method,
// the empty payload and the timing, and the URI change is a diff.
func TestLinkPathDropped(t *testing.T) {
	s := newSim(t, Config{})
	for i := range 3 {
		mid := uint16(100 + i)
		tok := string(rune('a' + i))
		s.send(cli, prx, con(decode.CodeGET, mid, tok).str(decode.OptProxyURI, "coap://10.0.0.3/sensors/temp"))
		s.after(time.Millisecond)
		s.send(prxOut, srv, con(decode.CodeGET, mid+50, "zz"+tok))
		s.after(time.Millisecond)
		s.send(srv, prxOut, ack(0x45, mid+50, "zz"+tok).body("21.5"))
		s.after(time.Millisecond)
		s.send(prx, cli, ack(0x45, mid, tok).body("21.5"))
		s.after(time.Second)
	}
	xs := s.close()
	if len(xs) != 3 {
		t.Fatalf("%d exchanges, want 3 (client and server legs linked)", len(xs))
	}
	for _, x := range xs {
		if len(x.Legs) != 2 || x.Status != Complete {
			t.Fatalf("%s: %d legs, status %s", x.ID, len(x.Legs), x.Status)
		}
		if ev := x.Legs[1].LinkEvidence; !slices.Contains(ev, "method") || slices.Contains(ev, "uri") {
			t.Errorf("%s: link evidence %v", x.ID, ev)
		}
		if got := diffFields(x, "request"); !slices.Equal(got, []string{"uri"}) {
			t.Errorf("%s: request diffs %v, want [uri]", x.ID, got)
		}
		if got := diffFields(x, "response"); len(got) != 0 {
			t.Errorf("%s: response diffs %v, want none", x.ID, got)
		}
		if len(x.Residence) != 1 || !x.Residence[0].Relayed {
			t.Errorf("%s: residence %+v, want relayed", x.ID, x.Residence)
		}
	}
}

// A transparent relay that keeps token and Message ID and changes one
// byte of a PUT's payload, and one byte of the response: one exchange,
// both changes recorded with both frames.
func TestLinkPayloadAltered(t *testing.T) {
	s := newSim(t, Config{})
	// One faithful exchange first, so that the relay is known.
	s.send(cli, prx, con(decode.CodeGET, 1, "t1").path("valve"))
	s.after(time.Millisecond)
	s.send(prxOut, srv, con(decode.CodeGET, 1, "t1").path("valve"))
	s.send(srv, prxOut, ack(0x45, 1, "t1").body("open"))
	s.after(time.Millisecond)
	s.send(prx, cli, ack(0x45, 1, "t1").body("open"))
	s.after(time.Second)

	in := s.send(cli, prx, con(decode.CodePUT, 2, "t2").path("valve").body("close"))
	s.after(time.Millisecond)
	out := s.send(prxOut, srv, con(decode.CodePUT, 2, "t2").path("valve").body("clone"))
	s.after(time.Millisecond)
	sresp := s.send(srv, prxOut, ack(0x44, 2, "t2").body("ok"))
	s.after(time.Millisecond)
	cresp := s.send(prx, cli, ack(0x44, 2, "t2").body("no"))
	xs := s.close()
	if len(xs) != 2 {
		t.Fatalf("%d exchanges, want 2", len(xs))
	}
	x := xs[1]
	if len(x.Legs) != 2 || x.Status != Complete {
		t.Fatalf("%s: %d legs, status %s", x.ID, len(x.Legs), x.Status)
	}
	want := []string{"token", "message-id", "method", "uri", "timing"}
	if ev := x.Legs[1].LinkEvidence; !slices.Equal(ev, want) {
		t.Errorf("link evidence %v, want %v", ev, want)
	}
	var req, resp *Diff
	for i := range x.Diff {
		switch d := &x.Diff[i]; d.Dir {
		case "request":
			req = d
		case "response":
			resp = d
		}
	}
	if req == nil || req.Field != "payload" || req.Client != `"close"` || req.Server != `"clone"` ||
		req.ClientFrame != in || req.ServerFrame != out || req.Proxy != ap(prx) {
		t.Errorf("request diff %+v", req)
	}
	if resp == nil || resp.Field != "payload" || resp.Client != `"no"` || resp.Server != `"ok"` ||
		resp.ClientFrame != cresp || resp.ServerFrame != sresp {
		t.Errorf("response diff %+v", resp)
	}
	if len(x.Diff) != 2 {
		t.Errorf("diffs %+v, want 2", x.Diff)
	}
}

// flows decided equal content on fixedHash, unkeyed, before it compared
// bytes; fixedHash still places entries in the bounded tables.

// collide returns a second 16-byte payload with the same fixedHash as a:
// the first block is chosen freely, the second cancels the difference.
func collide(a []byte) []byte {
	h0 := uint64(len(a))*0x9e3779b97f4a7c15 ^ 0x2d358dccaa6c78a5
	b := slices.Clone(a)
	b[0] ^= 0x20
	ha := fmix64(h0 ^ binary.LittleEndian.Uint64(a[:8]))
	hb := fmix64(h0 ^ binary.LittleEndian.Uint64(b[:8]))
	binary.LittleEndian.PutUint64(b[8:], binary.LittleEndian.Uint64(a[8:])^ha^hb)
	return b
}

// A relay that swaps the server's response for a different payload with
// the same unkeyed hash: the bytes tell them apart.
func TestCollidingPayloadsToldApart(t *testing.T) {
	a := []byte("temperature=21.5")
	b := collide(a)
	if string(a) == string(b) || fixedHash(a) != fixedHash(b) {
		t.Fatalf("no collision built: %q %q", a, b)
	}
	s := newSim(t, Config{})
	s.send(cli, prx, con(decode.CodeGET, 7, "k").path("t"))
	s.after(time.Millisecond)
	s.send(prxOut, srv, con(decode.CodeGET, 7, "k").path("t"))
	sresp := s.send(srv, prxOut, ack(0x45, 7, "k").opt(decode.OptContentFormat, nil).body(string(a)))
	s.after(time.Millisecond)
	cresp := s.send(prx, cli, ack(0x45, 7, "k").opt(decode.OptContentFormat, nil).body(string(b)))
	xs := s.close()
	if len(xs) != 1 {
		t.Fatalf("%d exchanges", len(xs))
	}
	x := xs[0]
	if x.Residence[0].Relayed {
		t.Error("a response with other bytes counted as relayed")
	}
	if len(x.Diff) != 1 || x.Diff[0].Field != "payload" || x.Diff[0].ClientFrame != cresp || x.Diff[0].ServerFrame != sresp {
		t.Errorf("diffs %+v", x.Diff)
	}
}

// Legitimate transformations are recorded as allowed, or not at all.
func TestDiffAllowed(t *testing.T) {
	s := newSim(t, Config{})
	s.send(cli, prx, con(decode.CodeGET, 1, "a").str(decode.OptProxyURI, "coap://10.0.0.3/r?x=1"))
	s.after(time.Millisecond)
	s.send(prxOut, srv, con(decode.CodeGET, 9, "bb").path("r").str(decode.OptURIQuery, "x=1").uint(decode.OptHopLimit, 15))
	s.send(srv, prxOut, ack(0x45, 9, "bb").uint(decode.OptMaxAge, 30).body("v"))
	s.after(time.Millisecond)
	s.send(prx, cli, ack(0x45, 1, "a").uint(decode.OptMaxAge, 29).body("v"))
	s.after(time.Second)
	s.send(cli, prx, con(decode.CodeGET, 2, "c").str(decode.OptProxyURI, "coap://10.0.0.3/q"))
	s.after(time.Millisecond)
	s.send(prxOut, srv, con(decode.CodeGET, 10, "dd").path("q"))
	s.send(srv, prxOut, ack(0x45, 10, "dd").body("w"))
	s.after(time.Millisecond)
	s.send(prx, cli, ack(0xa4, 2, "c")) // 5.04 of the proxy's own
	xs := s.close()
	if len(xs) != 2 {
		t.Fatalf("%d exchanges", len(xs))
	}
	for _, x := range xs {
		if len(x.Legs) != 2 {
			t.Fatalf("%s: %d legs", x.ID, len(x.Legs))
		}
		if got := append(diffFields(x, "request"), diffFields(x, "response")...); len(got) != 0 {
			t.Errorf("%s: unallowed diffs %v (%+v)", x.ID, got, x.Diff)
		}
	}
	if d := xs[0].Diff; len(d) != 1 || d[0].Allowed != "max-age-reduced" {
		t.Errorf("X1 diffs %+v", d)
	}
	if d := xs[1].Diff; len(d) != 1 || d[0].Allowed != "proxy-error" || d[0].Field != "code" {
		t.Errorf("X2 diffs %+v", d)
	}
}

// Two candidates that the evidence cannot tell apart are not linked.
func TestLinkNeedsSinglingOut(t *testing.T) {
	s := newSim(t, Config{})
	s.send("10.0.0.1:40000", prx, con(decode.CodeGET, 1, "a").str(decode.OptProxyURI, "coap://10.0.0.3/a"))
	s.send("10.0.0.9:40000", prx, con(decode.CodeGET, 1, "b").str(decode.OptProxyURI, "coap://10.0.0.3/b"))
	s.after(time.Millisecond)
	s.send(prxOut, srv, con(decode.CodeGET, 5, "zz"))
	xs := s.close()
	for _, x := range xs {
		if len(x.Legs) > 1 {
			t.Errorf("%s linked on ambiguous evidence: %+v", x.ID, x.Legs[1].LinkEvidence)
		}
	}
}

// A proxy process with a forward front and a reverse front sends on from
// one endpoint: once that endpoint is confirmed, a request from it that
// carries the reverse front's resource with its prefix removed is linked,
// and the prefix removal is an allowed mapping.
func TestLinkReversePrefix(t *testing.T) {
	const fwd, rev, out = "10.0.0.2:5683", "10.0.0.9:5683", "127.0.0.1:45000"
	s := newSim(t, Config{})
	s.send(cli, fwd, con(decode.CodeGET, 1, "a").str(decode.OptProxyScheme, "coap").str(decode.OptURIHost, "10.0.0.3").path("t"))
	s.after(time.Millisecond)
	s.send(out, srv, con(decode.CodeGET, 70, "q1").path("t"))
	s.send(srv, out, ack(0x45, 70, "q1").body("1"))
	s.send(fwd, cli, ack(0x45, 1, "a").body("1"))
	for i := range 2 {
		s.after(time.Second)
		s.send(cli, rev, con(decode.CodeGET, uint16(2+i), "b").path("lc/data"))
		s.after(time.Millisecond)
		s.send(out, srv, con(decode.CodeGET, uint16(71+i), "q2").path("data"))
		s.send(srv, out, ack(0x45, uint16(71+i), "q2").body("x"))
		s.send(rev, cli, ack(0x45, uint16(2+i), "b").body("x"))
	}
	xs := s.close()
	if len(xs) != 3 {
		t.Fatalf("%d exchanges, want 3", len(xs))
	}
	for _, x := range xs[1:] {
		if len(x.Legs) != 2 || !slices.Contains(x.Legs[1].LinkEvidence, "uri-suffix") {
			t.Fatalf("%s: legs %+v", x.ID, x.Legs)
		}
		if got := diffFields(x, "request"); len(got) != 0 {
			t.Errorf("%s: unallowed diffs %v", x.ID, got)
		}
	}
	if d := xs[2].Diff; len(d) != 1 || d[0].Allowed != "reverse-proxy-prefix" {
		t.Errorf("X3 diffs %+v, want the prefix removal, allowed", d)
	}
}
