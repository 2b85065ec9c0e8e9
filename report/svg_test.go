package report

import (
	"encoding/xml"
	"errors"
	"html/template"
	"io"
	"net/netip"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/coapaudit/coapaudit/flows"
	"github.com/coapaudit/coapaudit/leaks"
)

// parseSVG checks that s is one well-formed <svg> element and returns
// the names of the elements in it.
func parseSVG(t *testing.T, s template.HTML) map[string]int {
	t.Helper()
	d := xml.NewDecoder(strings.NewReader(string(s)))
	d.Strict = true
	names := map[string]int{}
	depth, roots := 0, 0
	for {
		tok, err := d.Token()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatalf("not well-formed XML: %v\n%s", err, s)
		}
		switch tok := tok.(type) {
		case xml.StartElement:
			if depth == 0 {
				roots++
				if tok.Name.Local != "svg" {
					t.Fatalf("root element %q, want svg", tok.Name.Local)
				}
			}
			depth++
			names[tok.Name.Local]++
		case xml.EndElement:
			depth--
		}
	}
	if roots != 1 || depth != 0 {
		t.Fatalf("%d root elements, depth %d at the end", roots, depth)
	}
	return names
}

const hostile = `<script>alert("x")</script> & 'q'`

func TestSizePlotXML(t *testing.T) {
	rows := []sizeRow{
		{label: hostile, v: []float64{10, 10, 12, 40}, seen: 9},
		{label: hostile, response: true, v: []float64{100}},
		{label: "empty", v: nil},
	}
	s := sizePlot(rows)
	n := parseSVG(t, s)
	// 3 distinct request sizes + 1 response size, plus 2 legend dots.
	if n["circle"] != 6 {
		t.Errorf("%d circles, want 6", n["circle"])
	}
	if strings.Contains(string(s), "<script") {
		t.Error("label not escaped")
	}
}

func TestResidencePlotMarksOutliers(t *testing.T) {
	var samples []residenceSample
	for i := range 20 {
		samples = append(samples, residenceSample{at: time.Duration(i) * time.Second, seconds: 100e-6 + float64(i%3)*10e-6, exchange: "X"})
	}
	samples = append(samples, residenceSample{at: 21 * time.Second, seconds: 2, exchange: hostile})
	s, outliers := residencePlot(netip.MustParseAddrPort("10.0.0.1:5683"), samples, 40)
	if outliers != 1 {
		t.Errorf("%d outliers, want 1", outliers)
	}
	n := parseSVG(t, s)
	if !strings.Contains(string(s), `class="outlier"`) {
		t.Error("outlier not marked")
	}
	if n["circle"] < 21 {
		t.Errorf("%d circles, want a dot per sample", n["circle"])
	}
	if strings.Contains(string(s), "<script") {
		t.Error("exchange not escaped")
	}
	// No samples still gives a valid element.
	s, _ = residencePlot(netip.AddrPort{}, nil, 0)
	parseSVG(t, s)
}

func TestTopologyXML(t *testing.T) {
	b := New(Options{})
	c := netip.MustParseAddrPort("10.0.0.1:40000")
	p := netip.MustParseAddrPort("10.0.0.2:5683")
	srv := netip.MustParseAddrPort("10.0.0.3:5683")
	for i := range 30 {
		prot := []string{"oscore", "dtls", "none"}[i%3]
		client := netip.AddrPortFrom(netip.AddrFrom4([4]byte{10, 1, byte(i), 1}), 40000)
		if i == 0 {
			client = c
		}
		b.AddExchange(&flows.Exchange{ID: "X", Client: client, Proxy: p, Server: srv, Protected: prot})
	}
	s := topologySVG(b.nodes, b.edges, 12)
	n := parseSVG(t, s)
	// 12 client boxes (11 and "others"), one proxy, one server.
	if n["rect"] < 14 {
		t.Errorf("%d rects, want at least 14 node boxes", n["rect"])
	}
	for _, want := range []string{"OSCORE end-to-end", "DTLS hop-by-hop only", "no protection", "19 others"} {
		if !strings.Contains(string(s), want) {
			t.Errorf("topology lacks %q", want)
		}
	}
}

func TestSequenceChartXML(t *testing.T) {
	c := netip.MustParseAddrPort("10.0.0.1:40000")
	p := netip.MustParseAddrPort("10.0.0.2:5683")
	srv := netip.MustParseAddrPort("10.0.0.3:5683")
	x := &flows.Exchange{ID: "X1", Method: "GET", URI: "coap://h/" + hostile, Client: c, Proxy: p, Server: srv,
		Legs: []flows.Leg{
			{From: c, To: p, RequestFrames: []int{1}, ResponseFrames: []int{4, 5}, Code: "2.05"},
			{From: p, To: srv, RequestFrames: []int{2}, ResponseFrames: []int{3}, Code: "2.05"},
		}}
	s := sequenceChart(&chart{x: x, evidence: map[int]bool{5: true}})
	n := parseSVG(t, s)
	if n["polygon"] != 5 {
		t.Errorf("%d arrows, want 5", n["polygon"])
	}
	if strings.Count(string(s), colOutlier) != 3 { // line, head and label of frame 5
		t.Errorf("evidence frame not drawn red once: %d", strings.Count(string(s), colOutlier))
	}
	if strings.Contains(string(s), "<script") {
		t.Error("URI not escaped")
	}
}

func TestNiceTicks(t *testing.T) {
	for _, c := range []struct{ lo, hi float64 }{{0, 1}, {0, 1054}, {0, 7.3}, {0, 0.002}} {
		ts := niceTicks(c.lo, c.hi, 8)
		if len(ts) < 2 || ts[0] > c.lo || ts[len(ts)-1] < c.hi {
			t.Errorf("niceTicks(%v, %v) = %v: does not cover", c.lo, c.hi, ts)
		}
		if len(ts) > 12 {
			t.Errorf("niceTicks(%v, %v): %d ticks", c.lo, c.hi, len(ts))
		}
	}
}

// TestResidenceZAgreesWithLeaks checks that the residence plot marks
// the outliers the leak analysis flags, with its z-scores: where the MAD
// is 0 both fall back to the mean absolute deviation instead of calling
// every value off the median infinitely far.
func TestResidenceZAgreesWithLeaks(t *testing.T) {
	for _, c := range []struct {
		ms   []float64
		want int
	}{
		{[]float64{1, 1, 1, 1, 2, 2}, 0}, // MAD 0: z 2.4 by the mean AD
		{[]float64{1, 1, 1, 1, 1, 9}, 1}, // MAD 0: z 38 by the mean AD
		{[]float64{1, 2, 3, 4, 100}, 1},  // z 65
		{[]float64{1, 1.1, 0.9, 1, 1.2}, 0},
	} {
		var samples []residenceSample
		secs := make([]float64, len(c.ms))
		for i, v := range c.ms {
			secs[i] = v / 1000
			samples = append(samples, residenceSample{at: time.Duration(i) * time.Second, seconds: secs[i], exchange: "X" + strconv.Itoa(i+1)})
		}
		_, got := residencePlot(netip.MustParseAddrPort("192.0.2.1:5683"), samples, len(samples))
		if want := len(leaks.DelayStats(nil, secs).Outliers); got != want || got != c.want {
			t.Errorf("%v ms: plot marks %d outliers, leaks flags %d, want %d", c.ms, got, want, c.want)
		}
	}
}
