package oscore

import (
	"net/netip"
	"testing"
)

func TestReplayTrackerWindow(t *testing.T) {
	rcv := netip.MustParseAddrPort("10.0.0.2:5683")
	src := netip.MustParseAddrPort("10.0.0.1:1000")
	k := ReplayKey{Receiver: rcv, KID: "\x01"}
	tr := NewReplayTracker(0)
	check := func(piv uint64, mid uint16, want ReplayStatus) {
		t.Helper()
		if got, _ := tr.Check(k, piv, src, mid); got != want {
			t.Errorf("Check(%d, mid %d) = %v, want %v", piv, mid, got, want)
		}
	}
	check(100, 1, Fresh)
	tr.Record(k, 100, 1, src, 1)
	check(100, 2, Duplicate)
	check(100, 1, Retransmission) // same message, not answered yet
	tr.Answered(k, 100)
	check(100, 1, Duplicate) // answered: a copy now is a replay
	check(101, 3, Fresh)
	check(99, 3, Fresh) // late but inside the window
	tr.Record(k, 99, 2, src, 3)
	check(99, 4, Duplicate)
	check(100-ReplayWindow+1, 5, Fresh)
	check(100-ReplayWindow, 5, Old)
	check(0, 5, Old)
	if _, first := tr.Check(k, 99, src, 4); first != 2 {
		t.Errorf("first frame %d, want 2", first)
	}
	// Another kid, another receiver: separate windows.
	check2 := ReplayKey{Receiver: rcv, KID: "\x02"}
	if s, _ := tr.Check(check2, 100, src, 9); s != Fresh {
		t.Errorf("other kid: %v", s)
	}
	if h, ok := tr.Highest(k); !ok || h != 100 {
		t.Errorf("Highest = %d %v", h, ok)
	}
	// A big jump clears the bitmap: 100 is now far below the window.
	tr.Record(k, 1000, 3, src, 6)
	check(1000, 7, Duplicate)
	check(990, 7, Fresh)
	check(960, 7, Old)
	check(100, 7, Duplicate) // its record is still there
}

// TestReplayTrackerRelayedRetransmission: a proxy that relays a
// retransmission sends the server a second copy after the server answered;
// since the proxy itself received two copies, that is a retransmission.
func TestReplayTrackerRelayedRetransmission(t *testing.T) {
	client := netip.MustParseAddrPort("10.0.0.1:1000")
	proxy := netip.MustParseAddrPort("10.0.0.3:5683")
	proxyOut := netip.MustParseAddrPort("10.0.0.3:4000")
	server := netip.MustParseAddrPort("10.0.0.2:5683")
	kp := ReplayKey{Receiver: proxy, KID: "\x01"}
	ks := ReplayKey{Receiver: server, KID: "\x01"}
	tr := NewReplayTracker(0)
	tr.Record(kp, 7, 1, client, 10)
	tr.Record(ks, 7, 2, proxyOut, 20)
	tr.Answered(ks, 7)
	// The server's answer is lost; the client retransmits and the proxy relays.
	if s, _ := tr.Check(kp, 7, client, 10); s != Retransmission {
		t.Errorf("client retransmission: %v", s)
	}
	tr.Record(kp, 7, 4, client, 10)
	if s, _ := tr.Check(ks, 7, proxyOut, 20); s != Retransmission {
		t.Errorf("relayed retransmission: %v", s)
	}
	tr.Record(ks, 7, 5, proxyOut, 20)
	// A third copy to the server with no third copy upstream is a replay.
	if s, first := tr.Check(ks, 7, proxyOut, 20); s != Duplicate || first != 2 {
		t.Errorf("extra copy: %v first %d", s, first)
	}
}

func TestReplayTrackerBounded(t *testing.T) {
	tr := NewReplayTracker(4)
	src := netip.MustParseAddrPort("10.0.0.1:1000")
	for i := range 100 {
		k := ReplayKey{Receiver: src, KID: string(rune('a' + i%26)), KIDContext: string(rune(i))}
		tr.Record(k, uint64(i), i, src, uint16(i))
	}
	if len(tr.wins) > 4 || len(tr.recs) > 4 || tr.winIdx.n > 4 || tr.recIdx.n > 4 || len(tr.winIdx.slots) > 16 || len(tr.recIdx.slots) > 16 {
		t.Errorf("state grew: %d windows, %d records, index %d and %d", len(tr.wins), len(tr.recs), len(tr.winIdx.slots), len(tr.recIdx.slots))
	}
	if w, r := tr.Evictions(); w != 98 || r != 96 {
		t.Errorf("evictions: %d windows, %d records", w, r)
	}
}

func TestStatusStrings(t *testing.T) {
	for s, want := range map[ReplayStatus]string{NotChecked: "not-checked", Fresh: "fresh", Retransmission: "retransmission", Duplicate: "duplicate", Old: "old", 9: "ReplayStatus(9)"} {
		if s.String() != want {
			t.Errorf("%d: %q", s, s.String())
		}
	}
	if Duplicate.GoString() != "oscore.Duplicate" || !Old.IsReplay() || Retransmission.IsReplay() {
		t.Error("ReplayStatus methods")
	}
	if RejectedEcho.String() != "rejected-echo" || AnsweredCached.String() != "answered-cached" || AnswerNone.String() != "" {
		t.Error("ReplayAnswer names")
	}
	if EchoAnswered.GoString() != "oscore.EchoAnswered" || RejectedEcho.GoString() != "oscore.RejectedEcho" {
		t.Error("GoString")
	}
	if EchoAnswered.String() != "answered" || EchoChallenge.String() != "challenge" {
		t.Error("EchoStatus names")
	}
}
