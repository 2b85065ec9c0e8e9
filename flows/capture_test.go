package flows

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/coapaudit/coapaudit/capture"
	"github.com/coapaudit/coapaudit/decode"
	"github.com/coapaudit/coapaudit/internal/testenv"
)

// capturesDir returns the shared captures directory, skipping the test
// when it is missing (unless COAPAUDIT_REQUIRE_TOOLS=1).
func capturesDir(t testing.TB) string {
	t.Helper()
	return testenv.CapturesDir(t)
}

// result is what a capture analysis produced.
type result struct {
	xs     []*Exchange
	byID   map[string]*Exchange
	stats  Stats
	frames []int          // every frame given to the Tracker
	reqMID map[[2]int]int // (source port, Message ID) of CON/NON requests -> first frame
}

// analyze streams the CoAP datagrams of a capture file (UDP port 5683 or
// 5684 on either side) through a Tracker, one reused Message and borrowed
// payloads, as cmd/coapaudit does.
func analyze(t testing.TB, name string, cfg Config) *result {
	t.Helper()
	return analyzePath(t, filepath.Join(capturesDir(t), name), cfg)
}

// analyzePath is analyze for any path.
func analyzePath(t testing.TB, path string, cfg Config) *result {
	t.Helper()
	name := filepath.Base(path)
	r, err := capture.Open(path)
	if err != nil {
		t.Fatalf("open %s: %v", name, err)
	}
	defer r.Close()
	res := &result{byID: map[string]*Exchange{}, reqMID: map[[2]int]int{}}
	tr := NewTracker(cfg, func(x *Exchange) {
		res.xs = append(res.xs, x)
		res.byID[x.ID] = x
	})
	var d capture.Datagram
	var m decode.Message
	var p Packet
	for {
		err := r.Next(&d)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatalf("read %s: %v", name, err)
		}
		if d.Kind != capture.KindUDP || !coapPort(d.Src.Port()) && !coapPort(d.Dst.Port()) {
			continue
		}
		if err := m.Decode(d.Payload); err != nil && len(d.Payload) < 4 {
			continue
		}
		if m.Version != 1 {
			continue
		}
		res.frames = append(res.frames, d.Number)
		if k := [2]int{int(d.Src.Port()), int(m.MessageID)}; m.Code.IsRequest() && res.reqMID[k] == 0 {
			res.reqMID[k] = d.Number
		}
		p = Packet{Frame: d.Number, Time: d.Time, Src: d.Src, Dst: d.Dst, Msg: &m, Size: len(d.Payload)}
		tr.Add(&p)
		// Scribble over the borrowed buffer: the Tracker must not hold it.
		clear(d.Payload)
	}
	tr.Close()
	res.stats = tr.Stats()
	return res
}

func coapPort(p uint16) bool { return p == 5683 || p == 5684 }

// dump renders exchanges one per line, for failure messages.
func dump(xs []*Exchange) string {
	var b strings.Builder
	for _, x := range xs {
		fmt.Fprintf(&b, "%s %s %s client=%v proxy=%v server=%v code=%s status=%s notif=%d frames=%v\n",
			x.ID, x.Method, x.URI, x.Client, x.Proxy, x.Server, x.Code, x.Status, x.Notifications, x.Frames)
		for i, l := range x.Legs {
			fmt.Fprintf(&b, "    leg%d %v->%v tok=%s req=%v resp=%v other=%v retx=%d dup=%d replay=%d rretx=%d rdup=%d replayleg=%v shared=%s\n",
				i, l.From, l.To, l.Token, l.RequestFrames, l.ResponseFrames, l.OtherFrames,
				l.Retransmissions, l.Duplicates, l.Replays, l.ResponseRetransmissions, l.ResponseDuplicates, l.Replay, l.Shared)
		}
		if x.Observe != nil {
			fmt.Fprintf(&b, "    observe %+v\n", *x.Observe)
		}
		if x.Block != nil {
			fmt.Fprintf(&b, "    block %+v\n", *x.Block)
		}
		for _, r := range x.Residence {
			fmt.Fprintf(&b, "    residence %v req=%v resp=%v relayed=%v\n", r.Proxy, r.Request, r.Response, r.Relayed)
		}
		for _, l := range x.Links {
			fmt.Fprintf(&b, "    link %+v\n", l)
		}
	}
	return b.String()
}

// TestDumpCapture logs every exchange of the capture FLOWS_DUMP names
// (under the captures directory; by default the evil proxy capture).
func TestDumpCapture(t *testing.T) {
	name := os.Getenv("FLOWS_DUMP")
	if name == "" {
		name = "aiocoap-oscore-evilproxy.pcap"
	}
	res := analyze(t, name, Config{})
	d := dump(res.xs)
	if len(res.xs) == 0 || !strings.Contains(d, res.xs[0].ID) {
		t.Errorf("%s: %d exchanges, dump %q", name, len(res.xs), d)
	}
	t.Logf("\n%s\nstats %+v", d, res.stats)
}
