package rules_test

import (
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/coapaudit/coapaudit/analysis"
	"github.com/coapaudit/coapaudit/decode"
	"github.com/coapaudit/coapaudit/internal/testenv"
	"github.com/coapaudit/coapaudit/rules"
)

// Addresses of the traces with reliable legs: a client on TCP, a proxy
// that listens on TCP and UDP, servers on TCP and UDP.
const (
	tcpClient  = "10.0.1.1:40000"
	tcpProxy   = "10.0.1.2:5683"
	tcpOut     = "10.0.1.2:41000"
	tcpServer  = "10.0.1.3:5683"
	udpServer  = "10.0.1.4:5683"
	tcpClient2 = "10.0.1.5:40001"
)

// TestReliableResponseCopies: a proxy that sends its TCP client the
// server's single response twice floods it; on TCP the copy is no
// retransmission, though the decoder's zero type reads as CON.
func TestReliableResponseCopies(t *testing.T) {
	tr := newTrace()
	c := tr.dial(0, tcpClient, tcpProxy)
	c.send(time.Millisecond, true, csm(0, false))
	c.send(time.Millisecond, false, csm(0, false))
	req := c.send(2*time.Millisecond, true, tmsg(decode.CodeGET, "\x07", "", str(decode.OptURIPath, "temp")))
	tr.add(3*time.Millisecond, tcpOut, udpServer, msg(decode.Confirmable, decode.CodeGET, 0x10, "\x07", "", str(decode.OptURIPath, "temp")))
	tr.add(4*time.Millisecond, udpServer, tcpOut, msg(decode.Acknowledgement, decode.CodeContent, 0x10, "\x07", "21.5"))
	first := c.send(5*time.Millisecond, false, tmsg(decode.CodeContent, "\x07", "21.5"))
	copy := c.send(800*time.Millisecond, false, tmsg(decode.CodeContent, "\x07", "21.5"))
	fs := of(tr.run(t, nil, rules.Config{}), "response-flood")
	if len(fs) != 1 || fs[0].Certainty != rules.Did || fs[0].Severity != rules.Medium || !slices.Equal(fs[0].Frames, []int{req, first, copy}) {
		t.Fatalf("response-flood findings %v, want one did medium with frames %d, %d, %d", fs, req, first, copy)
	}
}

// TestReliableServerLegWithheld: a response the server sent over TCP that
// the proxy never relays to its UDP client is withheld, and the finding
// says TCP delivered it.
func TestReliableServerLegWithheld(t *testing.T) {
	tr := newTrace()
	creq := tr.add(0, client, proxy, msg(decode.Confirmable, decode.CodeGET, 0x20, "\x09", "", str(decode.OptURIPath, "temp")))
	tr.add(time.Millisecond, proxy, client, msg(decode.Acknowledgement, 0, 0x20, "", ""))
	s := tr.dial(2*time.Millisecond, proxyOut, tcpServer)
	s.send(3*time.Millisecond, true, csm(0, false))
	s.send(3*time.Millisecond, false, csm(0, false))
	s.send(4*time.Millisecond, true, tmsg(decode.CodeGET, "\x09", "", str(decode.OptURIPath, "temp")))
	resp := s.send(5*time.Millisecond, false, tmsg(decode.CodeContent, "\x09", "21.5"))
	// Other traffic goes on past the grace period.
	tr.proxied(30*time.Second, 0x30, "\x0a", "other", "x")
	fs := of(tr.run(t, nil, rules.Config{}), "withheld-response")
	if len(fs) != 1 || fs[0].Certainty != rules.Did || !slices.Equal(fs[0].Frames, []int{creq, resp}) ||
		!strings.Contains(fs[0].Message, "which TCP delivered to the proxy") {
		t.Fatalf("withheld-response findings %v, want one did with frames %d, %d naming TCP", fs, creq, resp)
	}
}

// TestReliableServerLegReplay: a proxy that sends the origin a request
// again over TCP after it was answered, while its UDP client sent it
// once, replays it: TCP does not retransmit.
func TestReliableServerLegReplay(t *testing.T) {
	tr := newTrace()
	put := func() []byte { return tmsg(decode.CodePUT, "\x0b", "on", str(decode.OptURIPath, "valve")) }
	creq := tr.add(0, client, proxy, msg(decode.Confirmable, decode.CodePUT, 0x40, "\x0b", "on", str(decode.OptURIPath, "valve")))
	s := tr.dial(time.Millisecond, proxyOut, tcpServer)
	s.send(2*time.Millisecond, true, csm(0, false))
	s.send(2*time.Millisecond, false, csm(0, false))
	sreq := s.send(3*time.Millisecond, true, put())
	answer := s.send(4*time.Millisecond, false, tmsg(decode.CodeChanged, "\x0b", ""))
	tr.add(5*time.Millisecond, proxy, client, msg(decode.Acknowledgement, decode.CodeChanged, 0x40, "\x0b", ""))
	again := s.send(2*time.Second, true, put())
	s.send(2*time.Second+time.Millisecond, false, tmsg(decode.CodeChanged, "\x0b", ""))
	fs := of(tr.run(t, nil, rules.Config{}), "request-replay")
	if len(fs) != 1 || fs[0].Certainty != rules.Did || fs[0].Severity != rules.Medium || !containsAll(fs[0].Frames, []int{creq, sreq, answer, again}) {
		t.Fatalf("request-replay findings %v, want one did medium with frames %d, %d, %d, %d", fs, creq, sreq, answer, again)
	}
}

// TestSignalingRules: each RFC 8323 signaling rule reports the message
// that breaks it, with its frame, on the trace that breaks them all; the
// Ping left unanswered is reported apart from the Pong that answers none.
func TestSignalingRules(t *testing.T) {
	fs := signalingTrace.run(t)
	for rule, frame := range signalingFrames {
		id := rule
		if rule == "ping-unanswered" {
			id = "ping-pong"
		}
		if rule == "csm" {
			continue
		}
		found := false
		for _, f := range of(fs, id) {
			if slices.Contains(f.Frames, frame) {
				found = true
				t.Log(f.Message)
			}
		}
		if !found {
			t.Errorf("%s: no finding with frame %d among %v", id, frame, of(fs, id))
		}
	}
	for _, f := range of(fs, "message-too-large") {
		if !slices.Contains(f.Frames, signalingFrames["csm"]) || !strings.Contains(f.Message, "Max-Message-Size of 64 bytes") {
			t.Errorf("message-too-large without the CSM that sets the size: %v", f)
		}
	}
	if n := len(of(fs, "ping-pong")); n != 2 {
		t.Errorf("%d ping-pong findings, want 2", n)
	}
}

// TestMessageTooLargeGoCoAP: go-coap 3.8's CSMs carry no Max-Message-Size,
// so each side accepts 1152 bytes, yet its server sends a 3215-byte
// response (frame 27) and the raw client of the recording a 1513-byte
// PUT (frame 43): both are reported, with the CSM that set the limit; no
// other signaling rule fires on the recording.
func TestMessageTooLargeGoCoAP(t *testing.T) {
	var fs []*rules.Finding
	opts := analysis.Options{Rules: rules.All(), OnFinding: func(f *rules.Finding) { fs = append(fs, f) }}
	if _, err := analysis.RunFiles([]string{filepath.Join(testenv.RepoRoot(), "coaptcp", "testdata", "gocoap-tcp.pcap")}, opts, nil, nil); err != nil {
		t.Fatal(err)
	}
	got := of(fs, "message-too-large")
	if len(got) != 2 || !slices.Equal(got[0].Frames, []int{6, 27}) || !slices.Equal(got[1].Frames, []int{34, 39, 41, 43}) {
		t.Errorf("message-too-large findings %v", got)
	}
	for _, id := range []string{"csm-not-first", "bert-not-agreed", "ping-pong", "abort-bad-csm", "release-redirect"} {
		if f := of(fs, id); len(f) > 0 {
			t.Errorf("%s on go-coap's recording: %v", id, f)
		}
	}
}

// TestSignalingStateBounded: with room for one connection, a second one
// pushes the first out of each signaling rule's table, which is counted,
// and the rules still judge the connection they hold.
func TestSignalingStateBounded(t *testing.T) {
	tr := newTrace()
	a := tr.dial(0, tcpClient, tcpServer)
	a.send(time.Millisecond, true, csm(0, false))
	a.send(time.Millisecond, false, csm(64, false))
	b := tr.dial(2*time.Millisecond, tcpClient2, tcpServer)
	b.send(3*time.Millisecond, true, csm(0, false))
	b.send(3*time.Millisecond, false, csm(64, false))
	big := b.send(4*time.Millisecond, true, tmsg(decode.CodePUT, "\x01", strings.Repeat("x", 100)))
	var fs []*rules.Finding
	e, err := analysis.NewEngine(analysis.Options{Rules: rules.All(), RulesConfig: rules.Config{MaxState: 1},
		OnFinding: func(f *rules.Finding) { fs = append(fs, f) }}, nil)
	if err != nil {
		t.Fatal(err)
	}
	for i := range tr.ds {
		e.Frame(&tr.ds[i], 0, "")
	}
	e.Finish()
	st := e.Rules().Stats()
	for _, id := range []string{"message-too-large", "bert-not-agreed", "ping-pong", "abort-bad-csm"} {
		if st.Dropped[id] != 1 {
			t.Errorf("%s: %d connections dropped, want 1", id, st.Dropped[id])
		}
	}
	if got := of(fs, "message-too-large"); len(got) != 1 || !slices.Contains(got[0].Frames, big) {
		t.Errorf("message-too-large findings %v, want one with frame %d", got, big)
	}
}

// TestReliableServerLegResend: when the UDP client sent its request again
// (its ACK lost), the proxy's copy on the TCP connection passes that on:
// no replay.
func TestReliableServerLegResend(t *testing.T) {
	tr := newTrace()
	put := func() []byte { return tmsg(decode.CodePUT, "\x0b", "on", str(decode.OptURIPath, "valve")) }
	creq := msg(decode.Confirmable, decode.CodePUT, 0x40, "\x0b", "on", str(decode.OptURIPath, "valve"))
	tr.add(0, client, proxy, creq)
	s := tr.dial(time.Millisecond, proxyOut, tcpServer)
	s.send(2*time.Millisecond, true, csm(0, false))
	s.send(2*time.Millisecond, false, csm(0, false))
	s.send(3*time.Millisecond, true, put())
	s.send(4*time.Millisecond, false, tmsg(decode.CodeChanged, "\x0b", ""))
	tr.add(5*time.Millisecond, proxy, client, msg(decode.Acknowledgement, decode.CodeChanged, 0x40, "\x0b", ""))
	tr.add(1900*time.Millisecond, client, proxy, creq)
	s.send(2*time.Second, true, put())
	s.send(2*time.Second+time.Millisecond, false, tmsg(decode.CodeChanged, "\x0b", ""))
	if fs := of(tr.run(t, nil, rules.Config{}), "request-replay"); len(fs) != 0 {
		t.Fatalf("request-replay findings %v, want none", fs)
	}
}
