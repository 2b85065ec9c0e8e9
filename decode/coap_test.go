package decode

import (
	"bytes"
	"encoding/hex"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// coapHex decodes hex that may contain spaces.
func coapHex(tb testing.TB, s string) []byte {
	tb.Helper()
	b, err := hex.DecodeString(strings.ReplaceAll(s, " ", ""))
	if err != nil {
		tb.Fatalf("bad hex %q: %v", s, err)
	}
	return b
}

// coapEncode serialises the decoded message back to bytes. Option and token
// lengths have a single valid encoding (a value below 13 must use the
// nibble, below 269 the 1-byte form), so for every message that decoded
// without error this reproduces the input exactly.
func coapEncode(m *Message) []byte {
	b := []byte{m.Version<<6 | byte(m.Type)<<4, byte(m.Code), byte(m.MessageID >> 8), byte(m.MessageID)}
	nibble := func(v int) (byte, []byte) {
		switch {
		case v < 13:
			return byte(v), nil
		case v < 269:
			return 13, []byte{byte(v - 13)}
		default:
			return 14, []byte{byte((v - 269) >> 8), byte(v - 269)}
		}
	}
	n, ext := nibble(len(m.Token))
	b[0] |= n
	b = append(b, ext...)
	b = append(b, m.Token...)
	prev := 0
	for _, o := range m.Options {
		dn, dext := nibble(int(o.ID) - prev)
		ln, lext := nibble(len(o.Value))
		b = append(b, dn<<4|ln)
		b = append(b, dext...)
		b = append(b, lext...)
		b = append(b, o.Value...)
		prev = int(o.ID)
	}
	if m.Payload != nil || slices.ContainsFunc(m.Anomalies, func(a Anomaly) bool { return a.Kind == AnomalyPayloadMarkerOnly }) {
		b = append(b, payloadMarker)
		b = append(b, m.Payload...)
	}
	return b
}

type coapWantOpt struct {
	id   OptionID
	val  string
	span Span
}

func TestDecode(t *testing.T) {
	long := strings.Repeat("a", 300)
	tok13 := strings.Repeat("0b", 13)
	tok269 := strings.Repeat("ee", 269)
	tests := []struct {
		name      string
		in        string
		typ       Type
		code      Code
		mid       uint16
		token     string // hex
		opts      []coapWantOpt
		payload   string
		payOff    int
		anomalies []Anomaly
	}{
		{
			// RFC 7252 appendix A, figure 16: GET /temperature.
			name: "rfc7252-get", in: "40 01 7d 34 bb 74656d7065726174757265",
			typ: Confirmable, code: CodeGET, mid: 0x7d34,
			opts:   []coapWantOpt{{OptURIPath, "temperature", Span{4, 12}}},
			payOff: -1,
		},
		{
			// Its piggybacked response: ACK 2.05 "22.3 C".
			name: "rfc7252-ack-content", in: "60 45 7d 34 ff 32322e332043",
			typ: Acknowledgement, code: CodeContent, mid: 0x7d34,
			payload: "22.3 C", payOff: 5,
		},
		{
			name: "token-and-query", in: "52 01 00 07 a1 b2 b4 74657374 44 613d3162 03 623d32 ff 78",
			typ: NonConfirmable, code: CodeGET, mid: 7, token: "a1b2",
			opts: []coapWantOpt{
				{OptURIPath, "test", Span{6, 5}},
				{OptURIQuery, "a=1b", Span{11, 5}},
				{OptURIQuery, "b=2", Span{16, 4}},
			},
			payload: "x", payOff: 21,
		},
		{
			name: "empty-con-ping", in: "40 00 12 34",
			typ: Confirmable, code: CodeEmpty, mid: 0x1234, payOff: -1,
		},
		{
			name: "delta-13", in: "40 02 00 01 d1 2f 40",
			typ: Confirmable, code: CodePOST, mid: 1,
			opts:   []coapWantOpt{{OptSize1, "\x40", Span{4, 3}}},
			payOff: -1,
		},
		{
			name: "delta-14", in: "40 02 00 01 e2 06 f8 0102",
			typ: Confirmable, code: CodePOST, mid: 1,
			opts:   []coapWantOpt{{OptOCFContentFormatVersion, "\x01\x02", Span{4, 5}}},
			payOff: -1,
		},
		{
			name: "length-13", in: "40 01 00 01 bd 07 " + hex.EncodeToString([]byte("abcdefghijklmnopqrst")),
			typ: Confirmable, code: CodeGET, mid: 1,
			opts:   []coapWantOpt{{OptURIPath, "abcdefghijklmnopqrst", Span{4, 22}}},
			payOff: -1,
		},
		{
			name: "delta-13-length-14", in: "40 01 00 01 de 16 001f " + hex.EncodeToString([]byte(long)),
			typ: Confirmable, code: CodeGET, mid: 1,
			opts:   []coapWantOpt{{OptProxyURI, long, Span{4, 304}}},
			payOff: -1,
		},
		{
			name: "tkl-13", in: "4d 45 00 02 00 " + tok13 + " ff 6869",
			typ: Confirmable, code: CodeContent, mid: 2, token: tok13,
			payload: "hi", payOff: 4 + 1 + 13 + 1,
		},
		{
			name: "tkl-14", in: "4e 45 00 02 0000 " + tok269,
			typ: Confirmable, code: CodeContent, mid: 2, token: tok269, payOff: -1,
		},
		{
			name: "unknown-elective-ok", in: "40 01 00 01 20",
			typ: Confirmable, code: CodeGET, mid: 1,
			opts:   []coapWantOpt{{2, "", Span{4, 1}}},
			payOff: -1,
		},
		// Anomalies: the message decodes, the problem is recorded.
		{
			name: "payload-marker-only", in: "40 01 00 01 ff",
			typ: Confirmable, code: CodeGET, mid: 1, payOff: -1,
			anomalies: []Anomaly{{Off: 4, Kind: AnomalyPayloadMarkerOnly}},
		},
		{
			name: "uri-host-empty", in: "40 01 00 01 30",
			typ: Confirmable, code: CodeGET, mid: 1,
			opts:      []coapWantOpt{{OptURIHost, "", Span{4, 1}}},
			payOff:    -1,
			anomalies: []Anomaly{{Off: 4, Kind: AnomalyOptionLength, Option: OptURIHost}},
		},
		{
			name: "if-none-match-with-value", in: "40 03 00 01 51 00",
			typ: Confirmable, code: CodePUT, mid: 1,
			opts:      []coapWantOpt{{OptIfNoneMatch, "\x00", Span{4, 2}}},
			payOff:    -1,
			anomalies: []Anomaly{{Off: 4, Kind: AnomalyOptionLength, Option: OptIfNoneMatch}},
		},
		{
			name: "content-format-repeated", in: "60 45 00 01 c1 32 01 3c",
			typ: Acknowledgement, code: CodeContent, mid: 1,
			opts: []coapWantOpt{
				{OptContentFormat, "\x32", Span{4, 2}},
				{OptContentFormat, "\x3c", Span{6, 2}},
			},
			payOff:    -1,
			anomalies: []Anomaly{{Off: 6, Kind: AnomalyOptionRepeated, Option: OptContentFormat}},
		},
		{
			name: "etag-repeated-ok", in: "40 01 00 01 41 01 01 02",
			typ: Confirmable, code: CodeGET, mid: 1,
			opts: []coapWantOpt{
				{OptETag, "\x01", Span{4, 2}},
				{OptETag, "\x02", Span{6, 2}},
			},
			payOff: -1,
		},
		{
			name: "class-1", in: "40 20 00 01",
			typ: Confirmable, code: NewCode(1, 0), mid: 1, payOff: -1,
			anomalies: []Anomaly{{Off: 1, Kind: AnomalyReservedCodeClass}},
		},
		{
			name: "class-3", in: "40 61 00 01",
			typ: Confirmable, code: NewCode(3, 1), mid: 1, payOff: -1,
			anomalies: []Anomaly{{Off: 1, Kind: AnomalyReservedCodeClass}},
		},
		{
			name: "class-6", in: "40 c0 00 01",
			typ: Confirmable, code: NewCode(6, 0), mid: 1, payOff: -1,
			anomalies: []Anomaly{{Off: 1, Kind: AnomalyReservedCodeClass}},
		},
		{
			name: "empty-with-payload", in: "70 00 00 01 ff 41",
			typ: Reset, code: CodeEmpty, mid: 1, payload: "A", payOff: 5,
			anomalies: []Anomaly{{Off: 4, Kind: AnomalyEmptyWithData}},
		},
		{
			name: "empty-with-token", in: "61 00 00 01 aa",
			typ: Acknowledgement, code: CodeEmpty, mid: 1, token: "aa", payOff: -1,
			anomalies: []Anomaly{{Off: 4, Kind: AnomalyEmptyWithData}},
		},
		{
			name: "uint-leading-zero", in: "40 01 00 01 c2 0032",
			typ: Confirmable, code: CodeGET, mid: 1,
			opts:      []coapWantOpt{{OptContentFormat, "\x00\x32", Span{4, 3}}},
			payOff:    -1,
			anomalies: []Anomaly{{Off: 4, Kind: AnomalyUintLeadingZero, Option: OptContentFormat}},
		},
		{
			name: "unknown-critical", in: "40 01 00 01 d0 00",
			typ: Confirmable, code: CodeGET, mid: 1,
			opts:      []coapWantOpt{{13, "", Span{4, 2}}},
			payOff:    -1,
			anomalies: []Anomaly{{Off: 4, Kind: AnomalyUnknownCritical, Option: 13}},
		},
		{
			name: "uri-path-not-utf8", in: "40 01 00 01 b2 fffe",
			typ: Confirmable, code: CodeGET, mid: 1,
			opts:      []coapWantOpt{{OptURIPath, "\xff\xfe", Span{4, 3}}},
			payOff:    -1,
			anomalies: []Anomaly{{Off: 4, Kind: AnomalyOptionFormat, Option: OptURIPath}},
		},
		{
			name: "oscore-reserved-n", in: "40 02 00 01 91 07 ff 00",
			typ: Confirmable, code: CodePOST, mid: 1,
			opts:    []coapWantOpt{{OptOSCORE, "\x07", Span{4, 2}}},
			payload: "\x00", payOff: 7,
			anomalies: []Anomaly{{Off: 4, Kind: AnomalyOSCOREValue, Option: OptOSCORE}},
		},
		{
			name: "block2-szx-7", in: "40 01 00 01 d1 0a 0f",
			typ: Confirmable, code: CodeGET, mid: 1,
			opts:      []coapWantOpt{{OptBlock2, "\x0f", Span{4, 3}}},
			payOff:    -1,
			anomalies: []Anomaly{{Off: 4, Kind: AnomalyBlockSZX, Option: OptBlock2}},
		},
		{
			name: "several-anomalies", in: "40 20 00 01 30 00 ff",
			typ: Confirmable, code: NewCode(1, 0), mid: 1,
			opts: []coapWantOpt{
				{OptURIHost, "", Span{4, 1}},
				{OptURIHost, "", Span{5, 1}},
			},
			payOff: -1,
			anomalies: []Anomaly{
				{Off: 1, Kind: AnomalyReservedCodeClass},
				{Off: 4, Kind: AnomalyOptionLength, Option: OptURIHost},
				{Off: 5, Kind: AnomalyOptionLength, Option: OptURIHost},
				{Off: 5, Kind: AnomalyOptionRepeated, Option: OptURIHost},
				{Off: 6, Kind: AnomalyPayloadMarkerOnly},
			},
		},
	}
	var m Message
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := coapHex(t, tt.in)
			if err := m.Decode(in); err != nil {
				t.Fatalf("Decode: %v", err)
			}
			if m.Version != 1 || m.Type != tt.typ || m.Code != tt.code || m.MessageID != tt.mid {
				t.Errorf("header = v%d %v %v mid %d, want v1 %v %v mid %d",
					m.Version, m.Type, m.Code, m.MessageID, tt.typ, tt.code, tt.mid)
			}
			if got := hex.EncodeToString(m.Token); got != tt.token {
				t.Errorf("token = %s, want %s", got, tt.token)
			}
			if len(m.Options) != len(tt.opts) {
				t.Fatalf("got %d options, want %d: %+v", len(m.Options), len(tt.opts), m.Options)
			}
			for i, w := range tt.opts {
				o := m.Options[i]
				if o.ID != w.id || string(o.Value) != w.val || o.Span != w.span {
					t.Errorf("option %d = %v %q %+v, want %v %q %+v", i, o.ID, o.Value, o.Span, w.id, w.val, w.span)
				}
			}
			if string(m.Payload) != tt.payload || m.PayloadOff != tt.payOff {
				t.Errorf("payload = %q at %d, want %q at %d", m.Payload, m.PayloadOff, tt.payload, tt.payOff)
			}
			if tt.payload == "" && m.Payload != nil {
				t.Errorf("payload = %q, want nil", m.Payload)
			}
			if !slices.Equal(m.Anomalies, tt.anomalies) {
				t.Errorf("anomalies = %+v, want %+v", m.Anomalies, tt.anomalies)
			}
			if !bytes.Equal(m.Raw, in) {
				t.Errorf("Raw is not the input")
			}
			if got := coapEncode(&m); !bytes.Equal(got, in) {
				t.Errorf("re-encoded = %x, want %x", got, in)
			}
		})
	}
}

// TestDecodeBorrows checks that decoded slices alias the input and cannot
// be appended into it.
func TestDecodeBorrows(t *testing.T) {
	in := coapHex(t, "42 01 00 01 a1b2 b4 74657374 ff 6869")
	var m Message
	if err := m.Decode(in); err != nil {
		t.Fatal(err)
	}
	in[4], in[7], in[len(in)-1] = 'X', 'Y', 'Z'
	if m.Token[0] != 'X' || m.Options[0].Value[0] != 'Y' || m.Payload[1] != 'Z' {
		t.Errorf("slices do not borrow the input: token %x value %q payload %q", m.Token, m.Options[0].Value, m.Payload)
	}
	for _, s := range [][]byte{m.Token, m.Options[0].Value} {
		if cap(s) != len(s) {
			t.Errorf("slice %q has spare capacity %d: an append would overwrite the input", s, cap(s)-len(s))
		}
	}
}

func TestDecodeErrors(t *testing.T) {
	tests := []struct {
		name  string
		in    string
		field string
		off   int
		err   error
		// decoded state that must survive the error
		version uint8
		code    Code
		opts    []OptionID
		token   string
	}{
		{name: "empty", in: "", field: "Header", off: 0, err: ErrTruncated},
		{name: "short-header", in: "40 01 00", field: "Header", off: 0, err: ErrTruncated, version: 1, code: CodeGET},
		{name: "version-0", in: "00 01 00 00", field: "Header.Version", off: 0, err: ErrBadVersion, version: 0, code: CodeGET},
		{name: "version-2", in: "80 01 00 00", field: "Header.Version", off: 0, err: ErrBadVersion, version: 2, code: CodeGET},
		{name: "version-3", in: "c0 01 00 00", field: "Header.Version", off: 0, err: ErrBadVersion, version: 3, code: CodeGET},
		{name: "tkl-15", in: "4f 01 00 00", field: "Header.TKL", off: 0, err: ErrReserved, version: 1, code: CodeGET},
		{name: "tkl-13-no-ext", in: "4d 01 00 00", field: "Token.Length", off: 4, err: ErrTruncated, version: 1, code: CodeGET},
		{name: "tkl-14-short-ext", in: "4e 01 00 00 00", field: "Token.Length", off: 4, err: ErrTruncated, version: 1, code: CodeGET},
		{name: "token-short", in: "44 01 00 00 aabb", field: "Token", off: 4, err: ErrTruncated, version: 1, code: CodeGET},
		{name: "tkl-13-token-short", in: "4d 01 00 00 00 aabb", field: "Token", off: 5, err: ErrTruncated, version: 1, code: CodeGET},
		{name: "delta-15", in: "40 01 00 00 f0", field: "Option.Delta", off: 4, err: ErrReserved, version: 1, code: CodeGET},
		{name: "length-15", in: "40 01 00 00 bf", field: "Option.Length", off: 4, err: ErrReserved, version: 1, code: CodeGET},
		{name: "delta-13-short", in: "40 01 00 00 d0", field: "Option.Delta", off: 5, err: ErrTruncated, version: 1, code: CodeGET},
		{name: "delta-14-short", in: "40 01 00 00 e0 00", field: "Option.Delta", off: 5, err: ErrTruncated, version: 1, code: CodeGET},
		{name: "length-13-short", in: "40 01 00 00 bd", field: "Option.Length", off: 5, err: ErrTruncated, version: 1, code: CodeGET},
		{name: "length-14-short", in: "40 01 00 00 de 16 00", field: "Option.Length", off: 6, err: ErrTruncated, version: 1, code: CodeGET},
		{name: "value-short", in: "40 01 00 00 b4 6162", field: "Option.Value", off: 5, err: ErrTruncated, version: 1, code: CodeGET},
		{name: "number-over-65535", in: "40 01 00 00 e0 ffff", field: "Option.Delta", off: 4, err: ErrOptionRange, version: 1, code: CodeGET},
		{
			name: "number-sum-over-65535", in: "40 01 00 00 e0 fcdb e0 0300", field: "Option.Delta", off: 7, err: ErrOptionRange,
			version: 1, code: CodeGET, opts: []OptionID{65000},
		},
		{
			name: "keeps-earlier-options", in: "41 01 00 00 77 b4 74657374 03 6162", field: "Option.Value", off: 11, err: ErrTruncated,
			version: 1, code: CodeGET, token: "77", opts: []OptionID{OptURIPath},
		},
	}
	var m Message
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := m.Decode(coapHex(t, tt.in))
			var fe *FormatError
			if !errors.As(err, &fe) {
				t.Fatalf("Decode error = %v (%T), want *FormatError", err, err)
			}
			if fe.Field != tt.field || fe.Off != tt.off || !errors.Is(err, tt.err) {
				t.Errorf("error = %+v, want Field %s Off %d Err %v", fe, tt.field, tt.off, tt.err)
			}
			if m.Version != tt.version || m.Code != tt.code {
				t.Errorf("kept header v%d %v, want v%d %v", m.Version, m.Code, tt.version, tt.code)
			}
			if got := hex.EncodeToString(m.Token); got != tt.token {
				t.Errorf("kept token %s, want %s", got, tt.token)
			}
			var ids []OptionID
			for _, o := range m.Options {
				ids = append(ids, o.ID)
			}
			if !slices.Equal(ids, tt.opts) {
				t.Errorf("kept options %v, want %v", ids, tt.opts)
			}
			if m.Payload != nil || m.PayloadOff != -1 {
				t.Errorf("payload %q at %d after error", m.Payload, m.PayloadOff)
			}
		})
	}
}

func TestFormatErrorText(t *testing.T) {
	var m Message
	err := m.Decode([]byte{0x40, 0x01, 0x00, 0x00, 0xf0})
	if got, want := err.Error(), "Option.Delta at offset 4: reserved value"; got != want {
		t.Errorf("Error() = %q, want %q", got, want)
	}
	if errors.Is(err, ErrTruncated) {
		t.Error("errors.Is matched the wrong sentinel")
	}
}

// TestRawInputs decodes the three valid and three malformed messages of the
// shared captures' raw/ directory.
func TestRawInputs(t *testing.T) {
	dir := filepath.Join(coapCapturesDir(t), "public", "raw")
	type opt struct {
		id  OptionID
		val string
	}
	host := opt{OptURIHost, "fe80::8813:2ff:fec1:98ef%tap0"}
	tests := []struct {
		file    string
		typ     Type
		code    Code
		opts    []opt
		path    string
		payload string
		// for the malformed ones
		field string
		off   int
		err   error
	}{
		{file: "RIOT-OS_RIOT__fuzzing_gcoap_input_confirmable-get.dat", typ: Confirmable, code: CodeGET,
			opts: []opt{host, {OptURIPath, ".well-known"}, {OptURIPath, "core"}}, path: ".well-known/core"},
		{file: "RIOT-OS_RIOT__fuzzing_gcoap_input_confirmable-post.dat", typ: Confirmable, code: CodePOST,
			opts: []opt{host, {OptURIPath, "riot"}, {OptURIPath, "value"}}, path: "riot/value", payload: "foo\n"},
		{file: "RIOT-OS_RIOT__fuzzing_gcoap_input_non-confirmable-get.dat", typ: NonConfirmable, code: CodeGET,
			opts: []opt{host, {OptURIPath, "riot"}, {OptURIPath, "board"}}, path: "riot/board"},
		{file: "chrysn_aiocoap__tests_test_encoding_py_rawdata3_delta15_reserved.bin", code: CodeEmpty,
			field: "Option.Delta", off: 4, err: ErrReserved},
		{file: "chrysn_aiocoap__tests_test_encoding_py_rawdata4_ext_delta_truncated.bin", code: CodeEmpty,
			field: "Option.Delta", off: 5, err: ErrTruncated},
		{file: "chrysn_aiocoap__tests_test_encoding_py_rawdata5_option_value_truncated.bin", code: CodeEmpty,
			field: "Option.Value", off: 5, err: ErrTruncated},
	}
	var m Message
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			b, err := os.ReadFile(filepath.Join(dir, tt.file))
			if err != nil {
				t.Fatal(err)
			}
			err = m.Decode(b)
			if tt.err != nil {
				var fe *FormatError
				if !errors.As(err, &fe) || fe.Field != tt.field || fe.Off != tt.off || !errors.Is(err, tt.err) {
					t.Fatalf("Decode = %v, want %s at offset %d: %v", err, tt.field, tt.off, tt.err)
				}
				// All three are Empty messages that carry bytes.
				if !slices.ContainsFunc(m.Anomalies, func(a Anomaly) bool { return a.Kind == AnomalyEmptyWithData }) {
					t.Errorf("anomalies %v lack %v", m.Anomalies, AnomalyEmptyWithData)
				}
				return
			}
			if err != nil {
				t.Fatalf("Decode: %v", err)
			}
			if m.Type != tt.typ || m.Code != tt.code || m.MessageID != 0xb927 || len(m.Token) != 0 {
				t.Errorf("header %v %v %#x token %x", m.Type, m.Code, m.MessageID, m.Token)
			}
			var got []opt
			for _, o := range m.Options {
				got = append(got, opt{o.ID, string(o.Value)})
			}
			if !slices.Equal(got, tt.opts) {
				t.Errorf("options %+v, want %+v", got, tt.opts)
			}
			if p := string(m.URIPath(nil)); p != tt.path {
				t.Errorf("URIPath = %q, want %q", p, tt.path)
			}
			if string(m.Payload) != tt.payload {
				t.Errorf("payload %q, want %q", m.Payload, tt.payload)
			}
			if len(m.Anomalies) != 0 {
				t.Errorf("anomalies %v", m.Anomalies)
			}
		})
	}
}

// TestDecodeReuse checks that nothing of a previous message survives in a
// reused Message.
func TestDecodeReuse(t *testing.T) {
	var m Message
	big := coapHex(t, "44 20 00 09 01020304 b4 74657374 44 613d3162 30 ff 6869")
	if err := m.Decode(big); err != nil {
		t.Fatal(err)
	}
	if len(m.Options) != 3 || len(m.Anomalies) == 0 || m.Payload == nil {
		t.Fatalf("setup: %+v", m)
	}
	small := coapHex(t, "40 00 00 01")
	if err := m.Decode(small); err != nil {
		t.Fatal(err)
	}
	if m.Token != nil || len(m.Options) != 0 || len(m.Anomalies) != 0 || m.Payload != nil || m.PayloadOff != -1 || m.Code != CodeEmpty {
		t.Errorf("stale state after reuse: %+v", m)
	}
	if cap(m.Options) < 3 {
		t.Errorf("Options capacity not kept: %d", cap(m.Options))
	}
	if err := m.Decode(nil); err == nil || m.Version != 0 || m.MessageID != 0 {
		t.Errorf("Decode(nil) = %v, state %+v", err, m)
	}
}

func TestMessageHelpers(t *testing.T) {
	// Uri-Host, two Uri-Path, Content-Format 60, Uri-Query x2, Location-Path
	// x2 and Location-Query; option numbers must increase, so build it.
	var b []byte
	b = append(b, 0x40, 0x02, 0x00, 0x01)
	add := func(prev, id int, v string) {
		b = append(b, byte(id-prev)<<4|byte(len(v)))
		b = append(b, v...)
	}
	add(0, 3, "h")
	add(3, 8, "loc")
	add(8, 8, "ation")
	add(8, 11, "a")
	add(11, 11, "b c")
	add(11, 12, "\x3c")
	add(12, 15, "x=1")
	add(15, 15, "y")
	add(15, 20, "q=2")
	var m Message
	if err := m.Decode(b); err != nil {
		t.Fatal(err)
	}
	if got := string(m.URIPath(nil)); got != "a/b c" {
		t.Errorf("URIPath = %q", got)
	}
	if got := string(m.URIPath([]byte("coap://h/"))); got != "coap://h/a/b c" {
		t.Errorf("URIPath appends: %q", got)
	}
	if got := string(m.URIQuery(nil)); got != "x=1&y" {
		t.Errorf("URIQuery = %q", got)
	}
	if got := string(m.LocationPath(nil)); got != "loc/ation" {
		t.Errorf("LocationPath = %q", got)
	}
	if got := string(m.LocationQuery(nil)); got != "q=2" {
		t.Errorf("LocationQuery = %q", got)
	}
	if v, ok := m.Option(OptURIPath); !ok || string(v) != "a" {
		t.Errorf("Option(Uri-Path) = %q %v, want first value", v, ok)
	}
	if v, ok := m.Option(OptETag); ok || v != nil {
		t.Errorf("Option(ETag) = %q %v, want absent", v, ok)
	}
	if n, ok := m.UintOption(OptContentFormat); !ok || n != 60 {
		t.Errorf("UintOption(Content-Format) = %d %v", n, ok)
	}
	if _, ok := m.UintOption(OptAccept); ok {
		t.Error("UintOption(Accept) found an absent option")
	}
	if !m.HasOption(OptURIHost) || m.HasOption(OptObserve) {
		t.Error("HasOption wrong")
	}
	var empty Message
	if got := empty.URIPath(nil); len(got) != 0 {
		t.Errorf("URIPath of no options = %q", got)
	}
}

func TestTypeAndCodeStrings(t *testing.T) {
	for typ, want := range map[Type]string{Confirmable: "CON", NonConfirmable: "NON", Acknowledgement: "ACK", Reset: "RST", 4: "Type(4)"} {
		if got := typ.String(); got != want {
			t.Errorf("%d.String() = %q, want %q", typ, got, want)
		}
	}
	if got := Reset.GoString(); got != "decode.Reset" {
		t.Errorf("GoString = %q", got)
	}
	tests := []struct {
		c          Code
		str, name  string
		req, resp  bool
		goStr      string
		class, det uint8
	}{
		{CodeEmpty, "0.00", "Empty", false, false, "decode.CodeEmpty", 0, 0},
		{CodeGET, "0.01", "GET", true, false, "decode.CodeGET", 0, 1},
		{CodeIPATCH, "0.07", "iPATCH", true, false, "decode.CodeIPATCH", 0, 7},
		{CodeContent, "2.05", "Content", false, true, "decode.CodeContent", 2, 5},
		{CodeContinue, "2.31", "Continue", false, true, "decode.CodeContinue", 2, 31},
		{CodeRequestEntityIncomplete, "4.08", "Request Entity Incomplete", false, true, "decode.CodeRequestEntityIncomplete", 4, 8},
		{CodeNotFound, "4.04", "Not Found", false, true, "decode.CodeNotFound", 4, 4},
		{CodeRequestEntityTooLarge, "4.13", "Request Entity Too Large", false, true, "decode.CodeRequestEntityTooLarge", 4, 13},
		{CodeTooManyRequests, "4.29", "Too Many Requests", false, true, "decode.CodeTooManyRequests", 4, 29},
		{CodeHopLimitReached, "5.08", "Hop Limit Reached", false, true, "decode.CodeHopLimitReached", 5, 8},
		{CodeProxyingNotSupported, "5.05", "Proxying Not Supported", false, true, "decode.CodeProxyingNotSupported", 5, 5},
		{CodeAbort, "7.05", "Abort", false, false, "decode.CodeAbort", 7, 5},
		{NewCode(0, 8), "0.08", "", true, false, "decode.Code(0x8)", 0, 8},
		{NewCode(2, 0), "2.00", "", false, true, "decode.Code(0x40)", 2, 0},
		{NewCode(3, 1), "3.01", "", false, false, "decode.Code(0x61)", 3, 1},
		{Code(0xff), "7.31", "", false, false, "decode.Code(0xff)", 7, 31},
	}
	for _, tt := range tests {
		if got := tt.c.String(); got != tt.str {
			t.Errorf("%#x.String() = %q, want %q", uint8(tt.c), got, tt.str)
		}
		if got := tt.c.Name(); got != tt.name {
			t.Errorf("%s.Name() = %q, want %q", tt.str, got, tt.name)
		}
		if got := tt.c.GoString(); got != tt.goStr {
			t.Errorf("%s.GoString() = %q, want %q", tt.str, got, tt.goStr)
		}
		if tt.c.IsRequest() != tt.req || tt.c.IsResponse() != tt.resp {
			t.Errorf("%s: IsRequest %v IsResponse %v", tt.str, tt.c.IsRequest(), tt.c.IsResponse())
		}
		if tt.c.Class() != tt.class || tt.c.Detail() != tt.det || NewCode(tt.class, tt.det) != tt.c {
			t.Errorf("%s: class %d detail %d", tt.str, tt.c.Class(), tt.c.Detail())
		}
	}
	// Every named code has a Go name and the other way round.
	for i := range 256 {
		if (codeNames[i] == "") != (codeGoNames[i] == "") {
			t.Errorf("code %s: name %q, Go name %q", Code(i), codeNames[i], codeGoNames[i])
		}
	}
}

// TestDecodeAllocs checks that decoding into a warmed-up Message makes no
// allocations, also for messages with anomalies.
func TestDecodeAllocs(t *testing.T) {
	inputs := []string{
		"40 01 7d 34 bb 74656d7065726174757265",
		"60 45 7d 34 ff 32322e332043",
		"52 01 00 07 a1b2 b4 74657374 44 613d3162 03 623d32 ff 78",
		"44022f8eef9bbf7a396c6f63616c686f73746b19140837cbf3210017a2d3ff72cd7273fd331ac45cffbe55c3",
		"40 20 00 01 30 00 ff", // five anomalies
		"4e 45 00 02 0000 " + strings.Repeat("ee", 269),
	}
	var m Message
	for _, s := range inputs {
		b := coapHex(t, s)
		if err := m.Decode(b); err != nil {
			t.Fatalf("%s: %v", s, err)
		}
		n := testing.AllocsPerRun(100, func() {
			if err := m.Decode(b); err != nil {
				t.Fatal(err)
			}
		})
		if n != 0 {
			t.Errorf("Decode(%s): %v allocs/op, want 0", s, n)
		}
	}
	// A malformed message costs the error value and nothing else.
	b := coapHex(t, "40 01 00 00 b4 74657374 f0")
	n := testing.AllocsPerRun(100, func() {
		if m.Decode(b) == nil {
			t.Fatal("no error")
		}
	})
	if n > 1 {
		t.Errorf("Decode(malformed): %v allocs/op, want at most 1", n)
	}
	// The helpers write into caller-owned buffers.
	if err := m.Decode(coapHex(t, inputs[2])); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 0, 64)
	n = testing.AllocsPerRun(100, func() {
		buf = m.URIPath(buf[:0])
		buf = m.URIQuery(buf[:0])
		buf = AppendOptionValue(buf[:0], OptURIQuery, m.Options[1].Value)
		_, _ = m.UintOption(OptContentFormat)
		_ = m.Code.String()
		_ = m.Code.Name()
		_ = m.Type.String()
		_ = m.Options[0].ID.String()
	})
	if n != 0 {
		t.Errorf("helpers: %v allocs/op, want 0", n)
	}
}

// TestDecodeCaptures decodes every UDP datagram on the CoAP port in the
// shared captures. Only the three malformed raw inputs may fail.
func TestDecodeCaptures(t *testing.T) {
	dir := coapCapturesDir(t)
	var m Message
	total, failed := 0, 0
	for _, f := range coapCaptureFiles(t, dir) {
		for _, d := range coapReadUDP(t, filepath.Join(dir, f)) {
			if !d.coapPort() {
				continue
			}
			total++
			if err := m.Decode(d.Payload); err != nil {
				failed++
				if f != "public/raw-coap-inputs.pcap" {
					t.Errorf("%s frame %d: %v", f, d.Frame, err)
				}
				continue
			}
			coapCheckInvariants(t, d.Payload, &m)
		}
	}
	if failed != 3 {
		t.Errorf("%d datagrams failed, want the 3 malformed raw inputs", failed)
	}
	if total < 13000 {
		t.Errorf("decoded only %d datagrams on port 5683", total)
	}
	t.Logf("%d datagrams on port 5683", total)
}

// coapCheckInvariants checks what must hold for any message that decoded.
func coapCheckInvariants(tb testing.TB, b []byte, m *Message) {
	tb.Helper()
	if got := coapEncode(m); !bytes.Equal(got, b) {
		tb.Fatalf("re-encoded %x, want %x", got, b)
	}
	end := 4 + len(m.Token)
	if len(m.Token) >= 13 {
		end++
	}
	if len(m.Token) >= 269 {
		end++
	}
	prev := OptionID(0)
	for i, o := range m.Options {
		if o.Span.Off != end || o.Span.Len < 1+len(o.Value) || o.Span.Off+o.Span.Len > len(b) {
			tb.Fatalf("option %d span %+v (value %d bytes) after %d in %d bytes", i, o.Span, len(o.Value), end, len(b))
		}
		end = o.Span.Off + o.Span.Len
		if len(o.Value) > 0 && &o.Value[len(o.Value)-1] != &b[end-1] {
			tb.Fatalf("option %d value does not end its span", i)
		}
		if o.ID < prev {
			tb.Fatalf("option %d number %d below %d", i, o.ID, prev)
		}
		prev = o.ID
	}
	if m.Payload != nil {
		if m.PayloadOff != end+1 || b[end] != payloadMarker || m.PayloadOff+len(m.Payload) != len(b) || len(m.Payload) == 0 {
			tb.Fatalf("payload at %d (%d bytes) after options ending at %d in %d bytes", m.PayloadOff, len(m.Payload), end, len(b))
		}
	} else if m.PayloadOff != -1 || (end != len(b) && end != len(b)-1) {
		tb.Fatalf("no payload, PayloadOff %d, options end at %d of %d", m.PayloadOff, end, len(b))
	}
	for _, a := range m.Anomalies {
		if a.Off < 0 || a.Off > len(b) || a.Kind == AnomalyNone || a.Kind.String() == "" {
			tb.Fatalf("anomaly %+v in %d bytes", a, len(b))
		}
	}
}
