package report

import (
	"net/netip"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/coapaudit/coapaudit/flows"
	"github.com/coapaudit/coapaudit/rules"
)

var t0 = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)

// synth returns exchange i of a stream through proxy number i%proxies to
// resource number i%resources.
func synth(i, proxies, resources int) *flows.Exchange {
	c := netip.AddrPortFrom(netip.AddrFrom4([4]byte{10, 0, byte(i >> 8), byte(i)}), 40000)
	p := netip.AddrPortFrom(netip.AddrFrom4([4]byte{10, 1, 0, byte(i % proxies)}), 5683)
	s := netip.MustParseAddrPort("10.2.0.1:5683")
	start := t0.Add(time.Duration(i) * time.Millisecond)
	return &flows.Exchange{
		ID: "X" + strconv.Itoa(i+1), Client: c, Proxy: p, Server: s, Method: "GET",
		URI: "coap://h/r" + strconv.Itoa(i%resources), Protected: "oscore", Status: flows.Complete,
		Start: start,
		Legs: []flows.Leg{
			{From: c, To: p, RequestFrames: []int{4*i + 1}, ResponseFrames: []int{4*i + 4}, RequestSize: 40 + i%7, ResponseSize: 20 + i%5, RequestTime: start, ResponseTime: start.Add(time.Millisecond)},
			{From: p, To: s, RequestFrames: []int{4*i + 2}, ResponseFrames: []int{4*i + 3}},
		},
		Residence: []flows.Residence{{Proxy: p, Request: flows.Duration{D: 100 * time.Microsecond, Valid: true}, Response: flows.Duration{D: 90 * time.Microsecond, Valid: true}}},
		Frames:    []int{4*i + 1, 4*i + 2, 4*i + 3, 4*i + 4},
	}
}

func TestBuilderBounds(t *testing.T) {
	opt := Options{MaxExchanges: 16, MaxCharts: 3, MaxFindings: 50, MaxResources: 4, MaxSizeSamples: 32, MaxProxies: 2, MaxResidence: 64, MaxNodes: 100}
	b := New(opt)
	const n = 5000
	for i := range n {
		b.AddExchange(synth(i, 5, 10))
		sev := rules.Medium
		if i%500 == 7 {
			sev = rules.High
		}
		b.AddFinding(&rules.Finding{ID: "F" + strconv.Itoa(i), Rule: "r", Severity: sev, Exchange: "X" + strconv.Itoa(i+1), Frames: []int{4*i + 1}})
	}
	if len(b.recent) > opt.MaxExchanges {
		t.Errorf("%d recent exchanges kept, cap %d", len(b.recent), opt.MaxExchanges)
	}
	if len(b.charted) != opt.MaxCharts {
		t.Errorf("%d charts, want %d", len(b.charted), opt.MaxCharts)
	}
	if len(b.sizeOrder) != opt.MaxResources || b.moreResources == 0 {
		t.Errorf("%d resources plotted, %d exchanges beyond; cap %d", len(b.sizeOrder), b.moreResources, opt.MaxResources)
	}
	for name, s := range b.sizes {
		if len(s.req.Values) > opt.MaxSizeSamples || len(s.resp.Values) > opt.MaxSizeSamples {
			t.Errorf("%s: %d/%d sizes kept, cap %d", name, len(s.req.Values), len(s.resp.Values), opt.MaxSizeSamples)
		}
		if s.req.Seen() != n/10 {
			t.Errorf("%s: %d request sizes seen, want %d", name, s.req.Seen(), n/10)
		}
	}
	if len(b.residence) != opt.MaxProxies {
		t.Errorf("%d proxies with residence times, cap %d", len(b.residence), opt.MaxProxies)
	}
	for a, r := range b.residence {
		if len(r.samples.Values) != opt.MaxResidence || r.samples.Seen() != 2*n/5 {
			t.Errorf("%v: %d kept of %d seen", a, len(r.samples.Values), r.samples.Seen())
		}
	}
	if len(b.nodes) > opt.MaxNodes || len(b.edges) > opt.MaxNodes || b.moreNodes == 0 {
		t.Errorf("%d nodes, %d edges, %d beyond the cap of %d", len(b.nodes), len(b.edges), b.moreNodes, opt.MaxNodes)
	}
	if len(b.findings) != opt.MaxFindings {
		t.Fatalf("%d findings kept, want %d", len(b.findings), opt.MaxFindings)
	}
	high := 0
	for _, f := range b.findings {
		if f.Severity == rules.High {
			high++
		}
	}
	if high != n/500 {
		t.Errorf("%d high findings kept, want all %d", high, n/500)
	}
	if b.bySeverity[rules.High] != n/500 || b.totalFinding != n {
		t.Errorf("counts: %d high, %d total", b.bySeverity[rules.High], b.totalFinding)
	}
}

// A high finding reported before its exchange is finished still gets
// its chart, and one about an exchange long gone gets none.
func TestBuilderFindingBeforeExchange(t *testing.T) {
	b := New(Options{MaxExchanges: 4})
	b.AddFinding(&rules.Finding{ID: "F1", Severity: rules.High, Exchange: "X1", Frames: []int{2}})
	for i := range 10 {
		b.AddExchange(synth(i, 1, 1))
	}
	b.AddFinding(&rules.Finding{ID: "F2", Severity: rules.High, Exchange: "X2", Frames: []int{6}})
	b.AddFinding(&rules.Finding{ID: "F3", Severity: rules.High, Exchange: "X10", Frames: []int{37}})
	var ids []string
	for _, c := range b.charted {
		ids = append(ids, c.x.ID)
	}
	if len(ids) != 2 || ids[0] != "X1" || ids[1] != "X10" {
		t.Fatalf("charted %v, want [X1 X10]", ids)
	}
	if !b.charted[0].evidence[2] || !b.charted[1].evidence[37] {
		t.Error("evidence frames not noted")
	}
}

// The verdict counts every finding: those past the list's cap and those
// the rules suppressed past theirs; the per-rule sentences count all of a
// rule's findings, not only those listed.
func TestVerdictCountsEveryFinding(t *testing.T) {
	b := New(Options{MaxFindings: 10})
	for i := range 100 {
		sev := rules.Medium
		if i >= 95 {
			sev = rules.High
		}
		b.AddFinding(&rules.Finding{ID: "F" + strconv.Itoa(i), Rule: "r" + strconv.Itoa(int(sev)), Severity: sev, Frames: []int{i + 1}, Message: "m" + strconv.Itoa(i)})
	}
	var sup [rules.High + 1]int
	sup[rules.Low] = 7
	b.SetSuppressed(sup, map[string]int{"flood": 7})
	p := b.page()
	if want := "Attack evidence: 5 high-severity findings and 95 medium-severity ones."; p.Headline != want {
		t.Errorf("headline %q, want %q", p.Headline, want)
	}
	got := map[string]int{}
	for _, c := range p.Counts {
		got[c.Name] = c.N
	}
	if got["high"] != 5 || got["medium"] != 95 || got["low"] != 7 || got["info"] != 0 {
		t.Errorf("counts %v", got)
	}
	if len(p.Misbehaved) != 2 || !strings.Contains(p.Misbehaved[0], "m95 (and 4 more like it)") || !strings.Contains(p.Misbehaved[1], "m0 (and 94 more like it)") {
		t.Errorf("per-rule sentences %q", p.Misbehaved)
	}
	found := false
	for _, f := range p.Facts {
		if f[0] == "Suppressed findings" && strings.HasPrefix(f[1], "7 past the cap of findings per rule (flood 7)") {
			found = true
		}
	}
	if !found {
		t.Errorf("facts %q do not show the suppressed findings", p.Facts)
	}
	if p.MoreFindings != 90 {
		t.Errorf("%d findings not listed, want 90", p.MoreFindings)
	}
}
