package decode

import (
	"encoding/hex"
	"errors"
	"testing"
)

func TestParseOSCORE(t *testing.T) {
	tests := []struct {
		name              string
		in                string
		flags             byte
		piv, kidctx, kid  string
		hasKIDCtx, hasKID bool
	}{
		{name: "empty", in: ""},
		// RFC 8613 appendix C.4: request, Sender ID empty.
		{name: "rfc8613-c4", in: "0914", flags: 0x09, piv: "14", hasKID: true},
		// C.5: Sender ID 00.
		{name: "rfc8613-c5", in: "091400", flags: 0x09, piv: "14", kid: "00", hasKID: true},
		// C.6: with ID Context.
		{name: "rfc8613-c6", in: "19140837cbf3210017a2d3", flags: 0x19, piv: "14", kidctx: "37cbf3210017a2d3", hasKIDCtx: true, hasKID: true},
		// C.8: response with a Partial IV.
		{name: "rfc8613-c8", in: "0100", flags: 0x01, piv: "00"},
		{name: "piv-5", in: "05 0102030405 ", flags: 0x05, piv: "0102030405"},
		{name: "kid-context-empty", in: "10 00", flags: 0x10, hasKIDCtx: true},
		{name: "kid-long", in: "08 " + "aa0102030405060708090a", flags: 0x08, kid: "aa0102030405060708090a", hasKID: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o, err := ParseOSCORE(coapHex(t, tt.in))
			if err != nil {
				t.Fatal(err)
			}
			if o.Flags != tt.flags || hex.EncodeToString(o.PIV) != tt.piv || hex.EncodeToString(o.KIDContext) != tt.kidctx ||
				hex.EncodeToString(o.KID) != tt.kid || o.HasKIDContext != tt.hasKIDCtx || o.HasKID != tt.hasKID {
				t.Errorf("got %+v", o)
			}
		})
	}
}

func TestParseOSCOREErrors(t *testing.T) {
	tests := []struct {
		in    string
		field string
		off   int
		err   error
	}{
		{"20", "OSCORE.Flags", 0, ErrReserved},
		{"8914", "OSCORE.Flags", 0, ErrReserved},
		{"00", "OSCORE.Flags", 0, ErrBadLength},
		{"06 010203040506", "OSCORE.PIVLength", 0, ErrReserved},
		{"07", "OSCORE.PIVLength", 0, ErrReserved},
		{"03 0102", "OSCORE.PIV", 1, ErrTruncated},
		{"10", "OSCORE.KIDContextLength", 1, ErrTruncated},
		{"11 01", "OSCORE.KIDContextLength", 2, ErrTruncated},
		{"11 01 05 aabb", "OSCORE.KIDContext", 3, ErrTruncated},
		{"01 14 ff", "OSCORE", 2, ErrBadLength},
		{"10 01 aa bb", "OSCORE", 3, ErrBadLength},
	}
	for _, tt := range tests {
		_, err := ParseOSCORE(coapHex(t, tt.in))
		var fe *FormatError
		if !errors.As(err, &fe) || fe.Field != tt.field || fe.Off != tt.off || !errors.Is(err, tt.err) {
			t.Errorf("ParseOSCORE(%s) = %v, want %s at %d: %v", tt.in, err, tt.field, tt.off, tt.err)
		}
	}
}

func TestParseOSCOREAllocs(t *testing.T) {
	v := coapHex(t, "19140837cbf3210017a2d3")
	n := testing.AllocsPerRun(100, func() {
		if _, err := ParseOSCORE(v); err != nil {
			t.Fatal(err)
		}
	})
	if n != 0 {
		t.Errorf("ParseOSCORE: %v allocs/op, want 0", n)
	}
}

// TestOSCOREClass checks RFC 8613 figure 5 and the classes that later
// documents give their options.
func TestOSCOREClass(t *testing.T) {
	e, u, eu := OSCOREClassE, OSCOREClassU, OSCOREClassE|OSCOREClassU
	want := map[OptionID]OSCOREClassKind{
		OptIfMatch: e, OptURIHost: u, OptETag: e, OptIfNoneMatch: e, OptObserve: eu,
		OptURIPort: u, OptLocationPath: e, OptOSCORE: u, OptURIPath: e, OptContentFormat: e,
		OptMaxAge: eu, OptURIQuery: e, OptAccept: e, OptLocationQuery: e, OptBlock2: eu,
		OptBlock1: eu, OptSize2: eu, OptProxyURI: u, OptProxyScheme: u, OptSize1: eu,
		OptNoResponse: eu, OptHopLimit: u, OptEDHOC: u,
		OptionID(65000): e, OptionID(2): e, // unknown: class E
	}
	for id, k := range want {
		if got := OSCOREClass(id); got != k {
			t.Errorf("OSCOREClass(%s) = %v, want %v", id, got, k)
		}
	}
	if !OSCOREClass(OptObserve).Inner() || !OSCOREClass(OptObserve).Outer() ||
		OSCOREClass(OptURIPath).Outer() || OSCOREClass(OptURIHost).Inner() || !OSCOREClassI.Outer() {
		t.Error("Inner/Outer wrong")
	}
	for k, s := range map[OSCOREClassKind]string{e: "E", u: "U", eu: "E+U", OSCOREClassI: "I", 0: "OSCOREClassKind(0)"} {
		if k.String() != s {
			t.Errorf("%d.String() = %q, want %q", k, k.String(), s)
		}
	}
}
