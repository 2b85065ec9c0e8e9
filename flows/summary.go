package flows

import (
	"strconv"
	"strings"

	"github.com/coapaudit/coapaudit/internal/human"
	"github.com/coapaudit/coapaudit/stats"

	"cmp"
	"fmt"
	"io"
	"math/rand/v2"
	"net/netip"
	"slices"
	"text/tabwriter"
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

// WriteText writes r for a terminal: totals, then the top entries of each
// table (all of them when top <= 0).
func (r Report) WriteText(w io.Writer, top int) error {
	return r.WriteTextWidth(w, top, 0)
}

// resourceNameMin is how far resource names shrink before columns of the
// resource table are left out.
const resourceNameMin = 28

// fitResources fits the resource table (head and rows, the name first)
// into width cells, 0 for any width: the RTT maximum, then the RTT 95th
// percentile and the answered count are left out while the names cannot
// keep resourceNameMin cells, then the names are shortened from their
// host side. It says which columns to keep.
func fitResources(head []string, rows [][]string, width int) []bool {
	keep := make([]bool, len(head))
	for i := range keep {
		keep[i] = true
	}
	if width <= 0 {
		return keep
	}
	colWidth := func(i int) int {
		w := human.Width(head[i])
		for _, r := range rows {
			w = max(w, human.Width(r[i]))
		}
		return w
	}
	others := func() int { // the cells beside the name, with the gaps and indent
		n := 2
		for i := 1; i < len(head); i++ {
			if keep[i] {
				n += colWidth(i) + 2
			}
		}
		return n
	}
	for _, i := range []int{6, 5, 2} {
		if width-others() >= min(resourceNameMin, colWidth(0)) {
			break
		}
		keep[i] = false
	}
	room := max(width-others(), resourceNameMin)
	for _, r := range rows {
		r[0] = human.URI(r[0], room)
	}
	return keep
}

// WriteTextWidth is WriteText for a terminal width cells wide (0 for
// any width): the resource table leaves out columns and shortens the
// resource names so that its lines fit.
func (r Report) WriteTextWidth(w io.Writer, top, width int) error {
	cut := func(n int) int {
		if top > 0 && n > top {
			return top
		}
		return n
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "exchanges\t%d\n", r.Exchanges)
	for _, s := range r.Statuses {
		fmt.Fprintf(tw, "  %s\t%d\n", s.Name, s.Count)
	}
	fmt.Fprintf(tw, "notifications\t%d\n", r.Notifications)
	for _, s := range r.Protected {
		fmt.Fprintf(tw, "protected %s\t%d\n", s.Name, s.Count)
	}
	for _, t := range []struct {
		name     string
		list     []EndpointCount
		overflow int
	}{{"clients", r.Clients, r.Overflow.Clients}, {"proxies", r.Proxies, r.Overflow.Proxies}, {"servers", r.Servers, r.Overflow.Servers}} {
		if len(t.list) == 0 {
			continue
		}
		fmt.Fprintf(tw, "\n%s\texchanges\n", t.name)
		for _, e := range t.list[:cut(len(t.list))] {
			fmt.Fprintf(tw, "  %s\t%d\n", e.Addr, e.Exchanges)
		}
		if n := len(t.list) - cut(len(t.list)); n > 0 {
			fmt.Fprintf(tw, "  (%d more)\t\n", n)
		}
		if t.overflow > 0 {
			fmt.Fprintf(tw, "  (not counted: %d exchanges)\t\n", t.overflow)
		}
	}
	if len(r.Resources) > 0 {
		head := []string{"resource", "exchanges", "answered", "codes", "rtt median", "rtt p95", "rtt max"}
		rows := make([][]string, 0, cut(len(r.Resources)))
		for _, s := range r.Resources[:cut(len(r.Resources))] {
			codes := make([]string, len(s.Codes))
			for i, c := range s.Codes {
				codes[i] = fmt.Sprintf("%s:%d", c.Name, c.Count)
			}
			rows = append(rows, []string{s.Method + " " + s.URI, strconv.Itoa(s.Exchanges), strconv.Itoa(s.Answered),
				strings.Join(codes, " "), s.RTTMedian.String(), s.RTTP95.String(), s.RTTMax.String()})
		}
		keep := fitResources(head, rows, width)
		line := func(cells []string, indent string) {
			fmt.Fprint(tw, indent)
			for i, c := range cells {
				if !keep[i] {
					continue
				}
				if i > 0 {
					fmt.Fprint(tw, "\t")
				}
				fmt.Fprint(tw, c)
			}
			fmt.Fprint(tw, "\n")
		}
		fmt.Fprint(tw, "\n")
		line(head, "")
		for _, row := range rows {
			line(row, "  ")
		}
		if n := len(r.Resources) - cut(len(r.Resources)); n > 0 {
			fmt.Fprintf(tw, "  (%d more)\t\n", n)
		}
		if r.Overflow.Resources > 0 {
			fmt.Fprintf(tw, "  (not counted: %d exchanges)\t\n", r.Overflow.Resources)
		}
	}
	return tw.Flush()
}
