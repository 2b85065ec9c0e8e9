package collect

import (
	"errors"
	"math"
	"net/netip"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/coapaudit/coapaudit/flows"
	"github.com/coapaudit/coapaudit/leaks"
)

var (
	client = netip.MustParseAddrPort("10.0.0.1:40000")
	proxy  = netip.MustParseAddrPort("10.0.0.2:5683")
	pout   = netip.MustParseAddrPort("10.0.0.2:41000")
	server = netip.MustParseAddrPort("10.0.0.3:5683")
)

// synthetic returns n plaintext exchanges through one proxy, four frames
// each: GET /a (request 20 bytes) and PUT /a (40 bytes) alternate, both
// with 30-byte responses. The proxy holds every request 1 ms plus up to
// 0.1 ms, except exchange slow, which it holds 500 ms.
func synthetic(n, slow int) []*flows.Exchange {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	var xs []*flows.Exchange
	for i := 1; i <= n; i++ {
		method, req := "GET", 20
		if i%2 == 0 {
			method, req = "PUT", 40
		}
		hold := time.Millisecond + time.Duration(i%11)*10*time.Microsecond
		if i == slow {
			hold = 500 * time.Millisecond
		}
		start := t0.Add(time.Duration(i) * 10 * time.Millisecond)
		f := 4*i - 3
		fwd := start.Add(hold)
		back := fwd.Add(2 * time.Millisecond)
		end := back.Add(200 * time.Microsecond)
		xs = append(xs, &flows.Exchange{
			ID: "X" + strconv.Itoa(i), Client: client, Server: server, Proxy: proxy,
			Method: method, URI: "coap://10.0.0.3/a", Code: "2.04", Protected: "none", Status: flows.Complete,
			Legs: []flows.Leg{
				{From: client, To: proxy, RequestFrames: []int{f}, ResponseFrames: []int{f + 3},
					RequestTime: start, ResponseTime: end, RequestSize: req + 10, ResponseSize: 30, Requests: 1, Responses: 1},
				{From: pout, To: server, RequestFrames: []int{f + 1}, ResponseFrames: []int{f + 2},
					RequestTime: fwd, ResponseTime: back, RequestSize: req, ResponseSize: 30, Requests: 1, Responses: 1},
			},
			Frames: []int{f, f + 1, f + 2, f + 3},
			Start:  start, End: end,
			RTT: flows.Duration{D: end.Sub(start), Valid: true},
			Residence: []flows.Residence{{Proxy: proxy,
				Request:  flows.Duration{D: hold, Valid: true},
				Response: flows.Duration{D: end.Sub(back), Valid: true}, Relayed: true}},
		})
	}
	return xs
}

func feed(c *Collector, xs []*flows.Exchange) *Report {
	for _, x := range xs {
		c.Exchange(x)
	}
	return c.Report()
}

func pick(t *testing.T, ls []leaks.Leak, metric, scope, obs, label, view string) leaks.Leak {
	t.Helper()
	var got []leaks.Leak
	for _, l := range ls {
		if l.Metric == metric && l.Scope == scope && l.Observable == obs && l.Label == label && l.View == view {
			got = append(got, l)
		}
	}
	if len(got) != 1 {
		t.Fatalf("%s %s %s %s %s: %d records", metric, scope, obs, label, view, len(got))
	}
	return got[0]
}

// TestSynthetic checks the collector end to end on exchanges whose
// answers are known: the request size is a function of the label (the
// mutual information is H(X) = 1 bit), the response size is the same for
// both (0 bits), and one request was held far longer than the others.
// 5000 exchanges fill several batches, so the worker goroutine runs.
func TestSynthetic(t *testing.T) {
	const n, slow = 5000, 1234
	r := feed(New(Config{}), synthetic(n, slow))
	if r.Exchanges != n || r.Labelled != n || r.Plaintext != n {
		t.Errorf("exchanges %d labelled %d plaintext %d", r.Exchanges, r.Labelled, r.Plaintext)
	}
	req := pick(t, r.Leaks, leaks.MetricMutualInformation, ScopeAll, ObsRequestSize, LabelResource, ViewWire)
	// A function of the label: the corrected estimate is the corrected
	// H(X), 1 bit plus the Miller-Madow term.
	if req.Value != req.Extra["h_x"] || math.Abs(req.Value-1) > 1e-3 || req.N != n || req.CI.Lo > 1 || req.CI.Hi < 1 || req.Extra["p_value"].(float64) > 0.01 {
		t.Errorf("request size: %+v %+v", req, req.CI)
	}
	resp := pick(t, r.Leaks, leaks.MetricMutualInformation, ScopeAll, ObsResponseSize, LabelResource, ViewWire)
	if resp.Value != 0 || resp.CI.Lo != 0 {
		t.Errorf("response size: %+v", resp)
	}
	bv := pick(t, r.Leaks, leaks.MetricBayesVulnerability, ScopeAll, ObsRequestSize, LabelResource, ViewWire)
	if bv.Value != 1 || *bv.Baseline != 0.5 {
		t.Errorf("Bayes vulnerability %+v", bv)
	}
	// GET and PUT of one resource: the per-resource scope.
	sub := pick(t, r.Leaks, leaks.MetricMutualInformation, "/a", ObsRequestSize, LabelResource, ViewWire)
	if sub.Value != sub.Extra["h_x"] {
		t.Errorf("/a: %+v", sub)
	}
	var req2 []DelayOutlier
	for _, o := range r.Outliers {
		if o.Direction == "request" {
			req2 = append(req2, o)
		}
	}
	f := 4*slow - 3
	if len(req2) != 1 || req2[0].Exchange != "X"+strconv.Itoa(slow) || !reflect.DeepEqual(req2[0].Frames, []int{f, f + 1}) ||
		req2[0].Seconds != 0.5 || req2[0].Proxy != proxy {
		t.Errorf("request outliers %+v", req2)
	}
	d := pick(t, r.Leaks, leaks.MetricProxyDelay, proxy.String(), ObsRequestResidence, "", "")
	if d.N != n || math.Abs(d.Value-0.00105) > 0.0001 {
		t.Errorf("proxy_delay %+v", d)
	}
	// Requests leave the proxy 1 ms after they arrive and 10 ms apart:
	// an observer who knows the delays links every one.
	link := pick(t, r.Leaks, leaks.MetricLinkability, proxy.String(), ObsRequests, "", "")
	if link.Extra["method"] != "timing-size" || link.Extra["top1_accuracy"].(float64) < 0.99 || link.N+link.Extra["not_scored"].(int) != n {
		t.Errorf("linkability %+v", link)
	}
	var said bool
	for _, v := range r.Verdicts {
		said = said || strings.Contains(v, "X1234 (frames 4933, 4934) was held 500 ms")
	}
	if !said {
		t.Errorf("verdicts %q", r.Verdicts)
	}
}

// TestBatchesDoNotMatter: the records do not depend on how exchanges are
// split into batches, nor on the flush of the pending counts.
func TestBatchesDoNotMatter(t *testing.T) {
	xs := synthetic(3000, 17)
	a := feed(New(Config{}), xs)
	c := New(Config{})
	for i, x := range xs {
		c.Exchange(x)
		if i%700 == 0 {
			c.flushPendingForTest()
		}
	}
	b := c.Report()
	if !reflect.DeepEqual(a, b) {
		t.Error("reports differ")
	}
}

// flushPendingForTest hands the current batch over and flushes the
// pending counts, as a full batch and a full pending table would.
func (c *Collector) flushPendingForTest() {
	c.handoff()
	c.pipe.busy.Wait()
	c.flush()
}

// TestReportTwice: Report can be called again after more exchanges.
func TestReportTwice(t *testing.T) {
	xs := synthetic(2000, 0)
	c := New(Config{})
	first := feed(c, xs[:1000])
	second := feed(c, xs[1000:])
	if first.Exchanges != 1000 || second.Exchanges != 2000 {
		t.Errorf("exchanges %d, %d", first.Exchanges, second.Exchanges)
	}
	all := feed(New(Config{}), xs)
	if !reflect.DeepEqual(second.Leaks, all.Leaks) {
		t.Error("a second report differs from one over all exchanges")
	}
}

// TestLabelsFile: labels from a file replace the resources; exchanges it
// does not name have none.
func TestLabelsFile(t *testing.T) {
	var b strings.Builder
	b.WriteString("id,label\n")
	for i := 1; i <= 400; i++ {
		l := "open"
		if i%4 == 0 { // every other PUT
			l = "closed"
		}
		if i%2 == 0 {
			b.WriteString("X" + strconv.Itoa(i) + "," + l + "\n")
		}
	}
	labels, err := ReadLabels(strings.NewReader(b.String()))
	if err != nil {
		t.Fatal(err)
	}
	r := feed(New(Config{Labels: labels}), synthetic(400, 0))
	if r.Labelled != 200 || r.Plaintext != 200 {
		t.Errorf("labelled %d, plaintext %d", r.Labelled, r.Plaintext)
	}
	// Every labelled exchange is a PUT of the same size: nothing leaks.
	mi := pick(t, r.Leaks, leaks.MetricMutualInformation, ScopeAll, ObsRequestSize, LabelFile, ViewWire)
	if mi.Value != 0 || mi.N != 200 {
		t.Errorf("%+v", mi)
	}
	for _, l := range r.Leaks {
		if l.Label == LabelResource || l.Scope == "/a" {
			t.Fatalf("resource record with a labels file: %+v", l)
		}
	}
}

// TestCaps: labels beyond the cap are counted as dropped, and proxies
// beyond theirs are left out.
func TestCaps(t *testing.T) {
	xs := synthetic(100, 0)
	for i, x := range xs {
		x.URI = "coap://10.0.0.3/r" + strconv.Itoa(i)
		if i >= 50 {
			x.Residence[0].Proxy = netip.AddrPortFrom(proxy.Addr(), uint16(6000+i))
		}
	}
	r := feed(New(Config{Limits: leaks.Limits{MaxLabels: 10}, MaxProxies: 2}), xs)
	if r.Dropped == 0 {
		t.Error("nothing dropped beyond the label cap")
	}
	proxies := map[string]bool{}
	for _, l := range r.Leaks {
		if l.Metric == leaks.MetricProxyDelay {
			proxies[strings.Fields(l.Scope)[0]] = true
		}
	}
	if len(proxies) != 2 {
		t.Errorf("proxies %v", proxies)
	}
}

func TestResourcePath(t *testing.T) {
	for in, want := range map[string]string{
		"coap://127.0.0.22/sensors/temp":     "/sensors/temp",
		"coap://[::1]:5683/a/b?x=1":          "/a/b",
		"coaps://example.com":                "/",
		"/rel/path#frag":                     "/rel/path",
		"":                                   "/",
		"coap+tcp://h/.well-known/core?rt=x": "/.well-known/core",
	} {
		if got := ResourcePath(in); got != want {
			t.Errorf("ResourcePath(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestReadLabels(t *testing.T) {
	l, err := ReadLabels(strings.NewReader("# labels\nid,label\nX12, valve open\n57,valve closed\n"))
	if err != nil {
		t.Fatal(err)
	}
	if l.Len() != 2 || l.lookup("X12", nil) != "valve open" || l.lookup("X9", []int{56, 57}) != "valve closed" || l.lookup("X9", []int{1}) != "" {
		t.Errorf("labels %+v", l)
	}
	// An exchange id wins over a frame.
	if l.lookup("X12", []int{57}) != "valve open" {
		t.Error("frame label won over the exchange's")
	}
	for in, want := range map[string]struct {
		err  error
		line int
	}{
		"X1,a\nX1,b\n":   {ErrDuplicateLabel, 2},
		"X1,a\n\n7,\n":   {ErrEmptyLabel, 3},
		"X1,a\nY2,b\n":   {ErrLabelID, 2},
		"0,a\n":          {ErrLabelID, 1},
		"X-1,a\n":        {ErrLabelID, 1},
		"+5,a\n":         {ErrLabelID, 1},
		"X1,a\nX2,b,c\n": {nil, 2},
	} {
		_, err := ReadLabels(strings.NewReader(in))
		var le *LabelsError
		if !errors.As(err, &le) || le.Line != want.line || (want.err != nil && !errors.Is(err, want.err)) {
			t.Errorf("%q: error %v, want line %d %v", in, err, want.line, want.err)
		}
	}
}

// FuzzReadLabels: any input either fails with a line number or gives
// labels that are all found again by their ids.
func FuzzReadLabels(f *testing.F) {
	f.Add("id,label\nX12,valve open\n57,valve closed\n")
	f.Add("# c\nX1,\"a,b\"\n")
	f.Add("X1,a\nX1,b\n")
	f.Fuzz(func(t *testing.T, in string) {
		l, err := ReadLabels(strings.NewReader(in))
		if err != nil {
			var le *LabelsError
			if errors.As(err, &le) && le.Line < 1 {
				t.Errorf("error without a line: %v", err)
			}
			return
		}
		for id, label := range l.byExchange {
			if label == "" || l.lookup(id, nil) != label {
				t.Errorf("exchange %q: %q", id, label)
			}
		}
		for f, label := range l.byFrame {
			if label == "" || f < 1 || l.lookup("", []int{f}) != label {
				t.Errorf("frame %d: %q", f, label)
			}
		}
	})
}
