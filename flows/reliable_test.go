package flows

import (
	"slices"
	"testing"
	"time"

	"github.com/coapaudit/coapaudit/decode"
)

// On a reliable transport the same bytes sent twice are two messages: no
// Message ID deduplication (RFC 8323 section 3), while over UDP they are
// a retransmission.
func TestReliableNoMessageIDs(t *testing.T) {
	run := func(transport string) []*Exchange {
		s := newSim(t, Config{})
		s.transport = transport
		for range 2 {
			s.send("10.0.0.1:40000", "10.0.0.3:5683", con(decode.CodeGET, 0, "a").path("x"))
			s.after(time.Millisecond)
			s.send("10.0.0.3:5683", "10.0.0.1:40000", con(decode.Code(0x45), 0, "a").body("1"))
			s.after(3 * time.Second)
		}
		// An Empty message is ignored on a reliable transport.
		s.send("10.0.0.1:40000", "10.0.0.3:5683", con(decode.CodeEmpty, 0, ""))
		return s.close()
	}
	tcp := run("tcp")
	if len(tcp) != 2 {
		t.Fatalf("tcp: %d exchanges, want 2", len(tcp))
	}
	for _, x := range tcp {
		l := x.Legs[0]
		if x.Code != "2.05" || l.Transport != "tcp" || l.Type != "" || l.Retransmissions != 0 || l.ResponseRetransmissions != 0 {
			t.Errorf("tcp exchange %s: code %q leg %+v", x.ID, x.Code, l)
		}
		if x.Method != "GET" || x.URI != "coap+tcp://10.0.0.3/x" {
			t.Errorf("tcp exchange %s: %s %s", x.ID, x.Method, x.URI)
		}
	}
	udp := run("")
	// Over UDP: one exchange with a copy each way, and the Empty CON a
	// ping.
	if len(udp) != 2 || udp[0].Legs[0].Retransmissions != 1 || udp[0].Legs[0].ResponseRetransmissions != 1 || udp[1].Method != "PING" {
		t.Errorf("udp: %d exchanges, first leg %+v", len(udp), udp[0].Legs[0])
	}
}

// A proxy between transports: the client leg over UDP, the server leg
// over TCP, linked without Message IDs as evidence.
func TestProxyBetweenTransports(t *testing.T) {
	s := newSim(t, Config{})
	s.send("10.0.0.1:1000", "10.0.0.2:5683", con(decode.CodeGET, 7, "c").str(decode.OptProxyURI, "coap+tcp://10.0.0.3/t"))
	s.after(time.Millisecond)
	s.transport = "tcp"
	s.send("10.0.0.2:40000", "10.0.0.3:5683", con(decode.CodeGET, 7, "d").path("t"))
	s.after(time.Millisecond)
	s.send("10.0.0.3:5683", "10.0.0.2:40000", con(decode.Code(0x45), 0, "d").body("ok"))
	s.after(time.Millisecond)
	s.transport = ""
	s.send("10.0.0.2:5683", "10.0.0.1:1000", ack(decode.Code(0x45), 7, "c").body("ok"))
	xs := s.close()
	if len(xs) != 1 {
		t.Fatalf("%d exchanges, want 1: %+v", len(xs), xs)
	}
	x := xs[0]
	if len(x.Legs) != 2 {
		t.Fatalf("legs %+v", x.Legs)
	}
	c, sv := x.Legs[0], x.Legs[1]
	if c.Transport != "" || c.Type != "CON" || sv.Transport != "tcp" || sv.Type != "" {
		t.Errorf("client leg %q/%q, server leg %q/%q", c.Transport, c.Type, sv.Transport, sv.Type)
	}
	if slices.Contains(sv.LinkEvidence, "message-id") || !slices.Contains(sv.LinkEvidence, "uri") {
		t.Errorf("link evidence %v", sv.LinkEvidence)
	}
	if x.Status != "complete" || len(x.Diff) != 0 {
		t.Errorf("status %s, diff %+v", x.Status, x.Diff)
	}
}
