package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/coapaudit/coapaudit/internal/testenv"
)

// This test holds coapaudit's decoding against tshark's, frame by frame, on
// every shared capture. tshark is the reference; where tshark 4.0 is wrong,
// the difference is listed in tsharkWrong with the reason and the RFC says
// what is right.

// tsharkFields are the fields read from tshark, in this order.
var tsharkFields = []string{
	"frame.number", "_ws.col.Protocol", "udp.srcport", "udp.dstport",
	"coap.type", "coap.code", "coap.mid", "coap.token", "coap.opt.desc",
	"coap.opt.uri_path", "coap.opt.uri_query", "coap.opt.uri_host", "coap.opt.proxy_uri",
	"coap.opt.observe", "coap.payload_length", "coap.block_length",
	"coap.opt.object_security_piv", "coap.opt.object_security_kid", "coap.opt.object_security_kid_context",
	"dtls.record.content_type", "_ws.expert.message", "_ws.malformed",
}

const tsAgg = "\x01"

type tsFrame map[string][]string

func (f tsFrame) one(k string) string {
	if v := f[k]; len(v) > 0 {
		return v[0]
	}
	return ""
}

func runTshark(t *testing.T, tshark, file string, coapPorts []uint16) map[int]tsFrame {
	t.Helper()
	args := []string{"-n", "-r", file, "-T", "fields", "-E", "separator=/t", "-E", "occurrence=a", "-E", "aggregator=" + tsAgg, "-E", "quote=n"}
	for _, p := range coapPorts {
		args = append(args, "-d", fmt.Sprintf("udp.port==%d,coap", p))
	}
	for _, f := range tsharkFields {
		args = append(args, "-e", f)
	}
	cmd := exec.Command(tshark, args...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("tshark %s: %v: %s", file, err, stderr.String())
	}
	frames := map[int]tsFrame{}
	sc := bufio.NewScanner(bytes.NewReader(out))
	sc.Buffer(make([]byte, 1<<20), 16<<20)
	for sc.Scan() {
		cols := strings.Split(sc.Text(), "\t")
		f := tsFrame{}
		for i, name := range tsharkFields {
			if i < len(cols) && cols[i] != "" {
				f[name] = strings.Split(cols[i], tsAgg)
			}
		}
		n, err := strconv.Atoi(f.one("frame.number"))
		if err != nil {
			t.Fatalf("tshark %s: bad line %q", file, sc.Text())
		}
		frames[n] = f
	}
	return frames
}

// record is the part of a packet record this test reads.
type record struct {
	Type       string `json:"type"`
	Frame      int    `json:"frame"`
	Proto      string `json:"proto"`
	Src, Dst   string
	Heuristic  bool   `json:"heuristic"`
	MsgType    string `json:"msgtype"`
	Code       string `json:"code"`
	MID        *int   `json:"mid"`
	Token      string `json:"token"`
	URIPath    string `json:"uri_path"`
	PayloadLen int    `json:"payload_len"`
	Options    []struct {
		Number int    `json:"number"`
		Name   string `json:"name"`
		Value  string `json:"value"`
	} `json:"options"`
	OSCORE *struct {
		PIV        string `json:"piv"`
		KID        string `json:"kid"`
		KIDContext string `json:"kid_context"`
	} `json:"oscore"`
	Malformed string `json:"malformed"`
	// summary fields
	Frames          int `json:"frames"`
	CoAPFrames      int `json:"coap_frames"`
	DTLSFrames      int `json:"dtls_frames"`
	MalformedFrames int `json:"malformed_frames"`
	OtherFrames     int `json:"other_frames"`
}

func runPacketsNDJSON(t testing.TB, args ...string) ([]record, string) {
	t.Helper()
	var stdout, stderr bytes.Buffer
	code := run(context.Background(), append([]string{"packets", "--format", "ndjson"}, args...), nil, &stdout, &stderr)
	if code != 0 {
		t.Fatalf("packets %v: exit %d: %s", args, code, stderr.String())
	}
	var recs []record
	dec := json.NewDecoder(&stdout)
	for dec.More() {
		var r record
		if err := dec.Decode(&r); err != nil {
			t.Fatalf("packets %v: bad ndjson: %v", args, err)
		}
		recs = append(recs, r)
	}
	return recs, stderr.String()
}

var msgTypes = map[string]string{"0": "CON", "1": "NON", "2": "ACK", "3": "RST"}

// tsharkWrong lists the known ways tshark 4.0 decodes differently from the
// RFCs. Each entry names a mismatch kind and why coapaudit is right.
var tsharkWrong = map[string]string{
	"icmp-quoting-coap": "tshark shows the CoAP message quoted in an ICMP port-unreachable error as CoAP; it is an ICMP frame (RFC 792/4443), counted as other",
}

func TestPacketsAgainstTshark(t *testing.T) {
	tshark := testenv.Tool(t, "tshark")
	files := testenv.Captures(t)
	root := filepath.Join(testenv.SharedDir(t), "captures")
	var (
		mu       sync.Mutex
		total    = map[string]int{}
		compared int
	)
	t.Run("files", func(t *testing.T) {
		for _, file := range files {
			name, _ := filepath.Rel(root, file)
			t.Run(name, func(t *testing.T) {
				t.Parallel()
				kinds, n := compareWithTshark(t, tshark, file)
				mu.Lock()
				defer mu.Unlock()
				compared += n
				for k, v := range kinds {
					total[k] += v
				}
			})
		}
	})
	t.Logf("%d files, %d frames compared; differences by kind: %v", len(files), compared, total)
	for kind, why := range tsharkWrong {
		if total[kind] == 0 && !t.Failed() {
			t.Errorf("tsharkWrong[%q] (%s) never happened: remove it", kind, why)
		}
	}
}

// compareWithTshark compares one capture and returns the differences by
// kind and the number of frames compared.
func compareWithTshark(t *testing.T, tshark, file string) (map[string]int, int) {
	kinds := map[string]int{}
	recs, _ := runPacketsNDJSON(t, file)
	sum := recs[len(recs)-1]
	recs = recs[:len(recs)-1]
	if sum.Type != "summary" {
		t.Fatalf("last record is %q, want summary", sum.Type)
	}
	if got := sum.CoAPFrames + sum.DTLSFrames + sum.MalformedFrames + sum.OtherFrames; got != sum.Frames {
		t.Errorf("summary counts add up to %d, frames=%d", got, sum.Frames)
	}
	// Let tshark decode CoAP on the ports where coapaudit found it by heuristic.
	ports := map[uint16]bool{}
	for _, r := range recs {
		if r.Heuristic && r.Proto == "coap" {
			ports[portOf(r.Dst)] = true
		}
	}
	var plist []uint16
	for p := range ports {
		if p != 5683 && p != 5684 {
			plist = append(plist, p)
		}
	}
	sort.Slice(plist, func(i, j int) bool { return plist[i] < plist[j] })
	ts := runTshark(t, tshark, file, plist)
	if len(ts) != len(recs) || sum.Frames != len(recs) {
		t.Fatalf("tshark has %d frames, coapaudit %d records and summary frames=%d", len(ts), len(recs), sum.Frames)
	}
	for _, r := range recs {
		for _, m := range compareFrame(r, ts[r.Frame]) {
			kinds[m.kind]++
			if _, ok := tsharkWrong[m.kind]; ok {
				continue
			}
			t.Errorf("frame %d: %s: coapaudit %q, tshark %q", r.Frame, m.kind, m.ours, m.theirs)
		}
	}
	return kinds, len(recs)
}

func portOf(addr string) uint16 {
	i := strings.LastIndexByte(addr, ':')
	p, _ := strconv.Atoi(addr[i+1:])
	return uint16(p)
}

type mismatch struct{ kind, ours, theirs string }

func compareFrame(r record, f tsFrame) []mismatch {
	var out []mismatch
	add := func(kind, ours, theirs string) {
		if ours != theirs {
			out = append(out, mismatch{kind, ours, theirs})
		}
	}
	tsCoAP := f["coap.type"] != nil
	ourCoAP := r.Proto == "coap"
	tsDTLS := strings.HasPrefix(f.one("_ws.col.Protocol"), "DTLS")
	if !ourCoAP && tsCoAP && strings.HasPrefix(f.one("_ws.col.Protocol"), "ICMP") {
		// tshark dissects the CoAP message quoted in an ICMP error;
		// coapaudit counts the frame as ICMP (other), not as CoAP traffic.
		out = append(out, mismatch{"icmp-quoting-coap", "other", "coap"})
		return out
	}
	add("is-coap", strconv.FormatBool(ourCoAP), strconv.FormatBool(tsCoAP))
	add("is-dtls", strconv.FormatBool(r.Proto == "dtls"), strconv.FormatBool(tsDTLS))
	if !ourCoAP || !tsCoAP {
		return out
	}
	add("type", r.MsgType, msgTypes[f.one("coap.type")])
	add("code", codeNumber(r.Code), f.one("coap.code"))
	mid := ""
	if r.MID != nil {
		mid = strconv.Itoa(*r.MID)
	}
	add("mid", mid, f.one("coap.mid"))
	add("token", r.Token, f.one("coap.token"))
	// Option numbers: tshark's coap.opt.desc reads "Type N, ...".
	var ourNums, tsNums []string
	for _, o := range r.Options {
		ourNums = append(ourNums, strconv.Itoa(o.Number))
	}
	for _, d := range f["coap.opt.desc"] {
		if n, ok := strings.CutPrefix(d, "Type "); ok {
			n, _, _ = strings.Cut(n, ",")
			tsNums = append(tsNums, n)
		}
	}
	add("option-numbers", strings.Join(ourNums, ","), strings.Join(tsNums, ","))
	vals := func(num int) string {
		var vs []string
		for _, o := range r.Options {
			if o.Number == num {
				vs = append(vs, o.Value)
			}
		}
		return strings.Join(vs, tsAgg)
	}
	add("uri-path", vals(11), strings.Join(f["coap.opt.uri_path"], tsAgg))
	add("uri-path-joined", r.URIPath, strings.Join(f["coap.opt.uri_path"], "/"))
	add("uri-query", vals(15), strings.Join(f["coap.opt.uri_query"], tsAgg))
	add("uri-host", vals(3), strings.Join(f["coap.opt.uri_host"], tsAgg))
	add("proxy-uri", vals(35), strings.Join(f["coap.opt.proxy_uri"], tsAgg))
	add("observe", vals(6), strings.Join(f["coap.opt.observe"], tsAgg))
	pl := ""
	if r.PayloadLen > 0 {
		pl = strconv.Itoa(r.PayloadLen)
	}
	// tshark reassembles block-wise transfers: a block's own payload is in
	// coap.block_length, and coap.payload_length of the last block is the
	// whole body.
	tsPL := f.one("coap.payload_length")
	if bl := f.one("coap.block_length"); bl != "" {
		tsPL = bl
	}
	add("payload-length", pl, tsPL)
	if r.OSCORE != nil || f["coap.opt.object_security_piv"] != nil || f["coap.opt.object_security_kid"] != nil {
		var piv, kid, kidc string
		if r.OSCORE != nil {
			piv, kid, kidc = r.OSCORE.PIV, r.OSCORE.KID, r.OSCORE.KIDContext
		}
		missing := func(s string) string {
			if s == "<MISSING>" {
				return ""
			}
			return s
		}
		add("oscore-piv", piv, missing(f.one("coap.opt.object_security_piv")))
		add("oscore-kid", kid, missing(f.one("coap.opt.object_security_kid")))
		add("oscore-kid-context", kidc, missing(f.one("coap.opt.object_security_kid_context")))
	}
	return out
}

func codeNumber(code string) string {
	c, d, ok := strings.Cut(code, ".")
	if !ok {
		return code
	}
	ci, _ := strconv.Atoi(c)
	di, _ := strconv.Atoi(d)
	return strconv.Itoa(ci<<5 | di)
}
