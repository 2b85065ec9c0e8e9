package export_test

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"
	"net/netip"
	"os/exec"
	"path/filepath"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/coapaudit/coapaudit/analysis"
	"github.com/coapaudit/coapaudit/export"
	"github.com/coapaudit/coapaudit/flows"
	"github.com/coapaudit/coapaudit/internal/testenv"
	"github.com/coapaudit/coapaudit/oscore"
)

// marshalExchange is the reference encoding of an exchange record: what
// encoding/json makes of flows.Exchange with a leading "type" field.
func marshalExchange(tb testing.TB, x *flows.Exchange) []byte {
	b, err := json.Marshal(struct {
		Type string `json:"type"`
		*flows.Exchange
	}{"exchange", x})
	if err != nil {
		tb.Fatalf("encoding/json: %v", err)
	}
	return b
}

// csvTimeLayout is the time format of the CSV cells.
const csvTimeLayout = "2006-01-02T15:04:05.000000000Z07:00"

// referenceCSVRow is the reference form of an exchange's CSV row, built
// from the String methods of its parts.
func referenceCSVRow(e *flows.Exchange) []string {
	addr := func(a netip.AddrPort) string {
		if !a.IsValid() {
			return ""
		}
		return a.String()
	}
	ints := func(v []int, sep string) string {
		s := make([]string, len(v))
		for i, n := range v {
			s[i] = strconv.Itoa(n)
		}
		return strings.Join(s, sep)
	}
	dur := func(d flows.Duration) string {
		if !d.Valid {
			return "-"
		}
		return strconv.FormatFloat(d.Seconds(), 'f', -1, 64)
	}
	var proxies, legs, resReq, resResp, links []string
	for _, p := range e.Proxies {
		proxies = append(proxies, p.String())
	}
	for _, l := range e.Legs {
		legs = append(legs, l.From.String()+">"+l.To.String()+" req="+ints(l.RequestFrames, ",")+" resp="+ints(l.ResponseFrames, ","))
	}
	for _, r := range e.Residence {
		resReq = append(resReq, dur(r.Request))
		resResp = append(resResp, dur(r.Response))
	}
	for _, l := range e.Links {
		links = append(links, l.Kind+":"+l.Exchange+"@"+strconv.Itoa(l.Frame))
	}
	var diffs []string
	for _, d := range e.Diff {
		s := fmt.Sprintf("%s:%s=%s -> %s@%d/%d", d.Dir, d.Field, d.Client, d.Server, d.ClientFrame, d.ServerFrame)
		if d.Allowed != "" {
			s += " allowed:" + d.Allowed
		}
		diffs = append(diffs, s)
	}
	var reqSize, respSize string
	if len(e.Legs) > 0 {
		reqSize = strconv.Itoa(e.Legs[0].RequestSize)
		if len(e.Legs[0].ResponseFrames) > 0 {
			respSize = strconv.Itoa(e.Legs[0].ResponseSize)
		}
	}
	var block, observe string
	if b := e.Block; b != nil {
		block = b.Option + " blocks=" + strconv.Itoa(b.Blocks) + " bytes=" + strconv.Itoa(b.Bytes) + " complete=" + strconv.FormatBool(b.Complete)
	}
	if o := e.Observe; o != nil {
		observe = "seq=" + strconv.FormatUint(uint64(o.FirstSeq), 10) + ".." + strconv.FormatUint(uint64(o.LastSeq), 10)
		if o.Ended != "" {
			observe += " ended=" + o.Ended
		}
	}
	var kid, piv, rqv, rsv string
	if o := e.OSCORE; o != nil {
		kid, piv, rqv, rsv = o.KID.String(), o.PIV.String(), o.RequestVerified, o.ResponseVerified
	}
	end := ""
	if !e.End.IsZero() {
		end = e.End.UTC().Format(csvTimeLayout)
	}
	return []string{e.ID, addr(e.Client), addr(e.Server), addr(e.Proxy), strings.Join(proxies, ";"),
		e.Method, e.URI, e.Code, e.Protected, string(e.Status), strconv.Itoa(e.Notifications),
		e.Start.UTC().Format(csvTimeLayout), end, dur(e.RTT), strings.Join(legs, ";"),
		strings.Join(resReq, ";"), strings.Join(resResp, ";"), reqSize, respSize, block, observe,
		kid, piv, rqv, rsv, strings.Join(links, ";"), ints(e.Frames, ";"),
		strconv.FormatBool(e.Ambiguous), strings.Join(diffs, ";"),
		e.Role, e.RoleEvidence, strconv.FormatBool(e.Publication), strconv.Itoa(e.LinksOmitted)}
}

// checkExchange compares Exchange.AppendJSON with encoding/json byte for
// byte, appending after a prefix to show that dst is kept, and CSVRow
// with referenceCSVRow.
func checkExchange(t *testing.T, what string, x *flows.Exchange) bool {
	t.Helper()
	ok := true
	if x != nil {
		rec := export.Exchange{Exchange: x}
		got := rec.CSVRow([]string{"keep"})
		want := referenceCSVRow(x)
		switch {
		case len(got) == 0 || got[0] != "keep":
			t.Errorf("%s: CSVRow overwrote dst: %q", what, got)
			ok = false
		case len(want) != len(rec.CSVHeader()):
			t.Fatalf("%s: %d columns in the header, %d in the reference row", what, len(rec.CSVHeader()), len(want))
		case !slices.Equal(got[1:], want):
			t.Errorf("%s: CSVRow differs:\n got: %q\nwant: %q", what, got[1:], want)
			ok = false
		}
	}
	const prefix = "prefix{"
	got := export.Exchange{Exchange: x}.AppendJSON([]byte(prefix))
	if !bytes.HasPrefix(got, []byte(prefix)) {
		t.Errorf("%s: AppendJSON overwrote dst: %.40q", what, got)
		return false
	}
	got = got[len(prefix):]
	want := marshalExchange(t, x)
	if bytes.Equal(got, want) {
		return ok
	}
	i := 0
	for i < len(got) && i < len(want) && got[i] == want[i] {
		i++
	}
	from := max(0, i-60)
	t.Errorf("%s: AppendJSON differs from encoding/json at byte %d:\n got: …%s\nwant: …%s\nfull got:  %s\nfull want: %s",
		what, i, got[from:min(len(got), i+60)], want[from:min(len(want), i+60)], got, want)
	return false
}

// analyzeCapture runs the analysis engine over one capture and calls fn
// with every exchange it finishes.
func analyzeCapture(t *testing.T, path string, keys *oscore.Keyring, fn func(*flows.Exchange)) {
	t.Helper()
	_, err := analysis.RunFiles([]string{path}, analysis.Options{TrackExchanges: true, Keys: keys}, nil, fn)
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
}

func sharedKeys(t *testing.T) *oscore.Keyring {
	t.Helper()
	ps, err := oscore.LoadKeyFile(testenv.Capture(t, filepath.Join("keys", "oscore_contexts")))
	if err != nil {
		t.Fatal(err)
	}
	k, err := oscore.NewKeyring(ps)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func TestExchangeJSONCaptures(t *testing.T) {
	keys := sharedKeys(t)
	total, oscoreSeen := 0, 0
	for _, path := range testenv.Captures(t) {
		var k *oscore.Keyring
		if strings.HasPrefix(filepath.Base(path), "aiocoap-") {
			k = keys
		}
		n, bad := 0, 0
		analyzeCapture(t, path, k, func(x *flows.Exchange) {
			n++
			if x.OSCORE != nil && x.OSCORE.RequestVerified != "" {
				oscoreSeen++
			}
			if bad < 3 && !checkExchange(t, filepath.Base(path)+" "+x.ID, x) {
				bad++
			}
		})
		t.Logf("%s: %d exchanges", filepath.Base(path), n)
		total += n
	}
	if total == 0 {
		t.Fatal("the shared captures gave no exchange")
	}
	if oscoreSeen == 0 {
		t.Error("no exchange had an OSCORE key tried: the keys were not used")
	}
}

// TestExchangeJSONGenerated compares the records of a capture made by
// samples/gen, which has every kind of exchange the generator knows.
func TestExchangeJSONGenerated(t *testing.T) {
	frames := 200000
	if testing.Short() {
		frames = 20000
	}
	path := filepath.Join(t.TempDir(), "gen.pcap")
	cmd := exec.Command(testenv.Tool(t, "go"), "run", "./samples/gen", "-o", path, "-n", strconv.Itoa(frames))
	cmd.Dir = testenv.RepoRoot()
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("%v: %v\n%s", cmd, err, out)
	}
	n, bad := 0, 0
	statuses := map[flows.Status]int{}
	analyzeCapture(t, path, nil, func(x *flows.Exchange) {
		n++
		statuses[x.Status]++
		if bad < 3 && !checkExchange(t, x.ID, x) {
			bad++
		}
	})
	t.Logf("%d exchanges, statuses %v", n, statuses)
	if n < frames/20 {
		t.Errorf("only %d exchanges from %d frames", n, frames)
	}
}

func TestExchangeJSONEdges(t *testing.T) {
	checkExchange(t, "nil exchange", nil)
	checkExchange(t, "zero exchange", &flows.Exchange{})
	// encoding/json refuses years past 9999; AppendJSON still writes
	// valid JSON that keeps the time.
	end := time.Date(10000, 1, 2, 3, 4, 5, 6, time.UTC)
	b := export.Exchange{Exchange: &flows.Exchange{ID: "X1", End: end}}.AppendJSON(nil)
	var back struct{ End string }
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatalf("%s: %v", b, err)
	}
	if back.End != end.Format(time.RFC3339Nano) {
		t.Errorf("end = %q, want %q", back.End, end.Format(time.RFC3339Nano))
	}
}

// filler fills any value with random contents by reflection, so that a
// field added to flows.Exchange takes part without changing the test.
// pick(n) returns a number in [0, n), n <= 256.
type filler struct {
	pick func(n int) int
}

func (f *filler) u64() uint64 {
	var v uint64
	for range 8 {
		v = v<<8 | uint64(f.pick(256))
	}
	return v
}

var fillStrings = []string{
	"", "X17", "GET", "2.05", "none", "oscore", "complete", "block1+block2",
	"coap://[2001:db8::1]:5683/a/b?c=1&d=<2>", "coap://h/p?x='y'",
	`quote " and \ backslash`, "ctl \x00\x01\x08\x0c\x1f\x7f", "tab\tnl\nret\r",
	"bad \xff\xfe utf-8", "\xed\xa0\x80 surrogate", "\xf4\x90\x80\x80 too big", "cut \xe6\xbc",
	"\u2028\u2029", "é ü 漢字 😀", "<script>&amp;</script>",
}

// specialBytes are bytes that JSON or HTML escaping treats specially.
const specialBytes = "\x00\x1f\x7f\"\\<>&\n\t/'\x80\xbf\xc3\xe2\xed\xf0\xff\x80\xa8\xa9"

func (f *filler) str() string {
	if f.pick(3) > 0 {
		return fillStrings[f.pick(len(fillStrings))]
	}
	b := make([]byte, f.pick(12))
	for i := range b {
		if f.pick(2) == 0 {
			b[i] = specialBytes[f.pick(len(specialBytes))]
		} else {
			b[i] = byte(f.pick(256))
		}
	}
	return string(b)
}

func (f *filler) int() int64 {
	switch f.pick(6) {
	case 0:
		return 0
	case 1:
		return int64(f.pick(256))
	case 2:
		return -int64(f.pick(256)) - 1
	case 3:
		return math.MaxInt64
	case 4:
		return math.MinInt64
	}
	return int64(f.u64())
}

func (f *filler) addrPort() netip.AddrPort {
	port := uint16(f.u64())
	if f.pick(4) == 0 {
		port = [...]uint16{0, 5683, 65535}[f.pick(3)]
	}
	var a16 [16]byte
	binary.BigEndian.PutUint64(a16[:8], f.u64())
	binary.BigEndian.PutUint64(a16[8:], f.u64())
	switch f.pick(7) {
	case 0:
		return netip.AddrPort{}
	case 1:
		return netip.AddrPortFrom(netip.Addr{}, port)
	case 2:
		return netip.AddrPortFrom(netip.AddrFrom4([4]byte(a16[:4])), port)
	case 3:
		return netip.AddrPortFrom(netip.AddrFrom16(a16), port)
	case 4:
		// IPv4-mapped IPv6, and addresses with runs of zeros.
		v4 := netip.AddrFrom4([4]byte(a16[:4]))
		return netip.AddrPortFrom(netip.AddrFrom16(v4.As16()), port)
	case 5:
		var z [16]byte
		z[0], z[1], z[15] = 0xfe, 0x80, a16[15]
		return netip.AddrPortFrom(netip.AddrFrom16(z), port)
	}
	zone := f.str()
	if zone == "" {
		zone = "eth0"
	}
	return netip.AddrPortFrom(netip.AddrFrom16(a16).WithZone(zone), port)
}

var fillZones = []*time.Location{
	time.UTC, time.Local,
	time.FixedZone("", 0),
	time.FixedZone("IST", 5*3600+30*60),
	time.FixedZone("PST", -8*3600),
	time.FixedZone("odd", -(23*3600 + 59*60 + 59)),
	time.FixedZone("odd", 13*3600+7),
}

func (f *filler) time() time.Time {
	switch f.pick(6) {
	case 0:
		return time.Time{}
	case 1:
		return time.Unix(0, 0).UTC()
	case 2:
		// The ends of the years encoding/json accepts.
		if f.pick(2) == 0 {
			return time.Date(0, 1, 1, 0, 0, 0, 0, time.UTC)
		}
		return time.Date(9999, 12, 31, 23, 59, 59, 999999999, time.UTC)
	}
	sec := int64(f.u64() % (1 << 32))
	ns := int64(f.u64() % 1e9)
	switch f.pick(4) {
	case 0:
		ns = 0
	case 1:
		ns -= ns % 1e6 // trailing zeros to trim
	}
	return time.Unix(sec, ns).In(fillZones[f.pick(len(fillZones))])
}

func (f *filler) duration() flows.Duration {
	if f.pick(4) == 0 {
		return flows.Duration{}
	}
	ds := []time.Duration{
		0, 1, -1, 100, 999, time.Microsecond, 1001, time.Millisecond, 1234567, time.Second,
		-time.Second, 90 * time.Minute, math.MaxInt64, math.MinInt64,
	}
	if f.pick(2) == 0 {
		return flows.Duration{D: ds[f.pick(len(ds))], Valid: true}
	}
	return flows.Duration{D: time.Duration(f.u64()) >> f.pick(64), Valid: true}
}

func (f *filler) fill(t testing.TB, v reflect.Value) {
	switch p := v.Addr().Interface().(type) {
	case *netip.AddrPort:
		*p = f.addrPort()
		return
	case *time.Time:
		*p = f.time()
		return
	case *flows.Duration:
		*p = f.duration()
		return
	}
	switch v.Kind() {
	case reflect.String:
		v.SetString(f.str())
	case reflect.Bool:
		v.SetBool(f.pick(2) == 0)
	case reflect.Int, reflect.Int64:
		v.SetInt(f.int())
	case reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		u := f.u64()
		if f.pick(2) == 0 {
			u = uint64(f.pick(3)) // 0, 1, 2: omitempty's edge
		}
		v.SetUint(u & (1<<(8*v.Type().Size()) - 1))
	case reflect.Slice:
		switch f.pick(4) {
		case 0: // nil
		case 1:
			v.Set(reflect.MakeSlice(v.Type(), 0, f.pick(2)))
		default:
			n := 1 + f.pick(4)
			s := reflect.MakeSlice(v.Type(), n, n)
			for i := range n {
				f.fill(t, s.Index(i))
			}
			v.Set(s)
		}
	case reflect.Pointer:
		if f.pick(3) > 0 {
			p := reflect.New(v.Type().Elem())
			f.fill(t, p.Elem())
			v.Set(p)
		}
	case reflect.Struct:
		for i := range v.NumField() {
			if v.Type().Field(i).IsExported() {
				f.fill(t, v.Field(i))
			}
		}
	default:
		t.Fatalf("the filler has no random values for %s (kind %s)", v.Type(), v.Kind())
	}
}

func randomExchange(t testing.TB, pick func(int) int) *flows.Exchange {
	x := new(flows.Exchange)
	f := filler{pick: pick}
	f.fill(t, reflect.ValueOf(x).Elem())
	return x
}

func TestExchangeJSONRandom(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 11))
	n := 20000
	if testing.Short() {
		n = 2000
	}
	bad := 0
	for i := range n {
		x := randomExchange(t, r.IntN)
		if !checkExchange(t, fmt.Sprintf("random exchange %d", i), x) {
			if bad++; bad == 3 {
				break
			}
		}
	}
}

// FuzzExchangeJSON drives the random filler with the fuzzer's bytes.
func FuzzExchangeJSON(f *testing.F) {
	r := rand.New(rand.NewPCG(1, 2))
	for range 16 {
		b := make([]byte, 64+r.IntN(512))
		for i := range b {
			b[i] = byte(r.Uint32())
		}
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		pick := func(n int) int {
			if len(data) == 0 {
				return 0
			}
			c := int(data[0])
			data = data[1:]
			return c % n
		}
		checkExchange(t, "fuzzed exchange", randomExchange(t, pick))
	})
}

// typicalExchanges are a proxied GET as samples/gen makes them, and an
// OSCORE observation with block-wise transfer and links.
func typicalExchanges() []*flows.Exchange {
	t0 := time.Date(2026, 11, 26, 22, 1, 2, 123456789, time.UTC)
	at := func(d time.Duration) time.Time { return t0.Add(d) }
	client := netip.MustParseAddrPort("10.1.2.3:40123")
	proxy := netip.MustParseAddrPort("10.0.0.1:5683")
	server := netip.MustParseAddrPort("[2001:db8::17]:5683")
	ms := time.Millisecond
	return []*flows.Exchange{{
		ID: "X123456", Client: client, Server: server, Proxy: proxy,
		Proxies: []netip.AddrPort{proxy}, Method: "GET",
		URI: "coap://[2001:db8::17]/sensors/temp?unit=c&fmt=cbor", Code: "2.05",
		Protected: "none", Status: flows.Complete,
		Legs: []flows.Leg{{
			From: client, To: proxy, Token: flows.HexBytes{1, 2, 3, 4}, Type: "CON",
			RequestFrames: []int{1000}, ResponseFrames: []int{1003},
			RequestTime: at(0), ResponseTime: at(7 * ms), RequestSize: 61, ResponseSize: 24,
			RequestBytes: 61, ResponseBytes: 24, Code: "2.05", Requests: 1, Responses: 1,
		}, {
			From: proxy, To: server, Token: flows.HexBytes{9, 8}, Type: "CON",
			RequestFrames: []int{1001}, ResponseFrames: []int{1002},
			RequestTime: at(2 * ms), ResponseTime: at(5 * ms), RequestSize: 30, ResponseSize: 22,
			RequestBytes: 30, ResponseBytes: 22, Code: "2.05", Requests: 1, Responses: 1,
		}},
		Frames: []int{1000, 1001, 1002, 1003},
		Start:  at(0), End: at(7 * ms),
		RTT: flows.Duration{D: 7 * ms, Valid: true},
		Residence: []flows.Residence{{
			Proxy: proxy, Request: flows.Duration{D: 2 * ms, Valid: true},
			Response: flows.Duration{D: 2 * ms, Valid: true}, Relayed: true,
		}},
	}, {
		ID: "X7", Client: client, Server: server, Method: "FETCH", URI: "coap://[2001:db8::17]/fw",
		Code: "2.05", Protected: "oscore", Status: flows.Observing,
		Legs: []flows.Leg{{
			From: client, To: server, Token: flows.HexBytes{0xab}, Type: "NON",
			RequestFrames: []int{5, 9}, ResponseFrames: []int{6, 7, 8, 10}, OtherFrames: []int{11},
			RequestTime: at(0), ResponseTime: at(3 * ms), RequestSize: 40, ResponseSize: 1100,
			RequestBytes: 80, ResponseBytes: 4400, Code: "2.05", Requests: 2, Responses: 4,
			Retransmissions: 1, Notifications: 3, BlockSize: 1024,
		}},
		Notifications: 3, Frames: []int{5, 6, 7, 8, 9, 10, 11},
		Start: at(0), End: at(90 * time.Second), RTT: flows.Duration{D: 3 * ms, Valid: true},
		Observe: &flows.ObserveInfo{Established: true, FirstSeq: 12, LastSeq: 15, Ended: "deregistered", EndFrame: 11},
		Block:   &flows.BlockInfo{Option: "block2", Blocks: 4, Complete: true, Bytes: 4000, Size2: 4000},
		OSCORE: &flows.OSCORESummary{KID: flows.HexBytes{1}, KIDContext: flows.HexBytes{0x37, 0xcb},
			PIV: flows.HexBytes{0x14}, RequestVerified: "yes", ResponseVerified: "yes"},
		Links: []flows.Link{{Kind: "fed-by", Exchange: "X3", Frame: 4}},
	}}
}

func TestExchangeJSONTypical(t *testing.T) {
	for _, x := range typicalExchanges() {
		checkExchange(t, x.ID, x)
	}
}

func TestExchangeAllocs(t *testing.T) {
	xs := typicalExchanges()
	buf := make([]byte, 0, 4096)
	row := make([]string, 0, 64)
	for _, x := range xs {
		allocs := testing.AllocsPerRun(100, func() {
			buf = export.Exchange{Exchange: x}.AppendJSON(buf[:0])
		})
		if allocs != 0 {
			t.Errorf("%s: AppendJSON made %v allocations, want 0", x.ID, allocs)
		}
		// The row's cells share one string.
		allocs = testing.AllocsPerRun(100, func() {
			row = export.Exchange{Exchange: x}.CSVRow(row[:0])
		})
		if allocs > 1 {
			t.Errorf("%s: CSVRow made %v allocations, want 1", x.ID, allocs)
		}
	}
}

func BenchmarkExchangeJSON(b *testing.B) {
	xs := typicalExchanges()
	b.Run("append", func(b *testing.B) {
		b.ReportAllocs()
		var buf []byte
		for b.Loop() {
			for _, x := range xs {
				buf = export.Exchange{Exchange: x}.AppendJSON(buf[:0])
			}
		}
	})
	b.Run("encoding-json", func(b *testing.B) {
		b.ReportAllocs()
		var buf []byte
		for b.Loop() {
			for _, x := range xs {
				buf = append(buf[:0], marshalExchange(b, x)...)
			}
		}
	})
}

func BenchmarkExchangeCSV(b *testing.B) {
	xs := typicalExchanges()
	b.Run("row", func(b *testing.B) {
		b.ReportAllocs()
		var row []string
		for b.Loop() {
			for _, x := range xs {
				row = export.Exchange{Exchange: x}.CSVRow(row[:0])
			}
		}
	})
	b.Run("reference", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			for _, x := range xs {
				_ = referenceCSVRow(x)
			}
		}
	})
}
