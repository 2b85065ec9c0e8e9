package main

import (
	"bytes"
	"io"
	"os"
	"strings"
	"testing"
	"testing/iotest"
	"time"

	"github.com/coapaudit/coapaudit/capture"
	"github.com/coapaudit/coapaudit/internal/testenv"
)

// fakeClock advances by step every time it is read.
type fakeClock struct {
	t    time.Time
	step time.Duration
}

func (c *fakeClock) now() time.Time {
	t := c.t
	c.t = c.t.Add(c.step)
	return t
}

type closeCounter struct{ n int }

func (c *closeCounter) Close() error { c.n++; return nil }

func TestProgressReader(t *testing.T) {
	data := bytes.Repeat([]byte("coap"), 1<<14) // 64 KiB
	for _, tc := range []struct {
		name    string
		size    int64
		step    time.Duration
		wantBar bool
	}{
		{"fast", int64(len(data)), time.Millisecond, false},
		{"slow", int64(len(data)), 50 * time.Millisecond, true},
		{"slow-unknown-size", -1, 50 * time.Millisecond, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			clock := &fakeClock{t: time.Unix(0, 0), step: tc.step}
			var out bytes.Buffer
			var cl closeCounter
			// 512-byte reads: 128 reads, each one clock step.
			src := iotest.HalfReader(bytes.NewReader(data))
			p := newProgressReader(&limitedReads{src, 512}, &cl, &out, "x.pcap", tc.size, clock.now)
			var got bytes.Buffer
			var drawnBefore1s bool
			for {
				buf := make([]byte, 512)
				n, err := p.Read(buf)
				got.Write(buf[:n])
				if clock.t.Sub(time.Unix(0, 0)) < progressDelay && out.Len() > 0 {
					drawnBefore1s = true
				}
				if err == io.EOF {
					break
				}
				if err != nil {
					t.Fatal(err)
				}
			}
			if !bytes.Equal(got.Bytes(), data) {
				t.Fatalf("read %d bytes, want the %d of the input unchanged", got.Len(), len(data))
			}
			if drawnBefore1s {
				t.Errorf("bar drawn before %v of reading", progressDelay)
			}
			drawn := out.String()
			if tc.wantBar != (drawn != "") {
				t.Fatalf("bar drawn = %q, want drawn %v", drawn, tc.wantBar)
			}
			if tc.wantBar && !strings.Contains(drawn, "x.pcap") {
				t.Errorf("bar %q does not name the file", drawn)
			}
			if err := p.Close(); err != nil {
				t.Fatal(err)
			}
			if cl.n != 1 {
				t.Errorf("input closed %d times, want 1", cl.n)
			}
			if tc.wantBar {
				// Cleared: the last thing written blanks the line and
				// returns the cursor to its start.
				all := strings.TrimSuffix(out.String(), "\r")
				last := all[strings.LastIndex(all, "\r")+1:]
				if !strings.HasSuffix(out.String(), "\r") || strings.TrimSpace(last) != "" || last == "" {
					t.Errorf("bar not cleared at the end: %q", out.String())
				}
			}
		})
	}
}

// limitedReads caps every Read at n bytes.
type limitedReads struct {
	r io.Reader
	n int
}

func (l *limitedReads) Read(b []byte) (int, error) {
	if len(b) > l.n {
		b = b[:l.n]
	}
	return l.r.Read(b)
}

// TestNoProgressOffTerminal checks that nothing is drawn when stderr is not
// a terminal, as in pipes and tests.
func TestNoProgressOffTerminal(t *testing.T) {
	if isTerminal(&bytes.Buffer{}) {
		t.Fatal("a bytes.Buffer is taken for a terminal")
	}
	path := testenv.Capture(t, "libcoap-fwdproxy.pcap")
	for _, cmd := range []string{"packets", "analyze"} {
		code, _, stderr := runCmd(cmd, "--format", "ndjson", path)
		if code != 0 || stderr != "" {
			t.Errorf("%s: exit %d, stderr %q: want nothing on stderr", cmd, code, stderr)
		}
	}
}

// TestOpenMetered checks that the viewer's inputs count their bytes for
// its top bar and draw nothing on stderr: the viewer owns the screen.
func TestOpenMetered(t *testing.T) {
	stderr := new(bytes.Buffer)
	name := testenv.RepoRoot() + "/samples/aiocoap-oscore-evilproxy.pcap"
	st, err := os.Stat(name)
	if err != nil {
		t.Fatal(err)
	}
	m := new(inputMeter)
	e := &env{stderr: stderr}
	r, err := openMetered(e, name, m)
	if err != nil {
		t.Fatal(err)
	}
	if _, total := m.progress(); total != st.Size() {
		t.Errorf("total %d, want the file's %d bytes", total, st.Size())
	}
	frames := 0
	for {
		var d capture.Datagram
		if err := r.Next(&d); err != nil {
			break
		}
		frames++
	}
	r.Close()
	if read, _ := m.progress(); read != st.Size() || frames == 0 {
		t.Errorf("read %d of %d bytes, %d frames", read, st.Size(), frames)
	}
	if stderr.Len() > 0 {
		t.Errorf("stderr: %q", stderr.String())
	}
}
