package truthtest

import (
	"bufio"
	"encoding/json"
	"errors"
	"io"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/coapaudit/coapaudit/capture"
	"github.com/coapaudit/coapaudit/decode"
	"github.com/coapaudit/coapaudit/internal/testenv"
)

// The captures whose truth files this package checks.
var captures = []string{
	"libcoap-proxy-reblock",
	"nodecoap-proxy",
	"aiocoap-proxy",
	"mixed-proxies",
}

// truth is one line of a truth file: one request of a client.
type truth struct {
	N               int      `json:"n"`
	Client          string   `json:"client"`
	Proxy           string   `json:"proxy"`
	ProxyOut        *string  `json:"proxy_out"`
	Server          string   `json:"server"`
	Method          string   `json:"method"`
	URI             string   `json:"uri"`
	ClientFrames    []int    `json:"client_frames"`
	ServerFrames    []int    `json:"server_frames"`
	ClientCode      *string  `json:"client_code"`
	ServerCode      *string  `json:"server_code"`
	Transformations []string `json:"transformations"`
}

// frame is a decoded CoAP datagram of a capture.
type frame struct {
	src, dst netip.AddrPort
	msg      decode.Message
}

func (f *frame) code() string {
	if f.msg.Code.IsRequest() {
		return f.msg.Code.Name()
	}
	return f.msg.Code.String()
}

func readFrames(t *testing.T, path string) map[int]*frame {
	t.Helper()
	r, err := capture.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	frames := make(map[int]*frame)
	var d capture.Datagram
	for {
		err := r.Next(&d)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if d.Kind != capture.KindUDP {
			continue
		}
		f := &frame{src: d.Src, dst: d.Dst}
		// Payload is borrowed until the next call to Next.
		if err := f.msg.Decode(slices.Clone(d.Payload)); err != nil {
			t.Errorf("%s: frame %d: %v", filepath.Base(path), d.Number, err)
			continue
		}
		frames[d.Number] = f
	}
	return frames
}

func readTruth(t *testing.T, path string) []truth {
	t.Helper()
	fh, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer fh.Close()
	var out []truth
	sc := bufio.NewScanner(fh)
	for sc.Scan() {
		var tr truth
		dec := json.NewDecoder(strings.NewReader(sc.Text()))
		if err := dec.Decode(&tr); err != nil {
			t.Fatalf("%s: line %d: %v", filepath.Base(path), len(out)+1, err)
		}
		out = append(out, tr)
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// between reports whether f goes one way or the other between a and b.
func between(f *frame, a, b string) bool {
	s, d := f.src.String(), f.dst.String()
	return s == a && d == b || s == b && d == a
}

// legs returns the first request and the last response among frames.
func legs(frames map[int]*frame, nums []int) (req, resp *frame) {
	for _, n := range nums {
		f := frames[n]
		if f == nil {
			continue
		}
		if f.msg.Code.IsRequest() && req == nil {
			req = f
		}
		if f.msg.Code.IsResponse() {
			resp = f
		}
	}
	return req, resp
}

func TestTruthFiles(t *testing.T) {
	dir := filepath.Join(testenv.RepoRoot(), "testdata", "captures")
	for _, name := range captures {
		t.Run(name, func(t *testing.T) {
			frames := readFrames(t, filepath.Join(dir, name+".pcap"))
			lines := readTruth(t, filepath.Join(dir, name+".truth.jsonl"))
			if len(lines) < 10 {
				t.Errorf("%d requests in the truth file, want at least 10", len(lines))
			}
			owner := make(map[int]int) // frame -> line that claims it
			for i, tr := range lines {
				if tr.N != i+1 {
					t.Errorf("line %d has n %d", i+1, tr.N)
				}
				checkLine(t, frames, tr, owner)
			}
		})
	}
}

func checkLine(t *testing.T, frames map[int]*frame, tr truth, owner map[int]int) {
	t.Helper()
	for _, n := range slices.Concat(tr.ClientFrames, tr.ServerFrames) {
		if frames[n] == nil {
			t.Errorf("n=%d: frame %d is not a CoAP datagram of the capture", tr.N, n)
		}
		if o, ok := owner[n]; ok {
			t.Errorf("n=%d: frame %d is claimed by n=%d too", tr.N, n, o)
		}
		owner[n] = tr.N
	}
	if !slices.IsSorted(tr.ClientFrames) || !slices.IsSorted(tr.ServerFrames) {
		t.Errorf("n=%d: frame numbers out of order", tr.N)
	}
	if len(tr.ClientFrames) == 0 {
		t.Fatalf("n=%d: no client frames", tr.N)
	}

	// The client leg: between client and proxy, except that node-coap
	// sends its own errors to 127.0.0.1 on the client's port.
	_, port, _ := strings.Cut(tr.Client, ":")
	for _, n := range tr.ClientFrames {
		f := frames[n]
		if f != nil && !between(f, tr.Client, tr.Proxy) &&
			!(f.src.String() == tr.Proxy && f.dst.String() == "127.0.0.1:"+port) {
			t.Errorf("n=%d: client frame %d goes %v -> %v", tr.N, n, f.src, f.dst)
		}
	}
	creq, cresp := legs(frames, tr.ClientFrames)
	if creq == nil || creq != frames[tr.ClientFrames[0]] {
		t.Errorf("n=%d: the first client frame %d is not a request", tr.N, tr.ClientFrames[0])
	} else if creq.code() != tr.Method {
		t.Errorf("n=%d: client request is %s, truth says %s", tr.N, creq.code(), tr.Method)
	}
	checkCode(t, tr.N, "client", cresp, tr.ClientCode)

	// The server leg.
	if len(tr.ServerFrames) == 0 {
		if tr.ProxyOut != nil || tr.ServerCode != nil {
			t.Errorf("n=%d: no server frames but proxy_out/server_code set", tr.N)
		}
		if tr.ClientCode != nil && !slices.Contains(tr.Transformations, "own-"+*tr.ClientCode) {
			t.Errorf("n=%d: the proxy answered %s itself, transformations %v", tr.N, *tr.ClientCode, tr.Transformations)
		}
		return
	}
	if tr.ProxyOut == nil {
		t.Fatalf("n=%d: server frames without proxy_out", tr.N)
	}
	for _, n := range tr.ServerFrames {
		if f := frames[n]; f != nil && !between(f, *tr.ProxyOut, tr.Server) {
			t.Errorf("n=%d: server frame %d goes %v -> %v", tr.N, n, f.src, f.dst)
		}
	}
	sreq, sresp := legs(frames, tr.ServerFrames)
	if sreq == nil || sreq != frames[tr.ServerFrames[0]] {
		t.Errorf("n=%d: the first server frame %d is not a request", tr.N, tr.ServerFrames[0])
		return
	}
	if sreq.code() != tr.Method {
		t.Errorf("n=%d: server request is %s, truth says %s", tr.N, sreq.code(), tr.Method)
	}
	checkCode(t, tr.N, "server", sresp, tr.ServerCode)
	if creq != nil {
		checkTransformations(t, tr, creq, sreq)
	}
}

func checkCode(t *testing.T, n int, leg string, resp *frame, want *string) {
	t.Helper()
	switch {
	case resp == nil && want != nil:
		t.Errorf("n=%d: no %s response, truth says %s", n, leg, *want)
	case resp != nil && want == nil:
		t.Errorf("n=%d: %s response %s, truth says none", n, leg, resp.code())
	case resp != nil && resp.code() != *want:
		t.Errorf("n=%d: last %s response is %s, truth says %s", n, leg, resp.code(), *want)
	}
}

// checkTransformations checks the claims that the first request of each
// leg alone proves or refutes.
func checkTransformations(t *testing.T, tr truth, creq, sreq *frame) {
	t.Helper()
	has := func(s string) bool { return slices.Contains(tr.Transformations, s) }
	if got := creq.msg.MessageID != sreq.msg.MessageID; got != has("mid-rewrite") {
		t.Errorf("n=%d: Message IDs %d and %d, mid-rewrite claimed %v", tr.N, creq.msg.MessageID, sreq.msg.MessageID, has("mid-rewrite"))
	}
	if got := string(creq.msg.Token) != string(sreq.msg.Token); got != has("token-rewrite") {
		t.Errorf("n=%d: tokens %x and %x, token-rewrite claimed %v", tr.N, creq.msg.Token, sreq.msg.Token, has("token-rewrite"))
	}
	cpu := creq.msg.HasOption(decode.OptProxyURI)
	spu := sreq.msg.HasOption(decode.OptProxyURI)
	if has("proxy-uri-decomposed") || has("proxy-uri-removed") {
		if !cpu || spu {
			t.Errorf("n=%d: Proxy-Uri on client leg %v, server leg %v, but claimed removed", tr.N, cpu, spu)
		}
	}
	if has("path-dropped") && sreq.msg.HasOption(decode.OptURIPath) {
		t.Errorf("n=%d: path-dropped claimed, server request has Uri-Path %q", tr.N, sreq.msg.URIPath(nil))
	}
	if has("proxy-uri-decomposed") {
		want := tr.URI[strings.Index(tr.URI[len("coap://"):], "/")+len("coap://")+1:]
		path, query, _ := strings.Cut(want, "?")
		if got := string(sreq.msg.URIPath(nil)); got != path {
			t.Errorf("n=%d: decomposed path %q, want %q", tr.N, got, path)
		}
		if got := string(sreq.msg.URIQuery(nil)); got != query {
			t.Errorf("n=%d: decomposed query %q, want %q", tr.N, got, query)
		}
	}
}
