package stream

import (
	"fmt"
	"net/netip"
	"strings"
)

// Fallback is the partition of messages no key places.
const Fallback = "other"

// Partitioner picks the partition of a message. An analyzer sees only the
// partitions it consumes, so the key must put every message of an
// exchange, on every hop, into one partition:
//
//   - "site" (the default): every message of the sensor goes to the
//     partition named by --site. All sensors around one proxy share a
//     site; exchanges never cross sites. Simple and exact, but a busy site
//     is one partition, analysed by one analyzer.
//   - "proxy": a message to or from a proxy (--proxy, an address or
//     address:port) goes to that proxy's partition ("p-127_0_0_32"); both
//     legs of a proxied exchange touch the proxy, so they meet. A message
//     touching no known proxy (a direct exchange, or a proxy not listed)
//     goes to Fallback; so does one between two listed proxies, which a
//     chain of proxies produces: a chain must be analysed as one site.
type Partitioner struct {
	site    string
	proxies []netip.AddrPort // port 0: any port of the address
}

// NewPartitioner returns the partitioner for key "site" or "proxy".
func NewPartitioner(key, site string, proxies []netip.AddrPort) (*Partitioner, error) {
	switch key {
	case "", "site":
		if site == "" {
			site = Fallback
		}
		if err := checkToken(site); err != nil {
			return nil, fmt.Errorf("--site: %w", err)
		}
		return &Partitioner{site: site}, nil
	case "proxy":
		if len(proxies) == 0 {
			return nil, fmt.Errorf("--partition-by proxy needs --proxy")
		}
		return &Partitioner{proxies: proxies}, nil
	}
	return nil, fmt.Errorf("--partition-by %q: want site or proxy", key)
}

// Partition returns the partition of a message between src and dst.
func (p *Partitioner) Partition(src, dst netip.AddrPort) string {
	if p.site != "" {
		return p.site
	}
	found := -1
	for i, px := range p.proxies {
		if matches(px, src) || matches(px, dst) {
			if found >= 0 {
				return Fallback
			}
			found = i
		}
	}
	if found < 0 {
		return Fallback
	}
	return ProxyPartition(p.proxies[found])
}

func matches(px, a netip.AddrPort) bool {
	return px.Addr() == a.Addr().Unmap() && (px.Port() == 0 || px.Port() == a.Port())
}

// ProxyPartition names the partition of a proxy: "p-" and its address
// with the characters a subject token cannot hold replaced.
func ProxyPartition(px netip.AddrPort) string {
	s := px.Addr().String()
	if px.Port() != 0 {
		s = px.String()
	}
	return "p-" + strings.Map(func(r rune) rune {
		switch r {
		case '.', ':', '[', ']', '%':
			return '_'
		}
		return r
	}, s)
}

// checkToken rejects names that are not one subject token.
func checkToken(s string) error {
	if strings.ContainsAny(s, ".*> \t\r\n") {
		return fmt.Errorf("%q: a partition name cannot hold '.', '*', '>' or white space", s)
	}
	return nil
}
