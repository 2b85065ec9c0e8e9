package decode

import (
	"go/ast"
	"go/parser"
	"go/token"
	"strconv"
	"strings"
	"testing"
)

// TestOptionTable checks the registry's shape, and that each row's Go name
// is the constant with that row's number (read from options.go).
func TestOptionTable(t *testing.T) {
	consts := map[string]int{}
	fset := token.NewFileSet()
	f, err := parser.ParseFile(fset, "options.go", nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range f.Decls {
		gd, ok := d.(*ast.GenDecl)
		if !ok || gd.Tok != token.CONST {
			continue
		}
		for _, s := range gd.Specs {
			vs := s.(*ast.ValueSpec)
			for i, name := range vs.Names {
				if i >= len(vs.Values) {
					continue
				}
				if lit, ok := vs.Values[i].(*ast.BasicLit); ok && lit.Kind == token.INT {
					n, err := strconv.Atoi(lit.Value)
					if err != nil {
						t.Fatal(err)
					}
					consts[name.Name] = n
				}
			}
		}
	}
	seen := map[string]bool{}
	for i, d := range optionTable {
		if i > 0 && optionTable[i-1].ID >= d.ID {
			t.Errorf("row %d (%d %s) is not after %d", i, d.ID, d.Name, optionTable[i-1].ID)
		}
		if n, ok := consts[d.goName]; !ok || n != int(d.ID) {
			t.Errorf("row %d %s: Go name %s is constant %d (found %v)", d.ID, d.Name, d.goName, n, ok)
		}
		seen[d.goName] = true
		if d.Name == "" || d.Ref == "" || d.OSCORE == 0 {
			t.Errorf("row %d incomplete: %+v", d.ID, d)
		}
		if d.MinLen < 0 || d.MinLen > d.MaxLen || d.MaxLen > maxLenAny {
			t.Errorf("%s: lengths %d-%d", d.Name, d.MinLen, d.MaxLen)
		}
		if d.Format == FormatEmpty && d.MaxLen != 0 {
			t.Errorf("%s: empty format with max length %d", d.Name, d.MaxLen)
		}
		if d.Format == FormatUint && d.MaxLen > 4 {
			t.Errorf("%s: uint longer than 4 bytes", d.Name)
		}
	}
	for name := range consts {
		if strings.HasPrefix(name, "Opt") && !seen[name] {
			t.Errorf("constant %s has no registry row", name)
		}
	}
}

// TestOptionProperties checks the properties derived from the option
// number against RFC 7252 table 4 and the defining documents.
func TestOptionProperties(t *testing.T) {
	tests := []struct {
		id         OptionID
		name       string
		c, u, n, r bool
		format     OptionFormat
		min, max   int
	}{
		{OptIfMatch, "If-Match", true, false, false, true, FormatOpaque, 0, 8},
		{OptURIHost, "Uri-Host", true, true, false, false, FormatString, 1, 255},
		{OptETag, "ETag", false, false, false, true, FormatOpaque, 1, 8},
		{OptIfNoneMatch, "If-None-Match", true, false, false, false, FormatEmpty, 0, 0},
		{OptObserve, "Observe", false, true, false, false, FormatUint, 0, 3},
		{OptURIPort, "Uri-Port", true, true, false, false, FormatUint, 0, 2},
		{OptLocationPath, "Location-Path", false, false, false, true, FormatString, 0, 255},
		{OptOSCORE, "OSCORE", true, false, false, false, FormatOpaque, 0, 255},
		{OptURIPath, "Uri-Path", true, true, false, true, FormatString, 0, 255},
		{OptContentFormat, "Content-Format", false, false, false, false, FormatUint, 0, 2},
		{OptMaxAge, "Max-Age", false, true, false, false, FormatUint, 0, 4},
		{OptURIQuery, "Uri-Query", true, true, false, true, FormatString, 0, 255},
		{OptHopLimit, "Hop-Limit", false, false, false, false, FormatUint, 1, 1},
		{OptAccept, "Accept", true, false, false, false, FormatUint, 0, 2},
		{OptQBlock1, "Q-Block1", true, true, false, false, FormatUint, 0, 3},
		{OptLocationQuery, "Location-Query", false, false, false, true, FormatString, 0, 255},
		{OptEDHOC, "EDHOC", true, false, false, false, FormatEmpty, 0, 0},
		{OptBlock2, "Block2", true, true, false, false, FormatUint, 0, 3},
		{OptBlock1, "Block1", true, true, false, false, FormatUint, 0, 3},
		{OptSize2, "Size2", false, false, true, false, FormatUint, 0, 4},
		{OptQBlock2, "Q-Block2", true, true, false, true, FormatUint, 0, 3},
		{OptProxyURI, "Proxy-Uri", true, true, false, false, FormatString, 1, 1034},
		{OptProxyScheme, "Proxy-Scheme", true, true, false, false, FormatString, 1, 255},
		{OptSize1, "Size1", false, false, true, false, FormatUint, 0, 4},
		{OptEcho, "Echo", false, false, true, false, FormatOpaque, 1, 40},
		{OptNoResponse, "No-Response", false, true, false, false, FormatUint, 0, 1},
		{OptRequestTag, "Request-Tag", false, false, false, true, FormatOpaque, 0, 8},
		{OptOCFAcceptContentFormatVersion, "OCF-Accept-Content-Format-Version", true, false, false, false, FormatUint, 0, 2},
		{OptOCFContentFormatVersion, "OCF-Content-Format-Version", true, false, false, false, FormatUint, 0, 2},
	}
	for _, tt := range tests {
		id := tt.id
		if id.String() != tt.name {
			t.Errorf("%d.String() = %q, want %q", id, id.String(), tt.name)
		}
		if id.Critical() != tt.c || id.Unsafe() != tt.u || (!id.Unsafe() && id.NoCacheKey() != tt.n) {
			t.Errorf("%s: critical %v unsafe %v nocachekey %v", id, id.Critical(), id.Unsafe(), id.NoCacheKey())
		}
		if id.Repeatable() != tt.r || id.Format() != tt.format || !id.Known() {
			t.Errorf("%s: repeatable %v format %v known %v", id, id.Repeatable(), id.Format(), id.Known())
		}
		d, ok := LookupOption(id)
		if !ok || d.ID != id || d.MinLen != tt.min || d.MaxLen != tt.max {
			t.Errorf("LookupOption(%s) = %+v, %v; want lengths %d-%d", id, d, ok, tt.min, tt.max)
		}
	}
}

func TestUnknownOption(t *testing.T) {
	id := OptionID(65001)
	if id.Known() || id.String() != "Option(65001)" || id.GoString() != "decode.OptionID(65001)" {
		t.Errorf("unknown option: %v %q %q", id.Known(), id.String(), id.GoString())
	}
	if id.Format() != FormatOpaque || !id.Repeatable() || !id.Critical() {
		t.Errorf("unknown option: format %v repeatable %v critical %v", id.Format(), id.Repeatable(), id.Critical())
	}
	d, ok := LookupOption(id)
	if ok || d.ID != id || d.Format != FormatOpaque || d.OSCORE != OSCOREClassE {
		t.Errorf("LookupOption(unknown) = %+v, %v", d, ok)
	}
	if got := OptURIPath.GoString(); got != "decode.OptURIPath" {
		t.Errorf("GoString = %q", got)
	}
	for _, n := range []OptionID{0, 2, 128, 132, 136, 140} {
		if n.Known() {
			t.Errorf("reserved or unassigned %d is known", n)
		}
	}
	if reg := RegisteredOptions(); len(reg) != len(optionTable) || &reg[0] == &optionTable[0] {
		t.Errorf("RegisteredOptions returned %d rows (or the table itself)", len(reg))
	}
	if FormatString.String() != "string" || OptionFormat(9).String() != "OptionFormat(9)" {
		t.Errorf("OptionFormat strings: %q %q", FormatString, OptionFormat(9))
	}
}

func TestDecodeUint(t *testing.T) {
	tests := []struct {
		in   string
		want uint32
	}{
		{"", 0},
		{"01", 1},
		{"0100", 256},
		{"ffff", 65535},
		{"01020304", 0x01020304},
		{"0102030405", 0x02030405},
	}
	for _, tt := range tests {
		if got := DecodeUint(coapHex(t, tt.in)); got != tt.want {
			t.Errorf("DecodeUint(%s) = %d, want %d", tt.in, got, tt.want)
		}
	}
}

func TestParseBlock(t *testing.T) {
	tests := []struct {
		in   string
		num  uint32
		more bool
		szx  uint8
	}{
		{"", 0, false, 0},
		{"0a", 0, true, 2},
		{"2a", 2, true, 2},
		{"16", 1, false, 6},
		{"0fff0e", 0xfff0, true, 6},
		{"07", 0, false, 7},
	}
	for _, tt := range tests {
		num, more, szx := ParseBlock(coapHex(t, tt.in))
		if num != tt.num || more != tt.more || szx != tt.szx {
			t.Errorf("ParseBlock(%s) = %d %v %d, want %d %v %d", tt.in, num, more, szx, tt.num, tt.more, tt.szx)
		}
	}
}

func TestAppendOptionValue(t *testing.T) {
	tests := []struct {
		id   OptionID
		in   string // hex
		want string
	}{
		{OptURIPath, "74656d70", "temp"},
		{OptURIPath, "", ""},
		{OptURIPath, "fffe", "fffe"},
		{OptContentFormat, "32", "50"},
		{OptContentFormat, "", "0"},
		{OptMaxAge, "00015180", "86400"},
		{OptObserve, "0a0b0c", "658188"},
		{OptURIPort, "0102030405060708", "72623859790382856"},
		{OptURIPort, "010203040506070809", "010203040506070809"},
		{OptETag, "DEADbeef", "deadbeef"},
		{OptOSCORE, "0914", "0914"},
		{OptIfNoneMatch, "", ""},
		{OptIfNoneMatch, "00", "00"},
		{OptBlock2, "2a", "2/1/64"},
		{OptBlock2, "", "0/0/16"},
		{OptBlock1, "16", "1/0/1024"},
		{OptQBlock2, "0fff0e", "65520/1/1024"},
		{OptBlock2, "0f", "0/1/reserved"},
		{OptBlock1, "01020304", "16909060"}, // too long for a block: a plain uint
		{OptionID(65000), "6869", "6869"},
		{OptProxyScheme, "636f6170", "coap"},
	}
	for _, tt := range tests {
		got := string(AppendOptionValue([]byte("x="), tt.id, coapHex(t, tt.in)))
		if got != "x="+tt.want {
			t.Errorf("AppendOptionValue(%s, %s) = %q, want %q", tt.id, tt.in, got, "x="+tt.want)
		}
	}
}
