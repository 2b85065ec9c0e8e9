package export

import (
	"encoding/json"
	"net/netip"
	"slices"
	"strings"
	"testing"

	"github.com/coapaudit/coapaudit/flows"
	"github.com/coapaudit/coapaudit/rules"
)

func TestFrameRefs(t *testing.T) {
	if r := NewFrameRefs([]string{"a.pcap"}); r != nil {
		t.Fatalf("one file: refs %v, want nil", r)
	}
	var none *FrameRefs
	if n, ok := none.Ref(3, 12); n != 12 || !ok || none.Name(12) != "12" || none.Message("frame 12") != "frame 12" {
		t.Error("nil refs must leave frame numbers as they are")
	}
	r := NewFrameRefs([]string{"a.pcap", "b.pcap", "a.pcap"})
	if got := strings.Join(r.Files, " "); got != "a.pcap b.pcap a.pcap(3)" {
		t.Errorf("files %q: repeated names must be told apart", got)
	}
	for file := range 3 {
		for _, frame := range []int{1, 2, 1000} {
			ref, ok := r.Ref(file, frame)
			if f, n := r.Split(ref); !ok || f != file || n != frame {
				t.Errorf("Ref(%d, %d) = %d splits to %d, %d", file, frame, ref, f, n)
			}
		}
	}
	if _, ok := r.Ref(2, 1<<30); ok {
		t.Error("a frame number beyond 31 bits must not make a reference")
	}
	a1, _ := r.Ref(0, 1)
	b3, _ := r.Ref(1, 3)
	c7, _ := r.Ref(2, 7)
	if got := r.Name(b3); got != "b.pcap#3" {
		t.Errorf("Name = %q", got)
	}
	for in, want := range map[string]string{
		"frame " + itoa(a1) + ".":                                   "frame a.pcap#1.",
		"(frames " + itoa(a1) + " and " + itoa(b3) + ")":            "(frames a.pcap#1 and b.pcap#3)",
		"frames " + itoa(a1) + ", " + itoa(b3) + " and " + itoa(c7): "frames a.pcap#1, b.pcap#3 and a.pcap(3)#7",
		"frame " + itoa(a1) + " in, frame " + itoa(b3) + " out":     "frame a.pcap#1 in, frame b.pcap#3 out",
		"the 12-byte payload of frame " + itoa(c7):                  "the 12-byte payload of frame a.pcap(3)#7",
		"frames 5s": "frames 5s",
		"forwarded in frame " + itoa(b3) + ", 2.005 s after":                                 "forwarded in frame b.pcap#3, 2.005 s after",
		"forwarded in frame " + itoa(b3) + ", 500 ms after":                                  "forwarded in frame b.pcap#3, 500 ms after",
		"(frames " + itoa(a1) + " and " + itoa(b3) + ", sent 2 times)":                       "(frames a.pcap#1 and b.pcap#3, sent 2 times)",
		"frames " + itoa(a1) + " and " + itoa(b3) + ", forwarded in frame " + itoa(c7) + ".": "frames a.pcap#1 and b.pcap#3, forwarded in frame a.pcap(3)#7.",
		"reframe 3": "reframe 3",
	} {
		if got := r.Message(in); got != want {
			t.Errorf("Message(%q) = %q, want %q", in, got, want)
		}
	}
}

func itoa(n int) string { return NewFrameRefs(nil).Name(n) }

func TestFrameRefsInRecords(t *testing.T) {
	r := NewFrameRefs([]string{"a.pcap", "b.pcap"})
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
