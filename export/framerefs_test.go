package export

import (
	"encoding/json"
	"net/netip"
	"slices"
	"strings"
	"testing"

	"github.com/coapaudit/coapaudit/capture"
	"github.com/coapaudit/coapaudit/flows"
	"github.com/coapaudit/coapaudit/rules"
)

func TestFrameRefsInRecords(t *testing.T) {
	r := capture.NewFrameRefs([]string{"a.pcap", "b.pcap"})
	ref := func(file, frame int) int { n, _ := r.Ref(file, frame); return n }
	x := &flows.Exchange{ID: "X1", Client: netip.MustParseAddrPort("10.0.0.1:1000"),
		Legs: []flows.Leg{
			{RequestFrames: []int{ref(0, 1)}, ResponseFrames: []int{ref(0, 4)}},
			{RequestFrames: []int{ref(1, 2), ref(0, 2)}, ResponseFrames: []int{ref(1, 3)}},
		},
		Frames:  []int{ref(0, 1), ref(1, 2), ref(0, 2), ref(1, 3), ref(0, 4)},
		Observe: &flows.ObserveInfo{EndFrame: ref(1, 9)},
		Links:   []flows.Link{{Kind: "published-by", Exchange: "X2", Frame: ref(1, 5)}},
	}
	var got struct {
		Legs []struct {
			RequestFrames  []int    `json:"request_frames"`
			RequestFiles   []string `json:"request_files"`
			ResponseFrames []int    `json:"response_frames"`
			ResponseFiles  []string `json:"response_files"`
		} `json:"legs"`
		Frames     []int    `json:"frames"`
		FrameFiles []string `json:"frame_files"`
		Observe    struct {
			EndFrame int    `json:"end_frame"`
			EndFile  string `json:"end_file"`
		} `json:"observe"`
		Links []struct {
			Frame int    `json:"frame"`
			File  string `json:"file"`
		} `json:"links"`
	}
	b := Exchange{Exchange: x, Refs: r}.AppendJSON(nil)
	if err := json.Unmarshal(b, &got); err != nil {
		t.Fatalf("%v: %s", err, b)
	}
	l := got.Legs[1]
	if strings.Join(l.RequestFiles, ",") != "b.pcap,a.pcap" || l.RequestFrames[0] != 2 || l.RequestFrames[1] != 2 ||
		l.ResponseFiles[0] != "b.pcap" || l.ResponseFrames[0] != 3 {
		t.Errorf("leg %+v", l)
	}
	if strings.Join(got.FrameFiles, ",") != "a.pcap,b.pcap,a.pcap,b.pcap,a.pcap" || got.Frames[4] != 4 {
		t.Errorf("frames %v files %v", got.Frames, got.FrameFiles)
	}
	if got.Observe.EndFrame != 9 || got.Observe.EndFile != "b.pcap" || got.Links[0].Frame != 5 || got.Links[0].File != "b.pcap" {
		t.Errorf("observe %+v links %+v", got.Observe, got.Links)
	}
	row := Exchange{Exchange: x, Refs: r}.CSVRow(nil)
	if cell := row[slices.Index(Exchange{}.CSVHeader(), "frames")]; cell != "a.pcap#1;b.pcap#2;a.pcap#2;b.pcap#3;a.pcap#4" {
		t.Errorf("csv frames %q", cell)
	}

	f := &rules.Finding{ID: "F1", Frames: []int{ref(0, 1), ref(1, 3)}, Message: "m"}
	var gf struct {
		Frames     []int    `json:"frames"`
		FrameFiles []string `json:"frame_files"`
	}
	if err := json.Unmarshal(Finding{Finding: f, Refs: r}.AppendJSON(nil), &gf); err != nil {
		t.Fatal(err)
	}
	if len(gf.Frames) != 2 || gf.Frames[1] != 3 || strings.Join(gf.FrameFiles, ",") != "a.pcap,b.pcap" {
		t.Errorf("finding frames %v files %v", gf.Frames, gf.FrameFiles)
	}
	if b := (Finding{Finding: f}).AppendJSON(nil); strings.Contains(string(b), "frame_files") {
		t.Errorf("one file: %s", b)
	}
}
