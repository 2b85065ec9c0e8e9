package flows

import (
	"encoding/json"
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/coapaudit/coapaudit/decode"
	"github.com/coapaudit/coapaudit/internal/testenv"
)

// TestAiocoapBroker follows the aiocoap-based pub-sub broker capture
// (testdata/captures/BROKERS.md): every exchange placed, the broker's
// resources known from the traffic, publications linked to the
// notifications and reads that carried them, deregistrations, the DELETE
// and its final notification, and the subscriber that vanished.
func TestAiocoapBroker(t *testing.T) {
	res := analyzePath(t, testenv.RepoCapture(t, "aiocoap-pubsub-broker.pcap"), Config{})
	checkInvariants(t, res)
	if len(res.xs) != 19 {
		t.Fatalf("%d exchanges, want 19:\n%s", len(res.xs), dump(res.xs))
	}
	roles := map[string]string{"X1": RoleDiscovery, "X2": RoleCollection, "X3": RoleCollection, "X4": RoleConfiguration, "X19": RoleConfiguration}
	var pubs []string
	for _, x := range res.xs {
		want, ok := roles[x.ID]
		if !ok {
			want = RoleData
		}
		if x.Role != want {
			t.Errorf("%s %s %s: role %q, want %q", x.ID, x.Method, x.URI, x.Role, want)
		}
		if x.Publication {
			pubs = append(pubs, x.ID)
		}
		if x.Status == Unmatched {
			t.Errorf("%s unmatched", x.ID)
		}
	}
	for id, ev := range map[string]string{"X1": EvidenceLinkFormat, "X2": EvidenceLinkFormat, "X4": EvidenceLocation, "X5": EvidenceConfiguration} {
		if x := res.byID[id]; x.RoleEvidence != ev {
			t.Errorf("%s: role evidence %q, want %q", id, x.RoleEvidence, ev)
		}
	}
	if !slices.Equal(pubs, []string{"X5", "X10", "X11", "X12", "X15", "X16"}) {
		t.Errorf("publications %v", pubs)
	}
	kinds := func(x *Exchange, kind string) (ids []string) {
		for _, l := range x.Links {
			if l.Kind == kind {
				ids = append(ids, l.Exchange)
			}
		}
		return ids
	}
	// Published before anyone subscribed: the registrations' first
	// responses read it (served-to), no notification delivered it.
	x5 := res.byID["X5"]
	if got := kinds(x5, LinkServedTo); !slices.Equal(got, []string{"X6", "X7", "X8", "X9"}) || len(kinds(x5, LinkDeliveredTo)) != 0 {
		t.Errorf("X5 links %+v", x5.Links)
	}
	// A plain GET and the deregistration's response read X12's value.
	if got := kinds(res.byID["X12"], LinkServedTo); !slices.Equal(got, []string{"X13", "X14"}) {
		t.Errorf("X12 links %+v", res.byID["X12"].Links)
	}
	if got := kinds(res.byID["X12"], LinkDeliveredTo); len(got) != 4 {
		t.Errorf("X12 delivered to %v", got)
	}
	// Deregistrations (GET Observe=1) are marked and linked both ways.
	for dereg, obs := range map[string]string{"X14": "X6", "X18": "X7"} {
		d, o := res.byID[dereg], res.byID[obs]
		if d.Observe == nil || !d.Observe.Deregistration || !slices.Equal(kinds(d, LinkDeregisters), []string{obs}) ||
			!slices.Equal(kinds(o, LinkDeregisteredBy), []string{dereg}) || o.Observe.Ended != "deregistered" {
			t.Errorf("deregistration %s of %s: %+v / %+v", dereg, obs, d.Observe, o.Links)
		}
	}
	// The DELETE of the topic data caused X9's final 4.04, which nobody
	// acknowledged; the observation keeps its registration's code.
	x9 := res.byID["X9"]
	if x9.Code != "2.05" || x9.Observe.LastCode != "4.04" || !slices.Equal(kinds(x9, LinkEndedBy), []string{"X17"}) ||
		!slices.Equal(kinds(res.byID["X17"], LinkEnds), []string{"X9"}) ||
		!slices.Equal(x9.Observe.Unacknowledged, []int{68}) || !x9.Observe.Vanished {
		t.Errorf("X9 code %s observe %+v links %+v", x9.Code, x9.Observe, x9.Links)
	}
	// The killed subscriber never acknowledged its last CON notification.
	x8 := res.byID["X8"]
	if !slices.Equal(x8.Observe.Unacknowledged, []int{57}) || !x8.Observe.Vanished || x8.Observe.Ended != "" {
		t.Errorf("X8 observe %+v", x8.Observe)
	}
	for _, id := range []string{"X6", "X7"} {
		if o := res.byID[id].Observe; o.Vanished || len(o.Unacknowledged) != 0 {
			t.Errorf("%s observe %+v", id, o)
		}
	}
}

// TestAiocoapBrokerTruth checks the clients of the aiocoap broker capture
// against its truth file: what each publisher published, how each
// subscription ended, which subscribers vanished.
func TestAiocoapBrokerTruth(t *testing.T) {
	b, err := os.ReadFile(testenv.RepoCapture(t, "aiocoap-pubsub-broker.truth.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	res := analyzePath(t, testenv.RepoCapture(t, "aiocoap-pubsub-broker.pcap"), Config{})
	for _, line := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		var c struct {
			Client       string `json:"client"`
			Role         string `json:"role"`
			Publications int    `json:"publications"`
			Ends         string `json:"ends"`
			Vanished     bool   `json:"vanished"`
		}
		if err := json.Unmarshal([]byte(line), &c); err != nil {
			t.Fatalf("%s: %v", line, err)
		}
		pubs, subs := 0, 0
		for _, x := range res.xs {
			if x.Client.Addr().String() != c.Client {
				continue
			}
			if x.Publication {
				pubs++
			}
			if o := x.Observe; o != nil && o.Established {
				subs++
				if o.Ended != c.Ends || o.Vanished != c.Vanished {
					t.Errorf("%s: %s ended %q vanished %v, want %q %v", c.Client, x.ID, o.Ended, o.Vanished, c.Ends, c.Vanished)
				}
			}
		}
		if pubs != c.Publications || (subs == 1) != (c.Role == "subscriber") {
			t.Errorf("%s (%s): %d publications, %d subscriptions", c.Client, c.Role, pubs, subs)
		}
	}
}

// TestBrokerRolesDeclared: a broker's link-format declares its topic
// collection and data; another resource of it is "other"; a CBOR
// configuration names topic data; nothing is learnt from a server that
// declares no pub-sub resource.
func TestBrokerRolesDeclared(t *testing.T) {
	const broker, plain = "10.0.0.50:5683", "10.0.0.51:5683"
	s := newSim(t, Config{})
	s.send(client, broker, con(decode.CodeGET, 1, "a").path(".well-known/core"))
	s.after(ms).send(broker, client, ack(decode.CodeContent, 1, "a").uint(decode.OptContentFormat, 40).
		body(`</ps>;rt="core.ps.coll";ct=40,</ps/data/x>;rt="core.ps.data";obs,</sensors>;rt=temperature`))
	s.after(ms).send(client, broker, con(decode.CodeGET, 2, "b").path("sensors"))
	s.after(ms).send(broker, client, ack(decode.CodeContent, 2, "b").body("hi"))
	s.after(ms).send(client, broker, con(decode.CodeGET, 3, "c").path("ps/t2"))
	// {1: "ps/data/y"} in application/core-pubsub+cbor
	s.after(ms).send(broker, client, ack(decode.CodeContent, 3, "c").uint(decode.OptContentFormat, 606).body("\xa1\x01\x69ps/data/y"))
	s.after(ms).send(client2, broker, con(decode.CodePUT, 4, "d").path("ps/data/y").body("1"))
	s.after(ms).send(broker, client2, ack(decode.CodeChanged, 4, "d"))
	s.after(ms).send(client, plain, con(decode.CodeGET, 5, "e").path(".well-known/core"))
	s.after(ms).send(plain, client, ack(decode.CodeContent, 5, "e").uint(decode.OptContentFormat, 40).body(`</ps>;rt="temperature"`))
	xs := s.close()
	want := []struct{ role, evidence string }{
		{RoleDiscovery, EvidenceLinkFormat}, {RoleOther, ""}, {RoleConfiguration, EvidenceConfiguration},
		{RoleData, EvidenceConfiguration}, {"", ""},
	}
	if len(xs) != len(want) {
		t.Fatalf("got:\n%s", dump(xs))
	}
	for i, w := range want {
		if xs[i].Role != w.role || xs[i].RoleEvidence != w.evidence {
			t.Errorf("%s %s: role %q (%q), want %q (%q)", xs[i].ID, xs[i].URI, xs[i].Role, xs[i].RoleEvidence, w.role, w.evidence)
		}
	}
	if !xs[3].Publication {
		t.Errorf("the PUT to declared topic data is no publication")
	}
}
