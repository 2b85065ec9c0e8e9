package report

import (
	"bufio"
	"bytes"
	"encoding/csv"
	"net/netip"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/coapaudit/coapaudit/analysis"
	"github.com/coapaudit/coapaudit/export"
	"github.com/coapaudit/coapaudit/flows"
	"github.com/coapaudit/coapaudit/internal/testenv"
	"github.com/coapaudit/coapaudit/oscore"
	"github.com/coapaudit/coapaudit/rules"
)

// evilProxyReport analyses the evil-proxy capture with its keys and
// returns the rendered report and the findings by severity.
func evilProxyReport(t *testing.T) (string, map[rules.Severity]int) {
	t.Helper()
	pcap := testenv.Capture(t, "aiocoap-oscore-evilproxy.pcap")
	ps, err := oscore.LoadKeyFile(testenv.Capture(t, "keys/oscore_contexts"))
	if err != nil {
		t.Fatal(err)
	}
	kr, err := oscore.NewKeyring(ps)
	if err != nil {
		t.Fatal(err)
	}
	b := New(Options{Title: "Audit of aiocoap-oscore-evilproxy.pcap"})
	counts := map[rules.Severity]int{}
	opts := analysis.Options{Keys: kr, TrackExchanges: true, Leaks: true, Rules: rules.All(),
		OnFinding: func(f *rules.Finding) { counts[f.Severity]++; b.AddFinding(f) }}
	eng, err := analysis.RunFiles([]string{pcap}, opts, nil, b.AddExchange)
	if err != nil {
		t.Fatal(err)
	}
	b.SetLeakReport(eng.LeakReport())
	sum := *eng.Summary()
	sum.Files = []string{filepath.Base(pcap)}
	b.SetSummary(&export.Summary{Summary: &sum})
	var out bytes.Buffer
	if err := b.WriteHTML(&out); err != nil {
		t.Fatal(err)
	}
	return out.String(), counts
}

// masterSecrets reads the Master Secret (and Salt) column of a Wireshark
// oscore_contexts file.
func masterSecrets(t *testing.T) []string {
	t.Helper()
	f, err := os.Open(testenv.Capture(t, "keys/oscore_contexts"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || line[0] == '#' {
			continue
		}
		rec, err := csv.NewReader(strings.NewReader(line)).Read()
		if err != nil || len(rec) < 4 {
			t.Fatalf("oscore_contexts line %q: %v", line, err)
		}
		out = append(out, rec[2])
		if len(rec[3]) >= 8 {
			out = append(out, rec[3])
		}
	}
	if len(out) == 0 {
		t.Fatal("no contexts in oscore_contexts")
	}
	return out
}

var sectionIDs = []string{"verdict", "findings", "topology", "sequence", "sizes", "residence", "leaks", "padding",
	"plot-topology", "plot-sizes", "leak-table", "padding-table", "outlier-table"}

func TestEvilProxyReport(t *testing.T) {
	html, counts := evilProxyReport(t)
	if os.Getenv("COAPAUDIT_REPORT_OUT") != "" {
		os.WriteFile(os.Getenv("COAPAUDIT_REPORT_OUT"), []byte(html), 0o644)
	}
	for _, id := range sectionIDs {
		if !strings.Contains(html, `id="`+id+`"`) {
			t.Errorf("no element with id %q", id)
		}
	}
	// The capture has a forged response (high) behind exchange X2, and
	// the proxy held X3 for 2 s.
	if counts[rules.High] == 0 {
		t.Fatal("the analysis found no high finding; the capture has a spoofed response")
	}
	for sev, n := range counts {
		want := `<b>` + strconv.Itoa(n) + `</b>` + sev.String()
		if !strings.Contains(html, want) {
			t.Errorf("verdict does not count %d %s findings (%s)", n, sev, want)
		}
	}
	if !strings.Contains(html, `id="chart-X2"`) {
		t.Error("no sequence chart for X2, the exchange of the spoofed response")
	}
	if !regexp.MustCompile(`class="outlier"[^>]*/><text[^>]*>X3 request 2\.\d* s`).MatchString(html) {
		t.Error("the residence plot does not mark X3's 2 s request residence as an outlier")
	}
	if n := strings.Count(html, "<svg"); n < 4 {
		t.Errorf("%d SVG plots, want topology, sizes, residence and a chart", n)
	}
	if !strings.Contains(html, "OSCORE end-to-end") {
		t.Error("topology does not say the hops are protected end to end")
	}
	checkOffline(t, html)
	for _, s := range masterSecrets(t) {
		if strings.Contains(strings.ToLower(html), strings.ToLower(s)) {
			t.Errorf("key material %s… appears in the report", s[:6])
		}
	}
}

// checkOffline fails when the page refers to anything outside itself.
func checkOffline(t *testing.T, html string) {
	t.Helper()
	stripped := strings.ReplaceAll(html, `xmlns="http://www.w3.org/2000/svg"`, "")
	for _, bad := range []string{"http://", "https://", "<script", "<link", "@import", "url(", " src="} {
		if strings.Contains(stripped, bad) {
			i := strings.Index(stripped, bad)
			t.Errorf("report refers to an outside resource (%q): …%s…", bad, stripped[max(0, i-60):min(len(stripped), i+60)])
		}
	}
}

func TestReportEscapes(t *testing.T) {
	b := New(Options{Title: "t <script>"})
	c := netip.MustParseAddrPort("10.0.0.1:40000")
	srv := netip.MustParseAddrPort("10.0.0.3:5683")
	uri := `coap://10.0.0.3/<script>alert(1)</script>?q="a"&b`
	b.AddExchange(&flows.Exchange{ID: "X1", Method: "GET", URI: uri, Client: c, Server: srv, Protected: "none",
		Legs: []flows.Leg{{From: c, To: srv, RequestFrames: []int{1}, ResponseFrames: []int{2}, RequestSize: 30, ResponseSize: 12, Code: "2.05"}}})
	b.AddFinding(&rules.Finding{ID: "F1", Rule: "plaintext-exposed", Severity: rules.High, Exchange: "X1", Frames: []int{1, 2},
		Message: "GET " + uri + " travelled in clear."})
	var out bytes.Buffer
	if err := b.WriteHTML(&out); err != nil {
		t.Fatal(err)
	}
	html := out.String()
	if strings.Contains(html, "<script") {
		t.Error("a URI from the capture reached the page unescaped")
	}
	if !strings.Contains(html, "&lt;script&gt;") {
		t.Error("escaped URI not found")
	}
	if !strings.Contains(html, `id="chart-X1"`) || !strings.Contains(html, "no protection at all") {
		t.Error("chart or exposure sentence missing")
	}
	checkOffline(t, html)
}
