package analysis_test

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/coapaudit/coapaudit/analysis"
	"github.com/coapaudit/coapaudit/export"
	"github.com/coapaudit/coapaudit/internal/testenv"
)

// TestPacketConnectionAndFrames: the packet record of a TCP segment that
// completed a message names the connection's client and server, and the
// frames of a message written in three parts (go-coap's raw client PUT,
// frames 39, 41 and 43); a message in one segment has no frames list.
func TestPacketConnectionAndFrames(t *testing.T) {
	recs := map[int]string{}
	var csv43 []string
	_, err := analysis.RunFiles([]string{filepath.Join(testenv.RepoRoot(), "coaptcp", "testdata", "gocoap-tcp.pcap")}, analysis.Options{},
		func(p *analysis.Packet) {
			ep := &export.Packet{Packet: p}
			recs[p.D.Number] = string(ep.AppendJSON(nil))
			if p.D.Number == 43 {
				csv43 = ep.CSVRow(nil)
			}
		}, nil)
	if err != nil {
		t.Fatal(err)
	}
	conn := `"conn_client":"127.0.0.1:35578","conn_server":"127.0.0.74:5683"`
	if r := recs[43]; !strings.Contains(r, conn+`,"frames":[39,41,43]`) || !strings.Contains(r, `"code_name":"PUT"`) {
		t.Errorf("frame 43: %s", r)
	}
	if r := recs[6]; !strings.Contains(r, `"conn_client":"127.0.0.1:35576","conn_server":"127.0.0.74:5683"`) || strings.Contains(r, `"frames"`) {
		t.Errorf("frame 6: %s", r)
	}
	if r := recs[39]; strings.Contains(r, "conn_client") {
		t.Errorf("frame 39 completed no message: %s", r)
	}
	hdr := (&export.Packet{}).CSVHeader()
	if len(csv43) != len(hdr) || csv43[len(hdr)-3] != "127.0.0.1:35578" || csv43[len(hdr)-1] != "39;41;43" {
		t.Errorf("CSV row of frame 43: %v", csv43)
	}
}
