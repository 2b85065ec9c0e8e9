package libcoaptest

import (
	"bytes"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/coapaudit/coapaudit/capture"
	"github.com/coapaudit/coapaudit/decode"
	"github.com/coapaudit/coapaudit/internal/testenv"
)

// frame is a captured CoAP message.
type frame struct {
	n        int
	time     time.Time
	src, dst netip.AddrPort
	typ      decode.Type
	code     uint8
	path     string
	proxyURI string
}

// minFrames is the number of frames a request takes at least, on each
// leg, when nothing is lost: request and response, plus for a CON request
// to libcoap's proxy its empty ACK and the ACK of its separate response.
func minFrames(r Req) (client, upstream int) {
	switch {
	case !r.ViaProxy:
		return 2, 0
	case r.NON:
		return 2, 2
	}
	return 4, 2
}

// TestRun runs the default scenario while capturing lo, checks what the
// clients got, and that every request, and its forwarding by the proxy,
// was captured. Without the privilege to capture, it checks only the
// clients (and fails with COAPAUDIT_REQUIRE_TOOLS=1).
func TestRun(t *testing.T) {
	Tools(t)
	live, err := capture.OpenLive("lo", capture.LiveOptions{Ports: []uint16{DefaultOrigin.Port(), DefaultProxy.Port()}})
	switch {
	case errors.Is(err, os.ErrPermission) && !testenv.RequireTools():
		t.Logf("not capturing: %v", err)
	case err != nil:
		t.Fatal(err)
	default:
		defer live.Close()
	}

	res := Run(t, Scenario{})
	checkClients(t, res)
	if live != nil {
		checkCapture(t, live, res)
	}
}

// checkClients checks what the clients of the default scenario printed.
func checkClients(t *testing.T, res Result) {
	want := DefaultRequests()
	if len(res.Requests) != len(want) {
		t.Fatalf("%d requests run, want %d", len(res.Requests), len(want))
	}
	clients := map[netip.AddrPort]bool{}
	for i, r := range res.Requests {
		server := res.Origin
		if r.ViaProxy {
			server = res.Proxy
		}
		if r.Request != want[i] || r.Server != server || r.Client.Addr() != DefaultClient || clients[r.Client] || r.End.Before(r.Start) {
			t.Errorf("request %d: %+v", i, r)
		}
		clients[r.Client] = true
	}
	for i, out := range map[int]string{
		2: `{"v":1}`, // the GET through the proxy of what the PUT stored
		3: "4.05",    // POST is not allowed
		8: "4.04",    // no such resource
	} {
		if r := res.Requests[i]; !strings.Contains(r.Output, out) {
			t.Errorf("%s %s printed %q, want %q in it", r.Method, r.URI, r.Output, out)
		}
	}
}

// checkCapture checks the frames captured during the run.
func checkCapture(t *testing.T, live *capture.Live, res Result) {

	// Frames wait in the socket's buffer; a marker datagram sent now is
	// the last one of the run.
	marker := fmt.Appendf(nil, "libcoaptest end %d", time.Now().UnixNano())
	c, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := c.WriteToUDPAddrPort(marker, netip.AddrPortFrom(netip.MustParseAddr("127.0.0.1"), DefaultOrigin.Port())); err != nil {
		t.Fatal(err)
	}
	live.SetReadDeadline(time.Now().Add(10 * time.Second))
	ours := map[netip.Addr]bool{res.Origin.Addr(): true, res.Proxy.Addr(): true, res.Requests[0].Client.Addr(): true}
	var frames []frame
	var d capture.Datagram
	var m decode.Message
	for {
		if err := live.Reader().Next(&d); err != nil {
			t.Fatalf("reading the capture: %v", err)
		}
		if bytes.Equal(d.Payload, marker) {
			break
		}
		if d.Kind != capture.KindUDP || d.Src == res.Probe || d.Dst == res.Probe ||
			!ours[d.Src.Addr()] && !ours[d.Dst.Addr()] {
			continue // another program's traffic on the CoAP port
		}
		if err := m.Decode(d.Payload); err != nil {
			t.Errorf("frame %d (%v -> %v): %v", d.Number, d.Src, d.Dst, err)
			continue
		}
		pu, _ := m.Option(decode.OptProxyURI)
		frames = append(frames, frame{d.Number, d.Time, d.Src, d.Dst, m.Type, uint8(m.Code), string(m.URIPath(nil)), string(pu)})
	}
	st, err := live.Stats()
	if err != nil {
		t.Fatal(err)
	}
	if st.Dropped != 0 {
		t.Errorf("kernel dropped %d frames", st.Dropped)
	}

	minTotal := 0
	for _, r := range res.Requests {
		code := MethodCode(r.Method)
		var client, forwarded, responses int
		var sawRequest, sawForward bool
		for _, f := range frames {
			switch {
			case f.src == r.Client && f.dst == r.Server:
				client++
				if f.code == code && (r.ViaProxy && f.proxyURI == r.URI || !r.ViaProxy && f.path == r.Path) {
					sawRequest = true
				}
			case f.src == r.Server && f.dst == r.Client:
				client++
				if f.code >= 0x40 { // a response, class 2 to 5
					responses++
				}
			case r.ViaProxy && f.dst == res.Origin && f.code == code && f.path == r.Path &&
				!f.time.Before(r.Start) && !f.time.After(r.End):
				forwarded++
				sawForward = true
			}
		}
		wantClient, wantUpstream := minFrames(r)
		minTotal += wantClient + wantUpstream
		switch {
		case !sawRequest:
			t.Errorf("%s %s (via proxy %v): request from %v to %v not captured", r.Method, r.URI, r.ViaProxy, r.Client, r.Server)
		case responses == 0:
			t.Errorf("%s %s: no response to %v captured", r.Method, r.URI, r.Client)
		case client < wantClient:
			t.Errorf("%s %s: %d frames between %v and %v, want at least %d", r.Method, r.URI, client, r.Client, r.Server, wantClient)
		case r.ViaProxy && !sawForward:
			t.Errorf("%s %s: the proxy's request to %v not captured", r.Method, r.URI, res.Origin)
		case r.Observe > 0 && responses < 2:
			t.Errorf("%s %s observed for %ds: %d responses, want the first and a notification", r.Method, r.URI, r.Observe, responses)
		}
		t.Logf("%-6s %-40s proxy=%-5v observe=%d: %d frames client-side (%d responses), %d requests forwarded", r.Method, r.URI, r.ViaProxy, r.Observe, client, responses, forwarded)
	}
	// Upper bound: a few retransmissions at most, and the origin's
	// notifications of /time to the proxy, one a second, which libcoap's
	// proxy does not cancel, each with its ACK, on both legs.
	seconds := int(res.End.Sub(res.Start)/time.Second) + 1
	maxTotal := 2*minTotal + 4*seconds
	t.Logf("%d CoAP frames in %ds; expected %d to %d", len(frames), seconds, minTotal, maxTotal)
	if len(frames) < minTotal || len(frames) > maxTotal {
		t.Errorf("captured %d CoAP frames, want %d to %d", len(frames), minTotal, maxTotal)
	}
}
