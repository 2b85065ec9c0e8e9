package main

import (
	"slices"
	"testing"

	"github.com/coapaudit/coapaudit/analysis"
)

// The live capture keeps TCP to the CoAP over TCP and TLS ports, the
// WebSocket ports and the ports given; none with --no-tcp.
func TestLiveTCPPorts(t *testing.T) {
	got := liveTCPPorts(analysis.TCPOptions{CoAPPorts: []uint16{6000}, TLSPorts: []uint16{8443}})
	for _, p := range []uint16{5683, 5684, 80, 443, 8080, 6000, 8443} {
		if !slices.Contains(got, p) {
			t.Errorf("port %d not kept: %v", p, got)
		}
	}
	if got := liveTCPPorts(analysis.TCPOptions{Off: true, CoAPPorts: []uint16{6000}}); got != nil {
		t.Errorf("--no-tcp keeps %v", got)
	}
}
