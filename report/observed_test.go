package report

import (
	"regexp"
	"strings"
	"testing"

	"github.com/coapaudit/coapaudit/flows"
	"github.com/coapaudit/coapaudit/rules"
)

// TestTopologyShowsWhatWasObserved checks that the topology colours a
// proxy by what the capture proves and a hop by whether OSCORE verified:
// a proxy with proven findings is red, whichever comes first, the
// finding or its exchange, and a forged response is not drawn as
// "OSCORE end-to-end".
func TestTopologyShowsWhatWasObserved(t *testing.T) {
	b := New(Options{})
	// A proven finding before its exchange, one after, and a "could" one
	// that proves nothing.
	b.AddFinding(&rules.Finding{ID: "F1", Rule: "spoofed-response", Severity: rules.High, Certainty: rules.Did, Exchange: "X2", Frames: []int{5}})
	for i := range 3 {
		x := synth(i, 1, 2)
		if i == 1 {
			x.OSCORE = &flows.OSCORESummary{RequestVerified: "yes", ResponseVerified: "no"}
		}
		b.AddExchange(x)
	}
	b.AddFinding(&rules.Finding{ID: "F2", Rule: "proxy-delay", Severity: rules.Medium, Certainty: rules.Did, Exchange: "X3", Frames: []int{9}})
	b.AddFinding(&rules.Finding{ID: "F3", Rule: "plaintext-exposed", Severity: rules.Medium, Certainty: rules.Could, Exchange: "X1", Frames: []int{1}})

	svg := string(topologySVG(b.nodes, b.edges, 12))
	proxy := regexp.MustCompile(`<rect[^>]*fill="#fbe3e0" stroke="` + colOutlier + `"[^>]*/><text[^>]*>10\.1\.0\.0:5683</text>`)
	if !proxy.MatchString(svg) || !strings.Contains(svg, "10.1.0.0:5683: 3 exchanges, 2 proven findings") {
		t.Errorf("the proxy with 2 proven findings is not drawn red:\n%s", svg)
	}
	failed := regexp.MustCompile(`<line [^>]*stroke="` + colOutlier + `"[^>]*/><title>[^<]*OSCORE failed verification, 1 exchanges</title>`)
	if !failed.MatchString(svg) {
		t.Errorf("the hops of the forged response are not drawn as failed verification:\n%s", svg)
	}
	for _, m := range regexp.MustCompile(`<title>([^<]*)</title>`).FindAllStringSubmatch(svg, -1) {
		if strings.Contains(m[1], "OSCORE end-to-end") && strings.Contains(m[1], "10.1.0.0:5683 → ") && !strings.HasSuffix(m[1], "2 exchanges") {
			t.Errorf("end-to-end hop counts the forged exchange: %s", m[1])
		}
	}
	var out strings.Builder
	if err := b.WriteHTML(&out); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), "1 exchange of 3 (33%) used OSCORE but failed verification") {
		t.Errorf("the verdict does not count the exchange that failed verification apart:\n%s", out.String())
	}
}

// TestSizeAxisSpread checks that messages of 37 to 51 bytes get room on
// the size axis beside a 1 KiB transfer, and that the axis keeps order.
func TestSizeAxisSpread(t *testing.T) {
	for _, c := range []struct {
		v      []float64
		spread float64 // the least distance of 37 and 51 bytes, in pixels (7 on a linear axis from 0)
	}{
		{[]float64{21, 22, 23, 24, 25, 26, 37, 41, 44, 45, 49, 51, 1054}, 150}, // one large transfer: a break
		{[]float64{37, 41, 44, 45, 49, 51}, 300},                               // linear, not from 0
		{[]float64{10, 20, 37, 51, 80, 150, 300, 600, 1200}, 30},               // spread out: log
	} {
		x := newSizeAxis(c.v, 230, 800)
		if d := x.at(51) - x.at(37); d < c.spread {
			t.Errorf("%v: 37 and 51 bytes %.0f px apart, want at least %.0f", c.v, d, c.spread)
		}
		for i := 1; i < len(c.v); i++ {
			if x.at(c.v[i]) <= x.at(c.v[i-1]) {
				t.Errorf("%v: %v at %.1f, not right of %v at %.1f", c.v, c.v[i], x.at(c.v[i]), c.v[i-1], x.at(c.v[i-1]))
			}
		}
		if lo, hi := x.at(c.v[0]), x.at(c.v[len(c.v)-1]); lo < 230 || hi > 800 {
			t.Errorf("%v: drawn from %.0f to %.0f, outside 230-800", c.v, lo, hi)
		}
	}
}

// TestLeakTableByQuestion checks that the leak table groups its rows
// under the question they answer and writes units for people.
func TestLeakTableByQuestion(t *testing.T) {
	html, _ := evilProxyReport(t)
	i := strings.Index(html, `id="leak-table"`)
	if i < 0 {
		t.Fatal("no leak table")
	}
	table := html[i:]
	table = table[:strings.Index(table, "</table>")]
	for _, bad := range []string{"1 labels", "labels<", "probability", "request_size", "mutual_information"} {
		if strings.Contains(table, bad) {
			t.Errorf("leak table shows %q", bad)
		}
	}
	for _, want := range []string{"What does the request size reveal about the resource, on the wire?",
		"What does the response size reveal about the resource, inside OSCORE?", "1 resource<", "70%", "30%"} {
		if !strings.Contains(table, want) {
			t.Errorf("leak table lacks %q", want)
		}
	}
	if n := strings.Count(table, `class="question"`); n < 5 || n > 30 {
		t.Errorf("%d questions", n)
	}
	// The delay outlier has one z-score in the report: the table's is
	// the leak summary's.
	z := regexp.MustCompile(`\(z = ([0-9.]+)\)`).FindStringSubmatch(html)
	if z == nil || !strings.Contains(html, `<td class="num">`+z[1]+`</td>`) {
		t.Errorf("the outlier table's z-score differs from the leak summary's %v", z)
	}
}

// TestTopologyNamesTransports checks that a hop over a reliable transport
// says so, apart from a UDP hop between the same nodes.
func TestTopologyNamesTransports(t *testing.T) {
	b := New(Options{})
	x := synth(0, 1, 2)
	y := synth(1, 1, 2)
	y.Legs[len(y.Legs)-1].Transport = "tcp"
	b.AddExchange(x)
	b.AddExchange(y)
	svg := string(topologySVG(b.nodes, b.edges, 12))
	if !strings.Contains(svg, " over tcp, 1 exchanges</title>") || strings.Count(svg, " over tcp") != 2 {
		t.Errorf("the TCP hop is not named:\n%s", svg)
	}
}
