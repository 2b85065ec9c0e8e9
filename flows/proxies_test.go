package flows

import (
	"bufio"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/coapaudit/coapaudit/internal/testenv"
)

// TestHonestProxiesLinked: in the recordings of real proxies
// (testdata/captures/PROXIES.md), the first request of the client leg and
// the first request the proxy sent on for it are in one exchange, for
// every request of the truth files but the ones listed, which have no
// server leg to link or end an observation as an exchange of their own.
func TestHonestProxiesLinked(t *testing.T) {
	for _, c := range []struct {
		capture string
		apart   []int // truth lines whose legs are not one exchange, and why
	}{
		{"libcoap-proxy-reblock", []int{15}}, // the deregistration is its own exchange, linked "deregisters"
		{"aiocoap-proxy", nil},
		{"nodecoap-proxy", []int{11}}, // node-coap sends its own 5.00 to the wrong address; no server leg
		{"mixed-proxies", []int{4}},   // the same node-coap defect
	} {
		t.Run(c.capture, func(t *testing.T) {
			root := filepath.Join(testenv.RepoRoot(), "testdata", "captures")
			res := analyzePath(t, filepath.Join(root, c.capture+".pcap"), Config{})
			f, err := os.Open(filepath.Join(root, c.capture+".truth.jsonl"))
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			sc := bufio.NewScanner(f)
			n := 0
			for sc.Scan() {
				var l struct {
					N            int   `json:"n"`
					ClientFrames []int `json:"client_frames"`
					ServerFrames []int `json:"server_frames"`
				}
				if err := json.Unmarshal(sc.Bytes(), &l); err != nil {
					t.Fatal(err)
				}
				n++
				if slices.Contains(c.apart, l.N) || len(l.ServerFrames) == 0 {
					continue
				}
				linked := false
				for _, x := range res.xs {
					if slices.Contains(x.Frames, l.ClientFrames[0]) {
						linked = slices.Contains(x.Frames, l.ServerFrames[0]) && len(x.Legs) > 1
						break
					}
				}
				if !linked {
					t.Errorf("request %d: client frame %d and server frame %d are not one exchange", l.N, l.ClientFrames[0], l.ServerFrames[0])
				}
			}
			if n == 0 {
				t.Fatal("empty truth file")
			}
		})
	}
}
