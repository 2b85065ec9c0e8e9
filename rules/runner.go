package rules

import (
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strconv"
	"time"

	"github.com/coapaudit/coapaudit/decode"
	"github.com/coapaudit/coapaudit/dissect"
	"github.com/coapaudit/coapaudit/flows"
	"github.com/coapaudit/coapaudit/oscore"
)

// Packet is one CoAP or DTLS frame as the rules see it. Everything it
// points to is borrowed for the duration of the call: a rule copies what
// it keeps, and never changes what it reads.
type Packet struct {
	// Frame is the frame number in its capture file; File the index of
	// the file when several are merged.
	Frame, File int
	Time        time.Time
	Src, Dst    netip.AddrPort
	// Size is the length of what carried the message: the UDP payload
	// (the whole DTLS datagram for DTLS), or the framed message on a
	// reliable transport.
	Size int
	// Transport is what carried a CoAP message (nil means UDP, or DTLS
	// when Secure); Frames lists every frame a message spread over,
	// Frame last (nil when it came whole in Frame).
	Transport *dissect.Transport
	Frames    []int
	// CoAP is the decoded message (with at least its header), nil when
	// the frame is not CoAP.
	CoAP *decode.Message
	// OSCORE is what the OSCORE layer found, nil without an OSCORE option.
	OSCORE *oscore.Result
	// DTLS is the decoded record layer, nil when the frame is not DTLS.
	DTLS *decode.DTLS
	// Secure says that CoAP was carried in DTLS or TLS and decrypted
	// (DTLS is then nil: the frame's records were passed on before).
	Secure bool
	// PSKIdentity is the PSK identity a DTLS ClientKeyExchange in this
	// frame sends in clear.
	PSKIdentity []byte
	// DTLSKeyMismatch says that the key supplied for this frame's DTLS
	// session does not verify its Finished message; DTLSFailed counts the
	// frame's records left encrypted, DTLSSuite and DTLSIdentity name the
	// session (the identity is sent in clear; no key is ever here).
	DTLSKeyMismatch         bool
	DTLSFailed              int
	DTLSSuite, DTLSIdentity string
	// Err is the decode error of a CoAP or DTLS frame that did not decode
	// whole (a *decode.FormatError).
	Err error
}

// Config tunes a run. The zero value of every field selects the default
// in its comment.
type Config struct {
	// Profile is the protection level traffic is held to (default Auto).
	Profile Profile
	// Flows is the configuration of the exchange tracker that builds the
	// exchanges the rules see: its lifetimes and gaps are the rules' too
	// (unset fields take flows' defaults).
	Flows flows.Config
	// Keys says that OSCORE security contexts were supplied. Rules that
	// require keys are not run without them.
	Keys bool
	// Proxies are proxy addresses given by the user (port 0: any port).
	Proxies []netip.AddrPort

	// MaxFrames is how many recent CoAP frames are remembered for the
	// exchange-level rules (default 65536, about 6 MB). An exchange is
	// emitted some time after its last frame (flows.Config.Linger); at
	// high frame rates older frames are forgotten and the checks that
	// need them are skipped, which Stats.FramesForgotten counts.
	MaxFrames int
	// FrameStride, for frame references of n capture files
	// (capture.FrameRefs) of which only a few carry frames, is n: the
	// frame table then keys its entries by the frame number in the file,
	// since the references of one file all share their low bits. 0 or 1:
	// by the reference.
	FrameStride int
	// MaxState caps each table a rule keeps (default 4096 entries):
	// findings already reported, exchanges held for a decision, sessions.
	// What a full table pushes out is counted in Stats.Dropped.
	MaxState int
	// MaxFindings caps the findings of each rule (default 10000); more
	// are counted in Stats.Suppressed.
	MaxFindings int
	// MinDelay is how much longer than its proxy's median a residence
	// time must be to count as a delay (default 500 ms, a quarter of
	// ACK_TIMEOUT). It keeps scheduling jitter of a fast proxy, which has
	// a tiny MAD, from being reported.
	MinDelay time.Duration
	// MinSamples is how many residence times a proxy's baseline needs
	// before delays are judged as they come (default 8); until then they
	// are held, and judged at the end of the capture against at least 5.
	MinSamples int
	// Grace is how long the capture must go on after a message before
	// its absence on the next leg counts as proven (default 2 s,
	// ACK_TIMEOUT).
	Grace time.Duration
}

func (c Config) withDefaults() Config {
	c.Flows = c.Flows.WithDefaults()
	if c.MaxFrames <= 0 {
		c.MaxFrames = 1 << 16
	}
	if c.MaxState <= 0 {
		c.MaxState = 4096
	}
	if c.MaxFindings <= 0 {
		c.MaxFindings = 10000
	}
	if c.MinDelay <= 0 {
		c.MinDelay = 500 * time.Millisecond
	}
	if c.MinSamples <= 0 {
		c.MinSamples = 8
	}
	if c.Grace <= 0 {
		c.Grace = 2 * time.Second
	}
	return c
}

// Stats counts what a Runner did.
type Stats struct {
	Findings int
	// BySeverity counts findings by severity (index Info..High).
	BySeverity [High + 1]int
	// ByRule counts findings by rule ID.
	ByRule map[string]int
	// Skipped names the rules not run, with the reason.
	Skipped map[string]string
	// Dropped counts, per rule, state pushed out of a full table.
	Dropped map[string]int
	// Suppressed counts, per rule, findings over Config.MaxFindings;
	// SuppressedBySeverity counts them by severity.
	Suppressed           map[string]int
	SuppressedBySeverity [High + 1]int
	// Invalid counts findings a rule reported without evidence frames
	// or message; they are not passed on.
	Invalid int
	// FramesForgotten counts frame lookups that missed because the frame
	// was no longer remembered (Config.MaxFrames).
	FramesForgotten int
}

// Runner runs rules over a stream of packets and exchanges. Feed it, in
// capture order, every CoAP and DTLS frame (Packet, before the exchange
// tracker sees the frame) and every exchange the tracker emits
// (Exchange); call Flush as capture time passes in live captures, and
// Close once at the end. Findings go to the report callback as soon as a
// rule decides. A Runner is not safe for concurrent use.
type Runner struct {
	cfg    Config
	passes []*Pass
	pkt    []*Pass // passes with a packet hook
	exch   []*Pass
	report func(*Finding)
	idx    *frameIndex
	sent   *sentResponses
	closed bool

	start, now int64 // capture time of the first and latest frame
	seq        int
	stats      Stats

	// What the exchanges taught about proxies, for every rule.
	forwarders *boundedSet[netip.AddrPort] // proxies seen with a server leg
	sources    *boundedSet[netip.AddrPort] // endpoints proxies send from
	caches     *boundedSet[netip.AddrPort] // proxies seen serving from a cache
	version    uint64                      // bumped when the sets above grow

	// keys follows whether each OSCORE security context matches the
	// traffic, and holds the findings that rest on its verification
	// failures until it is known; pktKey is the context of the packet
	// the hooks see.
	keys   *keyTable
	pktKey uint16
}

// NewRunner returns a Runner of rules (rules.All() for every rule) that
// passes each finding to report, which owns it. It fails if a rule's Run
// fails or two rules share an ID.
func NewRunner(rules []*Rule, cfg Config, report func(*Finding)) (*Runner, error) {
	cfg = cfg.withDefaults()
	r := &Runner{
		cfg:        cfg,
		report:     report,
		idx:        newFrameIndex(cfg.MaxFrames, cfg.FrameStride),
		sent:       newSentResponses(max(cfg.MaxState, 1)),
		forwarders: newBoundedSet[netip.AddrPort](cfg.MaxState),
		sources:    newBoundedSet[netip.AddrPort](cfg.MaxState),
		caches:     newBoundedSet[netip.AddrPort](cfg.MaxState),
		keys:       newKeyTable(cfg.MaxState),
		stats: Stats{
			ByRule: map[string]int{}, Skipped: map[string]string{},
			Dropped: map[string]int{}, Suppressed: map[string]int{},
		},
	}
	seen := map[string]bool{}
	var errs []error
	for _, rule := range rules {
		if seen[rule.ID] {
			return nil, fmt.Errorf("rules: two rules named %q", rule.ID)
		}
		seen[rule.ID] = true
		if rule.Requires&RequiresKeys != 0 && !cfg.Keys {
			r.stats.Skipped[rule.ID] = "needs OSCORE keys (--keys)"
			continue
		}
		p := &Pass{Rule: rule, Config: &r.cfg, r: r}
		if err := rule.Run(p); err != nil {
			errs = append(errs, fmt.Errorf("rule %s: %w", rule.ID, err))
			continue
		}
		r.passes = append(r.passes, p)
		if p.packet != nil {
			r.pkt = append(r.pkt, p)
		}
		if p.exchange != nil {
			r.exch = append(r.exch, p)
		}
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return r, nil
}

// Packet runs the packet hooks on p and remembers CoAP frames for the
// exchange hooks. Call it before the exchange tracker sees the frame.
func (r *Runner) Packet(p *Packet) {
	ns := p.Time.UnixNano()
	if r.start == 0 || ns < r.start {
		r.start = ns
	}
	r.now = max(r.now, ns)
	r.pktKey = r.keys.observe(p)
	if p.CoAP != nil && len(p.CoAP.Raw) >= 4 {
		r.idx.add(p, r.pktKey)
		if c := p.CoAP.Code; c.IsResponse() {
			r.sent.add(contentHash(c, p.CoAP.Payload), sentResponse{frame: p.Frame, ns: ns, to: p.Dst.Addr(), from: p.Src})
		}
	}
	for _, ps := range r.pkt {
		ps.packet(p)
	}
}

// Exchange runs the exchange hooks on x, which they only read.
func (r *Runner) Exchange(x *flows.Exchange) {
	r.learn(x)
	for _, ps := range r.exch {
		ps.exchange(x)
	}
}

// learn notes what x shows about its proxies.
func (r *Runner) learn(x *flows.Exchange) {
	grew := false
	for i := 1; i < len(x.Legs); i++ {
		l := &x.Legs[i]
		if l.Shared != "" {
			continue
		}
		grew = r.sources.add(l.From) || grew
		if i == 1 && x.Proxy.IsValid() {
			grew = r.forwarders.add(x.Proxy) || grew
		}
	}
	if x.Proxy.IsValid() {
		for _, l := range x.Links {
			if l.Kind == linkCachedFrom || l.Kind == linkFedBy {
				grew = r.caches.add(x.Proxy) || grew
			}
		}
	}
	if grew {
		r.version++
	}
}

// Advance moves capture time to now without traffic (live captures),
// so that exchanges emitted next are judged at that time. Call it before
// flushing the exchange tracker, and Flush after.
func (r *Runner) Advance(now time.Time) { r.now = max(r.now, now.UnixNano()) }

// Flush tells the rules that capture time has reached now without
// traffic (live captures); held decisions older than the rules' waiting
// times are taken.
func (r *Runner) Flush(now time.Time) {
	r.Advance(now)
	for _, p := range r.passes {
		if p.flush != nil {
			p.flush(now)
		}
	}
}

// Close runs the end-of-capture hooks. Call it once, after the exchange
// tracker has emitted its last exchange.
func (r *Runner) Close() {
	if r.closed {
		return
	}
	r.closed = true
	r.keys.finish()
	for _, p := range r.passes {
		if p.close != nil {
			p.close()
		}
	}
}

// Total returns the findings at each severity (index Info..High),
// reported or suppressed: what a verdict counts.
func (s *Stats) Total() [High + 1]int {
	t := s.BySeverity
	for i, n := range s.SuppressedBySeverity {
		t[i] += n
	}
	return t
}

// SuppressedTotal returns the number of findings suppressed.
func (s *Stats) SuppressedTotal() int {
	n := 0
	for _, v := range s.Suppressed {
		n += v
	}
	return n
}

// Stats returns the counters so far.
func (r *Runner) Stats() Stats {
	s := r.stats
	s.ByRule = cloneMap(s.ByRule)
	s.Skipped = cloneMap(s.Skipped)
	s.Dropped = cloneMap(s.Dropped)
	s.Suppressed = cloneMap(s.Suppressed)
	return s
}

func cloneMap[V any](m map[string]V) map[string]V {
	out := make(map[string]V, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}

// Pass is a rule's view of one run, like go/analysis's Pass: it carries
// the configuration, the hooks the rule registers, shared knowledge about
// the capture, and Report.
type Pass struct {
	Rule   *Rule
	Config *Config // read-only

	r        *Runner
	packet   func(*Packet)
	exchange func(*flows.Exchange)
	flush    func(time.Time)
	close    func()
	findings int
}

// OnPacket registers f to see every CoAP and DTLS frame. f must not
// allocate when it finds nothing: it runs on the per-frame hot path.
func (p *Pass) OnPacket(f func(*Packet)) { p.packet = f }

// OnExchange registers f to see every exchange the tracker emits.
func (p *Pass) OnExchange(f func(*flows.Exchange)) { p.exchange = f }

// OnFlush registers f to run when capture time advances without traffic;
// before is the capture time reached.
func (p *Pass) OnFlush(f func(before time.Time)) { p.flush = f }

// OnClose registers f to run at the end of the capture, after the last
// exchange.
func (p *Pass) OnClose(f func()) { p.close = f }

// Report passes a finding on. Rule, Threat, Seed and Severity default to
// the rule's and Certainty to Could; the ID is assigned here. Frames are
// copied, sorted and deduplicated. A finding without frames or message
// is counted as invalid and dropped.
func (p *Pass) Report(f Finding) {
	r := p.r
	if len(f.Frames) == 0 || f.Message == "" {
		r.stats.Invalid++
		return
	}
	if p.findings >= r.cfg.MaxFindings {
		r.stats.Suppressed[p.Rule.ID]++
		sev := f.Severity
		if sev == 0 {
			sev = p.Rule.Severity
		}
		if sev <= High {
			r.stats.SuppressedBySeverity[sev]++
		}
		return
	}
	p.findings++
	f.Rule = p.Rule.ID
	if f.Threat == "" {
		f.Threat = p.Rule.Threat
	}
	if f.Seed == "" {
		f.Seed = p.Rule.Seed
	}
	if f.Severity == 0 {
		f.Severity = p.Rule.Severity
	}
	if f.Certainty == 0 {
		f.Certainty = Could
	}
	if f.Time.IsZero() {
		f.Time = p.Now()
	}
	fr := slices.Clone(f.Frames)
	slices.Sort(fr)
	f.Frames = slices.Compact(fr)
	r.seq++
	f.ID = "F" + strconv.Itoa(r.seq)
	r.stats.Findings++
	if f.Severity <= High {
		r.stats.BySeverity[f.Severity]++
	}
	r.stats.ByRule[f.Rule]++
	if r.report != nil {
		r.report(&f)
	}
}

// Drop counts n items of state the rule had to let go because a table
// was full.
func (p *Pass) Drop(n int) { p.r.stats.Dropped[p.Rule.ID] += n }

// Frame returns what is remembered of frame n, sent from src to dst.
// Lookups that miss are counted in Stats.FramesForgotten.
func (p *Pass) Frame(n int, src, dst netip.AddrPort) (FrameInfo, bool) {
	f, ok := p.r.idx.lookup(n, src, dst)
	if !ok {
		p.r.stats.FramesForgotten++
	}
	return f, ok
}

// frameEither returns frame n sent between a and b in either direction.
func (p *Pass) frameEither(n int, a, b netip.AddrPort) (FrameInfo, bool) {
	if f, ok := p.r.idx.lookup(n, a, b); ok {
		return f, true
	}
	return p.Frame(n, b, a)
}

// Now returns the capture time of the latest frame (or Flush).
func (p *Pass) Now() time.Time {
	if p.r.now == 0 {
		return time.Time{}
	}
	return time.Unix(0, p.r.now).UTC()
}

// Start returns the capture time of the first frame.
func (p *Pass) Start() time.Time {
	if p.r.start == 0 {
		return time.Time{}
	}
	return time.Unix(0, p.r.start).UTC()
}

// Profile returns the profile x is held to: Config.Profile, or under Auto
// the one x's traffic points to.
func (p *Pass) Profile(x *flows.Exchange) Profile {
	if p.Config.Profile != Auto {
		return p.Config.Profile
	}
	return resolve(x, x.Proxy.IsValid() && p.r.caches.has(x.Proxy))
}

// Forwarding reports whether proxy was seen forwarding a request to a
// server: the capture shows the proxy's server side.
func (p *Pass) Forwarding(proxy netip.AddrPort) bool { return p.r.forwarders.has(proxy) }

// ProxySource reports whether a proxy was seen sending requests from ep.
func (p *Pass) ProxySource(ep netip.AddrPort) bool { return p.r.sources.has(ep) }

// ConfiguredProxy reports whether the user named a as a proxy.
func (p *Pass) ConfiguredProxy(a netip.AddrPort) bool {
	for _, c := range p.Config.Proxies {
		if c.Addr() == a.Addr() && (c.Port() == 0 || c.Port() == a.Port()) {
			return true
		}
	}
	return false
}

// Learned returns a number that grows whenever the runner learns a new
// proxy, forwarding proxy or proxy source: rules holding exchanges for
// that knowledge recheck them when it changes.
func (p *Pass) Learned() uint64 { return p.r.version }
