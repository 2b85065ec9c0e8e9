package flows

import (
	"bufio"
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"testing"
	"time"
)

// Expectations below were written from the traffic and checked against
// tshark's frame view (tshark -r FILE -T fields -e frame.number -e
// coap.type -e coap.code -e coap.mid -e coap.token ...).

type legWant struct {
	from, to           string
	req, resp, other   []int
	notifications      int
	retrans, replays   int
	respDups, rejected int
}

type xWant struct {
	id, method, uri, code string
	status                Status
	client, proxy, server string
	notifications         int
	legs                  []legWant
}

func checkExchange(t *testing.T, got *Exchange, w xWant) {
	t.Helper()
	if got == nil {
		t.Errorf("%s: missing", w.id)
		return
	}
	str := func(a interface{ IsValid() bool }, s string) string {
		if !a.IsValid() {
			return ""
		}
		return s
	}
	if got.Method != w.method || got.Code != w.code || got.Status != w.status || got.Notifications != w.notifications ||
		w.uri != "" && got.URI != w.uri ||
		got.Client.String() != w.client ||
		str(got.Proxy, got.Proxy.String()) != w.proxy ||
		str(got.Server, got.Server.String()) != w.server {
		t.Errorf("%s: got %s %s %s code=%q status=%s notif=%d client=%v proxy=%v server=%v\nwant %s %s code=%q status=%s notif=%d client=%s proxy=%s server=%s",
			w.id, got.ID, got.Method, got.URI, got.Code, got.Status, got.Notifications, got.Client, got.Proxy, got.Server,
			w.method, w.uri, w.code, w.status, w.notifications, w.client, w.proxy, w.server)
	}
	if len(got.Legs) != len(w.legs) {
		t.Errorf("%s: %d legs, want %d", w.id, len(got.Legs), len(w.legs))
		return
	}
	for i, wl := range w.legs {
		l := got.Legs[i]
		if wl.from != "" && l.From.String() != wl.from || l.To.String() != wl.to ||
			!slices.Equal(l.RequestFrames, orEmpty(wl.req)) || !slices.Equal(l.ResponseFrames, orEmpty(wl.resp)) ||
			!slices.Equal(orEmpty(l.OtherFrames), orEmpty(wl.other)) ||
			l.Notifications != wl.notifications || l.Retransmissions != wl.retrans || l.Replays != wl.replays ||
			l.ResponseDuplicates != wl.respDups || l.Rejected != wl.rejected {
			t.Errorf("%s leg %d: got %v->%v req=%v resp=%v other=%v notif=%d retx=%d replays=%d rdup=%d rejected=%d\nwant %s->%s req=%v resp=%v other=%v notif=%d retx=%d replays=%d rdup=%d rejected=%d",
				w.id, i, l.From, l.To, l.RequestFrames, l.ResponseFrames, l.OtherFrames, l.Notifications, l.Retransmissions, l.Replays, l.ResponseDuplicates, l.Rejected,
				wl.from, wl.to, wl.req, wl.resp, wl.other, wl.notifications, wl.retrans, wl.replays, wl.respDups, wl.rejected)
		}
	}
}

func orEmpty(s []int) []int {
	if s == nil {
		return []int{}
	}
	return s
}

// checkInvariants verifies what must hold for any capture: IDs X1..Xn,
// every CoAP frame in exactly one exchange except the ACKs and RSTs that
// matched nothing and the messages of no class, and each exchange's Frames
// the union of its own legs.
func checkInvariants(t *testing.T, res *result) {
	t.Helper()
	if len(res.xs) != int(res.stats.Exchanges) {
		t.Errorf("%d exchanges emitted, stats say %d", len(res.xs), res.stats.Exchanges)
	}
	owner := map[int]string{}
	for i := range res.xs {
		id := exchangeID(uint64(i + 1))
		x := res.byID[id]
		if x == nil {
			t.Errorf("%s missing", id)
			continue
		}
		var union []int
		for _, l := range x.Legs {
			if l.Shared != "" {
				continue
			}
			union = append(union, l.RequestFrames...)
			union = append(union, l.ResponseFrames...)
			union = append(union, l.OtherFrames...)
		}
		slices.Sort(union)
		union = slices.Compact(union)
		if !slices.Equal(union, x.Frames) {
			t.Errorf("%s: Frames %v, legs hold %v", id, x.Frames, union)
		}
		for _, f := range x.Frames {
			if o, dup := owner[f]; dup {
				t.Errorf("frame %d in %s and %s", f, o, id)
			}
			owner[f] = id
		}
	}
	unowned := 0
	for _, f := range res.frames {
		if _, ok := owner[f]; !ok {
			unowned++
		}
	}
	if want := int(res.stats.UnmatchedACKs + res.stats.UnmatchedResets + res.stats.Other + res.stats.Detached); unowned != want {
		t.Errorf("%d frames in no exchange, want %d (unmatched ACK/RST, other, detached)", unowned, want)
	}
	if res.stats.LiveExchanges != 0 {
		t.Errorf("%d exchanges live after Close", res.stats.LiveExchanges)
	}
}

func TestLibcoapForwardProxy(t *testing.T) {
	res := analyze(t, "libcoap-fwdproxy.pcap", Config{})
	checkInvariants(t, res)
	if len(res.xs) != 9 {
		t.Fatalf("%d exchanges, want 9:\n%s", len(res.xs), dump(res.xs))
	}
	const (
		cl    = "127.0.0.1"
		proxy = "127.0.0.32:5683"
		srv   = "127.0.0.31:5683"
	)
	// A plain request through the proxy: the client gets an empty ACK and
	// a separate CON response, which it ACKs; the proxy's own request is
	// answered piggybacked.
	plain := func(id, method, uri, code string, port, outPort string, f int) xWant {
		return xWant{id: id, method: method, uri: uri, code: code, status: Complete,
			client: cl + ":" + port, proxy: proxy, server: srv,
			legs: []legWant{
				{from: cl + ":" + port, to: proxy, req: []int{f}, resp: []int{f + 4}, other: []int{f + 1, f + 5}},
				{from: cl + ":" + outPort, to: srv, req: []int{f + 2}, resp: []int{f + 3}},
			}}
	}
	want := []xWant{
		plain("X1", "GET", "coap://127.0.0.31:5683/time?ticks", "2.05", "40684", "38704", 1),
		plain("X2", "POST", "coap://127.0.0.31:5683/example_data", "4.05", "47053", "60640", 7),
		plain("X3", "PUT", "coap://127.0.0.31:5683/example_data", "2.01", "51753", "37791", 13),
		plain("X4", "GET", "coap://127.0.0.31:5683/example_data", "2.05", "52514", "33108", 19),
		plain("X5", "DELETE", "coap://127.0.0.31:5683/example_data", "4.05", "43447", "57921", 25),
		{id: "X6", method: "GET", uri: "coap://127.0.0.31:5683/time", code: "2.05", status: Observing,
			client: cl + ":35014", proxy: proxy, server: srv, notifications: 8,
			legs: []legWant{
				{from: cl + ":35014", to: proxy, req: []int{31}, resp: []int{34, 36, 39, 42, 45, 64, 67, 70, 73}, notifications: 8},
				{from: cl + ":32815", to: srv, req: []int{32}, resp: []int{33, 35, 38, 41, 44, 63, 66, 69, 72, 75},
					other: []int{37, 40, 43, 46, 65, 68, 71, 74}, notifications: 9},
			}},
		// The cancellation: the proxy deregisters with a token of its own.
		{id: "X7", method: "GET", uri: "coap://127.0.0.31:5683/time", code: "2.05", status: Complete,
			client: cl + ":35014", proxy: proxy, server: srv,
			legs: []legWant{
				{from: cl + ":35014", to: proxy, req: []int{47}, resp: []int{50}},
				{from: cl + ":32815", to: srv, req: []int{48}, resp: []int{49}},
			}},
		plain("X8", "FETCH", "coap://127.0.0.31:5683/time", "2.05", "40167", "57131", 51),
		plain("X9", "GET", "coap://127.0.0.31:5683/time", "4.02", "51121", "46877", 57),
	}
	want[8].legs[0].rejected = 1 // the client answers the 4.02 with RST (frame 62)
	for _, w := range want {
		checkExchange(t, res.byID[w.id], w)
	}
	if t.Failed() {
		t.Logf("got:\n%s", dump(res.xs))
	}

	obs := res.byID["X6"].Observe
	if obs == nil || !obs.Established || obs.Ended != "deregistered" || obs.EndFrame != 47 || obs.Late != 4 || obs.FirstSeq != 2 || obs.LastSeq != 10 {
		t.Errorf("X6 observe = %+v, want established, deregistered at 47, 4 late, seq 2..10", obs)
	}
	if tok := res.byID["X7"].Legs[1].Token.String(); tok != "01000000000001" {
		t.Errorf("X7 server-leg token %s", tok)
	}
	// Residence from tshark's frame times: frames 1, 3 (request) and 4, 5
	// (response) at 0.000000, 0.000363, 0.000713 and 0.000754 s.
	r := res.byID["X1"].Residence
	if len(r) != 1 || r[0].Proxy != ap(proxy) || r[0].Request.D != 363*time.Microsecond || r[0].Response.D != 41*time.Microsecond || !r[0].Relayed {
		t.Errorf("X1 residence %+v", r)
	}
	if got := res.byID["X1"].RTT.D; got != 754*time.Microsecond {
		t.Errorf("X1 RTT %v, want 754µs", got)
	}
	if res.stats.ProxyLinks != 9 || res.stats.Proxied != 9 {
		t.Errorf("stats %+v", res.stats)
	}
}

func TestOSCOREReverseProxy(t *testing.T) {
	res := analyze(t, "aiocoap-oscore-revproxy.pcap", Config{})
	checkInvariants(t, res)
	if len(res.xs) != 12 {
		t.Fatalf("%d exchanges, want 12:\n%s", len(res.xs), dump(res.xs))
	}
	// Every request goes client -> 127.0.0.22 -> 127.0.0.21 and back in
	// four frames; the proxy rewrites token and Message ID, the OSCORE
	// option and ciphertext stay: an exact link.
	for i, x := range res.xs {
		f := 4*i + 1
		checkExchange(t, x, xWant{id: exchangeID(uint64(i + 1)), method: "POST", code: "2.04", status: Complete,
			client: x.Client.String(), proxy: "127.0.0.22:5683", server: "127.0.0.21:5683",
			legs: []legWant{
				{to: "127.0.0.22:5683", req: []int{f}, resp: []int{f + 3}},
				{from: "127.0.0.1:34227", to: "127.0.0.21:5683", req: []int{f + 1}, resp: []int{f + 2}},
			}})
		if x.Protected != "oscore" || len(x.Residence) != 1 || !x.Residence[0].Relayed {
			t.Errorf("%s: protected=%s residence=%+v", x.ID, x.Protected, x.Residence)
		}
		if slices.Equal(x.Legs[0].Token, x.Legs[1].Token) {
			t.Errorf("%s: token %s on both legs; the proxy rewrites tokens", x.ID, x.Legs[0].Token)
		}
		if x.OSCORE == nil || x.OSCORE.PIV.String() == "" {
			t.Errorf("%s: OSCORE summary %+v", x.ID, x.OSCORE)
		}
	}
	if t.Failed() {
		t.Logf("got:\n%s", dump(res.xs))
	}
}

type truthLine struct {
	Act     string  `json:"act"`
	MID     int     `json:"mid"`
	Client  int     `json:"client"`
	Seconds float64 `json:"seconds"`
	Extra   int     `json:"extra"`
}

func TestOSCOREEvilProxy(t *testing.T) {
	res := analyze(t, "aiocoap-oscore-evilproxy.pcap", Config{})
	checkInvariants(t, res)
	f, err := os.Open(filepath.Join(capturesDir(t), "aiocoap-oscore-evilproxy.truth.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	acts := map[string]truthLine{} // by exchange ID
	drops := map[string]int{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		var l truthLine
		if err := json.Unmarshal(sc.Bytes(), &l); err != nil {
			t.Fatal(err)
		}
		frame := res.reqMID[[2]int{l.Client, l.MID}]
		var x *Exchange
		for _, c := range res.xs {
			if len(c.Legs) > 0 && len(c.Legs[0].RequestFrames) > 0 && c.Legs[0].RequestFrames[0] == frame {
				x = c
			}
		}
		if x == nil {
			t.Fatalf("no exchange starts with the request of %+v (frame %d)", l, frame)
		}
		acts[x.ID] = l
		if l.Act == "drop" {
			drops[x.ID]++
		}
	}
	if len(acts) != 5 {
		t.Fatalf("truth names %d exchanges, want 5", len(acts))
	}
	for _, x := range res.xs {
		l, bad := acts[x.ID]
		switch {
		case !bad:
			// Relayed faithfully: both legs, linked, one response each.
			if x.Status != Complete || len(x.Legs) != 2 || len(x.Residence) != 1 || !x.Residence[0].Relayed ||
				x.Legs[0].ResponseDuplicates+x.Legs[1].Replays+x.Legs[0].Retransmissions != 0 {
				t.Errorf("%s relayed faithfully, got status %s legs %d residence %+v", x.ID, x.Status, len(x.Legs), x.Residence)
			}
		case l.Act == "forge":
			if x.Status != ServedByIntermediary || len(x.Legs) != 1 || x.Proxy != ap("127.0.0.22:5683") || x.Server.IsValid() {
				t.Errorf("%s forged: status %s legs %d proxy %v server %v", x.ID, x.Status, len(x.Legs), x.Proxy, x.Server)
			}
		case l.Act == "delay":
			want := time.Duration(l.Seconds * float64(time.Second))
			if x.Status != Complete || len(x.Residence) != 1 || math.Abs(float64(x.Residence[0].Request.D-want)) > float64(50*time.Millisecond) {
				t.Errorf("%s delayed %v: status %s residence %+v", x.ID, want, x.Status, x.Residence)
			}
		case l.Act == "flood":
			if x.Status != Complete || x.Legs[0].ResponseDuplicates != l.Extra || len(x.Legs[0].ResponseFrames) != l.Extra+1 || len(x.Legs[1].ResponseFrames) != 1 {
				t.Errorf("%s flooded with %d extra: status %s client leg %+v", x.ID, l.Extra, x.Status, x.Legs[0])
			}
		case l.Act == "drop":
			// The response was withheld, also the one to the client's
			// retransmission, which the proxy forwarded.
			c, s := x.Legs[0], x.Legs[1]
			if x.Status != Withheld || len(c.ResponseFrames) != 0 || c.Retransmissions != drops[x.ID]-1 ||
				len(s.ResponseFrames) != drops[x.ID] || s.Retransmissions != drops[x.ID]-1 || s.Replays != 0 {
				t.Errorf("%s dropped: status %s legs %+v", x.ID, x.Status, x.Legs)
			}
		case l.Act == "replay":
			if x.Status != Complete || x.Legs[1].Replays != 1 || len(x.Legs[1].RequestFrames) != 2 || x.Legs[0].Retransmissions != 0 {
				t.Errorf("%s replayed: status %s legs %+v", x.ID, x.Status, x.Legs)
			}
		}
	}
	// The same, pinned to frame numbers.
	for id, frames := range map[string][]int{
		"X2":  {5, 6},
		"X3":  {7, 8, 9, 10},
		"X4":  {11, 12, 13, 14, 15, 16},
		"X7":  {25, 26, 27, 28, 29, 30},
		"X10": {39, 40, 41, 42, 47, 48},
	} {
		if x := res.byID[id]; x == nil || !slices.Equal(x.Frames, frames) || acts[id].Act == "" {
			t.Errorf("%s: frames %v, want %v (%s)", id, x.Frames, frames, acts[id].Act)
		}
	}
	if t.Failed() {
		t.Logf("got:\n%s", dump(res.xs))
	}
}

// ttprotoCase is the expected analysis of one ETSI/F-Interop test capture.
type ttprotoCase struct {
	file string
	want []xWant
	obs  map[string]ObserveInfo // by exchange ID
	blk  map[string]BlockInfo
	more func(t *testing.T, res *result)
}

func seq(from, to, step int) []int {
	var s []int
	for i := from; i <= to; i += step {
		s = append(s, i)
	}
	return s
}

func TestTTProto(t *testing.T) {
	const c, s = "127.0.0.1", "127.0.0.1:5683"
	cases := []ttprotoCase{
		{file: "test_dumps_coap_core_TD_COAP_CORE_01_PASS.pcap", want: []xWant{
			{id: "X1", method: "GET", uri: "coap://127.0.0.1/test", code: "2.05", status: Complete, client: c + ":54833", server: s,
				legs: []legWant{{to: s, req: []int{1}, resp: []int{2}}}}}},
		// Empty tokens, requests one after another from one port.
		{file: "test_dumps_coap_core_TD_COAP_CORE_02_PASS_MULTIPLETIMES.pcap", more: func(t *testing.T, res *result) {
			if len(res.xs) != 10 {
				t.Fatalf("%d exchanges, want 10", len(res.xs))
			}
			for i, x := range res.xs {
				if x.Method != "DELETE" || x.Status != Complete || x.Code != "2.02" || !slices.Equal(x.Frames, []int{2*i + 1, 2*i + 2}) {
					t.Errorf("%s: %s %s %s %v", x.ID, x.Method, x.Code, x.Status, x.Frames)
				}
			}
		}},
		// NON request, NON response with a Message ID of its own.
		{file: "test_dumps_coap_core_TD_COAP_CORE_05_PASS.pcap", want: []xWant{
			{id: "X1", method: "GET", code: "2.05", status: Complete, client: c + ":51934", server: s,
				legs: []legWant{{to: s, req: []int{1}, resp: []int{2}}}}}},
		// Separate response: empty ACK, CON response, the client's ACK.
		{file: "test_dumps_coap_core_TD_COAP_CORE_09_PASS.pcap", want: []xWant{
			{id: "X1", method: "GET", uri: "coap://127.0.0.1/separate", code: "2.05", status: Complete, client: c + ":37708", server: s,
				legs: []legWant{{to: s, req: []int{1}, resp: []int{3}, other: []int{2, 4}}}}}},
		{file: "test_dumps_coap_core_TD_COAP_CORE_14_PASS.pcap", want: []xWant{
			{id: "X1", method: "GET", uri: "coap://127.0.0.1/query?first=1&second=2&third=3", code: "2.05", status: Complete, client: c + ":52762", server: s,
				legs: []legWant{{to: s, req: []int{1}, resp: []int{2}}}}}},
		// CoAP ping: empty CON answered by RST.
		{file: "test_dumps_coap_core_TD_COAP_CORE_31_PASS.pcap", want: []xWant{
			{id: "X1", method: "PING", status: Complete, client: c + ":41270", server: s,
				legs: []legWant{{to: s, req: []int{1}, resp: []int{2}}}}}},
		{file: "test_dumps_coap_observe_TD_COAP_OBS_01_PASS_With_Mixed_TCP.pcap", want: []xWant{
			{id: "X1", method: "GET", uri: "coap://127.0.0.1/obs", code: "2.05", status: Observing, client: c + ":42835", server: s, notifications: 7,
				legs: []legWant{{to: s, req: []int{5}, resp: []int{6, 11, 21, 31, 41, 51, 61, 71}, other: []int{20, 30, 40, 50, 60, 70, 80}, notifications: 7}}}},
			obs: map[string]ObserveInfo{"X1": {Established: true, FirstSeq: 5, LastSeq: 12}}},
		// Reregistration with the same token, retransmitted twice
		// (frames 15 and 17); the server restarted its sequence numbers,
		// which the response to the reregistration is allowed to do.
		{file: "test_dumps_coap_observe_TD_COAP_OBS_04_PASS.pcap", want: []xWant{
			{id: "X1", method: "GET", code: "2.05", status: Observing, client: c + ":49936", server: s, notifications: 11,
				legs: []legWant{{to: s, req: []int{1, 13, 15, 17}, resp: []int{2, 3, 5, 7, 9, 11, 18, 19, 21, 23, 25, 27},
					other: []int{4, 6, 8, 10, 12, 20, 22, 24, 26, 28}, notifications: 11, retrans: 2}}}},
			obs: map[string]ObserveInfo{"X1": {Established: true, FirstSeq: 13, LastSeq: 6, Reregistrations: 1}}},
		// A CON notification retransmitted (frame 15 repeats 13).
		{file: "test_dumps_coap_observe_TD_COAP_OBS_05_PASS.pcap", more: func(t *testing.T, res *result) {
			x := res.byID["X1"]
			if len(res.xs) != 1 || x.Notifications != 9 || x.Legs[0].ResponseRetransmissions != 1 || x.Status != Observing {
				t.Errorf("got:\n%s", dump(res.xs))
			}
		}},
		// The client ACKs every notification twice.
		{file: "test_dumps_coap_observe_TD_COAP_OBS_05_PASS_Duplicated_ACK.pcap", more: func(t *testing.T, res *result) {
			if res.stats.DuplicateACKs != 5 || len(res.xs) != 1 {
				t.Errorf("duplicate ACKs %d, want 5; got:\n%s", res.stats.DuplicateACKs, dump(res.xs))
			}
		}},
		// Deregistration by RST to a notification.
		{file: "test_dumps_coap_observe_TD_COAP_OBS_06_PASS.pcap", want: []xWant{
			{id: "X1", method: "GET", code: "2.05", status: Observing, client: c + ":46345", server: s, notifications: 8,
				legs: []legWant{{to: s, req: []int{1}, resp: []int{2, 3, 5, 7, 9, 11, 12, 13, 14}, other: []int{4, 6, 8, 10, 15}, notifications: 8, rejected: 1}}}},
			obs: map[string]ObserveInfo{"X1": {Established: true, FirstSeq: 66, LastSeq: 74, Ended: "reset", EndFrame: 15}}},
		// A plain GET with another token in the middle of an observation.
		{file: "test_dumps_coap_observe_TD_COAP_OBS_10_PASS_Get_different_tokens.pcap", want: []xWant{
			{id: "X1", method: "GET", code: "2.05", status: Observing, client: c + ":44668", server: s, notifications: 9,
				legs: []legWant{{to: s, req: []int{1}, resp: []int{2, 3, 5, 7, 9, 11, 15, 17, 19, 21}, other: []int{4, 6, 8, 10, 12, 16, 18, 20, 22}, notifications: 9}}},
			{id: "X2", method: "GET", code: "2.05", status: Complete, client: c + ":44668", server: s,
				legs: []legWant{{to: s, req: []int{13}, resp: []int{14}}}}}},
		// The resource is deleted: a 4.04 notification without Observe
		// ends the observation; the DELETE came from another port.
		{file: "test_dumps_coap_observe_TD_COAP_OBS_07_PASS_With_202_Deleted_delayed.pcap", want: []xWant{
			// The registration's code; the last notification's is
			// Observe.LastCode.
			{id: "X1", method: "GET", code: "2.05", status: Observing, client: c + ":36635", server: s, notifications: 3,
				legs: []legWant{{to: s, req: []int{1}, resp: []int{2, 3, 5, 8}, other: []int{4, 6, 9}, notifications: 3}}},
			{id: "X2", method: "DELETE", code: "2.02", status: Complete, client: c + ":33847", server: s,
				legs: []legWant{{to: s, req: []int{7}, resp: []int{10}}}}},
			obs: map[string]ObserveInfo{"X1": {Established: true, FirstSeq: 32, LastSeq: 34, Ended: "final", EndFrame: 8}},
			more: func(t *testing.T, res *result) {
				// The DELETE caused the final 4.04 notification.
				x1, x2 := res.byID["X1"], res.byID["X2"]
				if x1.Observe.LastCode != "4.04" ||
					!slices.Equal(x1.Links, []Link{{Kind: LinkEndedBy, Exchange: "X2", Frame: 8}}) ||
					!slices.Equal(x2.Links, []Link{{Kind: LinkEnds, Exchange: "X1", Frame: 8, Peer: x1.Client}}) {
					t.Errorf("last code %q, links %+v / %+v", x1.Observe.LastCode, x1.Links, x2.Links)
				}
			}},
		// Observation with an empty token; a POST from another client
		// changes the value, and the next notification carries it.
		{file: "test_dumps_coap_observe_TD_COAP_OBS_09_PASS_Zero_length_token.pcap", more: func(t *testing.T, res *result) {
			x1, x2 := res.byID["X1"], res.byID["X2"]
			if len(res.xs) != 2 || x1.Status != Observing || x1.Notifications != 6 || x2.Method != "POST" ||
				x1.Role != RoleData || x1.RoleEvidence != EvidenceBehaviour ||
				!slices.Equal(x1.Links, []Link{{Kind: "published-by", Exchange: "X2", Frame: 11, Peer: x2.Client}}) ||
				!slices.Equal(x2.Links, []Link{{Kind: "delivered-to", Exchange: "X1", Frame: 11, Peer: x1.Client}}) {
				t.Errorf("got:\n%s", dump(res.xs))
			}
		}},
		{file: "test_dumps_coap_block_TD_COAP_BLOCK_01_PASS.pcap", want: []xWant{
			{id: "X1", method: "GET", uri: "coap://127.0.0.1/large", code: "2.05", status: Complete, client: c + ":57068", server: s,
				legs: []legWant{{to: s, req: seq(1, 39, 2), resp: seq(2, 40, 2)}}}},
			blk: map[string]BlockInfo{"X1": {Option: "block2", Blocks: 20, Complete: true, Bytes: 1280}}},
		// The server answers with a larger block than asked; the client
		// goes on from the right offset (block 2 of 64 bytes).
		{file: "test_dumps_coap_block_TD_COAP_BLOCK_01_FAIL_BAD_SZX_From_Server.pcap",
			blk: map[string]BlockInfo{"X1": {Option: "block2", Blocks: 19, Complete: true, Bytes: 1280, Size2: 1280}}},
		// The last block never comes.
		{file: "test_dumps_coap_block_TD_COAP_BLOCK_02_INCONCLUSIVE_No_Last_Block.pcap", want: []xWant{
			{id: "X1", method: "GET", code: "2.05", status: Incomplete, client: c + ":38125", server: s,
				legs: []legWant{{to: s, req: seq(1, 37, 2), resp: seq(2, 38, 2)}}}},
			blk: map[string]BlockInfo{"X1": {Option: "block2", Blocks: 19, Complete: false, Bytes: 1216}}},
		{file: "test_dumps_coap_block_TD_COAP_BLOCK_03_PASS.pcap",
			blk: map[string]BlockInfo{"X1": {Option: "block1", Blocks: 20, Complete: true, Bytes: 1280, Size1: 1280}}},
		// A Block1 POST, then a Block2 GET of the created resource.
		{file: "test_dumps_coap_block_TD_COAP_BLOCK_04_PASS.pcap", want: []xWant{
			{id: "X1", method: "POST", uri: "coap://127.0.0.1/large-create", code: "2.01", status: Complete, client: c + ":44866", server: s,
				legs: []legWant{{to: s, req: seq(1, 39, 2), resp: seq(2, 40, 2)}}},
			{id: "X2", method: "GET", uri: "coap://127.0.0.1/large-create/2", code: "2.05", status: Complete, client: c + ":44866", server: s,
				legs: []legWant{{to: s, req: seq(41, 79, 2), resp: seq(42, 80, 2)}}}},
			blk: map[string]BlockInfo{
				"X1": {Option: "block1", Blocks: 20, Complete: true, Bytes: 1280, Size1: 1280},
				"X2": {Option: "block2", Blocks: 20, Complete: true, Bytes: 1280}}},
		// Block1 request body, Block2 response body, one token.
		{file: "test_dumps_coap_block_TD_COAP_BLOCK_05_PASS.pcap",
			blk: map[string]BlockInfo{"X1": {Option: "block1+block2", Blocks: 40, Complete: true, Bytes: 2560, Size1: 1280}}},
		{file: "test_dumps_coap_block_TD_COAP_BLOCK_06_PASS.pcap",
			blk: map[string]BlockInfo{"X1": {Option: "block2", Blocks: 80, Complete: true, Bytes: 1280}}},
	}
	for _, tc := range cases {
		t.Run(tc.file, func(t *testing.T) {
			res := analyze(t, filepath.Join("public", "ttproto", tc.file), Config{})
			checkInvariants(t, res)
			if tc.want != nil && len(res.xs) != len(tc.want) {
				t.Errorf("%d exchanges, want %d", len(res.xs), len(tc.want))
			}
			for _, w := range tc.want {
				checkExchange(t, res.byID[w.id], w)
			}
			for id, w := range tc.obs {
				x := res.byID[id]
				if x == nil || x.Observe == nil {
					t.Errorf("%s: no observation, want %+v", id, w)
					continue
				}
				// The acknowledgement and last-code fields are checked by
				// the broker tests.
				got := *x.Observe
				got.LastCode, got.Unacknowledged, got.UnacknowledgedMore, got.Vanished = "", nil, 0, false
				if !reflect.DeepEqual(got, w) {
					t.Errorf("%s observe %+v, want %+v", id, got, w)
				}
			}
			for id, w := range tc.blk {
				if x := res.byID[id]; x == nil || x.Block == nil || *x.Block != w {
					t.Errorf("%s block %+v, want %+v", id, x.Block, w)
				}
			}
			if tc.more != nil {
				tc.more(t, res)
			}
			if t.Failed() {
				t.Logf("got:\n%s", dump(res.xs))
			}
		})
	}
}

// TestTTProtoAll runs every CoAP capture of the interop suite through the
// invariants.
func TestTTProtoAll(t *testing.T) {
	dir := filepath.Join(capturesDir(t), "public", "ttproto")
	names, err := filepath.Glob(filepath.Join(dir, "*.pcap"))
	if err != nil || len(names) == 0 {
		t.Fatalf("no captures in %s: %v", dir, err)
	}
	for _, n := range names {
		t.Run(filepath.Base(n), func(t *testing.T) {
			checkInvariants(t, analyze(t, filepath.Join("public", "ttproto", filepath.Base(n)), Config{}))
		})
	}
}

func TestFuzzCoAPConversation(t *testing.T) {
	res := analyze(t, filepath.Join("public", "fuzzcoap-conversation.pcapng"), Config{})
	checkInvariants(t, res)
	if len(res.xs) != 59 {
		t.Fatalf("%d exchanges, want 59:\n%s", len(res.xs), dump(res.xs))
	}
	const c, s = "127.0.0.1:49661", "127.0.0.1:5683"
	for _, w := range []xWant{
		{id: "X1", method: "PING", status: Complete, client: c, server: s, legs: []legWant{{to: s, req: []int{1}, resp: []int{2}}}},
		{id: "X10", method: "GET", uri: "coap://127.0.0.1/separate", code: "2.05", status: Complete, client: c, server: s,
			legs: []legWant{{to: s, req: []int{19}, resp: []int{21}, other: []int{20, 22}}}},
		// NON request, separate NON response a second later.
		{id: "X14", method: "GET", uri: "coap://127.0.0.1/separate", code: "2.05", status: Complete, client: c, server: s,
			legs: []legWant{{to: s, req: []int{29}, resp: []int{30}}}},
		{id: "X11", method: "GET", uri: "coap://127.0.0.1/test", code: "2.05", status: Complete, client: c, server: s,
			legs: []legWant{{to: s, req: []int{23}, resp: []int{24}}}},
		{id: "X37", method: "GET", uri: "coap://127.0.0.1/obs", code: "2.05", status: Observing, client: c, server: s, notifications: 2,
			legs: []legWant{{to: s, req: []int{499}, resp: []int{500, 501, 503}, other: []int{502, 504}, notifications: 2, rejected: 1}}},
		// The deregistration (GET, Observe=1) is retransmitted after its
		// response (frame 514 repeats 510).
		{id: "X39", method: "GET", uri: "coap://127.0.0.1/obs-non", code: "2.05", status: Complete, client: c, server: s,
			legs: []legWant{{to: s, req: []int{510, 514}, resp: []int{511, 515}, retrans: 1}}},
		// Observe with Block2 notifications: each representation's later
		// blocks come with tokens of their own, as legs of the
		// observation.
		{id: "X43", method: "GET", uri: "coap://127.0.0.1/obs-large", code: "2.05", status: Observing, client: c, server: s, notifications: 2,
			legs: []legWant{
				{to: s, req: []int{526}, resp: []int{527, 534, 540}, other: []int{535, 541}, notifications: 2},
				{to: s, req: []int{528, 530}, resp: []int{529, 531}},
				{to: s, req: []int{536, 538}, resp: []int{537, 539}},
				{to: s, req: []int{542, 544}, resp: []int{543, 545}},
			}},
	} {
		checkExchange(t, res.byID[w.id], w)
	}
	if o := res.byID["X37"].Observe; o == nil || o.Ended != "reset" || o.EndFrame != 504 {
		t.Errorf("X37 observe %+v", o)
	}
	if o := res.byID["X43"].Observe; o == nil || o.Ended != "deregistered" || o.EndFrame != 546 {
		t.Errorf("X43 observe %+v", o)
	}
	if b := res.byID["X43"].Block; b == nil || *b != (BlockInfo{Option: "block2", Blocks: 3, Complete: true, Bytes: 162, Size2: 162}) {
		t.Errorf("X43 block %+v", b)
	}
	if t.Failed() {
		t.Logf("got:\n%s", dump(res.xs))
	}
}

// TestLeshanNotificationStreams: an LwM2M device keeps notifying six
// observations registered before the capture started (8,543 Observe
// notifications in all, per the capture's description), while the server
// writes to it and it updates its registration. Each stream is one
// unmatched exchange.
func TestLeshanNotificationStreams(t *testing.T) {
	res := analyze(t, filepath.Join("public", "microschc-leshan-thermostat-readings.pcapng"), Config{})
	checkInvariants(t, res)
	server, device := ap("[2001:db8:a::20]:5683"), ap("[2001:db8:a::3]:37024")
	streams, responses, writes, updates := 0, 0, 0, 0
	for _, x := range res.xs {
		switch x.Status {
		case Unmatched:
			streams++
			responses += x.Notifications + 1
			if x.Client != server || x.Server != device || x.Observe == nil || !x.Observe.Established {
				t.Errorf("%s: %v -> %v observe %+v", x.ID, x.Client, x.Server, x.Observe)
			}
		case Complete:
			switch {
			case x.Client == server && (x.Method == "POST" || x.Method == "PUT"):
				writes++
			case x.Client == device && x.Method == "POST":
				updates++ // registration updates
			default:
				t.Errorf("%s: %s from %v", x.ID, x.Method, x.Client)
			}
		default:
			t.Errorf("%s: status %s", x.ID, x.Status)
		}
	}
	// tshark: 8270 NON and 273 CON 2.05 from the device; 380 POST and 101
	// PUT from the server; 111 POST from the device.
	if streams != 6 || responses != 8543 || writes != 481 || updates != 111 {
		t.Errorf("%d streams with %d responses, %d writes, %d updates; want 6, 8543, 481, 111", streams, responses, writes, updates)
	}
}
