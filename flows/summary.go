package flows

import (
	"github.com/coapaudit/coapaudit/stats"

	"cmp"
	"math/rand/v2"
	"net/netip"
	"slices"
	"time"
)

// Summary aggregates exchanges for a human summary: counts per client,
// proxy, server, status and resource, and response times per resource.
// Its memory is bounded: beyond MaxKeys distinct endpoints (per role) or
// resources, exchanges are counted in the overflow, and response-time
// quantiles come from a bounded, deterministic sample.
type Summary struct {
	maxKeys int

	exchanges     int
	notifications int
	status        map[Status]int
	protected     map[string]int
	clients       map[netip.AddrPort]int
	proxies       map[netip.AddrPort]int
	servers       map[netip.AddrPort]int
	resources     map[resKey]*resAgg
	overflow      Overflow
}

// Overflow counts exchanges not attributed to a key because the summary
// already held MaxKeys of that kind.
type Overflow struct {
	Clients   int `json:"clients"`
	Proxies   int `json:"proxies"`
	Servers   int `json:"servers"`
	Resources int `json:"resources"`
}

type resKey struct{ method, uri string }

type resAgg struct {
	n, answered int
	codes       map[string]int
	rtts        []time.Duration // a reservoir sample of the RTTs
	seen        int             // RTTs offered to the reservoir
	max         time.Duration
	rng         *rand.Rand
}

// rttSamples bounds the response times kept per resource.
const rttSamples = 1024

// NewSummary returns a Summary that keeps at most maxKeys distinct keys
// of each kind (1000 when maxKeys <= 0).
func NewSummary(maxKeys int) *Summary {
	if maxKeys <= 0 {
		maxKeys = 1000
	}
	return &Summary{
		maxKeys:   maxKeys,
		status:    map[Status]int{},
		protected: map[string]int{},
		clients:   map[netip.AddrPort]int{},
		proxies:   map[netip.AddrPort]int{},
		servers:   map[netip.AddrPort]int{},
		resources: map[resKey]*resAgg{},
	}
}

// Add counts one exchange. It keeps nothing that x points to.
func (s *Summary) Add(x *Exchange) {
	s.exchanges++
	s.notifications += x.Notifications
	s.status[x.Status]++
	s.protected[x.Protected]++
	s.count(s.clients, x.Client, &s.overflow.Clients)
	if x.Proxy.IsValid() {
		s.count(s.proxies, x.Proxy, &s.overflow.Proxies)
	}
	if x.Server.IsValid() {
		s.count(s.servers, x.Server, &s.overflow.Servers)
	}
	if x.Method == "" {
		return // no request: nothing to say about a resource
	}
	k := resKey{x.Method, x.URI}
	r := s.resources[k]
	if r == nil {
		if len(s.resources) >= s.maxKeys {
			s.overflow.Resources++
			return
		}
		r = &resAgg{codes: map[string]int{}, rng: rand.New(rand.NewPCG(uint64(len(s.resources)), 0x636f6170))}
		s.resources[k] = r
	}
	r.n++
	if x.Code != "" {
		r.codes[x.Code]++
	}
	if x.RTT.Valid {
		r.answered++
		r.max = max(r.max, x.RTT.D)
		r.seen++
		switch {
		case len(r.rtts) < rttSamples:
			r.rtts = append(r.rtts, x.RTT.D)
		default:
			if i := r.rng.IntN(r.seen); i < rttSamples {
				r.rtts[i] = x.RTT.D
			}
		}
	}
}

func (s *Summary) count(m map[netip.AddrPort]int, a netip.AddrPort, overflow *int) {
	if _, ok := m[a]; !ok && len(m) >= s.maxKeys {
		*overflow++
		return
	}
	m[a]++
}

// Report is a Summary's content in a deterministic order: counts
// descending, then by name.
type Report struct {
	Exchanges     int             `json:"exchanges"`
	Notifications int             `json:"notifications"`
	Unanswered    int             `json:"unanswered"`
	Unmatched     int             `json:"unmatched"`
	Statuses      []NameCount     `json:"statuses"`
	Protected     []NameCount     `json:"protected"`
	Clients       []EndpointCount `json:"clients"`
	Proxies       []EndpointCount `json:"proxies"`
	Servers       []EndpointCount `json:"servers"`
	Resources     []ResourceStats `json:"resources"`
	Overflow      Overflow        `json:"overflow"`
}

// NameCount is a named count.
type NameCount struct {
	Name  string `json:"name"`
	Count int    `json:"count"`
}

// EndpointCount is the number of exchanges an endpoint took part in.
type EndpointCount struct {
	Addr      netip.AddrPort `json:"addr"`
	Exchanges int            `json:"exchanges"`
}

// ResourceStats describes the exchanges with one method and URI.
type ResourceStats struct {
	Method    string      `json:"method"`
	URI       string      `json:"uri"`
	Exchanges int         `json:"exchanges"`
	Answered  int         `json:"answered"`
	Codes     []NameCount `json:"codes"`
	// Response times of the answered exchanges: median and 95th
	// percentile (nearest rank, over a sample of at most 1024 when there
	// are more), and the maximum.
	RTTMedian Duration `json:"rtt_median,omitzero"`
	RTTP95    Duration `json:"rtt_p95,omitzero"`
	RTTMax    Duration `json:"rtt_max,omitzero"`
}

// Report returns the aggregate so far.
func (s *Summary) Report() Report {
	r := Report{
		Exchanges:     s.exchanges,
		Notifications: s.notifications,
		Unanswered:    s.status[Unanswered],
		Unmatched:     s.status[Unmatched],
		Clients:       endpoints(s.clients),
		Proxies:       endpoints(s.proxies),
		Servers:       endpoints(s.servers),
		Overflow:      s.overflow,
	}
	for st, n := range s.status {
		r.Statuses = append(r.Statuses, NameCount{string(st), n})
	}
	sortCounts(r.Statuses)
	for p, n := range s.protected {
		r.Protected = append(r.Protected, NameCount{p, n})
	}
	sortCounts(r.Protected)
	for k, a := range s.resources {
		rs := ResourceStats{Method: k.method, URI: k.uri, Exchanges: a.n, Answered: a.answered}
		for c, n := range a.codes {
			rs.Codes = append(rs.Codes, NameCount{c, n})
		}
		sortCounts(rs.Codes)
		if len(a.rtts) > 0 {
			d := slices.Clone(a.rtts)
			slices.Sort(d)
			rs.RTTMedian = someDuration(stats.NearestRank(d, 0.5))
			rs.RTTP95 = someDuration(stats.NearestRank(d, 0.95))
			rs.RTTMax = someDuration(a.max)
		}
		r.Resources = append(r.Resources, rs)
	}
	slices.SortFunc(r.Resources, func(a, b ResourceStats) int {
		return cmp.Or(cmp.Compare(b.Exchanges, a.Exchanges), cmp.Compare(a.URI, b.URI), cmp.Compare(a.Method, b.Method))
	})
	return r
}

func endpoints(m map[netip.AddrPort]int) []EndpointCount {
	out := make([]EndpointCount, 0, len(m))
	for a, n := range m {
		out = append(out, EndpointCount{a, n})
	}
	slices.SortFunc(out, func(a, b EndpointCount) int {
		return cmp.Or(cmp.Compare(b.Exchanges, a.Exchanges), a.Addr.Compare(b.Addr))
	})
	return out
}

func sortCounts(s []NameCount) {
	slices.SortFunc(s, func(a, b NameCount) int {
		return cmp.Or(cmp.Compare(b.Count, a.Count), cmp.Compare(a.Name, b.Name))
	})
}
