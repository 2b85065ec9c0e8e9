package coaptcp

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"

	"github.com/coapaudit/coapaudit/capture"
	"github.com/coapaudit/coapaudit/decode"
	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"
	"github.com/google/gopacket/pcapgo"
)

type pcapFrame struct {
	ci   gopacket.CaptureInfo
	data []byte
}

// rewrite writes a copy of the capture in to a temporary file, its frames
// (numbered from 1) passed through edit, and returns its path.
func rewrite(t *testing.T, in string, edit func([]pcapFrame) []pcapFrame) string {
	t.Helper()
	f, err := os.Open(in)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	r, err := pcapgo.NewReader(f)
	if err != nil {
		t.Fatal(err)
	}
	var frames []pcapFrame
	for {
		data, ci, err := r.ReadPacketData()
		if err != nil {
			break
		}
		frames = append(frames, pcapFrame{ci, data})
	}
	frames = edit(frames)
	var buf bytes.Buffer
	w := pcapgo.NewWriter(&buf)
	if err := w.WriteFileHeader(262144, layers.LinkTypeEthernet); err != nil {
		t.Fatal(err)
	}
	for _, fr := range frames {
		if err := w.WritePacket(fr.ci, fr.data); err != nil {
			t.Fatal(err)
		}
	}
	out := filepath.Join(t.TempDir(), filepath.Base(in))
	if err := os.WriteFile(out, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	return out
}

// drop removes frame n; swap exchanges the places of frames n and m, and
// their capture times, so that time still runs forward.
func drop(n int) func([]pcapFrame) []pcapFrame {
	return func(f []pcapFrame) []pcapFrame { return append(f[:n-1:n-1], f[n:]...) }
}

func swap(n, m int) func([]pcapFrame) []pcapFrame {
	return func(f []pcapFrame) []pcapFrame {
		f[n-1], f[m-1] = f[m-1], f[n-1]
		f[n-1].ci.Timestamp, f[m-1].ci.Timestamp = f[m-1].ci.Timestamp, f[n-1].ci.Timestamp
		return f
	}
}

// A lost segment that held one whole message (libcoap's second block of
// a PUT): the message is missing, as in tshark, the gap is recorded, and
// the stream goes on at the next message.
func TestLostSegmentWholeMessage(t *testing.T) {
	path := rewrite(t, testdata("libcoap-tcp.pcap"), drop(79))
	got, st := assemble(t, path, Config{})
	compareWithTshark(t, got, tsharkMessages(t, path, "-d", "tcp.port==5683,coap"))
	if len(got) != 56 || st.Gaps != 1 || st.GapBytes != int64(payloadLen(t, testdata("libcoap-tcp.pcap"), 79)) || st.Resyncs != 1 || st.SkippedBytes != 0 {
		t.Errorf("%d messages, stats %+v", len(got), st)
	}
}

// A lost segment in the middle of a message (the second of the three
// writes of go-coap's raw client's PUT): the message is gone, tshark shows
// nothing of it either; the tail that comes after the gap is passed over
// without taking its payload for messages, and the response is found.
func TestLostSegmentInsideMessage(t *testing.T) {
	path := rewrite(t, testdata("gocoap-tcp.pcap"), drop(41))
	got, st := assemble(t, path, Config{})
	want := tsharkMessages(t, path, "-d", "tcp.port==5683,coap")
	for _, m := range want {
		if m.Code == int(decode.CodeCSM) && len(m.Opts) == 1 && m.Opts[0] == "2=221000" {
			want = append(want, msgRec{Frame: m.Frame, Code: int(decode.CodeGET), Token: "a1", Opts: []string{"11=b568656c6c6f"}})
		}
	}
	compareWithTshark(t, got, want)
	// 612 of the 613 bytes of the tail are passed over; the last one
	// could start a message, and is left incomplete at the end.
	if st.Gaps != 1 || st.GapBytes != 893 || st.DroppedBytes != 7 || st.SkippedBytes != 612 || st.Incomplete != 1 || st.Resyncs != 0 {
		t.Errorf("stats %+v", st)
	}
	for _, m := range got {
		if m.Token == "a2a3" && m.Code == int(decode.CodePUT) {
			t.Errorf("the cut PUT was found: %+v", m)
		}
	}
}

// The first segment of a message lost: what follows is no message
// boundary, and nothing is found until the next one.
func TestLostMessageStart(t *testing.T) {
	path := rewrite(t, testdata("gocoap-tcp.pcap"), drop(39))
	got, st := assemble(t, path, Config{})
	for _, m := range got {
		if m.Frame == 40 || m.Frame == 42 {
			t.Errorf("message found in the tail of the cut PUT: %+v", m)
		}
	}
	if st.Gaps != 1 || st.GapBytes != 7 || st.SkippedBytes != 893+612 || st.Malformed != 0 {
		t.Errorf("stats %+v", st)
	}
}

// Reordered segments: the last two parts of the PUT swapped in capture
// order. The message is whole on the frame that completes it, as tshark
// shows it when it reassembles out-of-order segments, with all three
// frames.
func TestReorderedSegments(t *testing.T) {
	path := rewrite(t, testdata("gocoap-tcp.pcap"), swap(41, 43))
	got, st := assemble(t, path, Config{})
	want := tsharkMessages(t, path, "-d", "tcp.port==5683,coap", "-o", "tcp.reassemble_out_of_order:TRUE")
	for _, m := range want {
		if m.Code == int(decode.CodeCSM) && len(m.Opts) == 1 && m.Opts[0] == "2=221000" {
			want = append(want, msgRec{Frame: m.Frame, Code: int(decode.CodeGET), Token: "a1", Opts: []string{"11=b568656c6c6f"}})
		}
	}
	compareWithTshark(t, got, want)
	found := false
	for _, m := range got {
		if m.Token == "a2a3" && m.Code == int(decode.CodePUT) {
			found = true
			if m.Frame != 43 || len(m.Frames) != 3 || m.Frames[0] != 39 || m.Frames[1] != 41 {
				t.Errorf("reassembled PUT on frame %d, frames %v", m.Frame, m.Frames)
			}
		}
	}
	if !found || st.Gaps != 0 || st.Resyncs != 0 {
		t.Errorf("PUT found %v, stats %+v", found, st)
	}
}

// Whole messages reordered (libcoap's PUT blocks 0 and 1, each one
// segment, swapped): the later block waits for the earlier one and both
// come out on the frame that brought the earlier one. tshark 4.0 loses
// one of the two (block 0 when it does not reassemble out-of-order
// segments, block 1 when it does: it takes the frame that fills the
// hole for a retransmission), so block 1 is pinned here by hand.
func TestReorderedMessages(t *testing.T) {
	path := rewrite(t, testdata("libcoap-tcp.pcap"), swap(77, 79))
	got, st := assemble(t, path, Config{})
	want := tsharkMessages(t, path, "-d", "tcp.port==5683,coap", "-o", "tcp.reassemble_out_of_order:TRUE")
	var block1 msgRec
	for _, m := range got {
		if m.Token == "02000000006234" && m.Code == int(decode.CodePUT) {
			block1 = m
			want = append(want, msgRec{Frame: 79, Code: m.Code, Token: m.Token, Opts: m.Opts})
		}
	}
	compareWithTshark(t, got, want)
	if block1.Frame != 79 || len(block1.Frames) != 2 || block1.Frames[0] != 77 {
		t.Errorf("block 1: frame %d, frames %v", block1.Frame, block1.Frames)
	}
	if len(got) != 57 || st.Gaps != 0 {
		t.Errorf("%d messages, stats %+v", len(got), st)
	}
}

// A retransmitted segment (a copy of libcoap's GET inserted after the
// response) and a segment overlapping two messages: every message once.
func TestRetransmission(t *testing.T) {
	path := rewrite(t, testdata("libcoap-tcp.pcap"), func(f []pcapFrame) []pcapFrame {
		c := f[19] // frame 20: GET /time
		return append(f[:22:22], append([]pcapFrame{{c.ci, bytes.Clone(c.data)}}, f[22:]...)...)
	})
	got, st := assemble(t, path, Config{})
	if len(got) != 57 || st.Messages != 57 || st.Gaps != 0 {
		t.Errorf("%d messages, stats %+v", len(got), st)
	}
	for _, m := range got {
		if m.Frame == 23 {
			t.Errorf("message from the retransmission: %+v", m)
		}
	}
}

// payloadLen returns the TCP payload length of frame n of a capture.
func payloadLen(t *testing.T, path string, n int) int {
	t.Helper()
	r, err := capture.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	var d capture.Datagram
	for r.Next(&d) == nil {
		if d.Number == n {
			return len(d.Payload)
		}
	}
	t.Fatalf("no frame %d", n)
	return 0
}
