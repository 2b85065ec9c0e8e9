package rules

import (
	"cmp"
	"net/netip"
	"slices"
	"strconv"
	"time"

	"github.com/coapaudit/coapaudit/flows"
)

// What a pub-sub broker did (seed section 3.1.1). At the broker's capture
// point both a publication and the notifications the broker derived from
// it are visible, so its acts are provable: the rules below compare, per
// topic, the publications (PUT or POST to topic data) with the
// notifications each subscriber got, by payload. Only topics the broker
// declared (Exchange.RoleEvidence other than "behaviour") are judged: an
// ordinary observable server makes up its values and may repeat them.
// With OSCORE on the
// publications the payloads compared are the protected ones, which the
// broker cannot produce: the broker still sees the topic, the sizes and
// the timing.

// brokerPub is a publication to a topic.
type brokerPub struct {
	x       string
	client  netip.AddrPort
	frame   int
	t       time.Time
	payload uint64
	size    int
	oscore  bool
}

// brokerNote is a notification (not the registration's response).
type brokerNote struct {
	frame   int
	t       time.Time
	payload uint64
	// maxAge is how long the notification stays fresh (Max-Age, 60 s
	// when absent): repeating it after that refreshes it (RFC 7641
	// section 4.3.1).
	maxAge time.Duration
}

// brokerSub is one subscription to a topic.
type brokerSub struct {
	x      string
	client netip.AddrPort
	// start is the registration's response; end when the observation
	// ended (zero while live); gone when the subscriber stopped
	// acknowledging (zero if it never did).
	start, end, gone time.Time
	notes            []brokerNote
}

type brokerTopic struct {
	broker netip.AddrPort
	uri    string
	pubs   []brokerPub
	subs   []*brokerSub
}

// brokerLog collects the publications and subscriptions of every topic
// for one rule; it holds at most Config.MaxState of them.
type brokerLog struct {
	topics map[string]*brokerTopic
	order  []string
	items  int
}

// brokerAct is one act found on a topic, reported by the rule of its kind.
type brokerAct struct {
	kind   string // "withheld", "altered", "injected", "delayed", "repeated"
	topic  *brokerTopic
	pub    *brokerPub // nil for an injection before any publication
	sub    *brokerSub
	frames []int
	detail string
	// t is the time of the latest evidence frame.
	t time.Time
}

// onBrokerExchanges registers the hooks that collect a broker's topics
// and, at the end of the capture, passes every act of kind to report.
func onBrokerExchanges(p *Pass, kind string, report func(*brokerAct)) {
	l := &brokerLog{topics: map[string]*brokerTopic{}}
	p.OnExchange(func(x *flows.Exchange) { l.add(p, x) })
	p.OnClose(func() {
		for _, k := range l.order {
			for _, a := range l.topics[k].acts(p) {
				if a.kind == kind {
					report(a)
				}
			}
		}
	})
}

func (l *brokerLog) add(p *Pass, x *flows.Exchange) {
	if len(x.Legs) == 0 || x.Proxy.IsValid() {
		return
	}
	if x.Role != flows.RoleData || x.RoleEvidence == flows.EvidenceBehaviour {
		// Only a broker that declared the topic is judged: an ordinary
		// observable server makes up its values and may repeat them.
		return
	}
	c := &x.Legs[0]
	pub := x.Publication
	obs := x.Observe != nil && x.Observe.Established
	if !pub && !obs {
		return
	}
	if l.items >= p.Config.MaxState {
		p.Drop(1)
		return
	}
	key := x.Server.String() + " " + x.URI
	tp := l.topics[key]
	if tp == nil {
		tp = &brokerTopic{broker: x.Server, uri: x.URI}
		l.topics[key] = tp
		l.order = append(l.order, key)
	}
	l.items++
	if pub {
		for _, n := range c.RequestFrames {
			f, ok := p.Frame(n, c.From, c.To)
			if ok && f.IsRequest() && f.PayloadLen > 0 {
				tp.pubs = append(tp.pubs, brokerPub{x: x.ID, client: x.Client, frame: n, t: f.Time, payload: f.Payload, size: f.PayloadLen, oscore: f.Has(FrameOSCORE)})
				break
			}
		}
		return
	}
	s := &brokerSub{x: x.ID, client: x.Client}
	seen := map[uint16]bool{}
	for i, n := range c.ResponseFrames {
		f, ok := p.Frame(n, c.To, c.From)
		if !ok || seen[f.MID] {
			continue
		}
		seen[f.MID] = true
		if i == 0 {
			s.start = f.Time
			continue
		}
		if f.Code.Class() == 2 && f.PayloadLen > 0 {
			age := 60 * time.Second
			if f.Has(FrameMaxAge) {
				age = time.Duration(f.MaxAge) * time.Second
			}
			s.notes = append(s.notes, brokerNote{frame: n, t: f.Time, payload: f.Payload, maxAge: age})
		}
	}
	if s.start.IsZero() {
		return
	}
	if o := x.Observe; o.Ended != "" {
		s.end = x.End
		if f, ok := p.frameEither(o.EndFrame, c.From, c.To); ok {
			s.end = f.Time
		}
	}
	if o := x.Observe; o.Vanished && len(o.Unacknowledged) > 0 {
		if f, ok := p.Frame(o.Unacknowledged[0], c.To, c.From); ok {
			s.gone = f.Time
		}
	}
	tp.subs = append(tp.subs, s)
}

// carrier returns the index of the latest publication before t with
// payload h, or -1.
func (tp *brokerTopic) carrier(t time.Time, h uint64) int {
	for i := len(tp.pubs) - 1; i >= 0; i-- {
		if pb := &tp.pubs[i]; !pb.t.After(t) && pb.payload == h {
			return i
		}
	}
	return -1
}

// latest returns the index of the latest publication before t, or -1.
func (tp *brokerTopic) latest(t time.Time) int {
	for i := len(tp.pubs) - 1; i >= 0; i-- {
		if !tp.pubs[i].t.After(t) {
			return i
		}
	}
	return -1
}

// active reports whether s was subscribed and answering when pb was
// published, and stayed so for grace.
func (s *brokerSub) active(pb *brokerPub, grace time.Duration) bool {
	return s.start.Before(pb.t) && (s.end.IsZero() || s.end.After(pb.t.Add(grace))) && (s.gone.IsZero() || s.gone.After(pb.t))
}

// acts finds what the broker did on the topic.
func (tp *brokerTopic) acts(p *Pass) []*brokerAct {
	slices.SortStableFunc(tp.pubs, func(a, b brokerPub) int { return a.t.Compare(b.t) })
	grace, end := p.Config.Grace, p.Now()
	// got[s][i]: the notifications of s carrying publication i;
	// replaced[s][i]: a notification of s that took i's place.
	type key struct {
		s *brokerSub
		i int
	}
	got := map[key][]brokerNote{}
	replaced := map[key]bool{}
	var out []*brokerAct
	for _, s := range tp.subs {
		for _, n := range s.notes {
			if i := tp.carrier(n.t, n.payload); i >= 0 {
				got[key{s, i}] = append(got[key{s, i}], n)
				continue
			}
			i := tp.latest(n.t)
			if i < 0 {
				continue // the value may predate the capture
			}
			pb := &tp.pubs[i]
			a := &brokerAct{topic: tp, pub: pb, sub: s, t: n.t}
			if len(got[key{s, i}]) == 0 && !replaced[key{s, i}] && n.t.Sub(pb.t) <= grace {
				replaced[key{s, i}] = true
				a.kind, a.frames = "altered", []int{pb.frame, n.frame}
			} else {
				a.kind, a.frames = "injected", []int{pb.frame, n.frame}
				for _, m := range got[key{s, i}] {
					a.frames = append(a.frames, m.frame)
				}
			}
			out = append(out, a)
		}
	}
	for i := range tp.pubs {
		pb := &tp.pubs[i]
		next := end
		if i+1 < len(tp.pubs) {
			next = tp.pubs[i+1].t
		}
		// Delays, against the median of the other subscribers.
		var firsts []brokerNote
		var subs []*brokerSub
		for _, s := range tp.subs {
			if ns := got[key{s, i}]; len(ns) > 0 {
				firsts, subs = append(firsts, ns[0]), append(subs, s)
			}
			if ns := got[key{s, i}]; repeats(ns) {
				a := &brokerAct{kind: "repeated", topic: tp, pub: pb, sub: s, frames: []int{pb.frame}, t: ns[len(ns)-1].t}
				for _, n := range ns {
					a.frames = append(a.frames, n.frame)
				}
				out = append(out, a)
			}
		}
		for j, n := range firsts {
			var others []time.Duration
			for k, m := range firsts {
				if k != j {
					others = append(others, m.t.Sub(pb.t))
				}
			}
			if len(others) == 0 {
				continue
			}
			slices.Sort(others)
			med := others[len(others)/2]
			d := n.t.Sub(pb.t)
			if d-med > p.Config.MinDelay && d > 4*med {
				fastest := firsts[0]
				for _, m := range firsts {
					if m.t.Before(fastest.t) {
						fastest = m
					}
				}
				out = append(out, &brokerAct{kind: "delayed", topic: tp, pub: pb, sub: subs[j], t: n.t,
					frames: []int{pb.frame, fastest.frame, n.frame},
					detail: seconds(d) + " after the publication, when the other subscribers got it within " + seconds(med)})
			}
		}
		// Withholding: others got it, this active subscriber got nothing
		// in its place, and neither a newer publication within grace nor
		// the end of the capture excuses it.
		if len(firsts) == 0 || end.Sub(pb.t) < grace {
			continue
		}
		for _, s := range tp.subs {
			k := key{s, i}
			if len(got[k]) > 0 || replaced[k] || !s.active(pb, grace) {
				continue
			}
			if next.Sub(pb.t) < grace {
				continue // RFC 7641 lets a newer state replace a notification
			}
			a := &brokerAct{kind: "withheld", topic: tp, pub: pb, sub: s, frames: []int{pb.frame}, t: pb.t.Add(grace)}
			var who []string
			for j, n := range firsts {
				a.frames = append(a.frames, n.frame)
				who = append(who, subs[j].client.String()+" (frame "+strconv.Itoa(n.frame)+")")
			}
			a.detail = andList(who)
			out = append(out, a)
		}
	}
	slices.SortStableFunc(out, func(a, b *brokerAct) int { return cmp.Compare(a.frames[len(a.frames)-1], b.frames[len(b.frames)-1]) })
	return out
}

// repeats reports whether a notification in ns carries the same
// publication again while the one before it was still fresh.
func repeats(ns []brokerNote) bool {
	for k := 1; k < len(ns); k++ {
		if ns[k].t.Sub(ns[k-1].t) < ns[k-1].maxAge {
			return true
		}
	}
	return false
}

// publicationName describes a publication for messages.
func (a *brokerAct) publicationName() string {
	pb := a.pub
	s := "the publication by " + pb.client.String() + " on topic " + a.topic.uri + " (frame " + strconv.Itoa(pb.frame) + ")"
	if pb.oscore {
		s += ", protected end to end: the broker saw only its topic, its " + strconv.Itoa(pb.size) + "-byte size and its timing"
	}
	return s
}

// brokerRun is the Run of the rule that reports the acts of kind, each
// as a proven finding with the message msg writes.
func brokerRun(kind string, msg func(*brokerAct) string) func(*Pass) error {
	return func(p *Pass) error {
		onBrokerExchanges(p, kind, func(a *brokerAct) {
			p.Report(Finding{Certainty: Did, Exchange: a.sub.x, Frames: a.frames, Time: a.t, Message: msg(a)})
		})
		return nil
	}
}

func itoa(n int) string { return strconv.Itoa(n) }
