package rules_test

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/coapaudit/coapaudit/analysis"
	"github.com/coapaudit/coapaudit/decode"
	"github.com/coapaudit/coapaudit/oscore"
	"github.com/coapaudit/coapaudit/rules"
)

// replayTrace sends an OSCORE request through the proxy, then the proxy
// sends it to the server again with a new Message ID, and the server
// answers the replay with answer (nil: no answer).
func replayTrace(t *testing.T, answer func(ctx *oscore.Context, ref oscore.RequestRef) []byte) []*rules.Finding {
	ctx, keys := testContext(t)
	srv := ctx.Reverse()
	tr := newTrace()
	req, ref, err := ctx.ProtectRequest(message(decode.Confirmable, decode.CodePUT, 10, "r1", "open", str(decode.OptURIPath, "valve")), 7)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := srv.ProtectResponse(message(decode.Acknowledgement, decode.CodeChanged, 10, "r1", ""), ref, 0, false)
	if err != nil {
		t.Fatal(err)
	}
	tr.add(0, client, proxy, req)
	tr.add(time.Millisecond, proxyOut, server, req)
	tr.add(2*time.Millisecond, server, proxyOut, resp)
	tr.add(3*time.Millisecond, proxy, client, resp)
	var m decode.Message
	if err := m.Decode(req); err != nil {
		t.Fatal(err)
	}
	m.MessageID = 11
	tr.add(time.Second, proxyOut, server, encode(&m))
	if answer != nil {
		tr.add(time.Second+time.Millisecond, server, proxyOut, answer(srv, ref))
	}
	return tr.run(t, keys, rules.Config{})
}

func TestReplayAnswers(t *testing.T) {
	cases := []struct {
		name     string
		answer   func(srv *oscore.Context, ref oscore.RequestRef) []byte
		severity rules.Severity
		says     string
	}{
		{"processed again", func(srv *oscore.Context, ref oscore.RequestRef) []byte {
			b, err := srv.ProtectResponse(message(decode.Acknowledgement, decode.CodeChanged, 11, "r1", "again"), ref, 0, false)
			if err != nil {
				t.Fatal(err)
			}
			return b
		}, rules.High, "processed it again"},
		{"rejected", func(*oscore.Context, oscore.RequestRef) []byte {
			return msg(decode.Acknowledgement, decode.CodeUnauthorized, 11, "r1", "Replay detected")
		}, rules.Medium, "rejected it"},
		{"rejected with Echo", func(*oscore.Context, oscore.RequestRef) []byte {
			return msg(decode.Acknowledgement, decode.CodeUnauthorized, 11, "r1", "", opt{decode.OptEcho, []byte{1, 2, 3, 4}})
		}, rules.Medium, "Echo challenge"},
		{"unanswered", nil, rules.Medium, "no answer was seen"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			fs := of(replayTrace(t, c.answer), "oscore-replay")
			if len(fs) != 1 {
				t.Fatalf("replay findings: %v", fs)
			}
			f := fs[0]
			checkFinding(t, rules.OSCOREReplay, f)
			if f.Severity != c.severity || !strings.Contains(f.Message, c.says) || f.Frames[0] != 2 || f.Frames[1] != 5 {
				t.Errorf("finding %v, want severity %v and %q, frames 2 and 5", f, c.severity, c.says)
			}
		})
	}
}

func TestNotificationReplay(t *testing.T) {
	ctx, keys := testContext(t)
	srv := ctx.Reverse()
	tr := newTrace()
	req, ref, err := ctx.ProtectRequest(message(decode.Confirmable, decode.CodeGET, 1, "o", "", uintOpt(decode.OptObserve, 0), str(decode.OptURIPath, "temp")), 1)
	if err != nil {
		t.Fatal(err)
	}
	tr.add(0, client, server, req)
	var notes [][]byte
	for i, seq := range []uint64{1, 2, 3} {
		typ, mid := decode.NonConfirmable, uint16(100+i)
		if i == 0 {
			typ, mid = decode.Acknowledgement, 1
		}
		n, err := srv.ProtectResponse(message(typ, decode.CodeContent, mid, "o", "2"+string(rune('0'+seq)), uintOpt(decode.OptObserve, uint32(seq))), ref, seq, true)
		if err != nil {
			t.Fatal(err)
		}
		notes = append(notes, n)
		tr.add(time.Duration(i+1)*time.Second, server, client, n)
	}
	// The second notification again, with a new Message ID.
	var m decode.Message
	if err := m.Decode(notes[1]); err != nil {
		t.Fatal(err)
	}
	m.MessageID = 200
	n := tr.add(5*time.Second, server, client, encode(&m))
	fs := of(tr.run(t, keys, rules.Config{}), "oscore-replay")
	if len(fs) != 1 || fs[0].Frames[len(fs[0].Frames)-1] != n || !strings.Contains(fs[0].Message, "notification") {
		t.Fatalf("findings %v, want the replayed notification in frame %d", fs, n)
	}
	checkFinding(t, rules.OSCOREReplay, fs[0])
}

// TestSpoofedResponseUnprotected: a proxy answering a plain request by
// itself could be spoofing (forwarding) or serving its cache (caching);
// its own 5.04 is the seed's exception.
func TestSpoofedResponseUnprotected(t *testing.T) {
	build := func(code decode.Code, path string) *trace {
		tr := newTrace()
		tr.proxied(0, 1, "a", "x", "v1")
		tr.add(time.Second, client, proxy, msg(decode.Confirmable, decode.CodeGET, 2, "b", "", str(decode.OptURIPath, path)))
		tr.add(time.Second+time.Millisecond, proxy, client, msg(decode.Acknowledgement, code, 2, "b", "v0"))
		return tr
	}
	// On path y the capture holds no response of the server: a cached
	// copy from before the capture is possible. On path x the proxy got
	// "v1" from the server a second before: its cache holds that, so a
	// 2.05 "v0" is proven made up.
	cases := []struct {
		code      decode.Code
		path      string
		profile   rules.Profile
		severity  rules.Severity
		certainty rules.Certainty
	}{
		{decode.CodeContent, "y", rules.Forwarding, rules.Medium, rules.Could},
		{decode.CodeContent, "y", rules.Caching, rules.Info, rules.Could},
		{decode.CodeNotFound, "y", rules.Forwarding, rules.Low, rules.Could},
		{decode.CodeNotFound, "x", rules.Forwarding, rules.Low, rules.Could},
		{decode.CodeGatewayTimeout, "y", rules.Forwarding, 0, rules.Could},
		{decode.CodeContent, "x", rules.Forwarding, rules.High, rules.Did},
		{decode.CodeContent, "x", rules.Caching, rules.High, rules.Did},
	}
	for _, c := range cases {
		fs := of(build(c.code, c.path).run(t, nil, rules.Config{Profile: c.profile}), "spoofed-response")
		switch {
		case c.severity == 0 && len(fs) != 0:
			t.Errorf("%v under %v: %v", c.code, c.profile, fs)
		case c.severity == 0:
		case len(fs) != 1 || fs[0].Severity != c.severity || fs[0].Certainty != c.certainty:
			t.Errorf("%v %s under %v: %v, want one %v %v finding", c.code, c.path, c.profile, fs, c.severity, c.certainty)
		default:
			checkFinding(t, rules.SpoofedResponse, fs[0])
		}
	}
}

// TestLateForwardGivenUp: a request forwarded after MAX_TRANSMIT_WAIT,
// with the tracker told to link legs that far apart.
func TestLateForwardGivenUp(t *testing.T) {
	tr := newTrace()
	tr.proxied(0, 1, "a", "x", "v1")
	req := msg(decode.Confirmable, decode.CodePUT, 7, "b", "on", str(decode.OptURIPath, "valve"))
	tr.add(time.Second, client, proxy, req)
	tr.add(101*time.Second, proxyOut, server, req)
	tr.add(101*time.Second+time.Millisecond, server, proxyOut, msg(decode.Acknowledgement, decode.CodeChanged, 7, "b", ""))
	tr.add(101*time.Second+2*time.Millisecond, proxy, client, msg(decode.Acknowledgement, decode.CodeChanged, 7, "b", ""))
	var fs []*rules.Finding
	opts := analysis.Options{Rules: []*rules.Rule{rules.LateForward}, OnFinding: func(f *rules.Finding) { fs = append(fs, f) }}
	opts.Flows.MaxResidence = 200 * time.Second
	e := analysis.New(opts, nil)
	for i := range tr.ds {
		e.Frame(&tr.ds[i], 0, "")
	}
	e.Finish()
	if len(fs) != 1 || fs[0].Severity != rules.Medium || !strings.Contains(fs[0].Message, "given up") {
		t.Fatalf("findings %v", fs)
	}
	checkFinding(t, rules.LateForward, fs[0])
}

// TestSpoofedResponseUnsafe: a response to PUT cannot come from a cache,
// so a proxy that answers one it never forwarded did make it up.
func TestSpoofedResponseUnsafe(t *testing.T) {
	tr := newTrace()
	tr.proxied(0, 1, "a", "x", "v1")
	tr.add(time.Second, client, proxy, msg(decode.Confirmable, decode.CodePUT, 2, "b", "on", str(decode.OptURIPath, "valve")))
	tr.add(time.Second+time.Millisecond, proxy, client, msg(decode.Acknowledgement, decode.CodeChanged, 2, "b", ""))
	fs := of(tr.run(t, nil, rules.Config{}), "spoofed-response")
	if len(fs) != 1 || fs[0].Certainty != rules.Did || fs[0].Severity != rules.High || !strings.Contains(fs[0].Message, "cannot come from a cache") {
		t.Fatalf("%v, want one high did finding", fs)
	}
	checkFinding(t, rules.SpoofedResponse, fs[0])
}

// TestSpoofedResponseNeverDenies: when the tracker cannot link the
// proxy's server leg, a response whose content the proxy did receive is
// never said to match no response of the server.
func TestSpoofedResponseNeverDenies(t *testing.T) {
	tr := newTrace()
	tr.proxied(0, 1, "a", "x", "v1")
	tr.add(time.Second, client, proxy, msg(decode.Confirmable, decode.CodeGET, 2, "b", "", str(decode.OptURIPath, "x")))
	// The proxy asks something else entirely: no evidence links the two.
	tr.add(time.Second+time.Millisecond, proxyOut, server, msg(decode.Confirmable, decode.CodePOST, 90, "zz", "q", str(decode.OptURIPath, "other")))
	in := tr.add(time.Second+2*time.Millisecond, server, proxyOut, msg(decode.Acknowledgement, decode.CodeContent, 90, "zz", "v2"))
	tr.add(time.Second+3*time.Millisecond, proxy, client, msg(decode.Acknowledgement, decode.CodeContent, 2, "b", "v2"))
	fs := of(tr.run(t, nil, rules.Config{}), "spoofed-response")
	for _, f := range fs {
		if strings.Contains(f.Message, "matches no response") {
			t.Errorf("claims no match although frame %d carries it: %v", in, f)
		}
	}
	if len(fs) != 1 || fs[0].Severity != rules.Low || !slices.Contains(fs[0].Frames, in) {
		t.Fatalf("%v, want one low finding citing frame %d", fs, in)
	}
}
