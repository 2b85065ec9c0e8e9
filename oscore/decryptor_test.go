package oscore

import (
	"bytes"
	"encoding/hex"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/coapaudit/coapaudit/decode"
)

func TestDecryptRFC8613Capture(t *testing.T) {
	vs := loadVectors(t)
	frames := readUDP(t, "public/rfc8613-C4-request-C7-response.pcap")
	for _, pov := range []string{"C.1.1", "C.1.2"} { // client's and server's view
		t.Run(pov, func(t *testing.T) {
			k, err := NewKeyring([]Params{vectorParams(t, vs[pov])})
			if err != nil {
				t.Fatal(err)
			}
			rs := runDecryptor(t, NewDecryptor(k), frames)
			if len(rs) != 2 {
				t.Fatalf("%d frames", len(rs))
			}
			req, resp := rs[0].res, rs[1].res
			if req == nil || !req.IsRequest || !req.Verified || req.Err != "" {
				t.Fatalf("request: %+v", req)
			}
			if req.Inner.Code != 0x01 || string(req.Inner.URIPath(nil)) != "tv1" {
				t.Errorf("inner request %v %q", req.Inner.Code, req.Inner.URIPath(nil))
			}
			if !bytes.Equal(req.Plaintext, vs["C.4"].hex(t, "plaintext")) {
				t.Errorf("request plaintext %x", req.Plaintext)
			}
			if req.Replay != Fresh || req.Context != vs[pov].title {
				t.Errorf("request replay %v context %q", req.Replay, req.Context)
			}
			if resp == nil || resp.IsRequest || !resp.Verified || resp.Err != "" {
				t.Fatalf("response: %+v", resp)
			}
			if resp.Inner.Code != 0x45 || string(resp.Inner.Payload) != "Hello World!" {
				t.Errorf("inner response %v %q", resp.Inner.Code, resp.Inner.Payload)
			}
			if resp.RequestFrame != 1 || !bytes.Equal(resp.RequestPIV, []byte{0x14}) || len(resp.RequestKID) != 0 {
				t.Errorf("response bound to frame %d kid %x piv %x", resp.RequestFrame, resp.RequestKID, resp.RequestPIV)
			}
			// Inner shares the outer header and token.
			if resp.Inner.MessageID != rs[1].msg.MessageID || !bytes.Equal(resp.Inner.Token, rs[1].msg.Token) {
				t.Errorf("inner header %d %x", resp.Inner.MessageID, resp.Inner.Token)
			}
		})
	}
}

// keySources writes the aiocoap captures' context in every accepted form
// and point of view and returns the files.
func keySources(t *testing.T) map[string]string {
	dir := capturesDir(t)
	uat := filepath.Join(dir, "keys", "oscore_contexts")
	tmp := t.TempDir()
	swapped := filepath.Join(tmp, "oscore_contexts_server")
	write := func(name, content string) {
		if err := os.WriteFile(name, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write(swapped, `"01","","0102030405060708090a0b0c0d0e0f10","9e7ca92223786340","37cbf3210017a2d3","AES-CCM-16-64-128 (CCM*)"`+"\n")
	project := filepath.Join(tmp, "keys.json")
	write(project, `{"contexts": [
  {"name": "aiocoap-client", "sender_id": "", "recipient_id": "01",
   "master_secret": "0102030405060708090a0b0c0d0e0f10", "master_salt": "9e7ca92223786340",
   "id_context": "37cbf3210017a2d3", "aead": "AES-CCM-16-64-128", "hkdf": "HKDF-SHA-256"}
]}`)
	return map[string]string{
		"uat-client":      uat,
		"uat-server":      swapped,
		"project-json":    project,
		"aiocoap-client":  filepath.Join(dir, "keys", "client", "ctx", "settings.json"),
		"aiocoap-server":  filepath.Join(dir, "keys", "server", "ctx", "settings.json"),
		"aiocoap-ctx-dir": filepath.Join(dir, "keys", "server", "ctx"),
	}
}

func loadKeyring(t *testing.T, path string) *Keyring {
	t.Helper()
	ps, err := LoadKeyFile(path)
	if err != nil {
		t.Fatal(err)
	}
	k, err := NewKeyring(ps)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// innerView is what tshark and the Decryptor both show of a decrypted frame.
type innerView struct {
	code    int
	uriPath string
	payload string // hex
}

func (v innerView) String() string {
	return fmt.Sprintf("code %d uri %q payload %.40s", v.code, v.uriPath, v.payload)
}

func ourViews(rs []frameResult) (views map[int]innerView, failed []int) {
	views = make(map[int]innerView)
	for _, r := range rs {
		switch {
		case r.res == nil:
		case r.res.Verified:
			views[r.n] = innerView{int(r.res.Inner.Code), string(r.res.Inner.URIPath(nil)), hex.EncodeToString(r.res.Inner.Payload)}
		default:
			failed = append(failed, r.n)
		}
	}
	return views, failed
}

var aiocoapCaptures = []string{"aiocoap-oscore-revproxy.pcap", "aiocoap-oscore-evilproxy.pcap"}

// forgedFrames returns the frames of the evil proxy's forged responses,
// from the ground truth.
func forgedFrames(t *testing.T, rs []frameResult) []int {
	var out []int
	for _, a := range readTruth(t, "aiocoap-oscore-evilproxy.truth.jsonl") {
		if a.Act != "forge" {
			continue
		}
		for _, r := range rs {
			if r.msg.MessageID == a.MID && r.msg.Code.IsResponse() {
				out = append(out, r.n)
			}
		}
	}
	if len(out) == 0 {
		t.Fatal("no forged frame found from the ground truth")
	}
	return out
}

func TestDecryptAiocoapCaptures(t *testing.T) {
	sources := keySources(t)
	for _, capture := range aiocoapCaptures {
		frames := readUDP(t, capture)
		for name, path := range sources {
			t.Run(capture+"/"+name, func(t *testing.T) {
				d := NewDecryptor(loadKeyring(t, path))
				rs := runDecryptor(t, d, frames)
				var wantFailed []int
				if strings.Contains(capture, "evil") {
					wantFailed = forgedFrames(t, rs)
				}
				views, failed := ourViews(rs)
				if fmt.Sprint(failed) != fmt.Sprint(wantFailed) {
					t.Errorf("unverified frames %v, want %v", failed, wantFailed)
				}
				oscoreFrames := 0
				for _, r := range rs {
					if r.res == nil {
						continue
					}
					oscoreFrames++
					if !r.res.Tried {
						t.Errorf("frame %d: no key tried: %s", r.n, r.res.Err)
					}
					if !r.res.Verified && r.res.Err != ErrAuthentication.Error() {
						t.Errorf("frame %d: error %q", r.n, r.res.Err)
					}
				}
				if oscoreFrames != len(frames) || len(views)+len(failed) != oscoreFrames {
					t.Errorf("%d OSCORE results for %d frames, %d verified", oscoreFrames, len(frames), len(views))
				}
				st := d.Stats()
				if st.Verified != len(views) || st.Failed != len(failed) || st.Unmatched != 0 || st.Evicted != 0 {
					t.Errorf("stats %+v", st)
				}
			})
		}
	}
}

// tsharkViews runs tshark with the oscore_contexts line as a UAT override
// and returns what it decrypted per frame, and the frames where it reports
// "Authentication tag check failed".
func tsharkViews(t *testing.T, capture, uatLine string) (map[int]innerView, []int) {
	t.Helper()
	tshark, err := exec.LookPath("tshark")
	if err != nil {
		if os.Getenv("COAPAUDIT_REQUIRE_TOOLS") == "1" {
			t.Fatal("tshark not found")
		}
		t.Skip("tshark not found")
	}
	cmd := exec.Command(tshark, "-n", "-r", filepath.Join(capturesDir(t), capture),
		"-o", "uat:oscore_contexts:"+uatLine,
		"-T", "fields", "-E", "header=n", "-E", "separator=/t", "-E", "occurrence=a", "-E", "aggregator=|",
		"-e", "frame.number", "-e", "oscore.code", "-e", "oscore.opt.uri_path",
		"-e", "data.data", "-e", "oscore.tag_check_failed")
	// A private HOME keeps the user's own Wireshark profile out.
	home := t.TempDir()
	cmd.Env = append(os.Environ(), "HOME="+home, "XDG_CONFIG_HOME="+home)
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("tshark: %v", err)
	}
	views := make(map[int]innerView)
	var failed []int
	for _, line := range strings.Split(strings.TrimRight(string(out), "\r\n"), "\n") {
		f := strings.Split(strings.TrimRight(line, "\r"), "\t")
		for len(f) < 5 {
			f = append(f, "")
		}
		if len(f) != 5 {
			t.Fatalf("tshark line %q", line)
		}
		n, err := strconv.Atoi(f[0])
		if err != nil {
			t.Fatal(err)
		}
		if f[4] != "" {
			failed = append(failed, n)
			continue
		}
		if f[1] == "" {
			continue
		}
		code, err := strconv.Atoi(f[1])
		if err != nil {
			t.Fatal(err)
		}
		// data.data holds the ciphertext, then the inner payload if any.
		var payload string
		if data := strings.Split(f[3], "|"); len(data) > 1 {
			payload = data[len(data)-1]
		}
		views[n] = innerView{code, strings.ReplaceAll(f[2], "|", "/"), payload}
	}
	return views, failed
}

// TestDecryptMatchesTshark compares every OSCORE frame of the aiocoap
// captures, decrypted from each key source, with tshark's decryption using
// the same context.
func TestDecryptMatchesTshark(t *testing.T) {
	dir := capturesDir(t)
	uat, err := os.ReadFile(filepath.Join(dir, "keys", "oscore_contexts"))
	if err != nil {
		t.Fatal(err)
	}
	line := strings.TrimSpace(string(uat))
	sources := keySources(t)
	for _, capture := range aiocoapCaptures {
		want, wantFailed := tsharkViews(t, capture, line)
		if len(want) < 40 {
			t.Fatalf("%s: tshark decrypted only %d frames", capture, len(want))
		}
		frames := readUDP(t, capture)
		for name, path := range sources {
			t.Run(capture+"/"+name, func(t *testing.T) {
				got, failed := ourViews(runDecryptor(t, NewDecryptor(loadKeyring(t, path)), frames))
				if fmt.Sprint(failed) != fmt.Sprint(wantFailed) {
					t.Errorf("unverified frames %v, tshark %v", failed, wantFailed)
				}
				if len(got) != len(want) {
					t.Errorf("%d frames decrypted, tshark %d", len(got), len(want))
				}
				for n, w := range want {
					if g, ok := got[n]; !ok || g != w {
						t.Errorf("frame %d: %v, tshark %v", n, g, w)
					}
				}
			})
		}
	}
}

// TestReplayEvilProxy checks the replay tracker against the evil proxy's
// ground truth, with keys and without: the replayed request is the only
// Duplicate and the server answered it from its deduplication cache; the
// client's retransmission (and its relay) after the withheld response are
// Retransmissions; the flooded responses are Duplicates.
func TestReplayEvilProxy(t *testing.T) {
	frames := readUDP(t, "aiocoap-oscore-evilproxy.pcap")
	acts := readTruth(t, "aiocoap-oscore-evilproxy.truth.jsonl")
	byAct := map[string]truthAct{}
	for _, a := range acts {
		byAct[a.Act] = a
	}
	for _, withKeys := range []bool{true, false} {
		t.Run(fmt.Sprintf("keys=%v", withKeys), func(t *testing.T) {
			var k *Keyring
			if withKeys {
				k = loadKeyring(t, filepath.Join(capturesDir(t), "keys", "oscore_contexts"))
			}
			d := NewDecryptor(k)
			rs := runDecryptor(t, d, frames)
			var dupReq, retransReq, dupResp []int
			for _, r := range rs {
				res := r.res
				if res == nil {
					continue
				}
				if !withKeys && (res.Tried || res.Err != "") {
					t.Errorf("frame %d without keys: tried=%v err=%q", r.n, res.Tried, res.Err)
				}
				switch {
				case res.IsRequest && res.Replay == Duplicate:
					dupReq = append(dupReq, r.n)
				case res.IsRequest && res.Replay == Retransmission:
					retransReq = append(retransReq, r.n)
				case res.IsRequest && res.Replay != Fresh:
					t.Errorf("frame %d: request %v", r.n, res.Replay)
				case !res.IsRequest && res.Replay == Duplicate:
					dupResp = append(dupResp, r.n)
				}
			}
			frameOf := func(n int) *frameResult { return &rs[n-1] }

			if len(dupReq) != 1 {
				t.Fatalf("duplicate requests %v, want one", dupReq)
			}
			rp := frameOf(dupReq[0])
			if rp.msg.MessageID != byAct["replay"].MID || rp.dst.Addr() != netip.MustParseAddr("127.0.0.21") {
				t.Errorf("duplicate request frame %d MID %d to %v, truth MID %d to the server", rp.n, rp.msg.MessageID, rp.dst, byAct["replay"].MID)
			}
			reps := d.Replays()
			if len(reps) != 1 || reps[0].Frame != rp.n || reps[0].FirstFrame == 0 || reps[0].Status != Duplicate {
				t.Fatalf("replay reports %+v", reps)
			}
			if frameOf(reps[0].FirstFrame).msg.MessageID != rp.msg.MessageID {
				t.Errorf("first frame %d is not the original", reps[0].FirstFrame)
			}
			if reps[0].Answer != AnsweredCached || reps[0].AnswerFrame <= rp.n {
				t.Errorf("replay answered %v in frame %d, want answered-cached", reps[0].Answer, reps[0].AnswerFrame)
			}
			if ans := frameOf(reps[0].AnswerFrame).res; ans.RequestReplay != Duplicate || ans.Answer != AnsweredCached {
				t.Errorf("answer frame: request %v answer %v", ans.RequestReplay, ans.Answer)
			}

			for _, n := range retransReq {
				if frameOf(n).msg.MessageID != byAct["drop"].MID {
					t.Errorf("retransmission frame %d MID %d, truth: the dropped exchange is MID %d", n, frameOf(n).msg.MessageID, byAct["drop"].MID)
				}
			}
			if len(retransReq) != 2 {
				t.Errorf("retransmitted requests %v, want the client's and its relay", retransReq)
			}
			if len(dupResp) != byAct["flood"].Extra {
				t.Errorf("duplicate responses %v, truth: %d extra", dupResp, byAct["flood"].Extra)
			}
			for _, n := range dupResp {
				if frameOf(n).msg.MessageID != byAct["flood"].MID {
					t.Errorf("duplicate response frame %d is not the flood's", n)
				}
			}
			if st := d.Stats(); st.Replays != 1 {
				t.Errorf("stats: %d replays", st.Replays)
			}
		})
	}
}

func TestReplayRevproxyAllFresh(t *testing.T) {
	frames := readUDP(t, "aiocoap-oscore-revproxy.pcap")
	rs := runDecryptor(t, NewDecryptor(nil), frames)
	for _, r := range rs {
		if r.res == nil {
			t.Fatalf("frame %d: no result", r.n)
		}
		if r.res.IsRequest && r.res.Replay != Fresh || !r.res.IsRequest && r.res.Replay != Fresh {
			t.Errorf("frame %d: %v", r.n, r.res.Replay)
		}
	}
}

// TestDecryptGuessesUnseenRequest drops requests from the capture: their
// responses are verified against recent requests seen on the other hop.
func TestDecryptGuessesUnseenRequest(t *testing.T) {
	frames := readUDP(t, "aiocoap-oscore-revproxy.pcap")
	// Keep the client's requests and the server's responses, drop the
	// proxy's requests to the server: every server response has lost its
	// request, which the client's request on the first hop matches.
	server := netip.MustParseAddr("127.0.0.21")
	var kept []testFrame
	for _, f := range frames {
		var m decode.Message
		if m.Decode(f.payload) == nil && m.Code.IsRequest() && f.dst.Addr() == server {
			continue
		}
		kept = append(kept, f)
	}
	d := NewDecryptor(loadKeyring(t, filepath.Join(capturesDir(t), "keys", "oscore_contexts")))
	rs := runDecryptor(t, d, kept)
	guessed := 0
	for _, r := range rs {
		if r.res.IsRequest || r.src.Addr() != server {
			continue
		}
		if !r.res.Verified || !r.res.Guessed || r.res.RequestFrame == 0 {
			t.Errorf("frame %d: verified=%v guessed=%v err=%q", r.n, r.res.Verified, r.res.Guessed, r.res.Err)
		}
		guessed++
	}
	if st := d.Stats(); guessed == 0 || st.Guessed != guessed || st.Unmatched != guessed {
		t.Errorf("guessed %d, stats %+v", guessed, st)
	}

	// Without any request, nothing can be guessed.
	var respOnly []testFrame
	for _, f := range frames {
		if f.src.Addr() == server {
			respOnly = append(respOnly, f)
		}
	}
	for _, r := range runDecryptor(t, NewDecryptor(loadKeyring(t, filepath.Join(capturesDir(t), "keys", "oscore_contexts"))), respOnly) {
		if r.res.Verified || r.res.Err != "request not seen" {
			t.Errorf("frame %d alone: verified=%v err=%q", r.n, r.res.Verified, r.res.Err)
		}
	}
}

// TestKeyringShared runs Decryptors on several goroutines over one Keyring
// (run with -race).
func TestKeyringShared(t *testing.T) {
	frames := readUDP(t, "aiocoap-oscore-revproxy.pcap")
	k := loadKeyring(t, filepath.Join(capturesDir(t), "keys", "oscore_contexts"))
	done := make(chan int)
	for range 4 {
		go func() {
			d := NewDecryptor(k)
			verified := 0
			for _, f := range frames {
				var m decode.Message
				if m.Decode(f.payload) == nil {
					if r := d.Process(f.ts, f.n, f.src, f.dst, &m); r != nil && r.Verified {
						verified++
					}
				}
			}
			done <- verified
		}()
	}
	for range 4 {
		if v := <-done; v != len(frames) {
			t.Errorf("%d of %d frames verified", v, len(frames))
		}
	}
}
