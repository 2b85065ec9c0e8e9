// Package collect measures what the sizes and timing of a capture's CoAP
// exchanges reveal, with the estimators of package leaks. An analysis
// feeds it every CoAP message (Collector.Packet) and every finished
// exchange (Collector.Exchange); Collector.Report computes the leak
// records and the plain-language verdicts at the end.
//
// # Labels
//
// The hidden label X of an exchange is, by default, its resource: the
// request method and the path of its URI ("PUT /actuators/valve"; the
// scheme, host and query are left out), known from plaintext traffic or,
// for OSCORE and DTLS, from decryption with keys. OSCORE and DTLS
// exchanges that were not decrypted have no label (the tracker sees no
// CoAP in DTLS without keys). A labels file (see Labels) replaces the
// resource by the user's own labels. Besides, the request method and
// the response code are labels of their own ("method", "code") wherever
// the traffic shows them.
//
// # Observables and views
//
// Sizes are measured on the client's leg, in three views:
//
//   - wire: UDP payload lengths, what any observer of the link sees;
//   - oscore-inner: for OSCORE messages the length of the OSCORE
//     plaintext (code, class E options, payload), which is the
//     ciphertext length an observer sees minus the 8-byte tag: OSCORE
//     adds no padding, so it shows to the byte;
//   - dtls-inner: for CoAP carried in DTLS and decrypted with keys, the
//     length of the CoAP message, which an observer reads from the record
//     length: DTLS 1.2 AEAD suites add a fixed expansion per suite (8-byte
//     explicit nonce and 16- or 8-byte tag; none for ChaCha20-Poly1305's
//     implicit nonce) and no padding, so it too shows to the byte;
//   - whatif-oscore: for plaintext messages the OSCORE plaintext length
//     the same message would have under OSCORE (leaks.WhatIfOSCORE, with
//     a 1-byte Partial IV and kid in requests), taken from the last leg,
//     where a forward proxy's Proxy-Uri has become Uri-Path as it would
//     inside OSCORE.
//
// The observables are the request size, the response size, the pair of
// both (exchange_sizes), the sizes of the client leg's first 32 messages
// with their direction (size_sequence, wire view), the block count
// (blocks), and three times: the round-trip time (rtt), the time since
// the same client's previous exchange (inter_arrival) and the mean time
// between Observe notifications (observe_cadence), whose mutual
// information is Ross's k-NN estimate. A k-NN classifier runs on (request
// size, response size, rtt) per view (sizes_rtt).
//
// # Records
//
// Every measurement is a leaks.Leak with Observable, Label and View set.
// Scope is "all" for the whole capture, the resource path for one
// resource (the labels of a resource with several methods against each
// other), the proxy address for linkability and delay, and "proxy > next
// hop" for the delay of one route when a proxy has several. Padding
// advice is given in the oscore-inner, dtls-inner and whatif-oscore
// views: padding is added to the OSCORE plaintext or to the CoAP message
// a DTLS record carries. The capture-wide request and
// response sizes of these views get the full resampling of
// Config.Options; the other tables get 200 bootstrap resamples and a
// tenth of the permutation budget, beyond which the G-test gives their
// p-value.
//
// # Proxies
//
// Linkability across a proxy is exact where the OSCORE option and
// ciphertext are byte for byte identical on both legs (proxies cannot
// change them), and otherwise estimated from timing and size: an
// observer who knows the proxy's usual residence times (1st to 99th
// percentile) and size changes considers every plausible message, in
// blocks of 1024 exchanges (the first four, then one in 32). Residence
// times give proxy_delay per proxy and route, with the outliers'
// exchange ids and frames (Report.Outliers).
//
// Memory is bounded by Config (and leaks.Limits); results are
// deterministic for a given Config.Options.Seed.
package collect

import (
	"encoding/binary"
	"hash/crc32"
	"net/netip"
	"strings"
	"time"

	"github.com/coapaudit/coapaudit/decode"
	"github.com/coapaudit/coapaudit/flows"
	"github.com/coapaudit/coapaudit/leaks"
	"github.com/coapaudit/coapaudit/oscore"
)

// Config controls a Collector. A zero field takes its default.
type Config struct {
	// Limits bounds every accumulator.
	Limits leaks.Limits
	// Options controls the resampling estimators; Options.Seed seeds
	// everything random.
	Options leaks.Options
	// Padding controls the padding advice.
	Padding leaks.PaddingOptions
	// Labels, when set, gives the hidden labels instead of the
	// resources; exchanges it does not name have none.
	Labels *Labels
	// MaxResources bounds the resources analysed on their own, the
	// busiest first (default 16).
	MaxResources int
	// MaxProxies bounds the proxies (default 64) whose delay and
	// linkability are measured, and MaxRoutes the routes (proxy and next
	// hop, default 256) whose delay is measured.
	MaxProxies, MaxRoutes int
	// Window is the number of recent frames whose sizes are kept for the
	// exchanges that contain them (default 1<<17, rounded up to a power
	// of two); an exchange finished after its frames left the window has
	// no sequence and no oscore-inner, dtls-inner or whatif-oscore sizes.
	Window int
	// FrameRef, with several capture files analysed together, gives the
	// file and the frame number in it of a frame as the analysis numbers
	// it (capture.FrameRefs.FileFrame): proxy_delay outliers then list
	// their files beside their frames, and verdicts write "b.pcap#12".
	// Nil for one file.
	FrameRef func(ref int) (file string, frame int)
}

// Label kinds, observables and views: the names of leak records.
const (
	LabelResource = "resource"
	LabelFile     = "file"
	LabelMethod   = "method"
	LabelCode     = "code"

	ViewWire   = "wire"
	ViewInner  = "oscore-inner"
	ViewDTLS   = "dtls-inner"
	ViewWhatIf = "whatif-oscore"

	ObsRequestSize    = "request_size"
	ObsResponseSize   = "response_size"
	ObsExchangeSizes  = "exchange_sizes"
	ObsSequence       = "size_sequence"
	ObsBlocks         = "blocks"
	ObsSizesTiming    = "sizes_rtt"
	ObsRTT            = "rtt"
	ObsInterArrival   = "inter_arrival"
	ObsObserveCadence = "observe_cadence"
	// Linkability is measured on requests and responses, delay on the
	// residence time of either.
	ObsRequests          = "requests"
	ObsResponses         = "responses"
	ObsRequestResidence  = "request_residence"
	ObsResponseResidence = "response_residence"
)

// ScopeAll is the scope of measurements over the whole capture.
const ScopeAll = "all"

const (
	defaultMaxResources = 16
	defaultMaxProxies   = 64
	defaultMaxRoutes    = 256
	defaultWindow       = 1 << 17
	maxSequence         = 32   // messages of a size sequence
	maxLinkFrames       = 64   // messages per leg linked per exchange
	linkBlock           = 1024 // exchanges per timing-linkability block
	clientBits          = 12   // 1 << clientBits clients' last exchanges are known
	clientSlots         = 1 << clientBits
	maxURICache         = 4096
	maxPending          = 1 << 12 // distinct exchange shapes between flushes
	// maxKNNPoints bounds the reservoir of the k-NN classifiers, whose
	// leave-one-out cost grows faster than linearly.
	maxKNNPoints = 2048
)

type labelKind uint8

const (
	kindPrimary labelKind = iota
	kindMethod
	kindCode
	numKinds
)

type view uint8

const (
	vWire view = iota
	vInner
	vDTLS
	vWhatIf
	numViews
)

var viewNames = [numViews]string{ViewWire, ViewInner, ViewDTLS, ViewWhatIf}

type obsKind uint8

const (
	oRequest obsKind = iota
	oResponse
	oExchange
	oSequence
	oBlocks
)

var obsNames = [...]string{ObsRequestSize, ObsResponseSize, ObsExchangeSizes, ObsSequence, ObsBlocks}

// table is one discrete measurement: a label kind against an observable
// in a view.
type table struct {
	kind labelKind
	view view
	obs  obsKind
	d    *leaks.Discrete
}

// cont is one measurement on points: the k-NN classifier of a view
// (dim 3) or a timing feature (dim 1).
type cont struct {
	view view
	obs  string
	p    *leaks.Points
}

// entry is a label with its ids in every accumulator, interned lazily.
type entry struct {
	label    string
	resource string
	index    int32 // from 1, in creation order
	// ids belong to apply once the entry is in a record.
	ids []leaks.LabelID
}

const unset leaks.LabelID = -2

// slot is what the window keeps of one message, in 16 bytes so that the
// window stays in cache.
type slot struct {
	frame uint32 // low bits of the frame number
	hash  uint32 // OSCORE option and ciphertext, 0 when none
	ports uint16 // hash of the source and destination ports
	size  uint16
	inner uint16 // OSCORE plaintext length, or unknown
	// alt is, for a plaintext message, its what-if OSCORE plaintext
	// length, and for a message decrypted from DTLS its CoAP length; or
	// unknown.
	alt uint16
}

// castagnoli is the CRC-32C table that identifies OSCORE messages in the
// window (with hardware support on common CPUs).
var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// unknown marks a size the window does not have.
const unknown = 0xffff

func clamp16(n int) uint16 { return uint16(max(0, min(n, unknown-1))) }

// size returns a size of the window as an int, -1 when unknown.
func size16(v uint16) int {
	if v == unknown {
		return -1
	}
	return int(v)
}

// Collector accumulates the observations of one analysis. It is not safe
// for concurrent use; it runs part of its work on a goroutine of its own
// (see worker.go), which is idle when Report returns.
type Collector struct {
	cfg    Config
	lim    leaks.Limits
	window []slot
	mask   int

	tables []table
	conts  []cont
	nacc   int

	entries  [numKinds]map[string]*entry
	nentries int32                        // entries created (indices start at 1)
	uris     map[string]map[string]*entry // method -> URI -> primary entry
	overflow *entry                       // labels beyond the cap

	clients []clientSlot
	base    int64 // Unix nanoseconds of the first exchange, the origin of link times
	// the last entry of each kind, which is often the next one's
	last [numKinds]*entry

	pipe pipeline

	// The rest belongs to apply (see worker.go).
	pending map[pendingKey]int
	byIndex []*entry // entries by index, for the pending keys
	proxies map[netip.AddrPort]*proxyState
	// the proxy of the last exchange, which is usually the next one's
	lastProxyAddr netip.AddrPort
	lastProxy     *proxyState
	nroutes       int

	exchanges, labelled, plaintext, missed int
	seq                                    []int
	frames                                 []uint32
}

// New returns an empty Collector.
func New(cfg Config) *Collector {
	if cfg.MaxResources <= 0 {
		cfg.MaxResources = defaultMaxResources
	}
	if cfg.MaxProxies <= 0 {
		cfg.MaxProxies = defaultMaxProxies
	}
	if cfg.MaxRoutes <= 0 {
		cfg.MaxRoutes = defaultMaxRoutes
	}
	w := defaultWindow
	if cfg.Window > 0 {
		w = 1
		for w < cfg.Window {
			w <<= 1
		}
	}
	lim := cfg.Limits
	if lim.MaxLabels <= 0 {
		lim.MaxLabels = leaks.DefaultMaxLabels
	}
	if lim.MaxPoints <= 0 {
		lim.MaxPoints = leaks.DefaultMaxPoints
	}
	c := &Collector{
		cfg:     cfg,
		lim:     lim,
		window:  make([]slot, w),
		mask:    w - 1,
		uris:    map[string]map[string]*entry{},
		clients: make([]clientSlot, clientSlots),
		pending: map[pendingKey]int{},
		proxies: map[netip.AddrPort]*proxyState{},
		pipe:    newPipeline(),
	}
	for i := range c.window {
		c.window[i].frame = ^uint32(0)
	}
	for k := range c.entries {
		c.entries[k] = map[string]*entry{}
	}
	for v := range numViews {
		for o := oRequest; o <= oBlocks; o++ {
			if v != vWire && o >= oSequence {
				continue
			}
			c.tables = append(c.tables, table{kind: kindPrimary, view: v, obs: o, d: leaks.NewDiscrete(lim)})
		}
	}
	// Methods and codes show in plaintext; in OSCORE the ciphertext
	// sizes are what may give them away.
	for _, v := range []view{vInner, vDTLS, vWhatIf} {
		c.tables = append(c.tables,
			table{kind: kindMethod, view: v, obs: oRequest, d: leaks.NewDiscrete(lim)},
			table{kind: kindCode, view: v, obs: oResponse, d: leaks.NewDiscrete(lim)})
	}
	seed := cfg.Options.Seed
	knn := lim
	knn.MaxPoints = min(lim.MaxPoints, maxKNNPoints)
	for v := range numViews {
		c.conts = append(c.conts, cont{view: v, obs: ObsSizesTiming, p: leaks.NewPoints(3, knn, seed+uint64(len(c.conts))+1)})
	}
	for _, o := range []string{ObsRTT, ObsInterArrival, ObsObserveCadence} {
		c.conts = append(c.conts, cont{view: vWire, obs: o, p: leaks.NewPoints(1, lim, seed+uint64(len(c.conts))+1)})
	}
	c.nacc = len(c.tables) + len(c.conts)
	c.overflow = c.newEntry("", "")
	for i := range c.overflow.ids {
		c.overflow.ids[i] = leaks.NoLabel
	}
	return c
}

func (c *Collector) newEntry(label, resource string) *entry {
	c.nentries++
	e := &entry{label: label, resource: resource, index: c.nentries, ids: make([]leaks.LabelID, c.nacc)}
	for i := range e.ids {
		e.ids[i] = unset
	}
	return e
}

// Packet records one CoAP message: its size, its OSCORE plaintext length
// (from r when it was decrypted, else ciphertext minus tag), a hash of
// its OSCORE option and ciphertext, its length when it was decrypted from
// DTLS (p.Secure), or its what-if OSCORE size. Call it
// for every message before the exchange tracker sees it, so that the
// exchanges it finishes find it. r may be nil.
func (c *Collector) Packet(p *flows.Packet, r *oscore.Result) {
	m := p.Msg
	if m == nil || m.Code == decode.CodeEmpty {
		return
	}
	s := &c.window[p.Frame&c.mask]
	s.frame = uint32(p.Frame)
	s.ports = ports(p.Src, p.Dst)
	s.size = clamp16(p.Size)
	s.inner, s.alt, s.hash = unknown, unknown, 0
	if p.Secure {
		s.alt = clamp16(len(m.Raw))
	}
	if opt, ok := m.Option(decode.OptOSCORE); ok {
		switch {
		case r != nil && r.Verified:
			s.inner = clamp16(len(r.Plaintext))
		case len(m.Payload) > tagLen:
			s.inner = clamp16(len(m.Payload) - tagLen)
		}
		// The option's length tells where it ends; 0 means none.
		h := crc32.Update(crc32.Update(0, castagnoli, opt), castagnoli, m.Payload)
		s.hash = (h ^ uint32(len(opt))*0x9e3779b1) | 1
		return
	}
	if p.Secure {
		return
	}
	params := &whatIfResponse
	if m.Code.IsRequest() {
		params = &whatIfRequest
	}
	in, _, ok := whatIf(m, params)
	if !ok {
		in = leaks.WhatIfOSCORE(leaks.PlainFromMessage(m), *params).Inner
	}
	s.alt = clamp16(in)
}

func ports(src, dst netip.AddrPort) uint16 { return src.Port()*31 ^ dst.Port() }

func clamp32(n int) int32 {
	return int32(max(-1, min(n, 1<<30)))
}

// lookup returns the window's record of frame sent from src to dst.
func (c *Collector) lookup(frame int, src, dst netip.AddrPort) *slot {
	s := &c.window[frame&c.mask]
	if s.frame != uint32(frame) || s.ports != ports(src, dst) {
		c.missed++
		return nil
	}
	return s
}

// clientSlot is the start of a client's last exchange. Clients share
// slots by hash; one that takes over a slot forgets the other.
type clientSlot struct {
	addr  [16]byte
	start int64 // Unix nanoseconds; 0 when unused
}

// clientSlot16 picks the slot of a client address: a fixed mix of its
// bytes, so that results do not depend on the process.
func clientSlot16(a [16]byte) uint64 {
	h := binary.LittleEndian.Uint64(a[:8])*0x9e3779b97f4a7c15 ^ binary.LittleEndian.Uint64(a[8:])
	h *= 0xbf58476d1ce4e5b9
	return h >> (64 - clientBits)
}

// sample is what one exchange shows.
type sample struct {
	req, resp [numViews]int // -1: unknown
	seq       uint64        // 0: unknown
	blocks    int
	rtt       float64
	hasRTT    bool
	inter     float64
	hasInter  bool
	cadence   float64
	hasCad    bool
}

// Exchange records one finished exchange. It reads x and keeps nothing
// of it.
func (c *Collector) Exchange(x *flows.Exchange) {
	if len(x.Legs) == 0 || len(x.Legs[0].RequestFrames) == 0 {
		return
	}
	c.exchanges++
	if c.exchanges == 1 {
		c.base = x.Start.UnixNano()
	}
	var ents [numKinds]*entry
	ents[kindPrimary] = c.primary(x)
	trafficMethod := x.Method != "" && x.Method != "PING" &&
		(x.Protected != "oscore" || (x.OSCORE != nil && x.OSCORE.RequestVerified == "yes"))
	if trafficMethod {
		ents[kindMethod] = c.entry(kindMethod, x.Method, "")
	}
	if x.Code != "" && (x.Protected != "oscore" || (x.OSCORE != nil && x.OSCORE.ResponseVerified == "yes")) {
		ents[kindCode] = c.entry(kindCode, x.Code, "")
	}
	labelled := ents != [numKinds]*entry{}
	if ents[kindPrimary] != nil {
		c.labelled++
		if x.Protected == "none" {
			c.plaintext++
		}
	}
	b := c.pipe.cur
	h0 := len(b.hops)
	c.hops(x, b)
	r := record{hops: [2]int32{int32(h0), int32(len(b.hops))}}
	if labelled {
		r.ents, r.s = ents, c.sample(x)
	}
	b.recs = append(b.recs, r)
	if len(b.recs) >= batchSize {
		c.handoff()
	}
}

type interner interface {
	Intern(string) (leaks.LabelID, bool)
}

func (c *Collector) id(e *entry, i int, in interner) leaks.LabelID {
	id := e.ids[i]
	if id == unset {
		id, _ = in.Intern(e.label)
		e.ids[i] = id
	}
	return id
}

// entry returns the entry of a label, creating it while there is room.
func (c *Collector) entry(k labelKind, label, resource string) *entry {
	if e := c.last[k]; e != nil && e.label == label {
		return e
	}
	m := c.entries[k]
	if e, ok := m[label]; ok {
		c.last[k] = e
		return e
	}
	if len(m) >= c.lim.MaxLabels {
		return c.overflow
	}
	e := c.newEntry(strings.Clone(label), resource)
	m[e.label] = e
	return e
}

// primary returns the entry of the exchange's hidden label, or nil.
func (c *Collector) primary(x *flows.Exchange) *entry {
	if c.cfg.Labels != nil {
		l := c.cfg.Labels.lookup(x.ID, x.Frames)
		if l == "" {
			return nil
		}
		return c.entry(kindPrimary, l, "")
	}
	if x.Method == "" || x.Method == "PING" {
		return nil
	}
	if x.Protected == "oscore" && (x.OSCORE == nil || x.OSCORE.RequestVerified != "yes") {
		return nil
	}
	byURI := c.uris[x.Method]
	if e, ok := byURI[x.URI]; ok {
		return e
	}
	path := ResourcePath(x.URI)
	e := c.entry(kindPrimary, x.Method+" "+path, path)
	if len(c.uris) < maxURICache && len(byURI) < maxURICache {
		if byURI == nil {
			byURI = map[string]*entry{}
			c.uris[strings.Clone(x.Method)] = byURI
		}
		byURI[strings.Clone(x.URI)] = e
	}
	return e
}

// ResourcePath returns the path of a URI as resource labels use it:
// without scheme, authority, query and fragment, with a leading slash.
func ResourcePath(uri string) string {
	if i := strings.Index(uri, "://"); i >= 0 {
		rest := uri[i+3:]
		j := strings.IndexByte(rest, '/')
		if j < 0 {
			rest = ""
		} else {
			rest = rest[j:]
		}
		uri = rest
	}
	if i := strings.IndexAny(uri, "?#"); i >= 0 {
		uri = uri[:i]
	}
	if !strings.HasPrefix(uri, "/") {
		uri = "/" + uri
	}
	return uri
}

func (c *Collector) sample(x *flows.Exchange) sample {
	var s sample
	for v := range numViews {
		s.req[v], s.resp[v] = -1, -1
	}
	l0 := &x.Legs[0]
	s.req[vWire] = l0.RequestSize
	answered := len(l0.ResponseFrames) > 0
	if answered {
		s.resp[vWire] = l0.ResponseSize
	}
	if q := c.lookup(l0.RequestFrames[0], l0.From, l0.To); q != nil {
		s.req[vInner] = size16(q.inner)
	}
	if answered {
		if q := c.lookup(l0.ResponseFrames[0], l0.To, l0.From); q != nil {
			s.resp[vInner] = size16(q.inner)
		}
	}
	switch x.Protected {
	case "none":
		last := &x.Legs[len(x.Legs)-1]
		if len(last.RequestFrames) > 0 {
			if q := c.lookup(last.RequestFrames[0], last.From, last.To); q != nil {
				s.req[vWhatIf] = size16(q.alt)
			}
		}
		if len(last.ResponseFrames) > 0 {
			if q := c.lookup(last.ResponseFrames[0], last.To, last.From); q != nil {
				s.resp[vWhatIf] = size16(q.alt)
			}
		}
	case "dtls":
		// The client leg's CoAP sizes, which its record lengths show.
		if q := c.lookup(l0.RequestFrames[0], l0.From, l0.To); q != nil {
			s.req[vDTLS] = size16(q.alt)
		}
		if answered {
			if q := c.lookup(l0.ResponseFrames[0], l0.To, l0.From); q != nil {
				s.resp[vDTLS] = size16(q.alt)
			}
		}
	}
	s.seq = c.sequence(l0)
	if x.Block != nil {
		s.blocks = x.Block.Blocks
	}
	if x.RTT.Valid {
		s.rtt, s.hasRTT = x.RTT.Seconds(), true
	}
	if !x.Start.IsZero() {
		a := l0.From.Addr().As16()
		cs := &c.clients[clientSlot16(a)]
		start := x.Start.UnixNano()
		if cs.addr == a && cs.start != 0 && start >= cs.start {
			s.inter, s.hasInter = time.Duration(start-cs.start).Seconds(), true
		}
		*cs = clientSlot{addr: a, start: start}
	}
	if x.Observe != nil && x.Notifications > 0 && !l0.ResponseTime.IsZero() && x.End.After(l0.ResponseTime) {
		s.cadence, s.hasCad = x.End.Sub(l0.ResponseTime).Seconds()/float64(x.Notifications), true
	}
	return s
}

// sequence returns the key of the sizes of the leg's first messages in
// frame order, responses negative, or 0 when one of them is not in the
// window (keys of leaks.Sequence are never 0).
func (c *Collector) sequence(l *flows.Leg) uint64 {
	c.seq = c.seq[:0]
	rq, rs := l.RequestFrames, l.ResponseFrames
	for len(c.seq) < maxSequence && (len(rq) > 0 || len(rs) > 0) {
		var q *slot
		if len(rs) == 0 || (len(rq) > 0 && rq[0] < rs[0]) {
			q = c.lookup(rq[0], l.From, l.To)
			rq = rq[1:]
			if q == nil {
				return 0
			}
			c.seq = append(c.seq, int(q.size))
		} else {
			q = c.lookup(rs[0], l.To, l.From)
			rs = rs[1:]
			if q == nil {
				return 0
			}
			c.seq = append(c.seq, -int(q.size))
		}
	}
	return leaks.Sequence(c.seq)
}

// pendingKey is everything the discrete tables take from one exchange:
// exchanges alike are counted once per flush rather than once per table.
// It has no padding, so that it hashes as plain memory.
type pendingKey struct {
	seq uint64
	// ents are the entries' indices in Collector.list, 0 for none.
	ents [numKinds]int32
	// vals are the request sizes of each view, the response sizes of
	// each view, and the block count; -1 is unknown.
	vals [2*numViews + 1]int32
}

// flush adds the pending exchanges to the tables.
func (c *Collector) flush() {
	for k, n := range c.pending {
		for i := range c.tables {
			t := &c.tables[i]
			if k.ents[t.kind] == 0 {
				continue
			}
			e := c.byIndex[k.ents[t.kind]]
			req, resp := k.vals[t.view], k.vals[numViews+t.view]
			var obs uint64
			switch t.obs {
			case oRequest:
				if req < 0 {
					continue
				}
				obs = uint64(req)
			case oResponse:
				if resp < 0 {
					continue
				}
				obs = uint64(resp)
			case oExchange:
				if req < 0 || resp < 0 {
					continue
				}
				obs = leaks.Pair(uint32(req), uint32(resp))
			case oSequence:
				if k.seq == 0 {
					continue
				}
				obs = k.seq
			case oBlocks:
				obs = uint64(k.vals[2*numViews])
			}
			t.d.AddIDN(c.id(e, i, t.d), obs, n)
		}
	}
	clear(c.pending)
}

// Exchanges returns the number of exchanges recorded.
func (c *Collector) Exchanges() int { return c.exchanges }

// Labelled returns the number of exchanges that had a hidden label.
func (c *Collector) Labelled() int { return c.labelled }
