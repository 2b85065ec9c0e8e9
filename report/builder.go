// Package report renders an audit as one self-contained HTML file: the
// verdict first, then the findings with their evidence, the proxy
// topology, message sequence charts of the exchanges behind high
// findings, plots of sizes and proxy residence times, and the leak
// measurements with padding advice.
//
// A Builder is fed while the analysis streams and keeps bounded state:
// reservoirs of samples, a window of recent exchanges, and counts. The
// page needs no network and no JavaScript; plots are inline SVG.
package report

import (
	"math/rand/v2"
	"net/netip"
	"time"

	"github.com/coapaudit/coapaudit/capture"
	"github.com/coapaudit/coapaudit/export"
	"github.com/coapaudit/coapaudit/flows"
	"github.com/coapaudit/coapaudit/leaks"
	"github.com/coapaudit/coapaudit/leaks/collect"
	"github.com/coapaudit/coapaudit/rules"
	"github.com/coapaudit/coapaudit/stats"
)

// Options bound what a Builder keeps. Zero values take the defaults.
type Options struct {
	// Title heads the page (default "coapaudit report").
	Title string
	// MaxExchanges is the window of recent exchanges kept so that a
	// finding reported after its exchange can still chart it (256).
	MaxExchanges int
	// MaxCharts is the number of message sequence charts (5).
	MaxCharts int
	// MaxFindings is the number of findings listed; beyond it the most
	// severe are kept and the rest counted (500).
	MaxFindings int
	// MaxResources is the number of resources with size plots (16);
	// MaxSizeSamples the sizes kept per resource and direction (400).
	MaxResources   int
	MaxSizeSamples int
	// MaxProxies is the number of proxies with residence plots (6);
	// MaxResidence the residence times kept per proxy (1000).
	MaxProxies   int
	MaxResidence int
	// MaxNodes bounds the topology nodes counted (4096); the page draws
	// the busiest few per role.
	MaxNodes int
	// FrameRefs names the frames of several capture files analysed
	// together (analysis.Options.FrameRefs): the page shows "b.pcap#12".
	// Nil for one file.
	FrameRefs *capture.FrameRefs
}

func (o *Options) fill() {
	def := func(p *int, v int) {
		if *p <= 0 {
			*p = v
		}
	}
	if o.Title == "" {
		o.Title = "coapaudit report"
	}
	def(&o.MaxExchanges, 256)
	def(&o.MaxCharts, 5)
	def(&o.MaxFindings, 500)
	def(&o.MaxResources, 16)
	def(&o.MaxSizeSamples, 400)
	def(&o.MaxProxies, 6)
	def(&o.MaxResidence, 1000)
	def(&o.MaxNodes, 4096)
}

// Builder collects what the report shows. It is not safe for concurrent
// use. It keeps the *flows.Exchange values it is given (only a bounded
// number) and never changes them.
type Builder struct {
	opt Options
	rng *rand.Rand

	// recent is a ring of the last MaxExchanges exchanges by ID.
	recent    map[string]*flows.Exchange
	ring      []string
	ringNext  int
	charted   []*chart
	wanted    map[string][]*rules.Finding // high findings whose exchange has not come yet
	exchanges int
	first     time.Time
	status    map[flows.Status]int
	protected map[string]int

	findings     []*rules.Finding
	bySeverity   [rules.High + 1]int
	totalFinding int
	// byRule sums up, per rule, every finding of medium severity or
	// above, kept or not; ruleOrder lists the rules as they first came.
	byRule    map[string]*ruleSum
	ruleOrder []string
	// suppressed counts findings the rules reported past their cap, which
	// have no record: by severity, and per rule.
	suppressed   [rules.High + 1]int
	suppressedBy map[string]int
	// proven counts findings of medium severity or above that the
	// capture proves (Certainty Did).
	proven int

	sizes         map[string]*sizeSeries
	sizeOrder     []string
	moreResources int

	residence   map[netip.AddrPort]*residenceSeries
	proxyOrder  []netip.AddrPort
	moreProxies int
	nodes       map[netip.AddrPort]*node
	edges       map[edgeKey]int
	// accuse counts, by exchange ID, the proven findings (Did, medium or
	// above) on exchanges not seen yet; their proxies are charged when
	// the exchange comes.
	accuse       map[string]int
	moreNodes    int
	leaks        []leaks.Leak
	verdicts     []string
	delayOutlier []collect.DelayOutlier
	sum          *export.Summary
}

type chart struct {
	x        *flows.Exchange
	evidence map[int]bool
	findings []string
	refs     *capture.FrameRefs
}

type sizeSeries struct {
	req, resp stats.Sample[float64]
}

type residenceSample struct {
	at       time.Duration // since the first exchange
	seconds  float64
	response bool
	exchange string
}

type residenceSeries struct {
	samples stats.Sample[residenceSample]
}

type role uint8

const (
	roleClient role = 1 << iota
	roleProxy
	roleServer
)

type node struct {
	role      role
	exchanges int
	// proven counts the proven findings (Did, medium or above) on
	// exchanges this node relayed as a proxy.
	proven int
}

type edgeKey struct {
	from, to  netip.AddrPort
	protected string
	// transport is the hop's when it is not UDP or DTLS (tcp, tls, ws,
	// wss).
	transport string
}

// New returns a Builder. Samples are drawn with a fixed seed, so that
// one capture always gives the same report.
func New(opt Options) *Builder {
	opt.fill()
	return &Builder{
		opt:       opt,
		rng:       rand.New(rand.NewPCG(1, 2)),
		recent:    map[string]*flows.Exchange{},
		ring:      make([]string, opt.MaxExchanges),
		wanted:    map[string][]*rules.Finding{},
		status:    map[flows.Status]int{},
		protected: map[string]int{},
		sizes:     map[string]*sizeSeries{},
		residence: map[netip.AddrPort]*residenceSeries{},
		nodes:     map[netip.AddrPort]*node{},
		edges:     map[edgeKey]int{},
		accuse:    map[string]int{},
	}
}

// maxAccuse bounds the proven findings waiting for their exchange.
const maxAccuse = 4096

// charge counts n proven findings against the proxies of x.
func (b *Builder) charge(x *flows.Exchange, n int) {
	proxies := x.Proxies
	if len(proxies) == 0 && x.Proxy.IsValid() {
		proxies = []netip.AddrPort{x.Proxy}
	}
	for _, a := range proxies {
		if nd := b.nodes[a]; nd != nil {
			nd.proven += n
		}
	}
}

// AddExchange records an exchange as the tracker finishes it.
func (b *Builder) AddExchange(x *flows.Exchange) {
	b.exchanges++
	if b.first.IsZero() || (!x.Start.IsZero() && x.Start.Before(b.first)) {
		b.first = x.Start
	}
	b.status[x.Status]++
	b.protected[observedProtection(x)]++
	b.addSizes(x)
	b.addResidence(x)
	b.addTopology(x)
	if n, ok := b.accuse[x.ID]; ok {
		delete(b.accuse, x.ID)
		b.charge(x, n)
	}

	if fs, ok := b.wanted[x.ID]; ok {
		delete(b.wanted, x.ID)
		if c := b.chart(x); c != nil {
			for _, f := range fs {
				c.note(f)
			}
		}
	}
	if old := b.ring[b.ringNext]; old != "" {
		delete(b.recent, old)
	}
	b.ring[b.ringNext] = x.ID
	b.ringNext = (b.ringNext + 1) % len(b.ring)
	b.recent[x.ID] = x
}

// observedProtection is the protection of x's hops as the capture shows
// it: "oscore-failed" for OSCORE whose request or response failed
// verification, which protected nothing end to end.
func observedProtection(x *flows.Exchange) string {
	p := protection(x.Protected)
	if p == "oscore" && x.OSCORE != nil && (x.OSCORE.RequestVerified == "no" || x.OSCORE.ResponseVerified == "no") {
		return "oscore-failed"
	}
	return p
}

func protection(p string) string {
	if p == "" {
		return "none"
	}
	return p
}

func (b *Builder) chart(x *flows.Exchange) *chart {
	for _, c := range b.charted {
		if c.x.ID == x.ID {
			return c
		}
	}
	if len(b.charted) >= b.opt.MaxCharts {
		return nil
	}
	c := &chart{x: x, evidence: map[int]bool{}, refs: b.opt.FrameRefs}
	b.charted = append(b.charted, c)
	return c
}

// resourceName is the method and path of an exchange, as the leak
// analysis names resources.
func resourceName(x *flows.Exchange) string {
	m := x.Method
	if m == "" {
		m = "?"
	}
	return m + " " + collect.ResourcePath(x.URI)
}

func (b *Builder) addSizes(x *flows.Exchange) {
	if len(x.Legs) == 0 || x.Method == "" || x.Method == "PING" {
		return
	}
	name := resourceName(x)
	s := b.sizes[name]
	if s == nil {
		if len(b.sizeOrder) >= b.opt.MaxResources {
			b.moreResources++
			return
		}
		s = &sizeSeries{req: stats.NewSample[float64](b.opt.MaxSizeSamples, b.rng), resp: stats.NewSample[float64](b.opt.MaxSizeSamples, b.rng)}
		b.sizes[name] = s
		b.sizeOrder = append(b.sizeOrder, name)
	}
	l := &x.Legs[0]
	if l.RequestSize > 0 {
		s.req.Add(float64(l.RequestSize))
	}
	if l.ResponseSize > 0 {
		s.resp.Add(float64(l.ResponseSize))
	}
}

func (b *Builder) addResidence(x *flows.Exchange) {
	for _, r := range x.Residence {
		s := b.residence[r.Proxy]
		if s == nil {
			if len(b.proxyOrder) >= b.opt.MaxProxies {
				b.moreProxies++
				continue
			}
			s = &residenceSeries{samples: stats.NewSample[residenceSample](b.opt.MaxResidence, b.rng)}
			b.residence[r.Proxy] = s
			b.proxyOrder = append(b.proxyOrder, r.Proxy)
		}
		at := x.Start.Sub(b.first)
		if r.Request.Valid {
			s.samples.Add(residenceSample{at, r.Request.D.Seconds(), false, x.ID})
		}
		if r.Response.Valid {
			at := at
			if len(x.Legs) > 0 && !x.Legs[0].ResponseTime.IsZero() {
				at = x.Legs[0].ResponseTime.Sub(b.first)
			}
			s.samples.Add(residenceSample{at, r.Response.D.Seconds(), true, x.ID})
		}
	}
}

// path is the client, the proxies and the origin server of x.
func path(x *flows.Exchange) []netip.AddrPort {
	p := []netip.AddrPort{x.Client}
	switch {
	case len(x.Proxies) > 0:
		p = append(p, x.Proxies...)
	case x.Proxy.IsValid():
		p = append(p, x.Proxy)
	}
	if x.Server.IsValid() {
		p = append(p, x.Server)
	}
	return p
}

func (b *Builder) addTopology(x *flows.Exchange) {
	p := path(x)
	if !x.Client.IsValid() {
		return
	}
	// Clients use ephemeral ports: one node per client host.
	p[0] = netip.AddrPortFrom(p[0].Addr(), 0)
	for i, a := range p {
		r := roleProxy
		switch {
		case i == 0:
			r = roleClient
		case i == len(p)-1 && a == x.Server:
			r = roleServer
		}
		n := b.nodes[a]
		if n == nil {
			if len(b.nodes) >= b.opt.MaxNodes {
				b.moreNodes++
				return
			}
			n = &node{}
			b.nodes[a] = n
		}
		n.role |= r
		n.exchanges++
	}
	for i := 1; i < len(p); i++ {
		k := edgeKey{from: p[i-1], to: p[i], protected: observedProtection(x)}
		if i-1 < len(x.Legs) {
			k.transport = x.Legs[i-1].Transport
		}
		if _, ok := b.edges[k]; ok || len(b.edges) < b.opt.MaxNodes {
			b.edges[k]++
		}
	}
}

// AddFinding records a finding as the rules report it. The exchange of a
// high finding gets a sequence chart, whether it came before the finding
// (within the window of recent exchanges) or comes after it.
func (b *Builder) AddFinding(f *rules.Finding) {
	b.totalFinding++
	if f.Severity <= rules.High {
		b.bySeverity[f.Severity]++
	}
	if f.Severity >= rules.Medium && f.Certainty == rules.Did {
		b.proven++
		if x := b.recent[f.Exchange]; x != nil {
			b.charge(x, 1)
		} else if f.Exchange != "" && len(b.accuse) < maxAccuse {
			b.accuse[f.Exchange]++
		}
	}
	if f.Severity >= rules.Medium {
		b.sumRule(f)
	}
	b.keepFinding(f)
	if f.Severity < rules.High || f.Exchange == "" {
		return
	}
	if x := b.recent[f.Exchange]; x != nil {
		if c := b.chart(x); c != nil {
			c.note(f)
		}
		return
	}
	for _, c := range b.charted {
		if c.x.ID == f.Exchange {
			c.note(f)
			return
		}
	}
	if _, ok := b.wanted[f.Exchange]; ok || len(b.wanted) < 4*b.opt.MaxCharts {
		if fs := b.wanted[f.Exchange]; len(fs) < 16 {
			b.wanted[f.Exchange] = append(fs, f)
		}
	}
}

// ruleSum is what the verdict says of one rule: its highest severity, how
// many findings it made and the first one's message.
type ruleSum struct {
	sev   rules.Severity
	n     int
	first string
}

func (b *Builder) sumRule(f *rules.Finding) {
	if b.byRule == nil {
		b.byRule = map[string]*ruleSum{}
	}
	r := b.byRule[f.Rule]
	if r == nil {
		r = &ruleSum{sev: f.Severity, first: f.Message}
		b.byRule[f.Rule] = r
		b.ruleOrder = append(b.ruleOrder, f.Rule)
	}
	r.n++
	r.sev = max(r.sev, f.Severity)
}

// SetSuppressed counts the findings the rules reported past their cap
// (rules.Stats.SuppressedBySeverity and Suppressed): they have no record,
// but the verdict counts them.
func (b *Builder) SetSuppressed(bySeverity [rules.High + 1]int, byRule map[string]int) {
	b.suppressed, b.suppressedBy = bySeverity, byRule
}

func (c *chart) note(f *rules.Finding) {
	for _, n := range f.Frames {
		c.evidence[n] = true
	}
	c.findings = append(c.findings, f.ID)
}

// keepFinding keeps f, or, with the list full, puts it in place of a less
// severe one.
func (b *Builder) keepFinding(f *rules.Finding) {
	if len(b.findings) < b.opt.MaxFindings {
		b.findings = append(b.findings, f)
		return
	}
	low := -1
	for i, g := range b.findings {
		if g.Severity < f.Severity && (low < 0 || g.Severity < b.findings[low].Severity) {
			low = i
		}
	}
	if low >= 0 {
		b.findings[low] = f
	}
}

// SetLeaks sets the leak records and their plain-language verdicts.
func (b *Builder) SetLeaks(ls []leaks.Leak, verdicts []string) {
	b.leaks, b.verdicts = ls, verdicts
}

// SetLeakReport sets the leak records, verdicts and delay outliers of a
// leak analysis; r may be nil.
func (b *Builder) SetLeakReport(r *collect.Report) {
	if r == nil {
		return
	}
	b.SetLeaks(r.Leaks, r.Verdicts)
	b.delayOutlier = r.Outliers
}

// SetSummary sets the run's summary record.
func (b *Builder) SetSummary(s *export.Summary) { b.sum = s }
