package analysis_test

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/google/gopacket/pcapgo"

	"github.com/coapaudit/coapaudit/analysis"
	"github.com/coapaudit/coapaudit/flows"
	"github.com/coapaudit/coapaudit/internal/testenv"
	"github.com/coapaudit/coapaudit/rules"
)

// The recording of libcoap 4.3.1's forward proxy between a UDP client and
// a coap+tcp origin (testdata/captures/PROXIES.md).
const crossCapture = "libcoap-udp-tcp-proxy"

type crossTruth struct {
	N            int    `json:"n"`
	ClientFrames []int  `json:"client_frames"`
	ServerFrames []int  `json:"server_frames"`
	URI          string `json:"uri"`
}

func runCross(t *testing.T, path string) ([]*flows.Exchange, []*rules.Finding) {
	t.Helper()
	var xs []*flows.Exchange
	var fs []*rules.Finding
	opts := analysis.Options{Rules: rules.All(), OnFinding: func(f *rules.Finding) { fs = append(fs, f) }}
	if _, err := analysis.RunFiles([]string{path}, opts, nil, func(x *flows.Exchange) { xs = append(xs, x) }); err != nil {
		t.Fatal(err)
	}
	return xs, fs
}

func exchangeWith(xs []*flows.Exchange, frame int) *flows.Exchange {
	for _, x := range xs {
		if slices.Contains(x.Frames, frame) {
			return x
		}
	}
	return nil
}

func legWith(x *flows.Exchange, frame int) *flows.Leg {
	for i := range x.Legs {
		l := &x.Legs[i]
		if slices.Contains(l.RequestFrames, frame) || slices.Contains(l.ResponseFrames, frame) {
			return l
		}
	}
	return nil
}

// TestProxyBetweenTransports: every request through libcoap's proxy,
// from a UDP client to a coap+tcp origin and from a coap+tcp client to a
// UDP origin, is one exchange whose legs name their transports, both
// timed; the only did finding is the request to the dead origin, which
// libcoap never answers.
func TestProxyBetweenTransports(t *testing.T) {
	for _, c := range []struct {
		capture                 string
		clientLeg, serverLeg    string // transports ("" for UDP)
		clientType, serverType  string
		requests, linked, deadN int
	}{
		{crossCapture, "", "tcp", "CON", "", 9, 8, 9},
		{"libcoap-tcp-udp-proxy", "tcp", "", "", "CON", 6, 6, 0},
	} {
		t.Run(c.capture, func(t *testing.T) {
			crossProxy(t, c.capture, c.clientLeg, c.serverLeg, c.clientType, c.serverType, c.requests, c.linked, c.deadN)
		})
	}
}

func crossProxy(t *testing.T, capture, clientLeg, serverLeg, clientType, serverType string, requests, wantLinked, deadN int) {
	root := filepath.Join(testenv.RepoRoot(), "testdata", "captures")
	xs, fs := runCross(t, filepath.Join(root, capture+".pcap"))
	f, err := os.Open(filepath.Join(root, capture+".truth.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	linked, n := 0, 0
	var dead crossTruth
	for sc.Scan() {
		var l crossTruth
		if err := json.Unmarshal(sc.Bytes(), &l); err != nil {
			t.Fatal(err)
		}
		n++
		if len(l.ServerFrames) == 0 {
			dead = l
			continue
		}
		x := exchangeWith(xs, l.ClientFrames[0])
		if x == nil || !slices.Contains(x.Frames, l.ServerFrames[0]) || len(x.Legs) != 2 {
			t.Errorf("request %d: client frame %d and server frame %d are not one exchange of two legs", l.N, l.ClientFrames[0], l.ServerFrames[0])
			continue
		}
		c, s := legWith(x, l.ClientFrames[0]), legWith(x, l.ServerFrames[0])
		if c == nil || s == nil || c.Transport != clientLeg || s.Transport != serverLeg || c.Type != clientType || s.Type != serverType {
			t.Errorf("request %d: legs %+v", l.N, x.Legs)
			continue
		}
		if c.RequestTime.IsZero() || s.RequestTime.IsZero() || s.RequestTime.Before(c.RequestTime) {
			t.Errorf("request %d: request times %v (client leg), %v (server leg)", l.N, c.RequestTime, s.RequestTime)
		}
		if x.URI != l.URI {
			t.Errorf("request %d: URI %q, want %q", l.N, x.URI, l.URI)
		}
		linked++
	}
	if n != requests || linked != wantLinked || dead.N != deadN {
		t.Fatalf("%d truth lines, %d linked, dead origin %d; want %d, %d, %d", n, linked, dead.N, requests, wantLinked, deadN)
	}
	var did []*rules.Finding
	for _, f := range fs {
		if f.Certainty == rules.Did {
			did = append(did, f)
		}
	}
	if deadN == 0 {
		if len(did) > 0 {
			t.Errorf("did findings %v, want none", did)
		}
		return
	}
	if len(did) != 1 || did[0].Rule != "withheld-request" || !slices.Equal(did[0].Frames, dead.ClientFrames) {
		t.Errorf("did findings %v, want only withheld-request on frames %v", did, dead.ClientFrames)
	}
}

// editCapture writes a copy of a capture with frames dropped and with
// edit applied to the bytes of the others (frame numbers from 1).
func editCapture(t *testing.T, src string, drop []int, edit func(n int, data []byte)) string {
	t.Helper()
	in, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	r, err := pcapgo.NewReader(bytes.NewReader(in))
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	w := pcapgo.NewWriter(&out)
	if err := w.WriteFileHeader(r.Snaplen(), r.LinkType()); err != nil {
		t.Fatal(err)
	}
	for n := 1; ; n++ {
		data, ci, err := r.ReadPacketData()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if slices.Contains(drop, n) {
			continue
		}
		data = slices.Clone(data)
		edit(n, data)
		if err := w.WritePacket(ci, data); err != nil {
			t.Fatal(err)
		}
	}
	name := filepath.Join(t.TempDir(), "edited.pcap")
	if err := os.WriteFile(name, out.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	return name
}

// TestProxyBetweenTransportsMisbehaving: the recording changed as a
// misbehaving proxy would have sent it: the 2.05 of request 1, which the
// origin sent on TCP (frame 11), never relayed to the UDP client (frames
// 12 and 13 removed); and the 2.05 of request 2 (TCP frame 25) relayed
// over UDP with its last payload byte changed (frame 26, UDP checksum
// cleared). Both are proven, with the frames of both legs (numbered in
// the edited capture: frames 25 and 26 become 23 and 24).
func TestProxyBetweenTransportsMisbehaving(t *testing.T) {
	src := filepath.Join(testenv.RepoRoot(), "testdata", "captures", crossCapture+".pcap")
	name := editCapture(t, src, []int{12, 13}, func(n int, data []byte) {
		if n != 26 {
			return
		}
		const udp = 14 + 20 // Ethernet and IPv4 without options
		data[udp+6], data[udp+7] = 0, 0
		data[len(data)-1] ^= 0x20
	})
	_, fs := runCross(t, name)
	var withheld, altered *rules.Finding
	for _, f := range fs {
		switch {
		case f.Rule == "withheld-response" && f.Certainty == rules.Did && slices.Equal(f.Frames, []int{1, 11}) &&
			strings.Contains(f.Message, "which TCP delivered to the proxy"):
			withheld = f
		case f.Rule == "altered-response" && f.Certainty == rules.Did && slices.Equal(f.Frames, []int{23, 24}):
			altered = f
		}
	}
	if withheld == nil {
		t.Errorf("no did withheld-response with frames 1 and 11 among %v", fs)
	} else {
		t.Log(withheld.Message)
	}
	if altered == nil {
		t.Errorf("no did altered-response with frames 23 and 24 among %v", fs)
	} else {
		t.Log(altered.Message)
	}
}
