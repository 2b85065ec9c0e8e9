package oscore

import (
	"bytes"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/coapaudit/coapaudit/decode"
)

// scenario drives a Decryptor with messages protected on the fly.
type scenario struct {
	t              *testing.T
	client, server *Context // each from its own point of view
	d              *Decryptor
	frame          int
	now            time.Time
	cep, sep       netip.AddrPort
}

func newScenario(t *testing.T, opts ...DecryptorOption) *scenario {
	p := Params{Name: "ctx", SenderID: []byte{}, RecipientID: []byte{1}, MasterSecret: capSecret, MasterSalt: capSalt, IDContext: capIDCtx, HasIDContext: true}
	client, err := NewContext(p)
	if err != nil {
		t.Fatal(err)
	}
	k, err := NewKeyring([]Params{p})
	if err != nil {
		t.Fatal(err)
	}
	return &scenario{
		t: t, client: client, server: client.Reverse(), d: NewDecryptor(k, opts...),
		now: time.Unix(1000, 0),
		cep: netip.MustParseAddrPort("10.0.0.1:40000"), sep: netip.MustParseAddrPort("10.0.0.2:5683"),
	}
}

// send processes wire as the next frame from src to dst.
func (s *scenario) send(src, dst netip.AddrPort, wire []byte) (*Result, int) {
	s.t.Helper()
	s.frame++
	s.now = s.now.Add(time.Millisecond)
	m := mustDecode(s.t, wire)
	return s.d.Process(s.now, s.frame, src, dst, m), s.frame
}

func (s *scenario) request(seq uint64, mid uint16, token string, opts ...decode.Option) ([]byte, RequestRef) {
	s.t.Helper()
	wire, ref, err := s.client.ProtectRequest(&decode.Message{
		Type: decode.Confirmable, Code: 0x01, MessageID: mid, Token: []byte(token),
		Options: append([]decode.Option{{ID: decode.OptURIPath, Value: []byte("temp")}}, opts...),
	}, seq)
	if err != nil {
		s.t.Fatal(err)
	}
	return wire, ref
}

func (s *scenario) response(ref RequestRef, code decode.Code, mid uint16, token, payload string, seq uint64, ownPIV bool, opts ...decode.Option) []byte {
	s.t.Helper()
	wire, err := s.server.ProtectResponse(&decode.Message{
		Type: decode.Acknowledgement, Code: code, MessageID: mid, Token: []byte(token),
		Options: opts, Payload: []byte(payload),
	}, ref, seq, ownPIV)
	if err != nil {
		s.t.Fatal(err)
	}
	return wire
}

// plain encodes an unprotected message.
func plain(typ decode.Type, code decode.Code, mid uint16, token string, opts []decode.Option, payload string) []byte {
	m := decode.Message{Type: typ, Code: code, MessageID: mid, Token: []byte(token), Options: opts, Payload: []byte(payload)}
	return m.Append(nil)
}

// TestReplayRejectedWithEcho: a request replayed with a new Message ID is
// rejected with an unprotected 4.01 carrying Echo; the client's next request
// echoes it.
func TestReplayRejectedWithEcho(t *testing.T) {
	s := newScenario(t)
	wire, ref := s.request(5, 100, "t1")
	r, f1 := s.send(s.cep, s.sep, wire)
	if !r.Verified || r.Replay != Fresh {
		t.Fatalf("request: %+v", r)
	}
	if r, _ := s.send(s.sep, s.cep, s.response(ref, 0x45, 100, "t1", "21.5", 0, false)); !r.Verified || r.RequestFrame != f1 || r.Answer != AnswerNone {
		t.Fatalf("response: %+v", r)
	}

	// The attacker re-sends the request bytes with another Message ID and
	// token from another port.
	attacker := netip.MustParseAddrPort("10.0.0.66:5683")
	replayed := bytes.Clone(wire)
	replayed[2], replayed[3] = 0x12, 0x34
	r, f2 := s.send(attacker, s.sep, replayed)
	if !r.Verified || r.Replay != Duplicate || r.FirstFrame != f1 {
		t.Fatalf("replayed request: replay %v first %d verified %v", r.Replay, r.FirstFrame, r.Verified)
	}
	echo := []byte{0xe0, 0xc4, 0x01}
	rej := plain(decode.Acknowledgement, codeUnauthorized, 0x1234, "t1", []decode.Option{{ID: decode.OptEcho, Value: echo}}, "Replay detected")
	if r, _ := s.send(s.sep, attacker, rej); r != nil {
		t.Fatalf("unprotected response gave a result: %+v", r)
	}
	reps := s.d.Replays()
	if len(reps) != 1 || reps[0].Frame != f2 || reps[0].FirstFrame != f1 || reps[0].Answer != RejectedEcho ||
		reps[0].Client != attacker || reps[0].Server != s.sep || !bytes.Equal(reps[0].PIV, []byte{5}) {
		t.Fatalf("reports %+v", reps)
	}

	// The client proves freshness with the Echo value (inner, Class E).
	wire2, _ := s.request(6, 101, "t2", decode.Option{ID: decode.OptEcho, Value: echo})
	r, _ = s.send(s.cep, s.sep, wire2)
	if !r.Verified || r.EchoStatus != EchoAnswered || !bytes.Equal(r.Echo, echo) {
		t.Errorf("echoing request: %v %x", r.EchoStatus, r.Echo)
	}
	if m := mustDecode(t, wire2); m.HasOption(decode.OptEcho) {
		t.Error("Echo left in the outer message")
	}
	wire3, _ := s.request(7, 102, "t3", decode.Option{ID: decode.OptEcho, Value: []byte("made up")})
	if r, _ := s.send(s.cep, s.sep, wire3); r.EchoStatus != EchoUnknown {
		t.Errorf("unknown Echo: %v", r.EchoStatus)
	}
	if st := s.d.Stats(); st.EchoChallenges != 1 || st.EchoAnswered != 1 || st.Replays != 1 {
		t.Errorf("stats %+v", st)
	}
}

// TestReplayAnswered: the server processes a replay and answers it with a
// new protected response, also a protected 4.01 with an Echo challenge.
func TestReplayAnswered(t *testing.T) {
	s := newScenario(t)
	wire, ref := s.request(9, 200, "a")
	s.send(s.cep, s.sep, wire)
	s.send(s.sep, s.cep, s.response(ref, 0x45, 200, "a", "one", 0, false))
	replayed := bytes.Clone(wire)
	replayed[3]++ // new Message ID: no CoAP deduplication
	if r, _ := s.send(s.cep, s.sep, replayed); r.Replay != Duplicate {
		t.Fatalf("replay: %v", r.Replay)
	}
	r, _ := s.send(s.sep, s.cep, s.response(ref, 0x45, 201, "a", "two", 0, false))
	if !r.Verified || r.RequestReplay != Duplicate || r.Answer != Answered {
		t.Errorf("answer: verified %v request %v answer %v", r.Verified, r.RequestReplay, r.Answer)
	}
	if !r.NonceReuse {
		t.Error("two different responses under the request nonce not flagged")
	}
	if reps := s.d.Replays(); len(reps) != 1 || reps[0].Answer != Answered {
		t.Errorf("reports %+v", reps)
	}

	// A protected 4.01 with Echo answering another replay.
	s.send(s.cep, s.sep, replayed)
	echo := []byte("fresh?")
	r, _ = s.send(s.sep, s.cep, s.response(ref, codeUnauthorized, 202, "a", "", 1, true, decode.Option{ID: decode.OptEcho, Value: echo}))
	if !r.Verified || r.Answer != RejectedEcho || r.EchoStatus != EchoChallenge || !bytes.Equal(r.Echo, echo) {
		t.Errorf("protected 4.01: verified %v answer %v echo %v %q", r.Verified, r.Answer, r.EchoStatus, r.Echo)
	}
}

func TestReplayOld(t *testing.T) {
	s := newScenario(t)
	w, _ := s.request(100, 1, "x")
	s.send(s.cep, s.sep, w)
	w, _ = s.request(50, 2, "y")
	r, f := s.send(s.cep, s.sep, w)
	if r.Replay != Old || !r.Verified {
		t.Fatalf("old request: %v", r.Replay)
	}
	if reps := s.d.Replays(); len(reps) != 1 || reps[0].Status != Old || reps[0].Frame != f || reps[0].FirstFrame != 0 {
		t.Errorf("reports %+v", reps)
	}
}

// TestForgeryDoesNotMoveWindow: a forged request with a high Partial IV
// fails verification and leaves the window alone.
func TestForgeryDoesNotMoveWindow(t *testing.T) {
	s := newScenario(t)
	w, _ := s.request(10, 1, "x")
	s.send(s.cep, s.sep, w)
	forged, _ := s.request(1000, 2, "y")
	forged[len(forged)-1] ^= 1
	if r, _ := s.send(s.cep, s.sep, forged); r.Verified || !r.Tried || r.Err != ErrAuthentication.Error() || r.Replay != Fresh {
		t.Fatalf("forgery: %+v", r)
	}
	w, _ = s.request(11, 3, "z")
	if r, _ := s.send(s.cep, s.sep, w); r.Replay != Fresh {
		t.Errorf("after forgery: %v", r.Replay)
	}
	// A forgery with the token of a pending request does not take its place.
	w, ref := s.request(12, 4, "tok")
	_, legit := s.send(s.cep, s.sep, w)
	forged, _ = s.request(13, 5, "tok")
	forged[len(forged)-2] ^= 1
	if r, _ := s.send(s.cep, s.sep, forged); r.Verified {
		t.Fatal("forgery verified")
	}
	if r, _ := s.send(s.sep, s.cep, s.response(ref, 0x45, 4, "tok", "ok", 0, false)); !r.Verified || r.RequestFrame != legit {
		t.Errorf("response after a forged request: verified %v request frame %d, want %d", r.Verified, r.RequestFrame, legit)
	}

	// Without keys every Partial IV counts.
	d := NewDecryptor(nil)
	for i, seq := range []uint64{10, 1000, 11} {
		w, _ := s.request(seq, uint16(10+i), "k")
		r := d.Process(s.now, i+1, s.cep, s.sep, mustDecode(t, w))
		want := []ReplayStatus{Fresh, Fresh, Old}[i]
		if r.Replay != want || r.Tried || r.Err != "" {
			t.Errorf("keyless seq %d: %v tried %v err %q", seq, r.Replay, r.Tried, r.Err)
		}
	}
}

func TestNotifications(t *testing.T) {
	s := newScenario(t)
	obs := decode.Option{ID: decode.OptObserve}
	w, ref := s.request(3, 1, "o", obs)
	if m := mustDecode(t, w); m.Code != codeFETCH {
		t.Errorf("Observe request outer code %v", m.Code)
	}
	s.send(s.cep, s.sep, w)
	for i, seq := range []uint64{1, 2, 2} {
		n := s.response(ref, 0x45, uint16(50+i), "o", "v", seq, true, decode.Option{ID: decode.OptObserve, Value: []byte{byte(seq)}})
		r, _ := s.send(s.sep, s.cep, n)
		want := []ReplayStatus{Fresh, Fresh, Duplicate}[i]
		if !r.Verified || r.Replay != want {
			t.Errorf("notification %d: verified %v replay %v, want %v", i, r.Verified, r.Replay, want)
		}
		if v, _ := r.Inner.UintOption(decode.OptObserve); v != uint32(seq) {
			t.Errorf("inner Observe %d", v)
		}
	}
}

func TestDecryptorBoundAndFlush(t *testing.T) {
	s := newScenario(t, WithMaxPending(2))
	var refs []RequestRef
	var frames []int
	for i, tok := range []string{"a", "b", "c"} {
		w, ref := s.request(uint64(i+1), uint16(i), tok)
		_, f := s.send(s.cep, s.sep, w)
		refs, frames = append(refs, ref), append(frames, f)
	}
	if st := s.d.Stats(); st.Evicted != 1 || st.Pending != 2 {
		t.Errorf("stats %+v", st)
	}
	// The evicted request's response is verified against recent requests.
	r, _ := s.send(s.sep, s.cep, s.response(refs[0], 0x45, 0, "a", "x", 0, false))
	if !r.Verified || !r.Guessed || r.RequestFrame != frames[0] || !bytes.Equal(r.RequestPIV, refs[0].PIV) {
		t.Errorf("evicted request's response: %+v", r)
	}
	s.d.Flush(s.now.Add(time.Second))
	if st := s.d.Stats(); st.Pending != 0 || st.Expired != 2 || st.Unmatched != 1 || st.Guessed != 1 {
		t.Errorf("after Flush: %+v", st)
	}

	// A token reused for new requests replaces its entry: the eviction
	// queue stays small, and the stale entries evict nothing.
	for i := range 500 {
		w, _ := s.request(uint64(100+i), uint16(100+i), "same")
		s.send(s.cep, s.sep, w)
	}
	w, _ := s.request(1000, 1000, "other")
	s.send(s.cep, s.sep, w)
	if st := s.d.Stats(); st.Pending != 2 || st.Evicted != 1 {
		t.Errorf("after token reuse: %+v", st)
	}
	if n := s.d.pend.order.len(); n > 2*2+64 {
		t.Errorf("eviction queue holds %d entries for 2 requests", n)
	}
}

func TestDecryptorErrors(t *testing.T) {
	s := newScenario(t)
	for _, tc := range []struct {
		name string
		wire []byte
		err  string
	}{
		{"reserved flags", plain(decode.Confirmable, 0x02, 1, "a", []decode.Option{{ID: decode.OptOSCORE, Value: []byte{0xe1, 0}}}, "xx"), "malformed OSCORE option"},
		{"no piv", plain(decode.Confirmable, 0x02, 2, "b", []decode.Option{{ID: decode.OptOSCORE, Value: []byte{0x08}}}, "xx"), "request without Partial IV"},
		{"unknown kid", plain(decode.Confirmable, 0x02, 3, "c", []decode.Option{{ID: decode.OptOSCORE, Value: []byte{0x19, 0x05, 0x01, 0xaa, 0x42}}}, "xxxxxxxxxx"), "no security context for kid 42, kid context aa"},
		{"empty message", plain(decode.Confirmable, 0x00, 4, "", []decode.Option{{ID: decode.OptOSCORE}}, ""), "OSCORE option in an Empty message"},
		{"short ciphertext", plain(decode.Confirmable, 0x02, 5, "d", []decode.Option{{ID: decode.OptOSCORE, Value: []byte{0x09, 0x05}}}, "x"), ErrCiphertextShort.Error()},
		{"unseen request", plain(decode.Acknowledgement, 0x44, 6, "zz", []decode.Option{{ID: decode.OptOSCORE}}, "xxxxxxxxxxxx"), "request not seen"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := mustDecodeLenient(t, tc.wire)
			r := s.d.Process(s.now, 1, s.cep, s.sep, m)
			if r == nil || !strings.HasPrefix(r.Err, tc.err) || r.Verified {
				t.Fatalf("result %+v, want error %q", r, tc.err)
			}
		})
	}
	if st := s.d.Stats(); st.NoContext != 1 {
		t.Errorf("stats %+v", st)
	}
	// No OSCORE option, not an answer to an OSCORE request: nil.
	if r := s.d.Process(s.now, 9, s.cep, s.sep, mustDecode(t, plain(decode.Confirmable, 0x01, 9, "q", nil, ""))); r != nil {
		t.Errorf("plain request gave %+v", r)
	}
}

// mustDecodeLenient decodes a message that may carry anomalies.
func mustDecodeLenient(t *testing.T, b []byte) *decode.Message {
	t.Helper()
	m := new(decode.Message)
	if err := m.Decode(b); err != nil {
		t.Fatalf("decode %x: %v", b, err)
	}
	return m
}

func TestJoined(t *testing.T) {
	s := newScenario(t)
	w, _ := s.request(1, 1, "j", decode.Option{ID: decode.OptURIHost, Value: []byte("h")}, decode.Option{ID: decode.OptObserve, Value: []byte{0}})
	m := mustDecode(t, w)
	r, _ := s.send(s.cep, s.sep, w)
	var names []string
	for _, o := range r.Joined(m, nil) {
		names = append(names, o.ID.String())
	}
	if got := strings.Join(names, ","); got != "Uri-Host,Observe,Uri-Path" {
		t.Errorf("joined options %s", got)
	}
	if r.Inner.Code != 0x01 || string(r.Inner.URIPath(nil)) != "temp" {
		t.Errorf("inner %v %q", r.Inner.Code, r.Inner.URIPath(nil))
	}
	// Unverified: only the outer options without OSCORE.
	unv := Result{}
	if got := unv.Joined(m, nil); len(got) != 2 {
		t.Errorf("unverified joined %v", got)
	}
}

// TestForgedResponseFirst: a forged response that races the genuine one
// fails verification and does not make the genuine one a duplicate.
func TestForgedResponseFirst(t *testing.T) {
	s := newScenario(t)
	w, ref := s.request(1, 1, "r")
	s.send(s.cep, s.sep, w)
	forged := plain(decode.Acknowledgement, 0x44, 1, "r", []decode.Option{{ID: decode.OptOSCORE}}, "0123456789abcdef")
	if r, _ := s.send(s.sep, s.cep, forged); r.Verified || r.Err != ErrAuthentication.Error() {
		t.Fatalf("forged: %+v", r)
	}
	genuine := s.response(ref, 0x45, 1, "r", "22.0", 0, false)
	if r, _ := s.send(s.sep, s.cep, genuine); !r.Verified || r.Replay != Fresh {
		t.Errorf("genuine: verified %v replay %v", r.Verified, r.Replay)
	}
	if r, _ := s.send(s.sep, s.cep, genuine); r.Replay != Duplicate {
		t.Errorf("copy of the genuine response: %v", r.Replay)
	}
}
