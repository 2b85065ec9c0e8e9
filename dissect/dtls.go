package dissect

import (
	"net/netip"

	"github.com/coapaudit/coapaudit/decode"
)

// DTLSSessions remembers the cipher suite each DTLS session negotiated, so
// that a ClientKeyExchange in a later datagram can be read (its layout
// depends on the suite). State is bounded: past max sessions the oldest
// entry is evicted and counted.
type DTLSSessions struct {
	max     int
	suites  map[Pair]decode.CipherSuite
	order   []Pair // insertion order, for eviction
	head    int
	Evicted int
}

// Pair identifies a session by its two endpoints, in either direction.
type Pair struct{ A, B netip.AddrPort }

// MakePair returns the Pair of x and y, the same for both directions.
func MakePair(x, y netip.AddrPort) Pair {
	if x.Compare(y) > 0 {
		x, y = y, x
	}
	return Pair{x, y}
}

// NewDTLSSessions returns a tracker holding at most max sessions.
func NewDTLSSessions(max int) *DTLSSessions {
	if max < 1 {
		max = 1
	}
	return &DTLSSessions{max: max, suites: make(map[Pair]decode.CipherSuite)}
}

// Observe records a ServerHello's cipher suite and returns the PSK
// identity of a ClientKeyExchange in d, if there is one (borrowing d's input).
func (s *DTLSSessions) Observe(src, dst netip.AddrPort, d *decode.DTLS) []byte {
	if !d.HasServerHello && !d.HasClientKeyExchange {
		return nil
	}
	k := MakePair(src, dst)
	if d.HasCipherSuite {
		if _, ok := s.suites[k]; !ok {
			s.add(k)
		}
		s.suites[k] = d.CipherSuite
	}
	if !d.HasClientKeyExchange {
		return nil
	}
	suite, known := s.suites[k]
	id, ok := d.PSKIdentity(suite, known)
	if !ok {
		return nil
	}
	return id
}

func (s *DTLSSessions) add(k Pair) {
	if len(s.order) < s.max {
		s.order = append(s.order, k)
		return
	}
	old := s.order[s.head]
	delete(s.suites, old)
	s.Evicted++
	s.order[s.head] = k
	s.head = (s.head + 1) % s.max
}
