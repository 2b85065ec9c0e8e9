package leaks

import (
	"errors"
	"io"
	"math"
	"net/netip"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/coapaudit/coapaudit/capture"
	"github.com/coapaudit/coapaudit/decode"
	"github.com/coapaudit/coapaudit/oscore"
)

// protectedMsg is one verified OSCORE message of a capture.
type protectedMsg struct {
	frame    int
	time     float64
	src, dst netip.AddrPort
	request  bool
	mid      uint16
	label    string // inner method and path of the request
	size     int    // UDP payload
	wire     []byte // OSCORE option value and ciphertext
}

// readProtected decrypts the OSCORE messages of a capture with its keys.
// Responses get the label of the request they answer.
func readProtected(t *testing.T, name string) []protectedMsg {
	t.Helper()
	dir := capturesDir(t)
	params, err := oscore.LoadKeyFile(filepath.Join(dir, "keys", "oscore_contexts"))
	if err != nil {
		t.Fatal(err)
	}
	ring, err := oscore.NewKeyring(params)
	if err != nil {
		t.Fatal(err)
	}
	dec := oscore.NewDecryptor(ring)
	r, err := capture.Open(filepath.Join(dir, name))
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	var d capture.Datagram
	var m decode.Message
	var out []protectedMsg
	labels := map[int]string{} // request frame -> label
	var t0 float64
	for {
		if err := r.Next(&d); err != nil {
			if !errors.Is(err, io.EOF) {
				t.Fatal(err)
			}
			return out
		}
		if d.Kind != capture.KindUDP || m.Decode(d.Payload) != nil {
			continue
		}
		opt, ok := m.Option(decode.OptOSCORE)
		if !ok {
			continue
		}
		res := dec.Process(d.Time, d.Number, d.Src, d.Dst, &m)
		if res == nil || !res.Verified {
			continue
		}
		ts := float64(d.Time.UnixNano()) / 1e9
		if t0 == 0 {
			t0 = ts
		}
		p := protectedMsg{
			frame: d.Number, time: ts - t0, src: d.Src, dst: d.Dst,
			request: res.IsRequest, mid: m.MessageID, size: len(d.Payload),
			wire: append(append([]byte(nil), opt...), m.Payload...),
		}
		if res.IsRequest {
			p.label = res.Inner.Code.Name() + " /" + string(res.Inner.URIPath(nil))
			labels[d.Number] = p.label
		} else {
			p.label = labels[res.RequestFrame]
		}
		out = append(out, p)
	}
}

var (
	revProxy = netip.MustParseAddr("127.0.0.22")
	origin   = netip.MustParseAddr("127.0.0.21")
)

// TestCaptureRevProxy runs the estimators on the aiocoap reverse proxy
// capture (client -> 127.0.0.22 -> 127.0.0.21, all OSCORE): request and
// response sizes identify the resource, the two legs of the proxy are
// linked by their identical OSCORE option and ciphertext, and a padding
// scheme removes the size leak.
func TestCaptureRevProxy(t *testing.T) {
	msgs := readProtected(t, "aiocoap-oscore-revproxy.pcap")
	req, resp := NewDiscrete(Limits{}), NewDiscrete(Limits{})
	var reqIn, reqOut, respIn, respOut [][]byte
	for _, m := range msgs {
		switch {
		case m.request && m.dst.Addr() == revProxy: // client leg
			req.Add(m.label, uint64(m.size))
			reqIn = append(reqIn, m.wire)
		case m.request && m.dst.Addr() == origin:
			reqOut = append(reqOut, m.wire)
		case !m.request && m.src.Addr() == origin:
			respIn = append(respIn, m.wire)
		case !m.request && m.src.Addr() == revProxy:
			resp.Add(m.label, uint64(m.size))
			respOut = append(respOut, m.wire)
		}
	}
	for _, tb := range []*Table{req.Table(), resp.Table()} {
		a := Analyze("requests", tb, Options{Seed: 1}, PaddingOptions{})
		t.Logf("labels %q sizes %v", tb.Labels(), tb.Values())
		t.Logf("MI %v, H(X) %.3f", a.MI, a.MI.HX)
		// Every size belongs to one resource: the information is all of
		// H(X), significant even on a dozen exchanges.
		if a.MI.Share < 0.999 || a.MI.CI.Lo < 0.6*a.MI.HX || a.MI.PValue > 0.01 || a.Anonymity.UniqueShare != 1 {
			t.Errorf("MI %v share %v unique %v", a.MI, a.MI.Share, a.Anonymity.UniqueShare)
		}
		if a.Bayes.VPlugIn != 1 || a.Bayes.LeakageBits <= 1 {
			t.Errorf("Bayes %+v", a.Bayes)
		}
		rec := a.Padding[0]
		for _, p := range a.Padding {
			t.Logf("%-12s %6.1f%% %v removes %v", p.Scheme.Name, p.Overhead, p.MI, p.Removes)
		}
		if !rec.Recommended || rec.MI.CI.Hi > DefaultTolBits || rec.Overhead <= 0 {
			t.Errorf("recommended %s: %v, overhead %v", rec.Scheme.Name, rec.MI, rec.Overhead)
		}
		vs := Verdicts(tb, a.Padding, VerdictOptions{Group: ByResource})
		for _, v := range vs {
			t.Log(v)
		}
		if len(vs) != 1 || !strings.HasPrefix(vs[0], "GET /actuators/valve and PUT /actuators/valve are told apart by size with ") {
			t.Errorf("verdicts %q", vs)
		}
	}
	for _, legs := range [][2][][]byte{{reqIn, reqOut}, {respIn, respOut}} {
		link := LinkExact(legs[0], legs[1])
		if link.Items != 12 || link.Linkability != 1 || link.Certain != 12 {
			t.Errorf("linkability %+v", link)
		}
	}
}

// TestCaptureEvilProxyDelay: the relay of the evil-proxy capture held one
// request for 2 seconds (Message ID 55704 in the ground truth); its
// residence time is the outlier.
func TestCaptureEvilProxyDelay(t *testing.T) {
	msgs := readProtected(t, "aiocoap-oscore-evilproxy.pcap")
	// Requests that reached the proxy and have not left yet, by OSCORE
	// option and ciphertext, oldest first: a retransmission pairs with its
	// own copy, and a request the proxy sends twice pairs once.
	waiting := map[string][]protectedMsg{}
	d := NewDelays(Limits{}, 1)
	for _, m := range msgs {
		if !m.request {
			continue
		}
		k := string(m.wire)
		switch m.dst.Addr() {
		case revProxy:
			waiting[k] = append(waiting[k], m)
		case origin:
			if q := waiting[k]; len(q) > 0 {
				d.Add("mid "+strconv.Itoa(int(q[0].mid)), m.time-q[0].time)
				waiting[k] = q[1:]
			}
		}
	}
	r := d.Result()
	t.Logf("%d residence times, median %.6f s, MAD %.6f s, outliers %+v", r.N, r.Median, r.MAD, r.Outliers)
	if len(r.Outliers) != 1 || r.Outliers[0].ID != "mid 55704" || math.Abs(r.Outliers[0].Seconds-2) > 0.05 {
		t.Errorf("outliers %+v", r.Outliers)
	}
}
