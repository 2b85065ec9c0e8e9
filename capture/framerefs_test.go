package capture

import (
	"strings"
	"testing"
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
