package rules_test

import (
	"encoding/hex"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/coapaudit/coapaudit/decode"
	"github.com/coapaudit/coapaudit/oscore"
	"github.com/coapaudit/coapaudit/rules"
)

// wrongKeyring loads a shared key file and flips one bit of every master
// secret.
func wrongKeyring(t testing.TB, rel string) *oscore.Keyring {
	t.Helper()
	ps := keyParams(t, rel)
	for i := range ps {
		ps[i].MasterSecret[len(ps[i].MasterSecret)-1] ^= 1
	}
	return keyringOf(t, ps)
}

// evilWrongKey is the evil proxy's capture with a key one bit off.
var evilWrongKey = scenario{"aiocoap-oscore-evilproxy.pcap with a wrong key", func(t *testing.T) []*rules.Finding {
	return runWrongKey(t, "aiocoap-oscore-evilproxy.pcap")
}}

func runWrongKey(t *testing.T, file string) []*rules.Finding {
	t.Helper()
	fs, _ := runCaptureKeys(t, wrongKeyring(t, "keys/oscore_contexts"), rules.Config{}, file)
	return fs
}

// A key one bit off makes every message fail: one keys-mismatch finding,
// and no forgery that rests on the key. The evil proxy's forged response
// is still reported as it is without keys (its ciphertext matches nothing
// the server sent), but not as a verification failure.
func TestWrongKeySharedCaptures(t *testing.T) {
	for _, file := range []string{"aiocoap-oscore-revproxy.pcap", "aiocoap-oscore-evilproxy.pcap"} {
		t.Run(file, func(t *testing.T) {
			fs := runWrongKey(t, file)
			noKeys, _ := runCapture(t, "", rules.Config{}, file)
			mm := of(fs, "keys-mismatch")
			if len(mm) != 1 {
				t.Fatalf("%d keys-mismatch findings, want 1: %v", len(mm), fs)
			}
			m := mm[0]
			if m.Threat != rules.Usage || m.Certainty != rules.Did || m.Severity > rules.Low {
				t.Errorf("keys-mismatch finding %v", m)
			}
			for _, w := range []string{"kid (empty)", "kid context 37cbf3210017a2d3", "verified 0 of 48 OSCORE messages", "0 of 24 requests", "0 of 24 responses"} {
				if !strings.Contains(m.Message, w) {
					t.Errorf("message %q does not say %q", m.Message, w)
				}
			}
			if strings.Contains(m.Message, "0102030405060708090a0b0c0d0e0f1") {
				t.Errorf("message shows the master secret: %q", m.Message)
			}
			if n := len(of(fs, "oscore-unverified")); n > 0 {
				t.Errorf("%d oscore-unverified findings on a wrong key", n)
			}
			for _, f := range fs {
				if strings.Contains(f.Message, "fails OSCORE verification") {
					t.Errorf("finding rests on the wrong key: %v", f)
				}
				if f.Severity < rules.High {
					continue
				}
				if !hasLike(noKeys, f) {
					t.Errorf("high finding that a run without keys does not make: %v", f)
				}
			}
			if file == "aiocoap-oscore-revproxy.pcap" {
				for _, f := range fs {
					if f.Severity >= rules.Medium {
						t.Errorf("finding on the honest proxy with a wrong key: %v", f)
					}
				}
			}
		})
	}
}

// hasLike reports whether fs has a finding of f's rule, severity and
// frames.
func hasLike(fs []*rules.Finding, f *rules.Finding) bool {
	for _, g := range fs {
		if g.Rule == f.Rule && g.Severity == f.Severity && fmt.Sprint(g.Frames) == fmt.Sprint(f.Frames) {
			return true
		}
	}
	return false
}

// oscoreExchanges adds n OSCORE-protected proxied exchanges from cl,
// starting at offset at; forge(i) replaces the response the client gets
// in exchange i with a forged one (its ciphertext altered). It returns
// the frames of the forged responses.
func (tr *trace) oscoreExchanges(t testing.TB, ctx *oscore.Context, cl string, at time.Duration, first uint64, n int, forge func(int) bool) []int {
	t.Helper()
	srv := ctx.Reverse()
	var forged []int
	for i := range n {
		at := at + time.Duration(i)*100*time.Millisecond
		mid, tok := uint16(first)+uint16(i), fmt.Sprintf("k%d", first+uint64(i))
		req, ref, err := ctx.ProtectRequest(message(decode.Confirmable, decode.CodeGET, mid, tok, "", str(decode.OptURIPath, "temp")), first+uint64(i))
		if err != nil {
			t.Fatal(err)
		}
		resp, err := srv.ProtectResponse(message(decode.Acknowledgement, decode.CodeContent, mid, tok, "21 C"), ref, 0, false)
		if err != nil {
			t.Fatal(err)
		}
		tr.add(at, cl, proxy, req)
		tr.add(at+time.Millisecond, proxyOut, server, req)
		tr.add(at+2*time.Millisecond, server, proxyOut, resp)
		if forge != nil && forge(i) {
			resp = append([]byte{}, resp...)
			resp[len(resp)-1] ^= 0x80
			forged = append(forged, tr.add(at+3*time.Millisecond, proxy, cl, resp))
			continue
		}
		tr.add(at+3*time.Millisecond, proxy, cl, resp)
	}
	return forged
}

// wrongTestKeyring is testContext's keyring with one bit of the master
// secret flipped.
func wrongTestKeyring(t testing.TB) *oscore.Keyring {
	t.Helper()
	p := testParams()
	p.MasterSecret[15] ^= 1
	return keyringOf(t, []oscore.Params{p})
}

func TestKeysMismatchSynthetic(t *testing.T) {
	ctx, _ := testContext(t)
	for _, maxState := range []int{0, 4} {
		t.Run(fmt.Sprintf("MaxState=%d", maxState), func(t *testing.T) {
			tr := newTrace()
			tr.oscoreExchanges(t, ctx, client, 0, 1, 20, func(i int) bool { return i == 7 })
			fs := tr.run(t, wrongTestKeyring(t), rules.Config{MaxState: maxState})
			mm := of(fs, "keys-mismatch")
			if len(mm) != 1 {
				t.Fatalf("%d keys-mismatch findings, want 1: %v", len(mm), fs)
			}
			if want := "verified 0 of 80 OSCORE messages it was tried on (0 of 40 requests, 0 of 40 responses)"; !strings.Contains(mm[0].Message, want) {
				t.Errorf("message %q, want %q", mm[0].Message, want)
			}
			if !strings.Contains(mm[0].Message, "80 forgery claims withheld") {
				t.Errorf("message %q does not count the withheld claims", mm[0].Message)
			}
			if len(mm[0].Frames) == 0 || len(mm[0].Frames) > 8 {
				t.Errorf("evidence frames %v", mm[0].Frames)
			}
			if n := len(of(fs, "oscore-unverified")); n > 0 {
				t.Errorf("%d oscore-unverified findings on a wrong key", n)
			}
			secret := hex.EncodeToString([]byte{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 17})
			for _, f := range fs {
				if strings.Contains(f.Message, secret) {
					t.Errorf("finding shows the secret: %v", f)
				}
			}
		})
	}
}

// A forged response before the context has proven itself is held, and
// reported as a forgery once the context verified enough: the result does
// not depend on where in the capture the forgery is.
func TestForgeryHeldUntilKeyProven(t *testing.T) {
	ctx, keys := testContext(t)
	for _, at := range []int{0, 5, 9} {
		t.Run(fmt.Sprint("forged exchange ", at), func(t *testing.T) {
			tr := newTrace()
			forged := tr.oscoreExchanges(t, ctx, client, 0, 1, 10, func(i int) bool { return i == at })
			fs := tr.run(t, keys, rules.Config{})
			if n := len(of(fs, "keys-mismatch")); n != 0 {
				t.Errorf("%d keys-mismatch findings with the right key", n)
			}
			u := of(fs, "oscore-unverified")
			if len(u) != 1 || u[0].Severity != rules.High || u[0].Certainty != rules.Did || !containsAll(u[0].Frames, forged) {
				t.Fatalf("oscore-unverified findings %v, want one high on frame %v", u, forged)
			}
			// The proxy relayed the server's response with one bit of
			// its ciphertext flipped: the two are paired, and the change
			// is an act of the proxy, not a response made up.
			s := of(fs, "altered-response")
			if len(s) != 1 || s[0].Certainty != rules.Did || !containsAll(s[0].Frames, forged) || !strings.Contains(s[0].Message, "ciphertext") {
				t.Errorf("altered-response findings %v, want one on frame %v", s, forged)
			}
			if sp := of(fs, "spoofed-response"); len(sp) != 0 {
				t.Errorf("spoofed-response findings %v on a relayed, altered response", sp)
			}
		})
	}
}

// A failure between two endpoints that the context verified nothing else
// between is a forgery that could have happened, not one that did.
func TestForgeryNeedsVerifiedPair(t *testing.T) {
	ctx, keys := testContext(t)
	for _, first := range []bool{true, false} {
		t.Run(fmt.Sprint("failure first ", first), func(t *testing.T) {
			tr := newTrace()
			req, _, err := ctx.ProtectRequest(message(decode.Confirmable, decode.CodeGET, 500, "zz", "", str(decode.OptURIPath, "temp")), 50)
			if err != nil {
				t.Fatal(err)
			}
			req[len(req)-1] ^= 1
			other, frame := "10.0.0.9:40000", 0
			if first {
				frame = tr.add(0, other, proxy, req)
			}
			tr.oscoreExchanges(t, ctx, client, time.Second, 1, 6, nil)
			if !first {
				frame = tr.add(2*time.Second, other, proxy, req)
			}
			fs := tr.run(t, keys, rules.Config{})
			u := of(fs, "oscore-unverified")
			if len(u) != 1 || u[0].Severity != rules.Medium || u[0].Certainty != rules.Could || !containsAll(u[0].Frames, []int{frame}) {
				t.Fatalf("oscore-unverified findings %v, want one medium could on frame %d", u, frame)
			}
			if n := len(of(fs, "keys-mismatch")); n != 0 {
				t.Errorf("%d keys-mismatch findings", n)
			}
		})
	}
}

// A context tried on too few messages is not judged a mismatch; its
// failures are reported, but only as what could have happened.
func TestKeysTooFewToJudge(t *testing.T) {
	ctx, _ := testContext(t)
	tr := newTrace()
	req, _, err := ctx.ProtectRequest(message(decode.Confirmable, decode.CodeGET, 1, "a", "", str(decode.OptURIPath, "temp")), 1)
	if err != nil {
		t.Fatal(err)
	}
	tr.add(0, client, proxy, req)
	fs := tr.run(t, wrongTestKeyring(t), rules.Config{})
	if n := len(of(fs, "keys-mismatch")); n != 0 {
		t.Errorf("%d keys-mismatch findings after one message", n)
	}
	for _, f := range of(fs, "oscore-unverified") {
		if f.Certainty != rules.Could || f.Severity > rules.Medium {
			t.Errorf("unproven failure reported as %v", f)
		}
	}
}

// With two contexts for one kid, a forgery fails both and the OSCORE
// layer names the first; it is counted against the context that verifies
// the endpoints' other messages, so the unused context is no mismatch and
// the forgeries are proven.
func TestForgeryWithSeveralContextsForOneKid(t *testing.T) {
	ctx, _ := testContext(t)
	other := testParams()
	other.Name, other.MasterSecret[0] = "other", 99
	keys := keyringOf(t, []oscore.Params{other, testParams()})
	tr := newTrace()
	tr.oscoreExchanges(t, ctx, client, 0, 1, 6, nil)
	var forged []int
	for i := range 4 {
		req, _, err := ctx.ProtectRequest(message(decode.Confirmable, decode.CodePUT, uint16(300+i), fmt.Sprint("f", i), "open", str(decode.OptURIPath, "valve")), uint64(50+i))
		if err != nil {
			t.Fatal(err)
		}
		req[len(req)-1] ^= 1
		forged = append(forged, tr.add(time.Second+time.Duration(i)*100*time.Millisecond, proxyOut, server, req))
	}
	fs := tr.run(t, keys, rules.Config{})
	if mm := of(fs, "keys-mismatch"); len(mm) != 0 {
		t.Errorf("keys-mismatch findings %v", mm)
	}
	u := of(fs, "oscore-unverified")
	if len(u) != len(forged) {
		t.Fatalf("%d oscore-unverified findings, want %d: %v", len(u), len(forged), u)
	}
	for _, f := range u {
		if f.Severity != rules.High || f.Certainty != rules.Did {
			t.Errorf("forgery not proven: %v", f)
		}
	}
}
