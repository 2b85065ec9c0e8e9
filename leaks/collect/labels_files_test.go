package collect

import (
	"errors"
	"strings"
	"testing"
)

// ref numbers frames of two files as capture.FrameRefs does.
func ref(file, frame int) (int, bool) { return frame*2 + file, true }

func TestLabelsResolveFiles(t *testing.T) {
	l, err := ReadLabels(strings.NewReader("id,label\nX3,open\na.pcap#5,closed\nb.pcap#5,open\n"))
	if err != nil {
		t.Fatal(err)
	}
	if l.Len() != 3 {
		t.Fatalf("Len = %d", l.Len())
	}
	if err := l.ResolveFiles([]string{"a.pcap", "b.pcap"}, ref); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		frames []int
		want   string
	}{{[]int{10}, "closed"}, {[]int{11}, "open"}, {[]int{5}, ""}} {
		if got := l.lookup("X9", c.frames); got != c.want {
			t.Errorf("lookup %v = %q, want %q", c.frames, got, c.want)
		}
	}
	if l.Len() != 3 {
		t.Errorf("Len after resolving = %d", l.Len())
	}

	for in, want := range map[string]error{
		"57,x\n":                        ErrAmbiguousFrame,
		"c.pcap#1,x\n":                  ErrLabelFile,
		"a.pcap#x,x\n":                  ErrLabelID,
		"a.pcap#0,x\n":                  ErrLabelID,
		"a.pcap#1,x\n" + "a.pcap#1,y\n": ErrDuplicateLabel,
	} {
		l, err := ReadLabels(strings.NewReader(in))
		if err == nil {
			err = l.ResolveFiles([]string{"a.pcap", "b.pcap"}, ref)
		}
		if !errors.Is(err, want) {
			t.Errorf("%q: error %v, want %v", in, err, want)
		}
	}

	// One file: a plain number is its frame, and file#frame must name it.
	l, _ = ReadLabels(strings.NewReader("7,x\na.pcap#8,y\n"))
	one := func(file, frame int) (int, bool) { return frame, true }
	if err := l.ResolveFiles([]string{"a.pcap"}, one); err != nil || l.lookup("X1", []int{8}) != "y" || l.lookup("X1", []int{7}) != "x" {
		t.Errorf("one file: %v", err)
	}
}
