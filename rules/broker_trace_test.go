package rules_test

import (
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/coapaudit/coapaudit/decode"
	"github.com/coapaudit/coapaudit/flows"
	"github.com/coapaudit/coapaudit/rules"
)

// brokerTrace builds traffic through a broker at 10.0.0.5 on topic
// ps/temp: a client discovers the topic data (rt=core.ps.data),
// subscribers register, then the steps run.
type brokerTrace struct {
	*trace
	at   time.Duration
	mid  uint16
	seq  map[string]uint32
	prot []opt // extra options of every message (OSCORE)
}

const traceBroker = "10.0.0.5:5683"

func newBrokerTrace(oscore bool, subs ...string) *brokerTrace {
	b := &brokerTrace{trace: newTrace(), mid: 100, seq: map[string]uint32{}}
	if oscore {
		b.prot = []opt{{decode.OptOSCORE, nil}}
	}
	b.add(0, "10.0.0.9:40009", traceBroker, msg(decode.Confirmable, decode.CodeGET, b.next(), "d", "", str(decode.OptURIPath, ".well-known"), str(decode.OptURIPath, "core")))
	b.add(0, traceBroker, "10.0.0.9:40009", msg(decode.Acknowledgement, decode.CodeContent, b.mid, "d", `</ps/temp>;rt="core.ps.data"`, uintOpt(decode.OptContentFormat, 40)))
	for _, s := range subs {
		b.step(time.Millisecond)
		b.add(b.at, s, traceBroker, msg(decode.Confirmable, decode.CodeGET, b.next(), subToken(s), "", b.opts(uintOpt(decode.OptObserve, 0), str(decode.OptURIPath, "ps"), str(decode.OptURIPath, "temp"))...))
		b.add(b.at, traceBroker, s, msg(decode.Acknowledgement, decode.CodeContent, b.mid, subToken(s), "", b.opts(uintOpt(decode.OptObserve, 1))...))
		b.seq[s] = 1
	}
	return b
}

// subToken is the token of subscriber s's registration.
func subToken(s string) string {
	a := netip.MustParseAddrPort(s).Addr().As4()
	return "t" + string('0'+rune(a[3]))
}

func (b *brokerTrace) step(d time.Duration) { b.at += d }
func (b *brokerTrace) next() uint16         { b.mid++; return b.mid }

func (b *brokerTrace) opts(o ...opt) []opt { return append(o, b.prot...) }

// publish sends a publication of value from 10.0.0.6 and returns its
// frame.
func (b *brokerTrace) publish(value string) int {
	mid := b.next()
	n := b.add(b.at, "10.0.0.6:40001", traceBroker, msg(decode.Confirmable, decode.CodePOST, mid, "p", value, b.opts(str(decode.OptURIPath, "ps"), str(decode.OptURIPath, "temp"))...))
	b.add(b.at, traceBroker, "10.0.0.6:40001", msg(decode.Acknowledgement, decode.CodeChanged, mid, "p", "", b.prot...))
	return n
}

// notify sends subscriber s a NON notification of value after d and
// returns its frame.
func (b *brokerTrace) notify(s, value string, d time.Duration) int {
	b.seq[s]++
	return b.add(b.at+d, traceBroker, s, msg(decode.NonConfirmable, decode.CodeContent, b.next(), subToken(s), value, b.opts(uintOpt(decode.OptObserve, b.seq[s]))...))
}

// settle publishes once more to every subscriber in subs, then lets the
// capture go on past the grace time.
func (b *brokerTrace) settle(subs ...string) {
	b.step(5 * time.Second)
	b.publish("20.3")
	for _, s := range subs {
		b.notify(s, "20.3", time.Millisecond)
	}
	b.step(5 * time.Second)
	b.add(b.at, subs[0], traceBroker, msg(decode.Confirmable, decode.CodeGET, b.next(), "x", "", str(decode.OptURIPath, "ps"), str(decode.OptURIPath, "temp")))
}

// TestBrokerActsOSCORE: with OSCORE on the publications, an alteration
// is still proven by comparing the protected payloads, the finding says
// what the broker sees, and nothing is in clear.
func TestBrokerActsOSCORE(t *testing.T) {
	const s1, s2 = "10.0.0.1:40000", "10.0.0.2:40000"
	b := newBrokerTrace(true, s1, s2)
	for i, v := range []string{"\x01ciphertext-1", "\x02ciphertext-2"} {
		b.step(time.Second)
		pub := b.publish(v)
		b.notify(s1, v, time.Millisecond)
		alt := v
		if i == 1 {
			alt = "\x02ciphertext-X"
		}
		n2 := b.notify(s2, alt, time.Millisecond)
		if i == 1 {
			fs := b.run(t, nil, rules.Config{})
			got := of(fs, "publication-altered")
			if len(got) != 1 || !containsAll(got[0].Frames, []int{pub, n2}) || !strings.Contains(got[0].Message, "protected end to end") ||
				!strings.Contains(got[0].Message, "13-byte size") {
				t.Errorf("altered: %v", got)
			}
			for _, f := range fs {
				if f.Rule == "publication-in-clear" && (f.Severity != rules.Info || f.Threat != rules.T6 || !strings.Contains(f.Message, "13-byte protected payload")) ||
					f.Certainty == rules.Did && f.Rule != "publication-altered" {
					t.Errorf("unexpected finding %v", f)
				}
			}
			if n := len(of(fs, "publication-in-clear")); n != 2 {
				t.Errorf("%d findings on the protected publications, want 2", n)
			}
		}
	}
}

// TestBrokerHonestSkips: what RFC 7641 and the seed allow is not
// withholding: a newer publication within the grace time replacing an
// older one, and a subscriber that stopped acknowledging.
func TestBrokerHonestSkips(t *testing.T) {
	const s1, s2, s3 = "10.0.0.1:40000", "10.0.0.2:40000", "10.0.0.3:40000"
	b := newBrokerTrace(false, s1, s2, s3)
	b.step(time.Second)
	b.publish("20.0")
	b.notify(s1, "20.0", time.Millisecond)
	b.notify(s2, "20.0", time.Millisecond)
	// s3's CON notification is never acknowledged: it is gone.
	b.seq[s3]++
	b.add(b.at+time.Millisecond, traceBroker, s3, msg(decode.Confirmable, decode.CodeContent, b.next(), subToken(s3), "20.0", uintOpt(decode.OptObserve, b.seq[s3])))
	b.step(time.Second)
	b.publish("20.1") // s2 gets only the next one, 100 ms later
	b.notify(s1, "20.1", time.Millisecond)
	b.step(100 * time.Millisecond)
	b.publish("20.2")
	b.notify(s1, "20.2", time.Millisecond)
	b.notify(s2, "20.2", time.Millisecond)
	b.settle(s1, s2)
	for _, f := range b.run(t, nil, rules.Config{}) {
		if f.Certainty == rules.Did {
			t.Errorf("unexpected %v", f)
		}
	}
	// The same without the newer publication: s2 was left out of 20.1.
	b2 := newBrokerTrace(false, s1, s2)
	b2.step(time.Second)
	pub := b2.publish("20.1")
	n := b2.notify(s1, "20.1", time.Millisecond)
	b2.settle(s1, s2)
	got := of(b2.run(t, nil, rules.Config{}), "publication-withheld")
	if len(got) != 1 || got[0].Exchange != "X3" || !containsAll(got[0].Frames, []int{pub, n}) {
		t.Errorf("withheld: %v", got)
	}
}

// TestProfileResolveBroker: under auto an exchange with a broker resource
// is held to the pub-sub profile, whatever its method; without one, the
// links decide.
func TestProfileResolveBroker(t *testing.T) {
	for _, c := range []struct {
		x    flows.Exchange
		want rules.Profile
	}{
		{flows.Exchange{Method: "GET", Role: flows.RoleDiscovery}, rules.PubSub},
		{flows.Exchange{Method: "POST", Role: flows.RoleCollection}, rules.PubSub},
		{flows.Exchange{Method: "GET", Role: flows.RoleConfiguration}, rules.PubSub},
		{flows.Exchange{Method: "GET", Links: []flows.Link{{Kind: flows.LinkPublishedBy, Exchange: "X1"}}}, rules.PubSub},
		{flows.Exchange{Method: "PUT", Links: []flows.Link{{Kind: flows.LinkServedTo, Exchange: "X2"}}}, rules.PubSub},
		{flows.Exchange{Method: "GET"}, rules.Forwarding},
	} {
		if got := rules.Auto.Resolve(&c.x); got != c.want {
			t.Errorf("%s role %q links %v: %v, want %v", c.x.Method, c.x.Role, c.x.Links, got, c.want)
		}
		if got := rules.Caching.Resolve(&c.x); got != rules.Caching {
			t.Errorf("a chosen profile is kept: got %v", got)
		}
	}
}
