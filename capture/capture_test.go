package capture

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"errors"
	"io"
	"io/fs"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/coapaudit/coapaudit/internal/testenv"
)

// requireTools reports whether missing captures or tools fail the tests
// rather than skip them.
func requireTools() bool { return os.Getenv("COAPAUDIT_REQUIRE_TOOLS") == "1" }

func skipOrFail(t testing.TB, format string, args ...any) {
	t.Helper()
	if requireTools() {
		t.Fatalf(format, args...)
	}
	t.Skipf(format, args...)
}

func capturesDir(t testing.TB) string {
	t.Helper()
	return testenv.CapturesDir(t)
}

func tool(t testing.TB, name string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		skipOrFail(t, "%s not on PATH", name)
	}
	return p
}

// sharedCaptures returns every *.pcap and *.pcapng under the shared
// captures, sorted.
func sharedCaptures(t testing.TB) []string {
	t.Helper()
	var files []string
	err := filepath.WalkDir(capturesDir(t), func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if ext := filepath.Ext(p); !d.IsDir() && (ext == ".pcap" || ext == ".pcapng") {
			files = append(files, p)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(files) == 0 {
		t.Fatal("no captures found")
	}
	slices.Sort(files)
	return files
}

// rec is what the tests keep of a Datagram.
type rec struct {
	Number     int
	Kind       Kind
	Reason     string
	Link       LinkType
	Interface  int
	Src, Dst   netip.AddrPort
	Payload    []byte
	UDPLength  int
	Truncated  bool
	Fragments  []int
	PayloadOff int
	TCP        TCPHeader
}

// readAll reads r to its end and returns the frames and the final error.
func readAll(t testing.TB, r *Reader) ([]rec, error) {
	t.Helper()
	var out []rec
	var d Datagram
	for {
		err := r.Next(&d)
		if err != nil {
			return out, err
		}
		if d.Number != len(out)+1 || r.Frames() != d.Number {
			t.Fatalf("frame %d numbered %d (Frames() = %d)", len(out)+1, d.Number, r.Frames())
		}
		if d.PayloadOff >= 0 && !bytes.Equal(d.Data[d.PayloadOff:d.PayloadOff+len(d.Payload)], d.Payload) {
			t.Fatalf("frame %d: PayloadOff %d does not locate Payload", d.Number, d.PayloadOff)
		}
		if d.CapLen != len(d.Data) {
			t.Fatalf("frame %d: CapLen %d, %d bytes of data", d.Number, d.CapLen, len(d.Data))
		}
		out = append(out, rec{
			Number: d.Number, Kind: d.Kind, Reason: d.Reason, Link: d.LinkType, Interface: d.Interface,
			Src: d.Src, Dst: d.Dst, Payload: bytes.Clone(d.Payload), UDPLength: d.UDPLength,
			Truncated: d.Truncated, Fragments: slices.Clone(d.Fragments), PayloadOff: d.PayloadOff, TCP: d.TCP,
		})
	}
}

func readFile(t testing.TB, name string) ([]rec, error) {
	t.Helper()
	r, err := Open(name)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	return readAll(t, r)
}

// capinfosCount returns the frame count capinfos reports for name.
func capinfosCount(t testing.TB, capinfos, name string) int {
	t.Helper()
	out, err := exec.Command(capinfos, "-c", "-M", "-T", "-r", name).Output()
	if err != nil {
		t.Fatalf("capinfos %s: %v", name, err)
	}
	fields := strings.Split(strings.TrimSpace(string(out)), "\t")
	n, err := strconv.Atoi(fields[len(fields)-1])
	if err != nil {
		t.Fatalf("capinfos %s: %q", name, out)
	}
	return n
}

func TestSharedCapturesFrameCounts(t *testing.T) {
	files := sharedCaptures(t)
	capinfos, _ := exec.LookPath("capinfos")
	if capinfos == "" && requireTools() {
		t.Fatal("capinfos not on PATH")
	}
	total, udp := 0, 0
	for _, name := range files {
		recs, err := readFile(t, name)
		if err != io.EOF {
			t.Errorf("%s: after %d frames: %v, want io.EOF", name, len(recs), err)
		}
		total += len(recs)
		for _, r := range recs {
			if r.Kind == KindUDP {
				udp++
			}
			if r.Kind != KindUDP && r.Reason == "" {
				t.Errorf("%s: frame %d: %v without a reason", name, r.Number, r.Kind)
			}
		}
		if capinfos != "" {
			if want := capinfosCount(t, capinfos, name); len(recs) != want {
				t.Errorf("%s: %d frames, capinfos counts %d", name, len(recs), want)
			}
		}
	}
	t.Logf("%d captures, %d frames, %d UDP", len(files), total, udp)
	if udp == 0 {
		t.Error("no UDP frames in the shared captures")
	}
}

// tsharkFrame is one row of tshark's fields output.
type tsharkFrame struct {
	protocols              string
	ipSrc, ipDst           string
	ip6Src, ip6Dst         string
	srcPort, dstPort, ulen string
}

// TestSharedCapturesMatchTshark compares every frame of every shared capture
// with tshark's dissection. The captures are concatenated with mergecap so
// that tshark starts once; that file, with its per-interface link types, is
// read as well.
func TestSharedCapturesMatchTshark(t *testing.T) {
	files := sharedCaptures(t)
	tshark := tool(t, "tshark")
	mergecap := tool(t, "mergecap")
	merged := filepath.Join(t.TempDir(), "all.pcapng")
	if out, err := exec.Command(mergecap, append([]string{"-a", "-F", "pcapng", "-w", merged}, files...)...).CombinedOutput(); err != nil {
		t.Fatalf("mergecap: %v\n%s", err, out)
	}
	out, err := exec.Command(tshark, "-n", "-r", merged, "-T", "fields", "-E", "separator=/t", "-E", "occurrence=l",
		"-e", "frame.number", "-e", "frame.protocols", "-e", "ip.src", "-e", "ip.dst", "-e", "ipv6.src", "-e", "ipv6.dst",
		"-e", "udp.srcport", "-e", "udp.dstport", "-e", "udp.length").Output()
	if err != nil {
		t.Fatalf("tshark: %v", err)
	}
	var want []tsharkFrame
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		f := strings.Split(sc.Text(), "\t")
		if len(f) != 9 || f[0] != strconv.Itoa(len(want)+1) {
			t.Fatalf("tshark line %d: %q", len(want)+1, sc.Text())
		}
		want = append(want, tsharkFrame{f[1], f[2], f[3], f[4], f[5], f[6], f[7], f[8]})
	}

	mergedRecs, err := readFile(t, merged)
	if err != io.EOF {
		t.Fatalf("%s: %v", merged, err)
	}
	if len(mergedRecs) != len(want) {
		t.Fatalf("merged file: %d frames, tshark counts %d", len(mergedRecs), len(want))
	}
	base := 0
	compared := 0
	for _, name := range files {
		recs, err := readFile(t, name)
		if err != io.EOF {
			t.Errorf("%s: %v", name, err)
		}
		for i, r := range recs {
			if base+i >= len(want) {
				t.Fatalf("%s: more frames than tshark shows", name)
			}
			m := mergedRecs[base+i]
			if m.Kind != r.Kind || m.Src != r.Src || m.Dst != r.Dst || !bytes.Equal(m.Payload, r.Payload) || m.Link != r.Link {
				t.Errorf("%s frame %d: read alone %+v, in merged file %+v", name, r.Number, r, m)
			}
			if compareFrame(t, name, r, want[base+i]) {
				compared++
			}
		}
		base += len(recs)
	}
	if base != len(want) {
		t.Errorf("%d frames in the captures, tshark counts %d", base, len(want))
	}
	t.Logf("%d frames, %d UDP frames compared field by field", base, compared)
}

// compareFrame checks one frame against tshark, reporting whether it was a
// UDP frame compared field by field.
func compareFrame(t *testing.T, name string, r rec, w tsharkFrame) bool {
	t.Helper()
	protos := strings.Split(w.protocols, ":")
	isUDP := slices.Contains(protos, "udp")
	if strings.HasPrefix(r.Reason, "unsupported link type") {
		return false // tshark knows more link layers
	}
	if isUDP && slices.Contains(protos, "icmp") || slices.Contains(protos, "icmpv6") {
		// The UDP header tshark shows is the one quoted in an ICMP error.
		if r.Kind == KindUDP {
			t.Errorf("%s frame %d: ICMP frame (%s) read as UDP", name, r.Number, w.protocols)
		}
		return false
	}
	if !isUDP {
		if r.Kind == KindUDP {
			t.Errorf("%s frame %d: read as UDP, tshark: %s", name, r.Number, w.protocols)
		}
		return false
	}
	if r.Kind != KindUDP {
		// tshark shows a UDP header cut short with its ports but no length.
		if !(r.Reason == "udp truncated" && w.ulen == "") {
			t.Errorf("%s frame %d: read as %v (%s), tshark: %s", name, r.Number, r.Kind, r.Reason, w.protocols)
		}
		return false
	}
	src, dst := w.ipSrc, w.ipDst
	for _, p := range slices.Backward(protos[:slices.Index(protos, "udp")]) {
		if p == "ipv6" {
			src, dst = w.ip6Src, w.ip6Dst
		}
		if p == "ip" || p == "ipv6" {
			break
		}
	}
	got := []string{r.Src.Addr().String(), r.Dst.Addr().String(), strconv.Itoa(int(r.Src.Port())), strconv.Itoa(int(r.Dst.Port())), strconv.Itoa(r.UDPLength)}
	exp := []string{src, dst, w.srcPort, w.dstPort, w.ulen}
	if !slices.Equal(got, exp) {
		t.Errorf("%s frame %d: src, dst, ports, length %q, tshark %q", name, r.Number, got, exp)
	}
	if !r.Truncated && len(r.Payload) != r.UDPLength-8 {
		t.Errorf("%s frame %d: %d payload bytes, UDP length %d", name, r.Number, len(r.Payload), r.UDPLength)
	}
	return true
}

func gzipBytes(t testing.TB, b []byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	if _, err := zw.Write(b); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// smallCaptures returns the shared captures of at most max bytes.
func smallCaptures(t testing.TB, max int64) []string {
	t.Helper()
	var out []string
	for _, name := range sharedCaptures(t) {
		if fi, err := os.Stat(name); err == nil && fi.Size() <= max {
			out = append(out, name)
		}
	}
	return out
}

func TestGzipAndStreams(t *testing.T) {
	for _, name := range sharedCaptures(t) {
		raw, err := os.ReadFile(name)
		if err != nil {
			t.Fatal(err)
		}
		want, err := readFile(t, name)
		if err != io.EOF {
			t.Fatalf("%s: %v", name, err)
		}
		zipped := gzipBytes(t, raw)
		gzName := filepath.Join(t.TempDir(), filepath.Base(name)+".gz")
		if err := os.WriteFile(gzName, zipped, 0o644); err != nil {
			t.Fatal(err)
		}
		for _, c := range []struct {
			how string
			rd  io.Reader
		}{
			{"gzip stream", bytes.NewReader(zipped)},
			{"one byte at a time", &oneByteReader{bytes.NewReader(raw)}},
			{"gzip one byte at a time", &oneByteReader{bytes.NewReader(zipped)}},
		} {
			r, err := NewReader(c.rd)
			if err != nil {
				t.Fatalf("%s %s: %v", name, c.how, err)
			}
			got, err := readAll(t, r)
			if err != io.EOF {
				t.Errorf("%s %s: %v", name, c.how, err)
			}
			if !equalRecs(got, want) {
				t.Errorf("%s %s: %d frames differ from the plain file's %d", name, c.how, len(got), len(want))
			}
		}
		got, err := readFile(t, gzName)
		if err != io.EOF || !equalRecs(got, want) {
			t.Errorf("%s: %d frames, %v", gzName, len(got), err)
		}
	}
}

func equalRecs(a, b []rec) bool {
	return slices.EqualFunc(a, b, func(x, y rec) bool {
		return x.Number == y.Number && x.Kind == y.Kind && x.Reason == y.Reason && x.Src == y.Src &&
			x.Dst == y.Dst && bytes.Equal(x.Payload, y.Payload) && x.Link == y.Link
	})
}

// oneByteReader returns one byte per Read, as a slow pipe might.
type oneByteReader struct{ r io.Reader }

func (o *oneByteReader) Read(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	return o.r.Read(p[:1])
}

func TestStdin(t *testing.T) {
	files := smallCaptures(t, 64<<10)
	name := files[len(files)/2]
	want, _ := readFile(t, name)
	f, err := os.Open(name)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	saved := os.Stdin
	os.Stdin = f
	defer func() { os.Stdin = saved }()
	r, err := Open("-")
	if err != nil {
		t.Fatal(err)
	}
	got, err := readAll(t, r)
	if err != io.EOF || !equalRecs(got, want) {
		t.Errorf("stdin: %d frames, %v; want %d frames", len(got), err, len(want))
	}
	if err := r.Close(); err != nil {
		t.Error(err)
	}
	if _, err := f.Stat(); err != nil {
		t.Errorf("Close closed stdin: %v", err)
	}
}

func TestOpenErrors(t *testing.T) {
	dir := t.TempDir()
	write := func(name string, b []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, b, 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	for _, c := range []struct {
		name    string
		data    []byte
		want    string
		wantErr error
	}{
		{"text.pcap", []byte(`{"type":"packet"}`), "text.pcap: not a pcap or pcapng file (magic 0x7b227479)", nil},
		{"empty.pcap", nil, "empty.pcap: not a pcap or pcapng file (0 bytes)", nil},
		{"short.pcap", []byte{0xd4, 0xc3, 0xb2, 0xa1, 2, 0, 4, 0}, "short.pcap: pcap file header truncated (8 of 24 bytes)", ErrTruncated},
		{"gzjunk.pcap.gz", gzipBytes(t, []byte("hello world")), "gzjunk.pcap.gz: not a pcap or pcapng file (magic 0x68656c6c)", nil},
		{"badgz.pcap.gz", []byte{0x1f, 0x8b, 0, 0}, "badgz.pcap.gz: gzip:", nil},
		{"version.pcap", append([]byte{0xd4, 0xc3, 0xb2, 0xa1, 3, 0, 4, 0}, make([]byte, 16)...), "version.pcap: pcap file header:", nil},
		{"ngbom.pcapng", []byte{0x0a, 0x0d, 0x0d, 0x0a, 28, 0, 0, 0, 1, 2, 3, 4, 1, 0, 0, 0, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 28, 0, 0, 0}, "ngbom.pcapng: corrupt record: section header byte-order magic", ErrCorrupt},
	} {
		_, err := Open(write(c.name, c.data))
		if err == nil {
			t.Errorf("%s: no error", c.name)
			continue
		}
		if msg := err.Error(); !strings.HasPrefix(msg, "capture: ") || !strings.Contains(msg, c.want) || strings.Contains(msg, "\n") {
			t.Errorf("%s: error %q, want one line containing %q", c.name, msg, c.want)
		}
		if c.wantErr != nil && !errors.Is(err, c.wantErr) {
			t.Errorf("%s: %v is not %v", c.name, err, c.wantErr)
		}
	}
	if _, err := Open(filepath.Join(dir, "missing.pcap")); err == nil || !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("missing file: %v", err)
	}
}
