package rules

import (
	"net/netip"
	"time"
)

// sentResponses remembers the latest response frame of each content
// (code and payload, by the keyed content hash) sent to each address, so
// that a rule about to say that a response "matches no response of the
// server" can check the whole capture first, not only the legs the
// exchange tracker linked. It holds at most max contents, forgetting the
// oldest.
type sentResponses struct {
	m    map[uint64]sentPair
	ring []uint64
	next int
}

// sentPair is the first and the latest response of one content to one
// address.
type sentPair struct{ first, latest sentResponse }

type sentResponse struct {
	frame int
	ns    int64
	to    netip.Addr
	from  netip.AddrPort
}

func newSentResponses(max int) *sentResponses {
	return &sentResponses{m: make(map[uint64]sentPair), ring: make([]uint64, max)}
}

func sentKey(content uint64, to netip.Addr) uint64 {
	return mix(content ^ endpointHash(netip.AddrPortFrom(to, 0)))
}

func (s *sentResponses) add(content uint64, r sentResponse) {
	content = sentKey(content, r.to)
	p, ok := s.m[content]
	if !ok {
		if old := s.ring[s.next]; old != 0 {
			delete(s.m, old)
		}
		s.ring[s.next] = content
		s.next = (s.next + 1) % len(s.ring)
		p.first = r
	}
	p.latest = r
	s.m[content] = p
}

// ResponseTo returns the frame of a response with the given content that
// was sent to address to, from another address, at or before t.
func (p *Pass) ResponseTo(content uint64, to netip.Addr, t time.Time) (int, bool) {
	sp, ok := p.r.sent.m[sentKey(content, to)]
	if !ok {
		return 0, false
	}
	for _, r := range [2]sentResponse{sp.latest, sp.first} {
		if r.to == to && r.from.Addr() != to && r.ns <= t.UnixNano() {
			return r.frame, true
		}
	}
	return 0, false
}
