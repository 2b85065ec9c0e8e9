package main

import (
	"bytes"
	"encoding/hex"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/coapaudit/coapaudit/internal/testenv"
)

// TestTruthFiles checks every committed truth file against its capture,
// read with coapaudit's own capture and decode packages: each line's
// frames are where -annotate finds them, and the frames show the act (an
// altered field differs, and only it; a delayed request is late; a flood
// repeats; a dropped response never reaches the client; a forged one
// never came from the origin; a replayed request reaches the origin more
// often than the client sent it).
// translated leaves out of the fields changed between a and b the
// Message ID and type when one of them came over TCP (-origin-tcp), which
// has neither: the relay gives a datagram its own.
func translated(a, b *frame, changed []string) []string {
	if !a.Reliable && !b.Reliable {
		return changed
	}
	return slices.DeleteFunc(changed, func(f string) bool { return f == "mid" || f == "type" })
}

func TestTruthFiles(t *testing.T) {
	dir := filepath.Join(testenv.RepoRoot(), "testdata", "captures")
	truths, err := filepath.Glob(filepath.Join(dir, "relay-*.truth.jsonl"))
	if err != nil || len(truths) == 0 {
		t.Fatalf("no truth files in %s (%v)", dir, err)
	}
	for _, tf := range truths {
		name := strings.TrimSuffix(filepath.Base(tf), ".truth.jsonl")
		t.Run(name, func(t *testing.T) {
			frames, err := readFrames(filepath.Join(dir, name+".pcap"))
			if err != nil {
				t.Fatal(err)
			}
			lines, err := readTruth(tf)
			if err != nil {
				t.Fatal(err)
			}
			if len(lines) == 0 {
				t.Fatal("empty truth file")
			}
			byN := make(map[int]*frame, len(frames))
			for i := range frames {
				byN[frames[i].N] = &frames[i]
			}
			for _, l := range lines {
				checkLine(t, frames, byN, l)
			}
		})
	}
}

func checkLine(t *testing.T, frames []frame, byN map[int]*frame, l truthLine) {
	where := fmt.Sprintf("%s n=%d frames %v", l.Act, l.N, l.Frames)
	got, err := locate(frames, l)
	if err != nil {
		t.Errorf("%s: %v", where, err)
		return
	}
	if !slices.Equal(got, l.Frames) {
		t.Errorf("%s: the capture puts the act in frames %v", where, got)
		return
	}
	in := byN[l.Frames[0]]
	out := make([]*frame, 0, len(l.Frames)-1)
	for _, n := range l.Frames[1:] {
		out = append(out, byN[n])
	}
	g, _ := findLegs(frames, l)
	switch l.Act {
	case actAlterRequestPayload, actAlterResponsePayload, actAlterMethod, actAlterContentFormat,
		actAlterURIPath, actAlterResponseCode:
		fin, fout := fieldsOf(&in.Msg), fieldsOf(&out[0].Msg)
		if d := translated(in, out[0], changed(fin, fout)); !slices.Equal(d, []string{l.Field}) {
			t.Errorf("%s: fields %v changed, want only %s", where, d, l.Field)
		}
		if b, a := fieldOf(&in.Msg, l.Field), fieldOf(&out[0].Msg, l.Field); b != l.Before || a != l.After {
			t.Errorf("%s: %s is %q -> %q in the capture, truth says %q -> %q", where, l.Field, b, a, l.Before, l.After)
		}
	case actForge:
		if p := hex.EncodeToString(out[0].Msg.Payload); p != l.After {
			t.Errorf("%s: forged payload %s, truth says %s", where, p, l.After)
		}
		if n := count(frames, g, l, relayToOrigin) + count(frames, g, l, originToRelay); n != 0 {
			t.Errorf("%s: %d frames between relay and origin carry the forged exchange", where, n)
		}
	case actDelay:
		if !bytes.Equal(in.Raw, out[0].Raw) {
			t.Errorf("%s: the delayed request was changed", where)
		}
		if late := float64(out[0].Micros-in.Micros) / 1e6; late < l.Seconds {
			t.Errorf("%s: relayed after %.3f s, truth says %.3f s", where, late, l.Seconds)
		}
	case actFlood:
		for _, o := range out {
			if !bytes.Equal(out[0].Raw, o.Raw) || len(translated(in, o, changed(fieldsOf(&in.Msg), fieldsOf(&o.Msg)))) > 0 {
				t.Errorf("%s: frame %d is not a copy of the response", where, o.N)
			}
		}
	case actDrop:
		if n := count(frames, g, l, relayToClient); n != 0 {
			t.Errorf("%s: the response reached the client %d times", where, n)
		}
	case actReplay:
		if !bytes.Equal(in.Raw, out[0].Raw) {
			t.Errorf("%s: the replayed request differs from the client's", where)
		}
		if sent, relayed := count(frames, g, l, clientToRelay), count(frames, g, l, relayToOrigin); relayed <= sent {
			t.Errorf("%s: client sent %d copies, the relay %d", where, sent, relayed)
		}
	default:
		t.Errorf("%s: unknown act", where)
	}
}

// count is how many frames carry l's message in role r.
func count(frames []frame, g legs, l truthLine, r role) int {
	n := 0
	for i := range frames {
		if g.plays(&frames[i], l, r) {
			n++
		}
	}
	return n
}

// TestCapturesCoverEveryAct makes sure each relay capture keeps showing
// every act, and Content-Format altered on a request and on a response.
func TestCapturesCoverEveryAct(t *testing.T) {
	for _, name := range []string{"relay-plain", "relay-oscore"} {
		lines, err := readTruth(filepath.Join(testenv.RepoRoot(), "testdata", "captures", name+".truth.jsonl"))
		if err != nil {
			t.Fatal(err)
		}
		seen := map[string]bool{}
		for _, l := range lines {
			seen[l.Act] = true
			seen[l.Act+"/"+l.Dir] = true
		}
		want := []string{actAlterContentFormat + "/" + dirRequest, actAlterContentFormat + "/" + dirResponse}
		for a := range knownActs {
			want = append(want, a)
		}
		for _, a := range want {
			if !seen[a] {
				t.Errorf("%s has no %s", name, a)
			}
		}
	}
}
