package rules

import (
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/coapaudit/coapaudit/dissect"
	"github.com/coapaudit/coapaudit/flows"
)

// boundedSet is a set that holds at most max keys; adding to a full set
// forgets the oldest key.
type boundedSet[K comparable] struct {
	m       map[K]struct{}
	order   keyQueue[K]
	max     int
	evicted int
}

func newBoundedSet[K comparable](max int) *boundedSet[K] {
	return &boundedSet[K]{m: make(map[K]struct{}), max: max}
}

// add inserts k and reports whether it was new.
func (s *boundedSet[K]) add(k K) bool {
	if _, ok := s.m[k]; ok {
		return false
	}
	if old, full := s.order.push(k, s.max); full {
		delete(s.m, old)
		s.evicted++
	}
	s.m[k] = struct{}{}
	return true
}

// boundedMap maps at most max keys (all of them when max <= 0): a new
// key in a full map pushes out the key put in first.
type boundedMap[K comparable, V any] struct {
	m     map[K]V
	order keyQueue[K]
	max   int
}

func newBoundedMap[K comparable, V any](max int) *boundedMap[K, V] {
	return &boundedMap[K, V]{m: make(map[K]V), max: max}
}

func (b *boundedMap[K, V]) get(k K) (V, bool) {
	v, ok := b.m[k]
	return v, ok
}

// put sets k to v and reports whether a key was pushed out for it.
func (b *boundedMap[K, V]) put(k K, v V) (evicted bool) {
	if _, ok := b.m[k]; !ok && b.max > 0 {
		var old K
		if old, evicted = b.order.push(k, b.max); evicted {
			delete(b.m, old)
		}
	}
	b.m[k] = v
	return evicted
}

func (s *boundedSet[K]) has(k K) bool {
	_, ok := s.m[k]
	return ok
}

// hasBytes reports whether s holds the string b, without allocating.
func hasBytes(s *boundedSet[string], b []byte) bool {
	_, ok := s.m[string(b)]
	return ok
}

// once reports whether k is reported for the first time, remembering it;
// keys pushed out of the full set count as dropped state of the pass.
func once[K comparable](p *Pass, s *boundedSet[K], k K) bool {
	before := s.evicted
	ok := s.add(k)
	if s.evicted > before {
		p.Drop(s.evicted - before)
	}
	return ok
}

// firstLegOnly is what holdAndDecide keeps of an exchange whose decision
// reads its ID, method, URI, client, proxy and status and, of its first
// leg, the endpoints, the request time and the frames: an Exchange of one
// Leg (about 1 KB) instead of the whole record.
func firstLegOnly(x *flows.Exchange) *flows.Exchange {
	b := new(struct {
		x   flows.Exchange
		leg [1]flows.Leg
	})
	l := &x.Legs[0]
	b.leg[0] = flows.Leg{
		From: l.From, To: l.To, RequestTime: l.RequestTime,
		RequestFrames:  slices.Clone(l.RequestFrames),
		ResponseFrames: slices.Clone(l.ResponseFrames),
	}
	b.x = flows.Exchange{
		ID: x.ID, Method: x.Method, URI: x.URI, Client: x.Client, Proxy: x.Proxy, Status: x.Status,
		Legs: b.leg[:],
	}
	return &b.x
}

// held is an exchange waiting for knowledge the runner does not have yet.
type held struct {
	x     *flows.Exchange
	since time.Time
}

// holdQueue keeps exchanges for a later decision, at most max of them,
// oldest first from items[head].
type holdQueue struct {
	items   []held
	head    int
	max     int
	checked uint64 // Pass.Learned at the last retry
}

func (q *holdQueue) len() int { return len(q.items) - q.head }

// push holds x; when the queue is full the oldest item is returned to be
// decided at once. The items move down only when the slice is full and
// at least half of it is gone, so a push costs O(1) amortised.
func (q *holdQueue) push(p *Pass, x *flows.Exchange) (oldest *flows.Exchange) {
	if q.len() >= q.max {
		oldest = q.items[q.head].x
		q.items[q.head] = held{}
		q.head++
	}
	if len(q.items) == cap(q.items) && q.head > 0 && q.head >= len(q.items)/2 {
		n := copy(q.items, q.items[q.head:])
		clear(q.items[n:])
		q.items, q.head = q.items[:n], 0
	}
	q.items = append(q.items, held{x: x, since: p.Now()})
	return oldest
}

// retry offers the held exchanges to decide, which returns true when it
// is done with one. With final set every exchange is decided for good;
// otherwise those held since before cutoff (if not zero) are, and the
// others are retried only when the runner has learnt something since the
// last retry.
func (q *holdQueue) retry(p *Pass, final bool, cutoff time.Time, decide func(x *flows.Exchange, final bool) bool) {
	v := p.Learned()
	if !final && cutoff.IsZero() && v == q.checked || q.len() == 0 {
		q.checked = v
		return
	}
	q.checked = v
	keep := q.items[:0]
	for _, h := range q.items[q.head:] {
		if final || !cutoff.IsZero() && h.since.Before(cutoff) {
			decide(h.x, true)
			continue
		}
		if decide(h.x, false) {
			continue
		}
		keep = append(keep, h)
	}
	clear(q.items[len(keep):])
	q.items, q.head = keep, 0
}

// what names an exchange's request for messages: "GET
// coap://127.0.0.22/sensors/temp", or the exchange ID when no request was
// seen.
func what(x *flows.Exchange) string {
	switch {
	case x.Method != "" && x.URI != "":
		return x.Method + " " + x.URI
	case x.Method != "":
		return x.Method + " request"
	}
	return "exchange " + x.ID
}

// frameList writes frame numbers for messages: "frame 6", "frames 27 and
// 30", "frames 14, 15 and 16".
func frameList(f []int) string {
	var b strings.Builder
	b.WriteString("frame")
	if len(f) != 1 {
		b.WriteString("s")
	}
	for i, n := range f {
		switch {
		case i == 0:
			b.WriteString(" ")
		case i == len(f)-1:
			b.WriteString(" and ")
		default:
			b.WriteString(", ")
		}
		b.WriteString(strconv.Itoa(n))
	}
	return b.String()
}

// andList joins words as "a", "a and b", "a, b and c".
func andList(w []string) string {
	switch len(w) {
	case 0:
		return ""
	case 1:
		return w[0]
	}
	return strings.Join(w[:len(w)-1], ", ") + " and " + w[len(w)-1]
}

// plural returns word, with "s" unless n is 1, after n.
func plural(n int, word string) string {
	s := strconv.Itoa(n) + " " + word
	switch {
	case n == 1:
	case strings.HasSuffix(word, "y"):
		s = s[:len(s)-1] + "ies"
	default:
		s += "s"
	}
	return s
}

// seconds formats a duration for messages: "2.005 s", "500 ms",
// "0.121 ms".
func seconds(d time.Duration) string {
	if d < time.Second {
		return strconv.FormatFloat(float64(d)/float64(time.Millisecond), 'g', 3, 64) + " ms"
	}
	return strconv.FormatFloat(d.Seconds(), 'f', 3, 64) + " s"
}

// cappedFrames writes frame numbers like frameList, at most n of them,
// and says how many it left out and where they are: the exchange record
// lists every frame.
func cappedFrames(f []int, n int) string {
	if len(f) <= n {
		return frameList(f)
	}
	return frameList(f[:n]) + " and " + strconv.Itoa(len(f)-n) + " more (the exchange record lists them all)"
}

// capFrames keeps at most n frames, the first ones.
func capFrames(f []int, n int) []int {
	if len(f) > n {
		return f[:n]
	}
	return f
}

// serverLegs returns the indexes of x's legs after the client leg that
// carry the request on towards the server: neither a proxy's replay
// nor, when skipShared, a leg shared with another exchange. An exchange
// without a proxy has none (its other legs are the client's own, such as
// the block-wise requests that fetch the rest of a notification).
func serverLegs(x *flows.Exchange, skipShared bool) []int {
	var out []int
	for i := range x.Legs {
		if serverLeg(x, i, skipShared) {
			out = append(out, i)
		}
	}
	return out
}

// serverLeg reports whether leg i is one of serverLegs(x, skipShared),
// for loops that need no slice.
func serverLeg(x *flows.Exchange, i int, skipShared bool) bool {
	if i < 1 || !x.Proxy.IsValid() {
		return false
	}
	l := &x.Legs[i]
	return !l.Replay && !(skipShared && l.Shared != "")
}

// addrString returns a's text, or "an unknown address".
func addrString(a netip.AddrPort) string {
	if !a.IsValid() {
		return "an unknown address"
	}
	return a.String()
}

// unsafeMethod reports whether a method changes state at the server (an
// actuation): everything but GET and FETCH.
func unsafeMethod(m string) bool {
	switch m {
	case "", "GET", "FETCH", "PING":
		return false
	}
	return true
}

// holdAndDecide registers the hooks of a rule that decides exchanges as
// soon as it knows enough and holds the others: every exchange is first
// shown to learn (may be nil); those for which want is true are decided,
// and held when decide returns false. Held exchanges are decided again
// whenever another exchange arrives, for good once their lifetime has
// passed in capture time (Config.Flows.ExchangeLifetime) or the capture ends;
// at most Config.MaxState are held, the oldest decided for good first.
// What is held is keep(x) when keep is not nil: a copy of what decide
// reads, so that the queue does not hold whole exchanges.
func holdAndDecide(p *Pass, learn func(*flows.Exchange), want func(*flows.Exchange) bool, keep func(*flows.Exchange) *flows.Exchange, decide func(x *flows.Exchange, final bool) bool) {
	q := &holdQueue{max: p.Config.MaxState}
	p.OnExchange(func(x *flows.Exchange) {
		if learn != nil {
			learn(x)
		}
		q.retry(p, false, time.Time{}, decide)
		if !want(x) || decide(x, false) {
			return
		}
		if keep != nil {
			x = keep(x)
		}
		if old := q.push(p, x); old != nil {
			decide(old, true)
		}
	})
	p.OnFlush(func(before time.Time) { q.retry(p, false, before.Add(-p.Config.Flows.ExchangeLifetime), decide) })
	p.OnClose(func() { q.retry(p, true, time.Time{}, decide) })
}

// reliableLeg reports whether l's messages travel on a reliable transport
// (RFC 8323: TCP, TLS, WebSockets), which neither loses, duplicates nor
// reorders them: it has no Message IDs, no message types and no
// retransmissions, so every message on it is one its sender chose to send.
func reliableLeg(l *flows.Leg) bool { return transportName(l.Transport) != "" }

// transportName names a reliable transport in findings ("" for UDP and
// DTLS).
func transportName(t string) string {
	switch t {
	case dissect.TCP.Name:
		return "TCP"
	case dissect.TLS.Name:
		return "TLS"
	case dissect.WS.Name:
		return "WebSockets"
	case dissect.WSS.Name:
		return "WebSockets over TLS"
	}
	return ""
}
