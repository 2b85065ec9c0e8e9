package capture

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/gopacket/layers"
	"github.com/google/gopacket/pcapgo"
)

// layout is the record structure of a capture file, walked independently
// of the reader: where each record or block ends, and which hold frames.
type layout struct {
	starts, ends []int
	packet       []bool
	header       int // end of the part Open reads (pcap file header, first SHB)
}

func fileLayout(t testing.TB, b []byte) layout {
	t.Helper()
	var l layout
	if binary.LittleEndian.Uint32(b) == magicPcapng {
		var order binary.ByteOrder = binary.LittleEndian
		for off := 0; off+12 <= len(b); {
			typ := order.Uint32(b[off:])
			if typ == blockSHB {
				order = binary.LittleEndian
				if binary.BigEndian.Uint32(b[off+8:]) == ngByteOrderMagic {
					order = binary.BigEndian
				}
			}
			n := int(order.Uint32(b[off+4:]))
			if n < 12 || off+n > len(b) {
				t.Fatalf("bad block at %d", off)
			}
			if l.header == 0 {
				l.header = n
			}
			l.starts, l.ends = append(l.starts, off), append(l.ends, off+n)
			l.packet = append(l.packet, typ == blockEPB || typ == blockSPB || typ == blockPB)
			off += n
		}
		return l
	}
	order := binary.ByteOrder(binary.LittleEndian)
	if m := binary.BigEndian.Uint32(b); m == magicPcapMicro || m == magicPcapNano {
		order = binary.BigEndian
	}
	l.header = 24
	for off := 24; off+16 <= len(b); {
		n := 16 + int(order.Uint32(b[off+8:]))
		l.starts, l.ends = append(l.starts, off), append(l.ends, off+n)
		l.packet = append(l.packet, true)
		off += n
	}
	return l
}

// cuts returns offsets around and inside every record, at most max of them.
func (l layout) cuts(max int) []int {
	var cs []int
	for i, e := range l.ends {
		s := l.starts[i]
		cs = append(cs, s+1, (s+e)/2, e-1, e)
		if len(cs) >= max {
			break
		}
	}
	return cs
}

func TestTruncatedFiles(t *testing.T) {
	dir := capturesDir(t)
	sections, _ := sectionsFile(t)
	files := map[string][]byte{"sections.pcapng": sections}
	for _, name := range []string{"libcoap-fwdproxy.pcap", "public/fuzzcoap-conversation.pcapng", "public/ttproto/test_dumps_test_mergecap.pcap", "public/ttproto/test_dumps_coap_core_TD_COAP_CORE_02_PASS.pcap"} {
		b, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		files[name] = b
	}
	for name, b := range files {
		l := fileLayout(t, b)
		if l.ends[len(l.ends)-1] != len(b) {
			t.Fatalf("%s: layout ends at %d of %d", name, l.ends[len(l.ends)-1], len(b))
		}
		full, err := readAll(t, mustReader(t, b))
		if err != io.EOF {
			t.Fatalf("%s: %v", name, err)
		}
		for _, cut := range append(l.cuts(400), 0, 3, l.header-1, l.header) {
			r, err := NewReader(bytes.NewReader(b[:cut]))
			if cut < l.header {
				if err == nil {
					t.Errorf("%s cut at %d: Open succeeded inside the file header", name, cut)
				}
				continue
			}
			if err != nil {
				t.Fatalf("%s cut at %d: %v", name, cut, err)
			}
			wantFrames, clean, recStart := 0, cut == l.header, 0
			for i, e := range l.ends {
				if e <= cut && l.packet[i] {
					wantFrames++
				}
				if e == cut {
					clean = true
				}
				if l.starts[i] < cut && cut < e {
					recStart = l.starts[i]
				}
			}
			got, err := readAll(t, r)
			if len(got) != wantFrames || !equalRecs(got, full[:len(got)]) {
				t.Errorf("%s cut at %d: %d frames, want the first %d", name, cut, len(got), wantFrames)
			}
			var fe *FileError
			switch {
			case clean && err != io.EOF:
				t.Errorf("%s cut at %d, a record boundary: %v, want io.EOF", name, cut, err)
			case !clean && !errors.Is(err, ErrTruncated):
				t.Errorf("%s cut at %d: %v, want ErrTruncated", name, cut, err)
			case !clean && (!errors.As(err, &fe) || fe.Off != int64(recStart) || fe.Frame != wantFrames+1):
				t.Errorf("%s cut at %d: %v, want a FileError at offset %d, frame %d", name, cut, err, recStart, wantFrames+1)
			}
			if err2 := r.Next(new(Datagram)); err2 != err {
				t.Errorf("%s cut at %d: Next after %v returned %v", name, cut, err, err2)
			}
		}
	}
}

func TestTruncatedGzip(t *testing.T) {
	b, err := os.ReadFile(filepath.Join(capturesDir(t), "libcoap-fwdproxy.pcap"))
	if err != nil {
		t.Fatal(err)
	}
	full, _ := readAll(t, mustReader(t, b))
	z := gzipBytes(t, b)
	for cut := 30; cut < len(z); cut += len(z) / 37 {
		r, err := NewReader(bytes.NewReader(z[:cut]))
		if err != nil {
			continue // cut inside the gzip or pcap header
		}
		got, err := readAll(t, r)
		if !errors.Is(err, ErrTruncated) || len(got) >= len(full) || !equalRecs(got, full[:len(got)]) {
			t.Errorf("gzip cut at %d of %d: %d of %d frames, %v", cut, len(z), len(got), len(full), err)
		}
	}
}

func mustReader(t testing.TB, b []byte) *Reader {
	t.Helper()
	r, err := NewReader(bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// sectionsFile returns a pcapng of several sections and its frame count.
func sectionsFile(t testing.TB) ([]byte, int) {
	le, be := byteOrder(binary.LittleEndian), byteOrder(binary.BigEndian)
	ip4 := ipUDP(t, v4src, v4dst, coap)
	var f []byte
	f = append(f, ngSHB(le)...)
	f = append(f, ngIDB(le, 276, 0)...)
	f = append(f, ngEPB(le, 0, t0, sll2(0x0800, 1, ip4))...)
	f = append(f, ngBlock(le, 0x0bad, []byte("x"))...)
	f = append(f, ngEPB(le, 0, t0, sll2(0x0800, 1, ip4))...)
	f = append(f, ngSHB(be)...)
	f = append(f, ngIDB(be, 1, 0)...)
	f = append(f, ngSPB(be, ether(t, layers.EthernetTypeIPv4, ip4))...)
	f = append(f, ngEPB(be, 0, t0, ether(t, layers.EthernetTypeIPv4, ip4))...)
	return f, 4
}

func TestCorruptFiles(t *testing.T) {
	le := byteOrder(binary.LittleEndian)
	ip4 := ipUDP(t, v4src, v4dst, coap)
	frame := ether(t, layers.EthernetTypeIPv4, ip4)
	p := pcapFile{link: 1}
	good := p.record(t0, frame, len(frame))
	huge := p.record(t0, nil, 0)
	binary.LittleEndian.PutUint32(huge[8:], 0xfffffff0)
	epb := ngEPB(le, 0, t0, frame)
	longEPB := bytes.Clone(epb)
	le.PutUint32(longEPB[20:], uint32(len(frame)+100)) // packet length beyond the block
	shb, idb := ngSHB(le), ngIDB(le, 1, 0)

	for _, c := range []struct {
		name   string
		file   []byte
		frames int
		off    int // of the corrupt record
		msg    string
	}{
		{"pcap absurd caplen", concat(p.header(), good, good, huge, good), 2, 24 + 2*len(good), "record length 4294967280 exceeds 262144"},
		{"pcapng caplen beyond block", concat(shb, idb, epb, longEPB, epb), 1, len(shb) + len(idb) + len(epb), "packet length"},
		{"pcapng block length not a multiple of 4", concat(shb, idb, epb, func() []byte { b := bytes.Clone(epb); le.PutUint32(b[4:], uint32(len(b)-2)); return b }()), 1, len(shb) + len(idb) + len(epb), "not a multiple of 4"},
		{"pcapng block too short", concat(shb, idb, epb, func() []byte { b := bytes.Clone(epb); le.PutUint32(b[4:], 16); return b }()), 1, len(shb) + len(idb) + len(epb), "too short"},
		{"pcapng if_tsresol 10^-100", concat(shb, idb, epb, ngIDB(le, 1, 0, ngOption(le, 9, []byte{100})), epb), 1, len(shb) + len(idb) + len(epb), "if_tsresol 0x64"},
		{"pcapng if_tsresol 2^-100", concat(shb, ngIDB(le, 1, 0, ngOption(le, 9, []byte{0x80 | 100})), epb), 0, len(shb), "if_tsresol 0xe4"},
		{"pcapng option overruns block", concat(shb, idb, epb, func() []byte {
			b := ngIDB(le, 1, 0, ngOption(le, 2, []byte("eth0")))
			le.PutUint16(b[18:], 200)
			return b
		}()), 1, len(shb) + len(idb) + len(epb), "overruns"},
		{"pcapng trailer mismatch", concat(shb, func() []byte { b := bytes.Clone(idb); b[len(b)-4]++; return b }(), epb), 0, len(shb), "does not match trailer"},
		{"pcapng unknown interface", concat(shb, idb, epb, ngEPB(le, 5, t0, frame)), 1, -1, "Interface id 5 not present"},
		{"pcapng packet before interface", concat(shb, epb), 0, -1, "Interface id 0 not present"},
		{"pcapng simple packet beyond block", concat(shb, idb, func() []byte { b := ngSPB(le, frame); le.PutUint32(b[8:], 5000); return b }()), 0, len(shb) + len(idb), "packet length 5000"},
	} {
		r, err := NewReader(bytes.NewReader(c.file))
		if err != nil {
			t.Errorf("%s: Open: %v", c.name, err)
			continue
		}
		recs, err := readAll(t, r)
		var fe *FileError
		if len(recs) != c.frames || !errors.Is(err, ErrCorrupt) || !errors.As(err, &fe) || !strings.Contains(err.Error(), c.msg) {
			t.Errorf("%s: %d frames, %v; want %d frames, ErrCorrupt %q", c.name, len(recs), err, c.frames, c.msg)
			continue
		}
		if c.off >= 0 && fe.Off != int64(c.off) || fe.Frame != c.frames+1 {
			t.Errorf("%s: %v: want offset %d frame %d", c.name, err, c.off, c.frames+1)
		}
		if !strings.HasPrefix(err.Error(), "capture: input: frame ") {
			t.Errorf("%s: message %q", c.name, err)
		}
	}
}

// TestPcapgoHazards shows what the framing layer protects against: pcapgo
// on its own divides by zero on an if_tsresol of 2^-64, and reports a record
// header without its data as a clean end of file.
func TestPcapgoHazards(t *testing.T) {
	le := byteOrder(binary.LittleEndian)
	frame := ether(t, layers.EthernetTypeIPv4, ipUDP(t, v4src, v4dst, coap))
	bad := concat(ngSHB(le), ngIDB(le, 1, 0, ngOption(le, 9, []byte{0x80 | 64})), ngEPB(le, 0, t0, frame))
	func() {
		defer func() {
			if recover() == nil {
				t.Log("pcapgo no longer panics on if_tsresol 2^-64")
			}
		}()
		nr, err := pcapgo.NewNgReader(bytes.NewReader(bad), pcapgo.NgReaderOptions{WantMixedLinkType: true})
		if err == nil {
			nr.ReadPacketData()
		}
	}()
	r := mustReader(t, bad)
	if _, err := readAll(t, r); !errors.Is(err, ErrCorrupt) {
		t.Errorf("if_tsresol 2^-64: %v, want ErrCorrupt", err)
	}

	p := pcapFile{link: 1}
	cut := concat(p.header(), p.record(t0, frame, len(frame)), p.record(t0, frame, len(frame))[:16])
	pr, err := pcapgo.NewReader(bytes.NewReader(cut))
	if err != nil {
		t.Fatal(err)
	}
	pr.ReadPacketData()
	if _, _, err := pr.ReadPacketData(); err != io.EOF {
		t.Logf("pcapgo now reports %v for a record without data", err)
	}
	if recs, err := readAll(t, mustReader(t, cut)); len(recs) != 1 || !errors.Is(err, ErrTruncated) {
		t.Errorf("record without data: %d frames, %v; want 1, ErrTruncated", len(recs), err)
	}
}

func TestCorruptGzip(t *testing.T) {
	b, err := os.ReadFile(filepath.Join(capturesDir(t), "libcoap-fwdproxy.pcap"))
	if err != nil {
		t.Fatal(err)
	}
	full, _ := readAll(t, mustReader(t, b))
	z := gzipBytes(t, b)
	z[len(z)-5] ^= 0xff // the CRC-32 in the trailer
	got, err := readAll(t, mustReader(t, z))
	if !errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), "gzip") || !equalRecs(got, full[:len(got)]) {
		t.Errorf("bad CRC: %d of %d frames, %v", len(got), len(full), err)
	}
	z = gzipBytes(t, b)
	z = append(z, "trailing junk"...)
	if got, err := readAll(t, mustReader(t, z)); !errors.Is(err, ErrCorrupt) || len(got) != len(full) {
		t.Errorf("junk after the gzip stream: %d of %d frames, %v", len(got), len(full), err)
	}
}

func concat(bs ...[]byte) []byte { return bytes.Join(bs, nil) }
