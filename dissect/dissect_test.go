package dissect

import (
	"errors"
	"net/netip"
	"testing"

	"github.com/coapaudit/coapaudit/capture"
	"github.com/coapaudit/coapaudit/decode"
)

var (
	coapGet   = []byte{0x42, 0x01, 0x12, 0x34, 0xab, 0xcd, 0xb4, 't', 'e', 'm', 'p'} // CON GET, token abcd, Uri-Path temp
	dtlsAlert = []byte{21, 0xfe, 0xfd, 0, 0, 0, 0, 0, 0, 0, 1, 0, 2, 2, 40}          // plaintext fatal alert
	garbage   = []byte("\x00 this is neither CoAP nor DTLS")
)

func dgram(sport, dport uint16, payload []byte) *capture.Datagram {
	return &capture.Datagram{
		Kind:    capture.KindUDP,
		Src:     netip.AddrPortFrom(netip.MustParseAddr("192.0.2.1"), sport),
		Dst:     netip.AddrPortFrom(netip.MustParseAddr("192.0.2.2"), dport),
		Payload: payload,
	}
}

func TestDissect(t *testing.T) {
	ds := New(Config{CoAPPorts: []uint16{9999}, DTLSPorts: []uint16{7777}})
	noHeur := New(Config{NoHeuristics: true})
	for _, tc := range []struct {
		name      string
		ds        *Dissector
		d         *capture.Datagram
		proto     Proto
		heuristic bool
		malformed bool
	}{
		{"coap on 5683", ds, dgram(40000, 5683, coapGet), ProtoCoAP, false, false},
		{"coap reply from 5683", ds, dgram(5683, 40000, coapGet), ProtoCoAP, false, false},
		{"coap on --port", ds, dgram(40000, 9999, coapGet), ProtoCoAP, false, false},
		{"coap by heuristic", ds, dgram(40000, 40001, coapGet), ProtoCoAP, true, false},
		{"no heuristics", noHeur, dgram(40000, 40001, coapGet), ProtoOther, false, false},
		{"garbage on 5683 is malformed coap", ds, dgram(40000, 5683, garbage), ProtoCoAP, false, true},
		{"empty datagram on 5683", ds, dgram(40000, 5683, nil), ProtoCoAP, false, true},
		{"dtls on 5684", ds, dgram(40000, 5684, dtlsAlert), ProtoDTLS, false, false},
		{"dtls on --dtls-port", ds, dgram(40000, 7777, dtlsAlert), ProtoDTLS, false, false},
		{"dtls by heuristic", ds, dgram(40000, 40001, dtlsAlert), ProtoDTLS, true, false},
		{"garbage on 5684 is malformed dtls", ds, dgram(40000, 5684, garbage), ProtoDTLS, false, true},
		{"garbage elsewhere is other", ds, dgram(40000, 40001, garbage), ProtoOther, false, false},
		{"not udp", ds, &capture.Datagram{Kind: capture.KindOther, Reason: "arp"}, ProtoOther, false, false},
	} {
		var f Frame
		tc.ds.Dissect(tc.d, &f)
		if f.Proto != tc.proto || f.Heuristic != tc.heuristic || f.Malformed() != tc.malformed {
			t.Errorf("%s: proto %v heuristic %v malformed %v (%v); want %v %v %v", tc.name, f.Proto, f.Heuristic, f.Malformed(), f.Err, tc.proto, tc.heuristic, tc.malformed)
		}
		if f.Malformed() {
			var fe *decode.FormatError
			if !errors.As(f.Err, &fe) || ErrorOffset(f.Err) != fe.Off {
				t.Errorf("%s: error %v is not a *decode.FormatError with an offset", tc.name, f.Err)
			}
		}
	}
}

func TestDissectReusesFrame(t *testing.T) {
	ds := New(Config{})
	var f Frame
	ds.Dissect(dgram(1, 5683, garbage), &f)
	ds.Dissect(dgram(1, 5683, coapGet), &f)
	if f.Err != nil || f.Proto != ProtoCoAP || string(f.CoAP.URIPath(nil)) != "temp" {
		t.Errorf("reused frame: %v %v %q", f.Proto, f.Err, f.CoAP.URIPath(nil))
	}
	d := dgram(1, 5683, coapGet)
	if n := testing.AllocsPerRun(100, func() { ds.Dissect(d, &f) }); n != 0 {
		t.Errorf("Dissect allocates %.1f times per frame", n)
	}
}

func TestDTLSSessionsBounded(t *testing.T) {
	s := NewDTLSSessions(2)
	var d decode.DTLS
	d.HasServerHello, d.HasCipherSuite, d.CipherSuite = true, true, 0xC0A8
	a := netip.MustParseAddrPort("192.0.2.1:1000")
	for i := 0; i < 5; i++ {
		b := netip.AddrPortFrom(netip.MustParseAddr("192.0.2.9"), uint16(5684+i))
		s.Observe(a, b, &d)
	}
	if len(s.suites) != 2 || s.Evicted != 3 {
		t.Errorf("after 5 sessions with room for 2: %d held, %d evicted", len(s.suites), s.Evicted)
	}
	// The same session in the other direction is the same entry.
	b := netip.AddrPortFrom(netip.MustParseAddr("192.0.2.9"), 5688)
	s.Observe(b, a, &d)
	if len(s.suites) != 2 || s.Evicted != 3 {
		t.Errorf("reverse direction made a new entry: %d held, %d evicted", len(s.suites), s.Evicted)
	}
}
