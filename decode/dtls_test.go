package decode

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/coapaudit/coapaudit/internal/testenv"
	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"
	"github.com/google/gopacket/pcapgo"
)

// ---- capture helpers -------------------------------------------------------

// dtlsCapturePacket is the UDP payload of one frame of a capture.
type dtlsCapturePacket struct {
	Frame   int // from 1, as Wireshark numbers frames
	Src     string
	Dst     string
	SrcPort uint16
	DstPort uint16
	Payload []byte
}

// dtlsCaptureDir returns the shared captures directory, skipping the test
// when it is missing (or failing when COAPAUDIT_REQUIRE_TOOLS=1).
func dtlsCaptureDir(t testing.TB) string {
	t.Helper()
	return testenv.CapturesDir(t)
}

// dtlsCaptureFiles returns every pcap and pcapng file under the shared
// captures directory.
func dtlsCaptureFiles(t testing.TB) []string {
	t.Helper()
	var files []string
	err := filepath.WalkDir(dtlsCaptureDir(t), func(path string, e os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !e.IsDir() && (strings.HasSuffix(path, ".pcap") || strings.HasSuffix(path, ".pcapng")) {
			files = append(files, path)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(files) == 0 {
		t.Fatal("no capture files found")
	}
	return files
}

// dtlsReadUDP returns the UDP payloads of a pcap or pcapng file.
func dtlsReadUDP(t testing.TB, path string) []dtlsCapturePacket {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var magic [4]byte
	if _, err := io.ReadFull(f, magic[:]); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		t.Fatal(err)
	}

	var next func() ([]byte, layers.LinkType, error)
	if binary.BigEndian.Uint32(magic[:]) == 0x0a0d0d0a {
		r, err := pcapgo.NewNgReader(f, pcapgo.NgReaderOptions{WantMixedLinkType: true})
		if err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		next = func() ([]byte, layers.LinkType, error) {
			data, ci, err := r.ReadPacketData()
			if err != nil {
				return nil, 0, err
			}
			lt := r.LinkType()
			if len(ci.AncillaryData) > 0 {
				if l, ok := ci.AncillaryData[0].(layers.LinkType); ok {
					lt = l
				}
			}
			return data, lt, nil
		}
	} else {
		r, err := pcapgo.NewReader(f)
		if err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		next = func() ([]byte, layers.LinkType, error) {
			data, _, err := r.ReadPacketData()
			return data, r.LinkType(), err
		}
	}

	var out []dtlsCapturePacket
	for frame := 1; ; frame++ {
		data, lt, err := next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("%s frame %d: %v", path, frame, err)
		}
		p := gopacket.NewPacket(data, lt, gopacket.DecodeOptions{Lazy: true, NoCopy: true})
		udp, ok := p.Layer(layers.LayerTypeUDP).(*layers.UDP)
		if !ok || p.NetworkLayer() == nil {
			continue
		}
		nf := p.NetworkLayer().NetworkFlow()
		out = append(out, dtlsCapturePacket{
			Frame:   frame,
			Src:     nf.Src().String(),
			Dst:     nf.Dst().String(),
			SrcPort: uint16(udp.SrcPort),
			DstPort: uint16(udp.DstPort),
			Payload: udp.Payload,
		})
	}
	return out
}

func dtlsProxyCapture(t testing.TB) []dtlsCapturePacket {
	t.Helper()
	pkts := dtlsReadUDP(t, filepath.Join(dtlsCaptureDir(t), "libcoap-dtls-proxy.pcap"))
	if len(pkts) != 66 {
		t.Fatalf("libcoap-dtls-proxy.pcap: %d UDP frames, want 66", len(pkts))
	}
	return pkts
}

// ---- builders --------------------------------------------------------------

func dtlsRec(typ ContentType, version, epoch uint16, seq uint64, frag []byte) []byte {
	b := []byte{byte(typ), byte(version >> 8), byte(version), byte(epoch >> 8), byte(epoch)}
	b = append(b, byte(seq>>40), byte(seq>>32), byte(seq>>24), byte(seq>>16), byte(seq>>8), byte(seq))
	b = append(b, byte(len(frag)>>8), byte(len(frag)))
	return append(b, frag...)
}

func dtlsCIDRec(epoch uint16, seq uint64, cid, frag []byte) []byte {
	b := []byte{byte(ContentTLS12CID), 0xfe, 0xfd, byte(epoch >> 8), byte(epoch)}
	b = append(b, byte(seq>>40), byte(seq>>32), byte(seq>>24), byte(seq>>16), byte(seq>>8), byte(seq))
	b = append(b, cid...)
	b = append(b, byte(len(frag)>>8), byte(len(frag)))
	return append(b, frag...)
}

// dtlsFrag builds a handshake message fragment.
func dtlsFrag(typ HandshakeType, seq uint16, length, fragOff uint32, body []byte) []byte {
	b := []byte{byte(typ), byte(length >> 16), byte(length >> 8), byte(length), byte(seq >> 8), byte(seq),
		byte(fragOff >> 16), byte(fragOff >> 8), byte(fragOff),
		byte(len(body) >> 16), byte(len(body) >> 8), byte(len(body))}
	return append(b, body...)
}

// dtlsMsg builds a complete (unfragmented) handshake message.
func dtlsMsg(typ HandshakeType, seq uint16, body []byte) []byte {
	return dtlsFrag(typ, seq, uint32(len(body)), 0, body)
}

func dtlsVec8(v []byte) []byte  { return append([]byte{byte(len(v))}, v...) }
func dtlsVec16(v []byte) []byte { return append([]byte{byte(len(v) >> 8), byte(len(v))}, v...) }

func dtlsExt(typ uint16, data []byte) []byte {
	return append([]byte{byte(typ >> 8), byte(typ)}, dtlsVec16(data)...)
}

func dtlsCat(parts ...[]byte) []byte { return bytes.Join(parts, nil) }

func dtlsClientHello(cookie []byte, suites []uint16, exts ...[]byte) []byte {
	var cs []byte
	for _, s := range suites {
		cs = append(cs, byte(s>>8), byte(s))
	}
	b := dtlsCat([]byte{0xfe, 0xfd}, bytes.Repeat([]byte{0xaa}, 32), dtlsVec8(nil), dtlsVec8(cookie),
		dtlsVec16(cs), dtlsVec8([]byte{0}))
	if len(exts) > 0 {
		b = append(b, dtlsVec16(dtlsCat(exts...))...)
	}
	return b
}

func dtlsServerHello(random []byte, suite uint16, exts ...[]byte) []byte {
	b := dtlsCat([]byte{0xfe, 0xfd}, random, dtlsVec8([]byte{1, 2, 3}), []byte{byte(suite >> 8), byte(suite), 0})
	if len(exts) > 0 {
		b = append(b, dtlsVec16(dtlsCat(exts...))...)
	}
	return b
}

var (
	dtlsX25519 = dtlsVec8(bytes.Repeat([]byte{0x11}, 32))
	dtlsP256   = dtlsVec8(append([]byte{4}, bytes.Repeat([]byte{0x22}, 64)...))
	dtlsCipher = bytes.Repeat([]byte{0x5c}, 40)
	dtlsAlice  = []byte("alice")
)

// ---- record layer ----------------------------------------------------------

func TestDTLSDecodeRecords(t *testing.T) {
	ccs := dtlsRec(ContentChangeCipherSpec, VersionDTLS12, 0, 3, []byte{1})
	appData := dtlsRec(ContentApplicationData, VersionDTLS12, 1, 7, dtlsCipher)
	type rec struct {
		typ     ContentType
		epoch   uint16
		seq     uint64
		length  int
		unified bool
		cid     string
	}
	tests := []struct {
		name      string
		in        []byte
		cidLen    int
		want      []rec
		anomalies []AnomalyKind
		anomOff   []int
	}{
		{
			name: "one record",
			in:   appData,
			want: []rec{{typ: ContentApplicationData, epoch: 1, seq: 7, length: 40}},
		},
		{
			name: "three records back to back",
			in: dtlsCat(dtlsRec(ContentHandshake, VersionDTLS12, 0, 2, dtlsMsg(HandshakeClientKeyExchange, 2, dtlsCat(dtlsVec16(dtlsAlice), dtlsX25519))),
				ccs, dtlsRec(ContentHandshake, VersionDTLS12, 1, 0, dtlsCipher)),
			want: []rec{
				{typ: ContentHandshake, seq: 2, length: 12 + 2 + 5 + 33},
				{typ: ContentChangeCipherSpec, seq: 3, length: 1},
				{typ: ContentHandshake, epoch: 1, length: 40},
			},
		},
		{
			name: "48-bit sequence number",
			in:   dtlsRec(ContentApplicationData, VersionDTLS12, 0xffff, 0xfedcba987654, dtlsCipher),
			want: []rec{{typ: ContentApplicationData, epoch: 0xffff, seq: 0xfedcba987654, length: 40}},
		},
		{
			name:      "trailing zero padding",
			in:        dtlsCat(appData, []byte{0, 0, 0}),
			want:      []rec{{typ: ContentApplicationData, epoch: 1, seq: 7, length: 40}},
			anomalies: []AnomalyKind{AnomalyDTLSTrailing},
			anomOff:   []int{len(appData)},
		},
		{
			name:      "trailing bytes with a TLS version",
			in:        dtlsCat(appData, []byte{23, 3, 3, 0, 1, 0}),
			want:      []rec{{typ: ContentApplicationData, epoch: 1, seq: 7, length: 40}},
			anomalies: []AnomalyKind{AnomalyDTLSTrailing},
			anomOff:   []int{len(appData)},
		},
		{
			name:      "DTLS 1.3 version on the record layer",
			in:        dtlsRec(ContentApplicationData, VersionDTLS13, 1, 0, dtlsCipher),
			want:      []rec{{typ: ContentApplicationData, epoch: 1, length: 40}},
			anomalies: []AnomalyKind{AnomalyDTLSVersion},
			anomOff:   []int{1},
		},
		{
			name:      "ChangeCipherSpec of two bytes",
			in:        dtlsRec(ContentChangeCipherSpec, VersionDTLS12, 0, 0, []byte{1, 1}),
			want:      []rec{{typ: ContentChangeCipherSpec, length: 2}},
			anomalies: []AnomalyKind{AnomalyDTLSLength},
			anomOff:   []int{11},
		},
		{
			name:      "protected record too short",
			in:        dtlsRec(ContentApplicationData, VersionDTLS12, 1, 0, []byte{1, 2, 3}),
			want:      []rec{{typ: ContentApplicationData, epoch: 1, length: 3}},
			anomalies: []AnomalyKind{AnomalyDTLSLength},
			anomOff:   []int{11},
		},
		{
			name:      "empty handshake record fragment tail",
			in:        dtlsRec(ContentHandshake, VersionDTLS12, 0, 0, []byte{14, 0, 0}),
			want:      []rec{{typ: ContentHandshake, length: 3}},
			anomalies: []AnomalyKind{AnomalyDTLSLength},
			anomOff:   []int{13},
		},
		{
			name: "unified header, 16-bit seq, length, epoch 3",
			in:   dtlsCat([]byte{0x2f, 0x12, 0x34, 0, 40}, dtlsCipher),
			want: []rec{{unified: true, epoch: 3, seq: 0x1234, length: 40}},
		},
		{
			name: "unified header without length ends the datagram",
			in:   dtlsCat(appData, []byte{0x22, 0x07}, dtlsCipher),
			want: []rec{
				{typ: ContentApplicationData, epoch: 1, seq: 7, length: 40},
				{unified: true, epoch: 2, seq: 7, length: 40},
			},
		},
		{
			name:   "unified header with configured connection ID",
			in:     dtlsCat([]byte{0x35, 0xc1, 0xc2, 0xc3, 0x09, 0, 40}, dtlsCipher, []byte{0x25, 0x0a, 0, 16}, dtlsCipher[:16]),
			cidLen: 3,
			want: []rec{
				{unified: true, epoch: 1, seq: 9, length: 40, cid: "\xc1\xc2\xc3"},
				{unified: true, epoch: 1, seq: 10, length: 16},
			},
		},
		{
			name: "unified header with inferred connection ID",
			in:   dtlsCat([]byte{0x35, 0xc1, 0xc2, 0x09, 0, 40}, dtlsCipher),
			want: []rec{{unified: true, epoch: 1, seq: 9, length: 40, cid: "\xc1\xc2"}},
		},
		{
			name:   "tls12_cid record with configured connection ID",
			in:     dtlsCIDRec(1, 4, []byte{9, 8, 7, 6}, dtlsCipher),
			cidLen: 4,
			want:   []rec{{typ: ContentTLS12CID, epoch: 1, seq: 4, length: 40, cid: "\x09\x08\x07\x06"}},
		},
		{
			name: "tls12_cid records with inferred connection ID",
			in:   dtlsCat(dtlsCIDRec(1, 4, []byte{9, 8, 7, 6, 5}, dtlsCipher), dtlsCIDRec(1, 5, []byte{9, 8, 7, 6, 5}, dtlsCipher[:20])),
			want: []rec{
				{typ: ContentTLS12CID, epoch: 1, seq: 4, length: 40, cid: "\x09\x08\x07\x06\x05"},
				{typ: ContentTLS12CID, epoch: 1, seq: 5, length: 20, cid: "\x09\x08\x07\x06\x05"},
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := DTLS{ConnIDLen: tt.cidLen}
			if err := d.Decode(tt.in); err != nil {
				t.Fatalf("Decode: %v", err)
			}
			if len(d.Records) != len(tt.want) {
				t.Fatalf("got %d records, want %d", len(d.Records), len(tt.want))
			}
			end := 0
			for i, w := range tt.want {
				r := d.Records[i]
				got := rec{typ: r.ContentType, epoch: r.Epoch, seq: r.Seq, length: r.Length, unified: r.Unified, cid: string(r.ConnID)}
				if got != w {
					t.Errorf("record %d = %+v, want %+v", i, got, w)
				}
				if r.Span.Off != end || r.Span.Len != r.HeaderLen+r.Length || len(r.Fragment) != r.Length {
					t.Errorf("record %d: span %+v, header %d, fragment %d", i, r.Span, r.HeaderLen, len(r.Fragment))
				}
				if r.Length > 0 && &r.Fragment[0] != &tt.in[r.Span.Off+r.HeaderLen] {
					t.Errorf("record %d: Fragment does not borrow the input", i)
				}
				end = r.Span.Off + r.Span.Len
			}
			var kinds []AnomalyKind
			var offs []int
			for _, a := range d.Anomalies {
				kinds = append(kinds, a.Kind)
				offs = append(offs, a.Off)
			}
			if !slices.Equal(kinds, tt.anomalies) || !slices.Equal(offs, tt.anomOff) {
				t.Errorf("anomalies %v at %v, want %v at %v", kinds, offs, tt.anomalies, tt.anomOff)
			}
			if tt.anomalies == nil && end != len(tt.in) {
				t.Errorf("records end at %d, datagram at %d", end, len(tt.in))
			}
		})
	}
}

func TestDTLSDecodeErrors(t *testing.T) {
	appData := dtlsRec(ContentApplicationData, VersionDTLS12, 1, 7, dtlsCipher)
	overrun := dtlsRec(ContentApplicationData, VersionDTLS12, 1, 8, dtlsCipher)
	overrun = overrun[:len(overrun)-1]
	tests := []struct {
		name    string
		in      []byte
		err     error
		off     int
		field   string
		records int
	}{
		{"empty", nil, ErrTruncated, 0, "DTLSRecord", 0},
		{"CoAP message", []byte{0x40, 0x01, 0x12, 0x34}, ErrNotDTLS, 0, "DTLSRecord.ContentType", 0},
		{"unknown content type", dtlsRec(27, VersionDTLS12, 0, 0, []byte{1}), ErrNotDTLS, 0, "DTLSRecord.ContentType", 0},
		{"TLS record", []byte{22, 3, 3, 0, 5, 1, 0, 0, 1, 0}, ErrBadVersion, 1, "DTLSRecord.Version", 0},
		{"header cut after version", []byte{22, 0xfe, 0xfd, 0}, ErrTruncated, 0, "DTLSRecord", 0},
		{"one byte", []byte{23}, ErrTruncated, 0, "DTLSRecord", 0},
		{"length past the datagram", overrun, ErrTruncated, 11, "DTLSRecord.Length", 0},
		{"second record cut", dtlsCat(appData, overrun), ErrTruncated, len(appData) + 11, "DTLSRecord.Length", 1},
		{"second header cut", dtlsCat(appData, appData[:7]), ErrTruncated, len(appData), "DTLSRecord", 1},
		{"unified header cut", []byte{0x2c, 0x01}, ErrTruncated, 0, "DTLSRecord", 0},
		{"unified length past the datagram", []byte{0x24, 0x01, 0x00, 0x20, 1, 2}, ErrTruncated, 2, "DTLSRecord.Length", 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var d DTLS
			err := d.Decode(tt.in)
			if !errors.Is(err, tt.err) {
				t.Fatalf("Decode error %v, want %v", err, tt.err)
			}
			var fe *FormatError
			if !errors.As(err, &fe) {
				t.Fatalf("error %T is not a *FormatError", err)
			}
			if fe.Off != tt.off || fe.Field != tt.field {
				t.Errorf("FormatError at %d in %q, want %d in %q", fe.Off, fe.Field, tt.off, tt.field)
			}
			if len(d.Records) != tt.records {
				t.Errorf("kept %d records, want %d", len(d.Records), tt.records)
			}
			if !strings.Contains(err.Error(), tt.field) {
				t.Errorf("message %q does not name the field", err)
			}
		})
	}
}

func TestDTLSUnknownConnIDLength(t *testing.T) {
	// A unified header with the C bit and no length field: nothing tells
	// where the connection ID ends.
	in := dtlsCat([]byte{0x31, 0xc1, 0xc2, 0x09}, dtlsCipher)
	var d DTLS
	if err := d.Decode(in); err != nil {
		t.Fatal(err)
	}
	if len(d.Records) != 1 {
		t.Fatalf("%d records", len(d.Records))
	}
	r := d.Records[0]
	if !r.ConnIDUnknown || r.ConnID != nil || r.Span.Len != len(in) || r.HeaderLen != 1 || len(r.Fragment) != len(in)-1 {
		t.Errorf("record %+v", r)
	}
	if LooksLikeDTLS(in) {
		t.Error("LooksLikeDTLS accepted a record it cannot frame")
	}
	// With the length configured the same bytes frame.
	d.ConnIDLen = 2
	if err := d.Decode(in); err != nil {
		t.Fatal(err)
	}
	if r := d.Records[0]; r.ConnIDUnknown || string(r.ConnID) != "\xc1\xc2" || r.Seq != 9 || r.Length != 40 {
		t.Errorf("with ConnIDLen 2: %+v", r)
	}
}

func TestDTLSAlert(t *testing.T) {
	var d DTLS
	in := dtlsCat(dtlsRec(ContentAlert, VersionDTLS12, 0, 1, []byte{2, 40}), dtlsRec(ContentAlert, VersionDTLS12, 1, 1, dtlsCipher[:18]))
	if err := d.Decode(in); err != nil {
		t.Fatal(err)
	}
	level, desc, ok := d.Records[0].Alert()
	if !ok || level != 2 || desc != 40 || desc.String() != "handshake_failure" {
		t.Errorf("Alert() = %d, %v, %v", level, desc, ok)
	}
	if _, _, ok := d.Records[1].Alert(); ok {
		t.Error("encrypted alert read as plaintext")
	}
}

func TestDTLSDecodeReuse(t *testing.T) {
	small := dtlsRec(ContentApplicationData, VersionDTLS12, 1, 1, dtlsCipher)
	var big []byte
	for i := range 40 {
		big = append(big, dtlsRec(ContentHandshake, VersionDTLS12, 0, uint64(i), dtlsMsg(HandshakeServerHelloDone, uint16(i), nil))...)
	}
	d := DTLS{Records: make([]DTLSRecord, 0, 1)}
	for _, in := range [][]byte{small, big, small} {
		if err := d.Decode(in); err != nil {
			t.Fatal(err)
		}
	}
	if err := d.Decode(big); err != nil {
		t.Fatal(err)
	}
	if len(d.Records) != 40 || len(d.Handshakes) != 40 {
		t.Fatalf("%d records, %d handshakes, want 40 each", len(d.Records), len(d.Handshakes))
	}
	for i, h := range d.Handshakes {
		if h.Record != i || h.MessageSeq != uint16(i) || h.Type != HandshakeServerHelloDone || !h.Complete() {
			t.Errorf("handshake %d: %+v", i, h)
		}
	}
	if err := d.Decode(small); err != nil || len(d.Records) != 1 || len(d.Handshakes) != 0 || d.Raw == nil {
		t.Errorf("after reuse: err %v, %d records, %d handshakes", err, len(d.Records), len(d.Handshakes))
	}
}

// ---- handshake -------------------------------------------------------------

func TestDTLSHandshakeMessages(t *testing.T) {
	sh := dtlsServerHello(bytes.Repeat([]byte{0x33}, 32), 0xC0A8)
	body := bytes.Repeat([]byte{0x77}, 30)
	in := dtlsCat(
		dtlsRec(ContentHandshake, VersionDTLS12, 0, 1, dtlsCat(
			dtlsMsg(HandshakeServerHello, 1, sh),
			dtlsMsg(HandshakeServerKeyExchange, 2, dtlsVec16([]byte("hint"))),
			dtlsMsg(HandshakeServerHelloDone, 3, nil))),
		dtlsRec(ContentHandshake, VersionDTLS12, 0, 2, dtlsFrag(HandshakeCertificate, 4, 100, 40, body)),
	)
	var d DTLS
	if err := d.Decode(in); err != nil {
		t.Fatal(err)
	}
	if len(d.Anomalies) != 0 {
		t.Errorf("anomalies %v", d.Anomalies)
	}
	want := []struct {
		typ            HandshakeType
		seq            uint16
		length, fo, fl uint32
		record         int
		complete       bool
	}{
		{HandshakeServerHello, 1, uint32(len(sh)), 0, uint32(len(sh)), 0, true},
		{HandshakeServerKeyExchange, 2, 6, 0, 6, 0, true},
		{HandshakeServerHelloDone, 3, 0, 0, 0, 0, true},
		{HandshakeCertificate, 4, 100, 40, 30, 1, false},
	}
	if len(d.Handshakes) != len(want) {
		t.Fatalf("%d handshakes, want %d", len(d.Handshakes), len(want))
	}
	for i, w := range want {
		h := d.Handshakes[i]
		if h.Type != w.typ || h.MessageSeq != w.seq || h.Length != w.length || h.FragmentOffset != w.fo ||
			h.FragmentLength != w.fl || h.Record != w.record || h.Complete() != w.complete || len(h.Body) != int(w.fl) {
			t.Errorf("handshake %d: %+v", i, h)
		}
		rec := d.Records[h.Record]
		recFrag := Span{rec.Span.Off + rec.HeaderLen, rec.Length}
		if h.Span.Off < recFrag.Off || h.Span.Off+h.Span.Len > recFrag.Off+recFrag.Len || h.Span.Len != 12+len(h.Body) {
			t.Errorf("handshake %d span %+v outside record fragment %+v", i, h.Span, recFrag)
		}
		if len(h.Body) > 0 && &h.Body[0] != &in[h.Span.Off+12] {
			t.Errorf("handshake %d body does not borrow the input", i)
		}
	}
	if !d.HasServerHello || !d.HasCipherSuite || d.CipherSuite != TLS_PSK_WITH_AES_128_CCM_8 || string(d.ServerHello.SessionID) != "\x01\x02\x03" {
		t.Errorf("ServerHello %+v, suite %v %v", d.ServerHello, d.CipherSuite, d.HasCipherSuite)
	}
	if hint, ok := d.PSKIdentityHint(0, false); !ok || string(hint) != "hint" {
		t.Errorf("hint %q %v", hint, ok)
	}
}

func TestDTLSHandshakeAnomalies(t *testing.T) {
	tests := []struct {
		name string
		frag []byte
		off  int // anomaly offset within the record fragment
	}{
		{"fragment past record", dtlsFrag(HandshakeFinished, 0, 12, 0, make([]byte, 12))[:20], 9},
		{"fragment past message", dtlsFrag(HandshakeCertificate, 0, 10, 5, make([]byte, 8)), 6},
		{"short tail", dtlsCat(dtlsMsg(HandshakeServerHelloDone, 0, nil), []byte{1, 2, 3}), 12},
		{"client hello cut", dtlsMsg(HandshakeClientHello, 0, []byte{0xfe, 0xfd, 1, 2, 3}), 14},
		{"client hello bad extensions", dtlsMsg(HandshakeClientHello, 0, dtlsCat(dtlsClientHello(nil, []uint16{0xC0A8}), []byte{0, 9, 0})), 12 + 2 + 32 + 1 + 1 + 4 + 2},
		{"odd cipher suite list", dtlsMsg(HandshakeClientHello, 0, dtlsCat([]byte{0xfe, 0xfd}, make([]byte, 32), []byte{0, 0, 0, 3, 0xc0, 0xa8, 0x00, 1, 0})), 12 + 36},
		{"server hello cut", dtlsMsg(HandshakeServerHello, 0, []byte{0xfe, 0xfd}), 0},
		{"hello verify request cut", dtlsMsg(HandshakeHelloVerifyRequest, 0, []byte{0xfe, 0xff, 32, 1}), 14},
		{"hello verify request with tail", dtlsMsg(HandshakeHelloVerifyRequest, 0, []byte{0xfe, 0xff, 1, 1, 9}), 16},
		{"bad connection_id extension", dtlsMsg(HandshakeClientHello, 0, dtlsClientHello(nil, []uint16{0xC0A8}, dtlsExt(0xff01, []byte{0}), dtlsExt(extConnectionID, nil))), 12 + 2 + 32 + 1 + 1 + 4 + 2 + 2 + 5},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var d DTLS
			if err := d.Decode(dtlsRec(ContentHandshake, VersionDTLS12, 0, 0, tt.frag)); err != nil {
				t.Fatal(err)
			}
			if len(d.Anomalies) != 1 || d.Anomalies[0].Kind != AnomalyDTLSLength || d.Anomalies[0].Off != dtlsHeaderLen+tt.off {
				t.Errorf("anomalies %+v, want one %v at %d", d.Anomalies, AnomalyDTLSLength, dtlsHeaderLen+tt.off)
			}
		})
	}
}

func TestDTLSClientHelloFields(t *testing.T) {
	sni := dtlsVec16(dtlsCat([]byte{0}, dtlsVec16([]byte("coap.example"))))
	psk := dtlsVec16(dtlsCat(dtlsVec16([]byte("id-one")), []byte{0, 0, 0, 1}, dtlsVec16([]byte("id-two")), []byte{0, 0, 0, 2}))
	psk = append(psk, dtlsVec16(dtlsVec8(make([]byte, 32)))...) // binders
	ch := dtlsClientHello(bytes.Repeat([]byte{0xc0}, 32), []uint16{0xC0A8, 0xC0AE, 0x1301},
		dtlsExt(extServerName, sni),
		dtlsExt(extConnectionID, dtlsVec8([]byte{7, 7})),
		dtlsExt(extSupportedVersions, dtlsVec8([]byte{0xfe, 0xfc, 0xfe, 0xfd})),
		dtlsExt(0xff01, []byte{0}),
		dtlsExt(extPreSharedKey, psk),
	)
	var d DTLS
	if err := d.Decode(dtlsRec(ContentHandshake, VersionDTLS10, 0, 0, dtlsMsg(HandshakeClientHello, 0, ch))); err != nil {
		t.Fatal(err)
	}
	if len(d.Anomalies) != 0 {
		t.Errorf("anomalies %+v", d.Anomalies)
	}
	c := &d.ClientHello
	if !d.HasClientHello || c.Version != VersionDTLS12 || len(c.Random) != 32 || len(c.SessionID) != 0 || len(c.Cookie) != 32 {
		t.Fatalf("ClientHello %+v", c)
	}
	if c.NumCipherSuites() != 3 || c.CipherSuite(1) != TLS_ECDHE_ECDSA_WITH_AES_128_CCM_8 || !c.Offers(TLS_AES_128_GCM_SHA256) || c.Offers(TLS_PSK_WITH_AES_128_CCM) {
		t.Errorf("cipher suites % x", c.CipherSuites)
	}
	if string(c.ServerName) != "coap.example" || !c.HasConnID || string(c.ConnID) != "\x07\x07" || string(c.SupportedVersions) != "\xfe\xfc\xfe\xfd" {
		t.Errorf("extensions: sni %q cid %x/%v versions %x", c.ServerName, c.ConnID, c.HasConnID, c.SupportedVersions)
	}
	for i, want := range []string{"id-one", "id-two"} {
		id, age, ok := c.PSKIdentity(i)
		if !ok || string(id) != want || age != uint32(i+1) {
			t.Errorf("PSKIdentity(%d) = %q, %d, %v", i, id, age, ok)
		}
	}
	if _, _, ok := c.PSKIdentity(2); ok {
		t.Error("PSKIdentity(2) found a third identity")
	}
	if d.HasCipherSuite || d.HasServerHello {
		t.Error("a ClientHello set the negotiated suite")
	}
}

func TestDTLSServerHelloFields(t *testing.T) {
	sh := dtlsServerHello(helloRetryRandom[:], 0x1301,
		dtlsExt(extSupportedVersions, []byte{0xfe, 0xfc}),
		dtlsExt(extConnectionID, dtlsVec8([]byte{1, 2, 3, 4})))
	var d DTLS
	if err := d.Decode(dtlsRec(ContentHandshake, VersionDTLS12, 0, 0, dtlsMsg(HandshakeServerHello, 0, sh))); err != nil {
		t.Fatal(err)
	}
	s := &d.ServerHello
	if !d.HasServerHello || !s.RetryRequest || s.SelectedVersion != VersionDTLS13 || !s.HasConnID || string(s.ConnID) != "\x01\x02\x03\x04" || s.CipherSuite != 0x1301 {
		t.Errorf("ServerHello %+v", s)
	}
	if d.HasCipherSuite {
		t.Error("a HelloRetryRequest set the negotiated suite")
	}
}

// ---- PSK identity ----------------------------------------------------------

func TestDTLSPSKIdentity(t *testing.T) {
	binary := []byte{0x01, 0x9a, 0xff, 0x00}
	tests := []struct {
		name  string
		cke   []byte
		suite CipherSuite
		known bool
		want  string
		ok    bool
	}{
		{"PSK known", dtlsVec16(dtlsAlice), TLS_PSK_WITH_AES_128_CCM_8, true, "alice", true},
		{"PSK heuristic", dtlsVec16(dtlsAlice), 0, false, "alice", true},
		{"ECDHE_PSK X25519 heuristic", dtlsCat(dtlsVec16([]byte("proxyid")), dtlsX25519), 0, false, "proxyid", true},
		{"ECDHE_PSK P-256 heuristic", dtlsCat(dtlsVec16(dtlsAlice), dtlsP256), 0, false, "alice", true},
		{"DHE_PSK heuristic", dtlsCat(dtlsVec16(dtlsAlice), dtlsVec16(bytes.Repeat([]byte{9}, 128))), 0, false, "alice", true},
		{"binary identity known", dtlsVec16(binary), 0xC0A4, true, string(binary), true},
		{"binary identity heuristic", dtlsVec16(binary), 0, false, "", false},
		{"UTF-8 identity heuristic", dtlsVec16([]byte("gerät-7")), 0, false, "gerät-7", true},
		{"empty identity heuristic", dtlsVec16(nil), 0, false, "", false},
		{"identity past the end", []byte{0, 9, 'a'}, TLS_PSK_WITH_AES_128_CCM_8, true, "", false},
		{"ECDHE_ECDSA known", dtlsX25519, TLS_ECDHE_ECDSA_WITH_AES_128_CCM_8, true, "", false},
		{"ECDHE_ECDSA heuristic", dtlsX25519, 0, false, "", false},
		{"ECDHE_ECDSA P-256 heuristic", dtlsP256, 0, false, "", false},
		{"RSA heuristic", dtlsVec16(bytes.Repeat([]byte{0x8f}, 256)), 0, false, "", false},
		{"identity then junk", dtlsCat(dtlsVec16(dtlsAlice), []byte{1, 2, 3}), 0, false, "", false},
		{"identity then bad point", dtlsCat(dtlsVec16(dtlsAlice), dtlsVec8(bytes.Repeat([]byte{5}, 65))), 0, false, "", false},
		{"TLS 1.3 suite known", dtlsVec16(dtlsAlice), TLS_AES_128_CCM_SHA256, true, "", false},
		{"unknown suite number known", dtlsVec16(dtlsAlice), 0xD004, true, "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var d DTLS
			if err := d.Decode(dtlsRec(ContentHandshake, VersionDTLS12, 0, 2, dtlsMsg(HandshakeClientKeyExchange, 2, tt.cke))); err != nil {
				t.Fatal(err)
			}
			id, ok := d.PSKIdentity(tt.suite, tt.known)
			if ok != tt.ok || string(id) != tt.want {
				t.Errorf("PSKIdentity = %q, %v; want %q, %v", id, ok, tt.want, tt.ok)
			}
			if ok && len(id) > 0 && &id[0] != &d.ClientKeyExchange[2] {
				t.Error("identity does not borrow the input")
			}
		})
	}
	var d DTLS
	if _, ok := d.PSKIdentity(TLS_PSK_WITH_AES_128_CCM_8, true); ok {
		t.Error("identity without a ClientKeyExchange")
	}
}

func TestDTLSPSKIdentityHint(t *testing.T) {
	ecdh := dtlsCat([]byte{3, 0, 0x1d}, dtlsX25519)
	dh := dtlsCat(dtlsVec16(bytes.Repeat([]byte{0xff}, 64)), dtlsVec16([]byte{2}), dtlsVec16(bytes.Repeat([]byte{0x42}, 64)))
	tests := []struct {
		name  string
		ske   []byte
		suite CipherSuite
		known bool
		want  string
		ok    bool
	}{
		{"ECDHE_PSK known", dtlsCat(dtlsVec16([]byte("CoAP")), ecdh), TLS_ECDHE_PSK_WITH_CHACHA20_POLY1305_SHA256, true, "CoAP", true},
		{"ECDHE_PSK heuristic", dtlsCat(dtlsVec16([]byte("CoAP")), ecdh), 0, false, "CoAP", true},
		{"ECDHE_PSK empty hint heuristic", dtlsCat(dtlsVec16(nil), ecdh), 0, false, "", true},
		{"DHE_PSK heuristic", dtlsCat(dtlsVec16([]byte("hint")), dh), 0, false, "hint", true},
		{"PSK heuristic", dtlsVec16([]byte("hint")), 0, false, "hint", true},
		{"ECDHE_ECDSA heuristic", dtlsCat(ecdh, []byte{4, 3}, dtlsVec16(bytes.Repeat([]byte{0x30}, 70))), 0, false, "", false},
		{"ECDHE_ECDSA known", dtlsCat(ecdh, []byte{4, 3}, dtlsVec16(bytes.Repeat([]byte{0x30}, 70))), TLS_ECDHE_ECDSA_WITH_AES_128_CCM_8, true, "", false},
		{"DHE_RSA heuristic", dtlsCat(dh, []byte{4, 1}, dtlsVec16(bytes.Repeat([]byte{0x30}, 256))), 0, false, "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var d DTLS
			if err := d.Decode(dtlsRec(ContentHandshake, VersionDTLS12, 0, 2, dtlsMsg(HandshakeServerKeyExchange, 2, tt.ske))); err != nil {
				t.Fatal(err)
			}
			hint, ok := d.PSKIdentityHint(tt.suite, tt.known)
			if ok != tt.ok || string(hint) != tt.want {
				t.Errorf("PSKIdentityHint = %q, %v; want %q, %v", hint, ok, tt.want, tt.ok)
			}
		})
	}
}

// ---- names -----------------------------------------------------------------

func TestDTLSNames(t *testing.T) {
	tests := []struct {
		got, want string
	}{
		{ContentHandshake.String(), "handshake"},
		{ContentTLS12CID.String(), "tls12_cid"},
		{ContentACK.String(), "ack"},
		{ContentType(99).String(), "ContentType(99)"},
		{ContentHandshake.GoString(), "decode.ContentHandshake"},
		{ContentType(2).GoString(), "decode.ContentType(2)"},
		{HandshakeClientHello.String(), "client_hello"},
		{HandshakeHelloVerifyRequest.String(), "hello_verify_request"},
		{HandshakeServerHelloDone.String(), "server_hello_done"},
		{HandshakeClientKeyExchange.String(), "client_key_exchange"},
		{HandshakeFinished.String(), "finished"},
		{HandshakeType(7).String(), "HandshakeType(7)"},
		{HandshakeType(255).String(), "HandshakeType(255)"},
		{HandshakeMessageHash.GoString(), "decode.HandshakeMessageHash"},
		{TLS_PSK_WITH_AES_128_CCM_8.String(), "TLS_PSK_WITH_AES_128_CCM_8"},
		{CipherSuite(0xC0AA).String(), "TLS_PSK_DHE_WITH_AES_128_CCM_8"},
		{CipherSuite(0xD005).String(), "TLS_ECDHE_PSK_WITH_AES_128_CCM_SHA256"},
		{CipherSuite(0x1305).String(), "TLS_AES_128_CCM_8_SHA256"},
		{CipherSuite(0xD004).String(), "CipherSuite(0xD004)"},
		{CipherSuite(0x2A2A).String(), "GREASE(0x2A2A)"},
		{CipherSuite(0xC0A8).GoString(), "decode.CipherSuite(0xC0A8)"},
		{AlertDescription(115).String(), "unknown_psk_identity"},
		{AlertDescription(3).String(), "Alert(3)"},
		{KeyExchangeECDHEPSK.String(), "ECDHE_PSK"},
	}
	for _, tt := range tests {
		if tt.got != tt.want {
			t.Errorf("got %q, want %q", tt.got, tt.want)
		}
	}
	// The const names must match the registry table.
	for _, s := range []CipherSuite{
		TLS_PSK_WITH_AES_128_CCM_8, TLS_PSK_WITH_AES_128_CCM, TLS_PSK_WITH_AES_128_GCM_SHA256,
		TLS_PSK_WITH_AES_128_CBC_SHA256, TLS_ECDHE_ECDSA_WITH_AES_128_CCM_8, TLS_ECDHE_ECDSA_WITH_AES_128_CCM,
		TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256, TLS_ECDHE_PSK_WITH_AES_128_CBC_SHA256,
		TLS_ECDHE_PSK_WITH_CHACHA20_POLY1305_SHA256, TLS_ECDHE_PSK_WITH_AES_128_GCM_SHA256,
		TLS_ECDHE_PSK_WITH_AES_128_CCM_8_SHA256, TLS_ECDHE_PSK_WITH_AES_128_CCM_SHA256,
		TLS_ECJPAKE_WITH_AES_128_CCM_8, TLS_AES_128_GCM_SHA256, TLS_AES_128_CCM_SHA256, TLS_AES_128_CCM_8_SHA256,
	} {
		if !s.Known() {
			t.Errorf("%#v has no name", s)
		}
	}
}

func TestCipherSuiteKeyExchange(t *testing.T) {
	tests := []struct {
		s    CipherSuite
		want KeyExchange
	}{
		{0xC0A8, KeyExchangePSK},
		{0xC0A4, KeyExchangePSK},
		{0x00A8, KeyExchangePSK},
		{0xCCAB, KeyExchangePSK},
		{0xC035, KeyExchangeECDHEPSK},
		{0xC03A, KeyExchangeECDHEPSK},
		{0xCCAC, KeyExchangeECDHEPSK},
		{0xD001, KeyExchangeECDHEPSK},
		{0xD003, KeyExchangeECDHEPSK},
		{0xD005, KeyExchangeECDHEPSK},
		{0x00AA, KeyExchangeDHEPSK},
		{0xC0AA, KeyExchangeDHEPSK}, // TLS_PSK_DHE_WITH_AES_128_CCM_8
		{0x00AC, KeyExchangeRSAPSK},
		{0xC0AE, KeyExchangeECDHE},
		{0xC02F, KeyExchangeECDHE},
		{0xC018, KeyExchangeECDHE}, // ECDH_anon
		{0xC004, KeyExchangeECDH},
		{0x0033, KeyExchangeDHE},
		{0x0030, KeyExchangeDH},
		{0x002F, KeyExchangeRSA},
		{0x0003, KeyExchangeRSA}, // RSA_EXPORT
		{0xC0FF, KeyExchangeECJPAKE},
		{0xC01D, KeyExchangeSRP},
		{0x1301, KeyExchangeTLS13},
		{0x1305, KeyExchangeTLS13},
		{0x00FF, KeyExchangeNone},
		{0x5600, KeyExchangeNone},
		{0x0000, KeyExchangeNone},
		{0x001E, KeyExchangeOther}, // KRB5
		{0xD004, KeyExchangeUnknown},
	}
	for _, tt := range tests {
		if got := CipherSuiteKeyExchange(tt.s); got != tt.want {
			t.Errorf("CipherSuiteKeyExchange(%v) = %v, want %v", tt.s, got, tt.want)
		}
	}
	// Every suite whose name mentions PSK is a PSK key exchange and no other.
	for s, name := range cipherSuiteNames {
		kx := s.KeyExchange()
		if kx == KeyExchangeUnknown {
			t.Errorf("%s: key exchange unknown", name)
		}
		if strings.Contains(name, "PSK") != kx.PSK() {
			t.Errorf("%s: key exchange %v", name, kx)
		}
	}
}

// ---- LooksLikeDTLS ---------------------------------------------------------

func TestLooksLikeDTLS(t *testing.T) {
	cke := dtlsRec(ContentHandshake, VersionDTLS12, 0, 2, dtlsMsg(HandshakeClientKeyExchange, 2, dtlsCat(dtlsVec16(dtlsAlice), dtlsX25519)))
	ccs := dtlsRec(ContentChangeCipherSpec, VersionDTLS12, 0, 3, []byte{1})
	fin := dtlsRec(ContentHandshake, VersionDTLS12, 1, 0, dtlsCipher)
	tests := []struct {
		name string
		in   []byte
		want bool
	}{
		{"client flight", dtlsCat(cke, ccs, fin), true},
		{"application data", dtlsRec(ContentApplicationData, VersionDTLS12, 1, 9, dtlsCipher), true},
		{"DTLS 1.0 hello verify request", dtlsRec(ContentHandshake, VersionDTLS10, 0, 0, dtlsMsg(HandshakeHelloVerifyRequest, 0, dtlsCat([]byte{0xfe, 0xff}, dtlsVec8(make([]byte, 32))))), true},
		{"plaintext alert", dtlsRec(ContentAlert, VersionDTLS12, 0, 5, []byte{2, 40}), true},
		{"fragmented handshake", dtlsRec(ContentHandshake, VersionDTLS12, 0, 5, dtlsFrag(HandshakeCertificate, 1, 500, 0, make([]byte, 200))), true},
		{"unified header with length", dtlsCat([]byte{0x2e, 0x01, 0x02, 0, 40}, dtlsCipher), true},
		{"tls12_cid", dtlsCIDRec(1, 1, []byte{1, 2, 3, 4, 5, 6, 7, 8}, dtlsCipher), true},
		{"ACK", dtlsRec(ContentACK, VersionDTLS12, 0, 5, dtlsVec16(make([]byte, 32))), true},

		{"empty", nil, false},
		{"trailing byte", dtlsCat(cke, []byte{0}), false},
		{"short by one", cke[:len(cke)-1], false},
		{"TLS version", []byte{23, 3, 3, 0, 1, 0, 0, 0, 0, 0, 0, 0, 1, 0}, false},
		{"DTLS-like unknown version", dtlsRec(ContentApplicationData, 0xfe00, 1, 9, dtlsCipher), false},
		{"application data in epoch 0", dtlsRec(ContentApplicationData, VersionDTLS12, 0, 9, dtlsCipher), false},
		{"ChangeCipherSpec value 2", dtlsRec(ContentChangeCipherSpec, VersionDTLS12, 0, 3, []byte{2}), false},
		{"alert level 3", dtlsRec(ContentAlert, VersionDTLS12, 0, 5, []byte{3, 40}), false},
		{"unassigned handshake type", dtlsRec(ContentHandshake, VersionDTLS12, 0, 0, dtlsMsg(HandshakeType(99), 0, nil)), false},
		{"handshake fragment past message", dtlsRec(ContentHandshake, VersionDTLS12, 0, 0, dtlsFrag(HandshakeCertificate, 0, 10, 5, make([]byte, 8))), false},
		{"handshake with tail", dtlsRec(ContentHandshake, VersionDTLS12, 0, 0, dtlsCat(dtlsMsg(HandshakeServerHelloDone, 0, nil), []byte{0})), false},
		{"empty handshake record", dtlsRec(ContentHandshake, VersionDTLS12, 0, 0, nil), false},
		{"protected record too short", dtlsRec(ContentApplicationData, VersionDTLS12, 1, 0, make([]byte, 15)), false},
		{"unified header without length", dtlsCat([]byte{0x2a, 0x01, 0x02}, dtlsCipher), false},
		{"unified header with connection ID", dtlsCat([]byte{0x36, 0xc1, 0x01, 0x02, 0, 40}, dtlsCipher), false},
		{"unified header too short", []byte{0x2e, 0x01, 0x02, 0, 4, 1, 2, 3, 4}, false},
		{"text", []byte("1234 hello world, this is not DTLS at all"), false},
		{"CoAP GET", []byte{0x40, 0x01, 0x04, 0xd2, 0xb4, 't', 'e', 'm', 'p'}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := LooksLikeDTLS(tt.in); got != tt.want {
				t.Errorf("LooksLikeDTLS = %v, want %v", got, tt.want)
			}
			if tt.want {
				var d DTLS
				if err := d.Decode(tt.in); err != nil {
					t.Errorf("LooksLikeDTLS accepted what Decode rejects: %v", err)
				}
			}
		})
	}
}

// ---- captures --------------------------------------------------------------

// Frames of libcoap-dtls-proxy.pcap with a ClientKeyExchange, as tshark
// lists them (`-Y dtls.handshake.type==16`); the README gives the
// identities: "alice" from the client to the proxy (127.0.0.12), "proxyid"
// from the proxy to the origin server (127.0.0.11).
var dtlsProxyIdentityFrames = []int{5, 13, 27, 35, 49, 57}

func TestDTLSCapturePSKIdentities(t *testing.T) {
	pkts := dtlsProxyCapture(t)
	var d DTLS
	type flowKey struct{ a, b string }
	suites := map[flowKey]CipherSuite{} // negotiated suite by client->server flow
	var frames []int
	found := map[string]bool{}
	for _, p := range pkts {
		if p.SrcPort != 5684 && p.DstPort != 5684 {
			t.Fatalf("frame %d: ports %d -> %d", p.Frame, p.SrcPort, p.DstPort)
		}
		if err := d.Decode(p.Payload); err != nil {
			t.Fatalf("frame %d: %v", p.Frame, err)
		}
		if len(d.Anomalies) != 0 {
			t.Errorf("frame %d: anomalies %+v", p.Frame, d.Anomalies)
		}
		if !LooksLikeDTLS(p.Payload) {
			t.Errorf("frame %d: LooksLikeDTLS false", p.Frame)
		}
		if d.HasServerHello {
			suites[flowKey{p.Dst + ":" + strconv.Itoa(int(p.DstPort)), p.Src}] = d.CipherSuite
			if hint, ok := d.PSKIdentityHint(0, false); !ok || string(hint) != "CoAP" {
				t.Errorf("frame %d: hint %q, %v", p.Frame, hint, ok)
			}
		}
		if !d.HasClientKeyExchange {
			if _, ok := d.PSKIdentity(0, false); ok {
				t.Errorf("frame %d: identity without ClientKeyExchange", p.Frame)
			}
			continue
		}
		suite, known := suites[flowKey{p.Src + ":" + strconv.Itoa(int(p.SrcPort)), p.Dst}]
		if !known {
			t.Fatalf("frame %d: ClientKeyExchange before ServerHello", p.Frame)
		}
		id, ok := d.PSKIdentity(suite, true)
		heur, hok := d.PSKIdentity(0, false)
		if !ok || !hok || !bytes.Equal(id, heur) {
			t.Errorf("frame %d: identity %q/%v, heuristic %q/%v", p.Frame, id, ok, heur, hok)
		}
		want := map[string]string{"127.0.0.12": "alice", "127.0.0.11": "proxyid"}[p.Dst]
		if string(id) != want {
			t.Errorf("frame %d to %s: identity %q, want %q", p.Frame, p.Dst, id, want)
		}
		frames = append(frames, p.Frame)
		found[string(id)] = true
	}
	if !slices.Equal(frames, dtlsProxyIdentityFrames) {
		t.Errorf("identities in frames %v, want %v", frames, dtlsProxyIdentityFrames)
	}
	if len(found) != 2 || !found["alice"] || !found["proxyid"] {
		t.Errorf("identities %v", found)
	}
	if len(suites) != 6 {
		t.Errorf("%d handshakes with a ServerHello, want 6", len(suites))
	}
	for k, s := range suites {
		if s != TLS_ECDHE_PSK_WITH_CHACHA20_POLY1305_SHA256 || s.KeyExchange() != KeyExchangeECDHEPSK {
			t.Errorf("%v: suite %v", k, s)
		}
	}
}

func TestDTLSCaptureHello(t *testing.T) {
	pkts := dtlsProxyCapture(t)
	var d DTLS
	// Frame 1: ClientHello without cookie; 2: HelloVerifyRequest; 3: the
	// ClientHello again with the cookie (tshark -V).
	if err := d.Decode(pkts[0].Payload); err != nil || !d.HasClientHello {
		t.Fatalf("frame 1: %v, ClientHello %v", err, d.HasClientHello)
	}
	c := d.ClientHello
	if c.Version != VersionDTLS12 || len(c.Cookie) != 0 || len(c.SessionID) != 0 || c.NumCipherSuites() != 49 ||
		c.CipherSuite(0) != 0x00AD || c.CipherSuite(48) != 0x00FF || string(c.ServerName) != "localhost" ||
		!c.Offers(TLS_ECDHE_PSK_WITH_CHACHA20_POLY1305_SHA256) || c.HasConnID {
		t.Errorf("frame 1 ClientHello: version %x cookie %d suites %d sni %q", c.Version, len(c.Cookie), c.NumCipherSuites(), c.ServerName)
	}
	if d.Records[0].Version != VersionDTLS10 {
		t.Errorf("frame 1 record version %x", d.Records[0].Version)
	}
	if err := d.Decode(pkts[1].Payload); err != nil || !d.HasHelloVerifyRequest || len(d.HelloVerifyCookie) != 32 {
		t.Fatalf("frame 2: %v, cookie %x", err, d.HelloVerifyCookie)
	}
	cookie := bytes.Clone(d.HelloVerifyCookie)
	if err := d.Decode(pkts[2].Payload); err != nil || !d.HasClientHello || !bytes.Equal(d.ClientHello.Cookie, cookie) {
		t.Fatalf("frame 3: %v, cookie %x, want %x", err, d.ClientHello.Cookie, cookie)
	}
	// Frame 4: ServerHello, ServerKeyExchange, ServerHelloDone in three records.
	if err := d.Decode(pkts[3].Payload); err != nil {
		t.Fatal(err)
	}
	var types []HandshakeType
	for _, h := range d.Handshakes {
		types = append(types, h.Type)
	}
	if !slices.Equal(types, []HandshakeType{HandshakeServerHello, HandshakeServerKeyExchange, HandshakeServerHelloDone}) || len(d.Records) != 3 {
		t.Errorf("frame 4: handshakes %v in %d records", types, len(d.Records))
	}
}

// TestDTLSCaptureMatchesTshark compares every record and handshake header
// with tshark's dissection when tshark is installed.
func TestDTLSCaptureMatchesTshark(t *testing.T) {
	pkts := dtlsProxyCapture(t)
	tshark, err := exec.LookPath("tshark")
	if err != nil {
		if os.Getenv("COAPAUDIT_REQUIRE_TOOLS") == "1" {
			t.Fatal("tshark not found")
		}
		t.Skip("tshark not found")
	}
	path := filepath.Join(dtlsCaptureDir(t), "libcoap-dtls-proxy.pcap")
	out, err := exec.Command(tshark, "-r", path, "-T", "fields", "-E", "occurrence=a", "-E", "aggregator=,",
		"-e", "frame.number", "-e", "dtls.record.content_type", "-e", "dtls.record.version",
		"-e", "dtls.record.epoch", "-e", "dtls.record.sequence_number", "-e", "dtls.record.length",
		"-e", "dtls.handshake.type", "-e", "dtls.handshake.message_seq").Output()
	if err != nil {
		t.Fatalf("tshark: %v", err)
	}
	lines := strings.Split(strings.TrimRight(string(out), "\n"), "\n")
	if len(lines) != len(pkts) {
		t.Fatalf("tshark printed %d frames, want %d", len(lines), len(pkts))
	}
	nums := func(s string) []uint64 {
		var v []uint64
		for _, f := range strings.Split(s, ",") {
			if f == "" {
				continue
			}
			n, err := strconv.ParseUint(f, 0, 64)
			if err != nil {
				t.Fatalf("tshark field %q: %v", f, err)
			}
			v = append(v, n)
		}
		return v
	}
	var d DTLS
	var cke []int
	for i, line := range lines {
		f := strings.Split(line, "\t")
		if len(f) != 8 {
			t.Fatalf("tshark line %q", line)
		}
		p := pkts[i]
		if err := d.Decode(p.Payload); err != nil {
			t.Fatalf("frame %d: %v", p.Frame, err)
		}
		var typ, ver, epoch, seq, length, hsType, hsSeq []uint64
		for _, r := range d.Records {
			typ = append(typ, uint64(r.ContentType))
			ver = append(ver, uint64(r.Version))
			epoch = append(epoch, uint64(r.Epoch))
			seq = append(seq, r.Seq)
			length = append(length, uint64(r.Length))
		}
		for _, h := range d.Handshakes {
			hsType = append(hsType, uint64(h.Type))
			hsSeq = append(hsSeq, uint64(h.MessageSeq))
			if h.Type == HandshakeClientKeyExchange {
				cke = append(cke, p.Frame)
			}
		}
		for j, pair := range []struct {
			name string
			got  []uint64
		}{{"content_type", typ}, {"version", ver}, {"epoch", epoch}, {"sequence_number", seq}, {"length", length},
			{"handshake.type", hsType}, {"handshake.message_seq", hsSeq}} {
			if want := nums(f[j+1]); !slices.Equal(pair.got, want) {
				t.Errorf("frame %s %s: got %v, tshark %v", f[0], pair.name, pair.got, want)
			}
		}
	}
	if !slices.Equal(cke, dtlsProxyIdentityFrames) {
		t.Errorf("ClientKeyExchange frames %v, table says %v", cke, dtlsProxyIdentityFrames)
	}
}

// TestLooksLikeDTLSCaptures checks the heuristic on every shared capture:
// no CoAP payload (port 5683) and none of the non-DTLS UDP payloads is taken
// for DTLS, and every payload of the DTLS capture is.
func TestLooksLikeDTLSCaptures(t *testing.T) {
	var coap, other int
	for _, path := range dtlsCaptureFiles(t) {
		dtlsCapture := filepath.Base(path) == "libcoap-dtls-proxy.pcap"
		var d DTLS
		for _, p := range dtlsReadUDP(t, path) {
			looks := LooksLikeDTLS(p.Payload)
			switch {
			case dtlsCapture:
				if !looks {
					t.Errorf("%s frame %d: DTLS payload rejected", filepath.Base(path), p.Frame)
				}
				continue
			case p.SrcPort == 5683 || p.DstPort == 5683:
				coap++
			default:
				other++
			}
			if looks {
				t.Errorf("%s frame %d (%d -> %d): taken for DTLS: % x", filepath.Base(path), p.Frame, p.SrcPort, p.DstPort, p.Payload[:min(len(p.Payload), 16)])
			}
			// On the DTLS port a non-DTLS payload is a decode error, not a panic.
			if p.SrcPort == 5684 || p.DstPort == 5684 {
				if err := d.Decode(p.Payload); !errors.Is(err, ErrNotDTLS) {
					t.Errorf("%s frame %d: Decode error %v, want ErrNotDTLS", filepath.Base(path), p.Frame, err)
				}
			}
		}
	}
	if coap < 1000 {
		t.Errorf("only %d CoAP payloads checked", coap)
	}
	t.Logf("%d CoAP and %d other UDP payloads rejected", coap, other)
}

// ---- allocations and benchmarks ------------------------------------------

func dtlsBenchPayloads(t testing.TB) [][]byte {
	var out [][]byte
	for _, p := range dtlsProxyCapture(t) {
		out = append(out, p.Payload)
	}
	return out
}

func TestDTLSDecodeAllocs(t *testing.T) {
	payloads := dtlsBenchPayloads(t)
	var d DTLS
	for _, p := range payloads { // warm-up: grow the slices once
		_ = d.Decode(p)
	}
	allocs := testing.AllocsPerRun(20, func() {
		for _, p := range payloads {
			if err := d.Decode(p); err != nil {
				t.Fatal(err)
			}
			d.PSKIdentity(0, false)
			d.PSKIdentityHint(0, false)
			if !LooksLikeDTLS(p) {
				t.Fatal("LooksLikeDTLS false")
			}
		}
	})
	if allocs != 0 {
		t.Errorf("%v allocations per pass over %d datagrams, want 0", allocs, len(payloads))
	}
}

func BenchmarkDTLSDecode(b *testing.B) {
	payloads := dtlsBenchPayloads(b)
	n := 0
	for _, p := range payloads {
		n += len(p)
	}
	b.SetBytes(int64(n))
	b.ReportAllocs()
	var d DTLS
	for b.Loop() {
		for _, p := range payloads {
			if err := d.Decode(p); err != nil {
				b.Fatal(err)
			}
		}
	}
}

func BenchmarkLooksLikeDTLS(b *testing.B) {
	payloads := dtlsBenchPayloads(b)
	b.ReportAllocs()
	for b.Loop() {
		for _, p := range payloads {
			if !LooksLikeDTLS(p) {
				b.Fatal("rejected")
			}
		}
	}
}
