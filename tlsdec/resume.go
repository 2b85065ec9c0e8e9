package tlsdec

import (
	"sync"

	"github.com/coapaudit/coapaudit/tlskeys"
)

// Sessions remembers the TLS 1.2 master secrets of the connections it saw
// decrypted, by the session ID the server gave and by the session tickets
// it sent (RFC 5077), so that a later connection resuming one of them
// (an abbreviated handshake) is decrypted without a key log entry of its
// own: Go's crypto/tls, for one, logs only full handshakes. Share one
// among the Conns of a capture (Conn.UseSessions); it is safe for
// concurrent use and holds at most its bound, the oldest dropped first.
type Sessions struct {
	mu    sync.Mutex
	max   int
	m     map[string][48]byte
	order []string
	// Evicted counts the entries dropped to stay within the bound.
	Evicted int
}

// NewSessions returns a cache of at most max entries (default 4096).
func NewSessions(max int) *Sessions {
	if max <= 0 {
		max = 4096
	}
	return &Sessions{max: max, m: map[string][48]byte{}}
}

func (s *Sessions) put(key string, master *[48]byte) {
	if s == nil || len(key) <= 3 {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.m[key]; ok {
		return
	}
	if len(s.order) >= s.max {
		delete(s.m, s.order[0])
		s.order = s.order[1:]
		s.Evicted++
	}
	s.m[key] = *master
	s.order = append(s.order, key)
}

func (s *Sessions) get(key string) ([48]byte, bool) {
	if s == nil || len(key) <= 3 {
		return [48]byte{}, false
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	m, ok := s.m[key]
	return m, ok
}

// Len returns the number of sessions held.
func (s *Sessions) Len() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.m)
}

// UseSessions makes the Conn keep the master secret of its session in s
// once decrypted, and look a session it resumes up in s.
func (c *Conn) UseSessions(s *Sessions) { c.sessions = s }

// remember stores the session's master secret under its session ID and
// the tickets seen so far.
func (c *Conn) remember() {
	if c.sessions == nil || c.st.Version != VersionTLS12 {
		return
	}
	c.sessions.put("id:"+string(c.shSessionID), &c.master)
	for _, t := range c.tickets {
		c.sessions.put("tk:"+t, &c.master)
	}
	c.tickets = nil
}

// newTicket takes a TLS 1.2 NewSessionTicket body: lifetime hint, then
// the ticket.
func (c *Conn) newTicket(body []byte) {
	if c.sessions == nil || c.st.Version != VersionTLS12 || len(body) < 6 {
		return
	}
	n := int(body[4])<<8 | int(body[5])
	if 6+n != len(body) || n == 0 {
		return
	}
	if c.st.State == tlskeys.StateDecrypting {
		c.sessions.put("tk:"+string(body[6:]), &c.master)
		return
	}
	if len(c.tickets) < 4 {
		c.tickets = append(c.tickets, string(body[6:]))
	}
}
