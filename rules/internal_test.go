package rules

import (
	"net/netip"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/coapaudit/coapaudit/decode"
	"github.com/coapaudit/coapaudit/flows"
)

func TestOptionSet(t *testing.T) {
	var s OptionSet
	for _, id := range []decode.OptionID{decode.OptURIPath, decode.OptURIPath, decode.OptAccept, 65000, 258, 65000} {
		s.Add(id)
	}
	if s.Len() != 4 || !s.Has(decode.OptURIPath) || !s.Has(65000) || !s.Has(258) || s.Has(decode.OptETag) || s.Has(65001) {
		t.Errorf("set %v (len %d)", s, s.Len())
	}
	if got := s.String(); got != "Uri-Path, Accept, Option(65000), No-Response" {
		t.Errorf("String = %q", got)
	}
	var big OptionSet
	for id := decode.OptionID(1000); id < 1010; id++ {
		big.Add(id)
	}
	if big.Len() != 4 || big.More != 6 {
		t.Errorf("large numbers: len %d, more %d; want 4 kept and 6 counted", big.Len(), big.More)
	}
	u := s.Union(big)
	if !u.Has(decode.OptAccept) || !u.Has(1000) || u.More != 6 {
		t.Errorf("union %v more %d", u, u.More)
	}
	f := s.Filter(func(id decode.OptionID) bool { return id < 64 })
	if f.Len() != 2 || f.Has(65000) {
		t.Errorf("filter %v", f)
	}
}

func TestURIHasPath(t *testing.T) {
	for u, want := range map[string]bool{
		"coap://127.0.0.31:5683/time?ticks": true,
		"coap://h/a":                        true,
		"coaps://h?q=1":                     true,
		"coap://[::1]:5683/":                false,
		"coap://h":                          false,
		"coap://h/#frag":                    false,
		"coap://h/x#frag":                   true,
		"/relative":                         true,
	} {
		if got := uriHasPath([]byte(u)); got != want {
			t.Errorf("uriHasPath(%q) = %v, want %v", u, got, want)
		}
	}
}

func TestProfiles(t *testing.T) {
	for _, s := range []string{"auto", "forwarding", "caching", "pubsub"} {
		p, err := ParseProfile(s)
		if err != nil || p.String() != s {
			t.Errorf("ParseProfile(%q) = %v, %v", s, p, err)
		}
	}
	if _, err := ParseProfile("bogus"); err == nil {
		t.Error("ParseProfile accepted bogus")
	}
	// Seed 2.2.1.5: all options but Proxy-Uri, Proxy-Scheme, Uri-Host and
	// Uri-Port, and the payload.
	for _, id := range []decode.OptionID{decode.OptURIPath, decode.OptURIQuery, decode.OptAccept, decode.OptETag,
		decode.OptContentFormat, decode.OptObserve, decode.OptMaxAge, decode.OptLocationPath, 2053} {
		if !Forwarding.ConfidentialOption(id, true) || !Forwarding.ConfidentialOption(id, false) {
			t.Errorf("forwarding: %v should be confidential", optionName(id))
		}
	}
	for _, id := range []decode.OptionID{decode.OptProxyURI, decode.OptProxyScheme, decode.OptURIHost, decode.OptURIPort, decode.OptBlock2, decode.OptOSCORE} {
		if Forwarding.ConfidentialOption(id, true) {
			t.Errorf("forwarding: %v should not be confidential", optionName(id))
		}
	}
	if !Forwarding.ConfidentialPayload(true, false) || !Forwarding.ConfidentialPayload(false, false) {
		t.Error("forwarding: payloads are confidential")
	}
	// Seed 2.2.2.5: no part of a request; of a response the payload.
	if Caching.ConfidentialOption(decode.OptURIPath, true) || Caching.ConfidentialOption(decode.OptContentFormat, false) ||
		Caching.ConfidentialPayload(true, false) || !Caching.ConfidentialPayload(false, false) {
		t.Error("caching: only response payloads are confidential")
	}
	// Seed 3.2.1.4: the publication payload only.
	if PubSub.ConfidentialOption(decode.OptURIPath, true) || !PubSub.ConfidentialPayload(true, true) || PubSub.ConfidentialPayload(true, false) {
		t.Error("pubsub: only publication payloads are confidential")
	}
	// A1.2 / A2.1: the URI is covered by A1.3 / A2.2; caching exempts ETag
	// and Observe in requests, Max-Age and Observe in responses (A2.3).
	if Forwarding.AuthenticOption(decode.OptURIPath, true) || !Forwarding.AuthenticOption(decode.OptAccept, true) ||
		!Forwarding.AuthenticOption(decode.OptMaxAge, false) {
		t.Error("forwarding authenticity")
	}
	if Caching.AuthenticOption(decode.OptETag, true) || Caching.AuthenticOption(decode.OptMaxAge, false) ||
		!Caching.AuthenticOption(decode.OptETag, false) {
		t.Error("caching authenticity")
	}
	if Forwarding.ConfidentialitySeed() != "2.2.1.5" || Caching.ConfidentialitySeed() != "2.2.2.5" || PubSub.ConfidentialitySeed() != "3.2.1.4" {
		t.Error("confidentiality sections")
	}
}

func TestResolveProfile(t *testing.T) {
	x := &flows.Exchange{}
	if resolve(x, false) != Forwarding || resolve(x, true) != Caching {
		t.Error("plain exchange")
	}
	x.Links = []flows.Link{{Kind: linkFedBy, Exchange: "X1"}}
	if resolve(x, false) != Caching {
		t.Error("fed-by")
	}
	x.Links = append(x.Links, flows.Link{Kind: linkPublishedBy, Exchange: "X2"})
	if resolve(x, false) != PubSub {
		t.Error("published-by wins")
	}
	x = &flows.Exchange{Legs: []flows.Leg{{}, {Shared: "X9"}}}
	if resolve(x, false) != Caching {
		t.Error("shared leg")
	}
}

func TestSeverity(t *testing.T) {
	for s := Info; s <= High; s++ {
		p, err := ParseSeverity(s.String())
		if err != nil || p != s {
			t.Errorf("ParseSeverity(%q) = %v, %v", s, p, err)
		}
	}
	if p, err := ParseSeverity("HIGH"); err != nil || p != High {
		t.Error("case-insensitive")
	}
	if _, err := ParseSeverity("none"); err == nil {
		t.Error("ParseSeverity(none) accepted")
	}
	if Severity(0).String() != "Severity(0)" || High.GoString() != "rules.High" {
		t.Error("String/GoString")
	}
	if (RequiresKeys|RequiresProxy).String() != "keys,proxy" || Requires(0).String() != "" {
		t.Error("Requires.String")
	}
}

func TestFresher(t *testing.T) {
	t0 := time.Unix(1000, 0)
	cases := []struct {
		v1, v2 uint32
		dt     time.Duration
		want   bool
	}{
		{3, 4, 0, true},
		{4, 3, 0, false},
		{4, 4, 0, false},
		{1<<24 - 1, 1, 0, true}, // wrapped
		{1, 1<<24 - 1, 0, false},
		{5, 3, 129 * time.Second, true}, // 128 s later anything is fresher
	}
	for _, c := range cases {
		if got := fresher(c.v1, t0, c.v2, t0.Add(c.dt)); got != c.want {
			t.Errorf("fresher(%d, %d, +%v) = %v", c.v1, c.v2, c.dt, got)
		}
	}
}

func TestBurst(t *testing.T) {
	t0 := time.Unix(1000, 0)
	var fs []FrameInfo
	at := t0
	add := func(d time.Duration) {
		at = at.Add(d)
		fs = append(fs, FrameInfo{Frame: len(fs) + 1, Time: at})
	}
	for range 12 {
		add(10 * time.Second)
	}
	if burst(fs) != nil {
		t.Error("steady rate taken for a burst")
	}
	for range 4 {
		add(10 * time.Millisecond)
	}
	if burst(fs) != nil {
		t.Error("5 notifications taken for a burst")
	}
	add(10 * time.Millisecond)
	if got := burst(fs); len(got) != 6 || fs[got[0]].Frame != 12 {
		t.Errorf("burst = %v, want the 6 notifications from frame 12", got)
	}
}

func TestFrameIndexTwoFiles(t *testing.T) {
	ix := newFrameIndex(8, 0)
	a, b := netip.MustParseAddrPort("10.0.0.1:1"), netip.MustParseAddrPort("10.0.0.2:2")
	c, d := netip.MustParseAddrPort("10.0.0.3:3"), netip.MustParseAddrPort("10.0.0.4:4")
	m := &decode.Message{Version: 1, Type: decode.Confirmable, Code: decode.CodeGET, MessageID: 7, Raw: []byte{0x40, 1, 0, 7}}
	t0 := time.Unix(1, 0)
	ix.add(&Packet{Frame: 5, File: 0, Time: t0, Src: a, Dst: b, CoAP: m}, 0)
	ix.add(&Packet{Frame: 5, File: 1, Time: t0.Add(time.Second), Src: c, Dst: d, CoAP: m}, 0)
	if f, ok := ix.lookup(5, a, b); !ok || !f.Time.Equal(t0) {
		t.Error("file 0's frame 5 lost to file 1's")
	}
	if _, ok := ix.lookup(5, c, d); !ok {
		t.Error("file 1's frame 5 missing")
	}
	if _, ok := ix.lookup(5, b, a); ok {
		t.Error("lookup ignores the direction")
	}
	// A frame 13 of file 0 lands in the same set and replaces the older
	// entry, file 0's 5.
	ix.add(&Packet{Frame: 13, File: 0, Time: t0.Add(2 * time.Second), Src: a, Dst: b, CoAP: m}, 0)
	if _, ok := ix.lookup(5, a, b); ok {
		t.Error("the older entry outlived its replacement")
	}
	if _, ok := ix.lookup(5, c, d); !ok {
		t.Error("the newer entry was replaced")
	}
	if _, ok := ix.lookup(13, a, b); !ok {
		t.Error("frame 13 missing")
	}
}

// TestFrameIndexStride: with references of 16 files of which one carries
// frames (all multiples of 16), a stride of 16 keeps the last frames as a
// single file's; without it, they crowd into one set in 16.
func TestFrameIndexStride(t *testing.T) {
	a, b := netip.MustParseAddrPort("10.0.0.1:1"), netip.MustParseAddrPort("10.0.0.2:2")
	m := &decode.Message{Version: 1, Type: decode.Confirmable, Code: decode.CodeGET, MessageID: 7, Raw: []byte{0x40, 1, 0, 7}}
	kept := func(stride int) int {
		ix := newFrameIndex(64, stride)
		for f := 1; f <= 64; f++ {
			ix.add(&Packet{Frame: f * 16, Time: time.Unix(int64(f), 0), Src: a, Dst: b, CoAP: m}, 0)
		}
		n := 0
		for f := 1; f <= 64; f++ {
			if _, ok := ix.lookup(f*16, a, b); ok {
				n++
			}
		}
		return n
	}
	if n := kept(16); n != 64 {
		t.Errorf("stride 16 kept %d of the last 64 frames", n)
	}
	if n := kept(0); n >= 64 {
		t.Errorf("without a stride %d frames kept: the test shows nothing", n)
	}
}

func TestReport(t *testing.T) {
	rule := &Rule{ID: "test-rule", Threat: T3, Severity: Medium, Seed: "2.1.1.3", Run: func(p *Pass) error {
		p.OnPacket(func(pk *Packet) {
			p.Report(Finding{Frames: []int{pk.Frame, 2, pk.Frame}, Message: "It did happen."})
			p.Report(Finding{Message: "No evidence."})
		})
		return nil
	}}
	var got []*Finding
	r, err := NewRunner([]*Rule{rule}, Config{MaxFindings: 2}, func(f *Finding) { got = append(got, f) })
	if err != nil {
		t.Fatal(err)
	}
	for n := 5; n < 8; n++ {
		r.Packet(&Packet{Frame: n, Time: time.Unix(int64(n), 0)})
	}
	st := r.Stats()
	if len(got) != 2 || st.Suppressed["test-rule"] != 1 || st.Invalid != 3 || st.Findings != 2 || st.BySeverity[Medium] != 2 {
		t.Fatalf("got %d findings, stats %+v", len(got), st)
	}
	f := got[1]
	if f.ID != "F2" || f.Rule != "test-rule" || f.Threat != T3 || f.Severity != Medium || f.Certainty != Could ||
		f.Seed != "2.1.1.3" || len(f.Frames) != 2 || f.Frames[0] != 2 || f.Frames[1] != 6 || !f.Time.Equal(time.Unix(6, 0)) {
		t.Errorf("finding %+v", f)
	}
	if _, err := NewRunner([]*Rule{rule, rule}, Config{}, nil); err == nil {
		t.Error("two rules with one ID accepted")
	}
	keyed := &Rule{ID: "keyed", Requires: RequiresKeys, Run: func(*Pass) error { panic("run without keys") }}
	r, err = NewRunner([]*Rule{keyed}, Config{}, nil)
	if err != nil || r.Stats().Skipped["keyed"] == "" {
		t.Errorf("a rule needing keys was not skipped: %v", err)
	}
}

func TestHoldQueue(t *testing.T) {
	p, r := testPass(t)
	q := &holdQueue{max: 2}
	x1, x2, x3 := &flows.Exchange{ID: "X1"}, &flows.Exchange{ID: "X2"}, &flows.Exchange{ID: "X3"}
	var decided []string
	decide := func(x *flows.Exchange, final bool) bool {
		if final || x.ID == "X2" {
			decided = append(decided, x.ID)
			return true
		}
		return false
	}
	q.push(p, x1)
	q.push(p, x2)
	if old := q.push(p, x3); old != x1 {
		t.Fatalf("a full queue gave back %v, want X1", old)
	}
	q.retry(p, false, time.Time{}, decide)
	if len(decided) != 0 {
		t.Fatalf("retried %v without new knowledge", decided)
	}
	r.version++
	q.retry(p, false, time.Time{}, decide)
	if len(decided) != 1 || decided[0] != "X2" || q.len() != 1 {
		t.Fatalf("after learning: decided %v, held %d", decided, q.len())
	}
	q.retry(p, true, time.Time{}, decide)
	if len(decided) != 2 || decided[1] != "X3" || q.len() != 0 {
		t.Fatalf("final: decided %v, held %d", decided, q.len())
	}
}

// A full queue gives back its items in the order they came, however many
// pass through it, and holds at most max.
func TestHoldQueueOrder(t *testing.T) {
	p, _ := testPass(t)
	q := &holdQueue{max: 7}
	xs := make([]*flows.Exchange, 1000)
	for i := range xs {
		xs[i] = &flows.Exchange{ID: strconv.Itoa(i)}
		old := q.push(p, xs[i])
		if want := i - q.max; want >= 0 && old != xs[want] || want < 0 && old != nil {
			t.Fatalf("push %d gave back %v", i, old)
		}
		if q.len() > q.max || cap(q.items) > 4*q.max {
			t.Fatalf("push %d: %d held in %d", i, q.len(), cap(q.items))
		}
	}
	var got []string
	q.retry(p, true, time.Time{}, func(x *flows.Exchange, _ bool) bool { got = append(got, x.ID); return true })
	if strings.Join(got, " ") != "993 994 995 996 997 998 999" {
		t.Fatalf("final retry decided %v", got)
	}
}

func TestMessageHelpers(t *testing.T) {
	if got := frameList([]int{6}); got != "frame 6" {
		t.Error(got)
	}
	if got := frameList([]int{14, 15, 16}); got != "frames 14, 15 and 16" {
		t.Error(got)
	}
	if plural(1, "copy") != "1 copy" || plural(2, "copy") != "2 copies" || plural(3, "response") != "3 responses" {
		t.Error("plural")
	}
	if seconds(2005*time.Millisecond) != "2.005 s" || seconds(500*time.Millisecond) != "500 ms" || seconds(116*time.Microsecond) != "0.116 ms" {
		t.Error(seconds(2005*time.Millisecond), seconds(500*time.Millisecond), seconds(116*time.Microsecond))
	}
}

func TestFrameIndexGrows(t *testing.T) {
	ix := newFrameIndex(1<<14, 0)
	if len(ix.e) != 2*initialSets {
		t.Fatalf("starts with %d entries", len(ix.e))
	}
	a, b := netip.MustParseAddrPort("10.0.0.1:1"), netip.MustParseAddrPort("10.0.0.2:2")
	m := &decode.Message{Version: 1, Code: decode.CodeGET, Raw: []byte{0x40, 1, 0, 0}}
	const n = 10000
	for i := 1; i <= n; i++ {
		m.MessageID = uint16(i)
		ix.add(&Packet{Frame: i, Time: time.Unix(int64(i), 0), Src: a, Dst: b, CoAP: m}, 0)
	}
	for i := 1; i <= n; i++ {
		f, ok := ix.lookup(i, a, b)
		if !ok || f.MID != uint16(i) || f.Time.Unix() != int64(i) {
			t.Fatalf("frame %d: %+v %v", i, f, ok)
		}
	}
	// Past the maximum the oldest frames go.
	for i := n + 1; i <= 3*n; i++ {
		ix.add(&Packet{Frame: i, Time: time.Unix(int64(i), 0), Src: a, Dst: b, CoAP: m}, 0)
	}
	if len(ix.e) != 1<<14 {
		t.Errorf("grew to %d entries, past the maximum", len(ix.e))
	}
	if _, ok := ix.lookup(1, a, b); ok {
		t.Error("frame 1 still held")
	}
	if _, ok := ix.lookup(3*n, a, b); !ok {
		t.Error("latest frame missing")
	}
}

// Token keys are equal exactly when the tokens are.
func TestTokenKey(t *testing.T) {
	toks := []string{"", "\x00", "\x00\x00", "a", "abcdefgh", "abcdefghi", "abcdefghj", strings.Repeat("x", 300)}
	for i, a := range toks {
		for j, b := range toks {
			if (tokenKeyOf([]byte(a)) == tokenKeyOf([]byte(b))) != (i == j) {
				t.Errorf("%q and %q: keys equal %v", a, b, i != j)
			}
		}
	}
	if a := testing.AllocsPerRun(100, func() { _ = tokenKeyOf([]byte("12345678")) }); a != 0 {
		t.Errorf("%v allocations for an 8-byte token", a)
	}
}

// A full bounded map pushes out the key put in first; updating a key
// does not move it; max 0 keeps everything.
func TestBoundedMap(t *testing.T) {
	b := newBoundedMap[int, string](3)
	for i := range 3 {
		if b.put(i, "v") {
			t.Fatalf("put %d evicted in a map with room", i)
		}
	}
	b.put(0, "again")
	for i := 3; i < 10; i++ {
		if !b.put(i, "v") {
			t.Fatalf("put %d into a full map evicted nothing", i)
		}
		if _, ok := b.get(i - 3); ok || len(b.m) != 3 {
			t.Fatalf("after %d: key %d kept, %d held", i, i-3, len(b.m))
		}
		if _, ok := b.get(i - 2); !ok {
			t.Fatalf("after %d: key %d gone", i, i-2)
		}
	}
	u := newBoundedMap[int, int](0)
	for i := range 100 {
		if u.put(i, i) {
			t.Fatal("an unbounded map evicted")
		}
	}
	if v, ok := u.get(0); !ok || v != 0 || len(u.m) != 100 {
		t.Fatalf("unbounded: %d held", len(u.m))
	}
}

// testPass returns a pass of a runner without rules, for the helpers
// rules use.
func testPass(t *testing.T) (*Pass, *Runner) {
	t.Helper()
	r, err := NewRunner(nil, Config{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	return &Pass{Rule: &Rule{ID: "q"}, Config: &r.cfg, r: r}, r
}
