package oscore

import (
	"bytes"
	"encoding/hex"
	"net/netip"
	"strconv"
	"time"

	"github.com/coapaudit/coapaudit/decode"
)

// Endpoint is an IP address and port.
type Endpoint = netip.AddrPort

// EchoStatus says what an Echo option (RFC 9175) in a message means.
type EchoStatus uint8

const (
	EchoNone      EchoStatus = iota // no Echo option seen
	EchoChallenge                   // a response carries Echo: the server asks for proof of freshness
	EchoAnswered                    // a request echoes a value a server sent earlier
	EchoUnknown                     // a request carries an Echo value no server was seen sending
)

var echoNames = [...]string{"", "challenge", "answered", "unknown"}

// String returns the status name used in output records ("" for EchoNone).
func (s EchoStatus) String() string {
	if int(s) < len(echoNames) {
		return echoNames[s]
	}
	return "EchoStatus(" + strconv.Itoa(int(s)) + ")"
}

// GoString returns the Go constant name.
func (s EchoStatus) GoString() string {
	names := [...]string{"oscore.EchoNone", "oscore.EchoChallenge", "oscore.EchoAnswered", "oscore.EchoUnknown"}
	if int(s) < len(names) {
		return names[s]
	}
	return "oscore.EchoStatus(" + strconv.Itoa(int(s)) + ")"
}

// MarshalText returns the status name.
func (s EchoStatus) MarshalText() ([]byte, error) { return []byte(s.String()), nil }

// ReplayAnswer says how a server reacted to a replayed or old request.
type ReplayAnswer uint8

const (
	AnswerNone ReplayAnswer = iota // no answer seen (yet)
	// Answered: the server sent a new protected response: it processed
	// the replay.
	Answered
	// AnsweredCached: the server sent the same response as to the
	// original: CoAP deduplication answered, the request was not
	// processed again.
	AnsweredCached
	// Rejected: an error response without Echo (typically an unprotected
	// 4.01 Unauthorized, "Replay detected").
	Rejected
	// RejectedEcho: 4.01 Unauthorized with an Echo challenge (RFC 9175).
	RejectedEcho
)

var answerNames = [...]string{"", "answered", "answered-cached", "rejected", "rejected-echo"}

// String returns the name used in output records ("" for AnswerNone).
func (a ReplayAnswer) String() string {
	if int(a) < len(answerNames) {
		return answerNames[a]
	}
	return "ReplayAnswer(" + strconv.Itoa(int(a)) + ")"
}

// GoString returns the Go constant name.
func (a ReplayAnswer) GoString() string {
	names := [...]string{"oscore.AnswerNone", "oscore.Answered", "oscore.AnsweredCached", "oscore.Rejected", "oscore.RejectedEcho"}
	if int(a) < len(names) {
		return names[a]
	}
	return "oscore.ReplayAnswer(" + strconv.Itoa(int(a)) + ")"
}

// MarshalText returns the name.
func (a ReplayAnswer) MarshalText() ([]byte, error) { return []byte(a.String()), nil }

// Result is what the Decryptor found about one OSCORE message. It owns all
// its slices.
type Result struct {
	// Option is the parsed OSCORE option (copied from the message).
	Option decode.OSCOREOption

	IsRequest bool
	// Tried: a key was tried. Verified: the authentication tag checked
	// out with one of them.
	Tried, Verified bool
	// Err says why the message was not verified or decoded ("no security
	// context for kid 01", "authentication tag check failed", "request
	// not seen", ...); empty when verified, and when no keys were given.
	Err string
	// Context is the Name of the security context that verified the
	// message, or of the first one tried.
	Context string

	// Plaintext is the decrypted COSE plaintext: code byte, Class E
	// options, payload marker and payload.
	Plaintext []byte
	// Inner is the unprotected message: the outer message's header and
	// token with the inner code, options and payload. Inner.Raw is a
	// synthetic buffer (4-byte header, token, then Plaintext without its
	// code byte); Inner's Spans are offsets into Inner.Raw.
	Inner decode.Message

	// RequestKID and RequestPIV are the request's kid and Partial IV: for
	// a request its own, for a response those of the request it answers
	// (what the response's AAD is bound to). RequestFrame is the frame of
	// that request (0 if not seen).
	RequestKID, RequestPIV []byte
	RequestFrame           int
	// Guessed: the response's request was not seen; it verified against
	// the kid and Partial IV of another recent request.
	Guessed bool

	// Replay classifies this message's Partial IV (requests, and
	// responses that carry one); for a response without Partial IV it
	// says whether the same response was already seen for its request.
	Replay ReplayStatus
	// FirstFrame is where a Duplicate or Retransmission was first seen, 0
	// when its first copy left the ReplayTracker's recent set (the window
	// still tells a Duplicate from a Fresh or Old Partial IV; see
	// ReplayTracker).
	FirstFrame int
	// RequestReplay is, for a response, the Replay status of its request;
	// Answer says how the server answered a replayed or old request.
	RequestReplay ReplayStatus
	Answer        ReplayAnswer
	// NonceReuse: two different verified responses without Partial IV
	// answered the same request, so the same nonce protected two
	// plaintexts.
	NonceReuse bool

	// Echo is the Echo option value (inner when decrypted, else outer).
	Echo       []byte
	EchoStatus EchoStatus

	// The byte slices above, and Inner.Options, are stored here when they
	// fit: a typical message costs one allocation, the Result. The bytes
	// come last, where the garbage collector does not look.
	opts [resultOpts]decode.Option
	memN int
	mem  [resultMem]byte
}

// The Result's own storage: resultMem bytes hold the OSCORE option's
// fields, the plaintext and the inner message of a message with some 70
// bytes of plaintext; resultOpts inner options.
const (
	resultMem  = 192
	resultOpts = 6
)

// take returns n bytes owned by r.
func (r *Result) take(n int) []byte {
	if n <= len(r.mem)-r.memN {
		b := r.mem[r.memN : r.memN+n : r.memN+n]
		r.memN += n
		return b
	}
	return make([]byte, n)
}

// own returns a copy of b owned by r; nil stays nil and empty stays
// empty.
func (r *Result) own(b []byte) []byte {
	if b == nil {
		return nil
	}
	c := r.take(len(b))
	copy(c, b)
	return c
}

// Joined returns the unprotected message's options: the outer options
// without OSCORE and without those the inner message also carries (Observe,
// Block, Max-Age, whose inner value is authoritative), then the inner
// options, sorted by number. It appends to dst. The values borrow outer and
// r.Inner.
func (r *Result) Joined(outer *decode.Message, dst []decode.Option) []decode.Option {
	start := len(dst)
	for _, o := range outer.Options {
		if o.ID == decode.OptOSCORE || (r.Verified && r.Inner.HasOption(o.ID)) {
			continue
		}
		dst = append(dst, o)
	}
	if r.Verified {
		dst = append(dst, r.Inner.Options...)
	}
	sortOptions(dst[start:])
	return dst
}

// ReplayReport is a request that reached a receiver again (Duplicate) or
// too late (Old), and what the receiver answered.
type ReplayReport struct {
	Frame int // the replayed or old request
	// FirstFrame is where the receiver first saw the Partial IV: 0 when
	// unknown, for an Old request and for a Duplicate whose first copy
	// left the ReplayTracker's recent set.
	FirstFrame int
	Status     ReplayStatus
	Client     netip.AddrPort // sender of the request
	Server     netip.AddrPort // receiver
	KIDContext []byte
	KID, PIV   []byte
	// AnswerFrame is the frame of the receiver's first answer (0 while
	// unanswered).
	AnswerFrame int
	Answer      ReplayAnswer
}

// Stats counts the Decryptor's work.
type Stats struct {
	Requests, Responses int // OSCORE messages processed
	Tried               int // messages a key was tried on
	Verified            int
	Failed              int // tried, none verified
	NoContext           int // no security context for the kid (with keys given)
	Unmatched           int // responses whose request was not seen
	Guessed             int // of those, verified against a guessed request
	Pending             int // requests held for their responses now
	Evicted             int // requests dropped to stay within the bound
	Expired             int // requests dropped by Flush
	Replays             int // Duplicate or Old requests
	ReportsDropped      int // replay reports over the bound
	// WindowsEvicted counts replay windows dropped to stay within the
	// bound (least recently used first), PIVsEvicted Partial IV records
	// that left the recent set (oldest first); see ReplayTracker.
	WindowsEvicted, PIVsEvicted int
	EchoChallenges              int
	EchoAnswered                int
}

// recentReq is a recent request, kept for the responses whose own request
// was not seen.
type recentReq struct {
	reqBytes
	frame    int
	ctx      *Context
	pt       party
	verified bool
	set      bool
}

// recentLen is how many recent requests are tried for a response whose
// own request was not seen.
const recentLen = 16

// Decryptor verifies and decrypts the OSCORE messages of a capture, in
// capture order. It remembers OSCORE requests to decrypt their responses,
// within a bound (evictions are counted in Stats), and tracks Partial IVs
// for replays with or without keys. Call Process for every CoAP message,
// also those without OSCORE option: an unprotected error response to an
// OSCORE request is how a server rejects a replay.
//
// A Decryptor is not safe for concurrent use; the Keyring may be shared.
type Decryptor struct {
	k          *Keyring
	maxPending int
	maxReports int

	pend    pendingTable
	kh      keyHasher
	recent  [recentLen]recentReq
	nrecent int

	replay  *ReplayTracker
	echoes  map[string]int // Echo value -> frame of the challenge
	echoOrd fifo[string]
	reports []ReplayReport
	stats   Stats
	cands   []ref
	sc      scratch
	ptbuf   []byte // plaintext, before the Result gets its copy
}

// DecryptorOption configures a Decryptor.
type DecryptorOption func(*Decryptor)

// WithMaxPending bounds the requests held for their responses (default
// 65536). The oldest is evicted first.
func WithMaxPending(n int) DecryptorOption {
	return func(d *Decryptor) {
		if n > 0 {
			d.maxPending = n
		}
	}
}

// WithReplayTracker makes the Decryptor use t (for example to share it or
// to size it).
func WithReplayTracker(t *ReplayTracker) DecryptorOption {
	return func(d *Decryptor) {
		if t != nil {
			d.replay = t
		}
	}
}

// NewDecryptor returns a Decryptor using the contexts of k; k may be nil,
// in which case only Partial IVs and exchanges are tracked.
func NewDecryptor(k *Keyring, opts ...DecryptorOption) *Decryptor {
	d := &Decryptor{
		k:          k,
		maxPending: 1 << 16,
		maxReports: 4096,
		kh:         newKeyHasher(),
		echoes:     make(map[string]int),
	}
	for _, o := range opts {
		o(d)
	}
	if d.replay == nil {
		d.replay = NewReplayTracker(0)
	}
	return d
}

// Stats returns the counters so far.
func (d *Decryptor) Stats() Stats {
	s := d.stats
	s.Pending = d.pend.live
	s.WindowsEvicted, s.PIVsEvicted = d.replay.Evictions()
	return s
}

// Replays returns the replayed and old requests seen so far, with the
// answers seen so far. The slice is a copy.
func (d *Decryptor) Replays() []ReplayReport {
	out := make([]ReplayReport, len(d.reports))
	copy(out, d.reports)
	return out
}

// Flush forgets requests received before the given capture time; their
// responses can then only be guessed.
func (d *Decryptor) Flush(before time.Time) {
	d.stats.Expired += d.pend.flush(before)
}

// findOSCORE returns the value of m's first OSCORE option.
func findOSCORE(m *decode.Message) ([]byte, bool) {
	for i := range m.Options {
		if m.Options[i].ID == decode.OptOSCORE {
			return m.Options[i].Value, true
		}
	}
	return nil, false
}

// Process examines one CoAP message seen at capture time t in frame,
// sent from src to dst. It returns nil when m has no OSCORE option (after
// noting an unprotected answer to an OSCORE request, if it is one). The
// Result does not borrow m, nor anything the Decryptor keeps: it stays
// valid, and the caller's, after later calls.
func (d *Decryptor) Process(t time.Time, frame int, src, dst netip.AddrPort, m *decode.Message) *Result {
	val, ok := findOSCORE(m)
	if !ok {
		if m.Code.IsResponse() {
			d.unprotectedResponse(frame, src, dst, m)
		}
		return nil
	}
	r := &Result{IsRequest: m.Code.IsRequest()}
	o, err := decode.ParseOSCORE(val)
	r.Option = o
	r.Option.KID, r.Option.PIV, r.Option.KIDContext = r.own(o.KID), r.own(o.PIV), r.own(o.KIDContext)
	if err != nil {
		r.Err = "malformed OSCORE option: " + err.Error()
		return r
	}
	switch {
	case r.IsRequest:
		d.stats.Requests++
		d.request(r, t, frame, src, dst, m)
	case m.Code == 0:
		r.Err = "OSCORE option in an Empty message"
	default:
		d.stats.Responses++
		d.response(r, frame, src, dst, m)
	}
	if r.Tried {
		d.stats.Tried++
		if r.Verified {
			d.stats.Verified++
		} else {
			d.stats.Failed++
		}
	}
	return r
}

func (d *Decryptor) keysGiven() bool { return d.k.Len() > 0 }

// open decrypts with candidate c into the Decryptor's plaintext buffer.
func (d *Decryptor) open(c ref, idPIV, piv, reqKID, reqPIV, ct []byte) ([]byte, error) {
	pt, err := c.c.open(d.ptbuf[:0], &d.sc, c.p, idPIV, piv, reqKID, reqPIV, ct)
	if cap(pt) > cap(d.ptbuf) {
		d.ptbuf = pt[:0]
	}
	return pt, err
}

func (d *Decryptor) request(r *Result, t time.Time, frame int, src, dst netip.AddrPort, m *decode.Message) {
	o := &r.Option
	r.RequestKID, r.RequestPIV = o.KID, o.PIV
	if len(o.PIV) == 0 {
		r.Err = "request without Partial IV"
		return
	}
	pivVal, _ := pivValue(o.PIV) // ParseOSCORE allows at most 5 bytes
	var kidCtx []byte
	if o.HasKIDContext {
		kidCtx = o.KIDContext
	}
	wk := d.replay.key(kidCtx, o.KID, false, dst)
	win := d.replay.find(&wk)
	status, first := d.replay.check(win, pivVal, src, m.MessageID)
	r.Replay, r.FirstFrame = status, first

	var vctx *Context
	var vpt party
	d.cands = d.k.lookup(d.cands[:0], o.KID, o.HasKID, o.KIDContext, o.HasKIDContext)
	switch {
	case len(d.cands) == 0 && d.keysGiven():
		r.Err = "no security context for " + describeKID(o)
		d.stats.NoContext++
	case len(d.cands) > 0:
		r.Tried = true
		for _, c := range d.cands {
			kid := c.c.ids[c.p] // equals o.KID when the request has one
			if r.Context == "" {
				r.Context = c.c.name
			}
			pt, err := d.open(c, kid, o.PIV, kid, o.PIV, m.Payload)
			if err != nil {
				r.Err = err.Error()
				continue
			}
			r.Verified, r.Err, r.Context = true, "", c.c.name
			vctx, vpt = c.c, c.p
			if !o.HasKID || !bytes.Equal(kid, o.KID) {
				r.RequestKID = r.own(kid)
			}
			setInner(r, m, pt)
			break
		}
	}

	// A forgery must not move the window: record only what verified or
	// could not be checked.
	if r.Verified || !r.Tried {
		win = d.replay.add(&wk, win, pivVal, frame, src, m.MessageID)
	}

	if r.Verified {
		if v, ok := r.Inner.Option(decode.OptEcho); ok {
			d.echoRequest(r, v)
		}
	} else if v, ok := m.Option(decode.OptEcho); ok {
		d.echoRequest(r, v)
	}

	h := d.kh.exchange(src, dst, m.Token)
	slot := d.pend.find(h, src, dst, m.Token)
	old := d.pend.get(slot)
	var p *pendingReq // nil: the request is not held
	switch {
	case old != nil && old.same(o):
		// The same request again on this hop: keep its responses.
		old.copies++
		old.replay, old.win = status, win
		if !old.verified && r.Verified {
			old.ctx, old.pt, old.verified = vctx, vpt, true
		}
		p = old
	case old != nil && old.verified && r.Tried && !r.Verified:
		// A request that fails verification does not displace a verified
		// one with the same token: responses are matched to the genuine
		// request.
	default:
		p = d.pend.put(slot, h, d.maxPending, &d.stats.Evicted)
		p.reqBytes.set(m.Token, o)
		p.client, p.server, p.frame, p.t = src, dst, frame, t
		p.ctx, p.pt, p.verified = vctx, vpt, r.Verified
		p.replay, p.win, p.pivVal, p.copies = status, win, pivVal, 1
	}
	report := 0
	if status.IsReplay() {
		d.stats.Replays++
		report = d.addReport(ReplayReport{
			Frame: frame, FirstFrame: first, Status: status, Client: src, Server: dst,
			KIDContext: clone(o.KIDContext), KID: clone(o.KID), PIV: clone(o.PIV),
		})
	}
	if p != nil {
		p.report = report
		d.remember(&p.reqBytes, p.frame, p.ctx, p.pt, p.verified)
	} else {
		var b reqBytes
		b.set(nil, o)
		d.remember(&b, frame, vctx, vpt, r.Verified)
	}
}

// remember adds a request to the recent ones.
func (d *Decryptor) remember(b *reqBytes, frame int, ctx *Context, pt party, verified bool) {
	d.recent[d.nrecent%recentLen] = recentReq{reqBytes: *b, frame: frame, ctx: ctx, pt: pt, verified: verified, set: true}
	d.nrecent++
}

func (d *Decryptor) addReport(rep ReplayReport) int {
	if len(d.reports) >= d.maxReports {
		d.stats.ReportsDropped++
		return 0
	}
	d.reports = append(d.reports, rep)
	return len(d.reports)
}

// describeKID names a kid (and kid context) for error messages.
func describeKID(o *decode.OSCOREOption) string {
	s := "kid "
	switch {
	case !o.HasKID:
		s = "a request without kid"
	case len(o.KID) == 0:
		s += "(empty)"
	default:
		s += hex.EncodeToString(o.KID)
	}
	if o.HasKIDContext {
		s += ", kid context " + hex.EncodeToString(o.KIDContext)
	}
	return s
}

func (d *Decryptor) response(r *Result, frame int, src, dst netip.AddrPort, m *decode.Message) {
	o := &r.Option
	p := d.pend.get(d.pend.find(d.kh.exchange(dst, src, m.Token), dst, src, m.Token))
	if p == nil {
		d.stats.Unmatched++
		d.guess(r, m)
		d.responseEcho(r, m)
		return
	}
	kid, piv := p.kidBytes(), p.pivBytes()
	r.RequestFrame = p.frame
	r.RequestKID, r.RequestPIV = r.own(kid), r.own(piv)
	r.RequestReplay = p.replay
	d.replay.answered(p.win, p.pivVal)

	respFP := fingerprint(m.MessageID, m.Payload)
	var wk windowKey
	win := noWindow
	var pivVal uint64
	if len(o.PIV) > 0 {
		// Notifications and other responses with their own Partial IV
		// have a window of their own, per request kid and receiver.
		pivVal, _ = pivValue(o.PIV)
		wk = d.replay.key(p.kidCtx(), kid, true, dst)
		win = d.replay.find(&wk)
		r.Replay, r.FirstFrame = d.replay.check(win, pivVal, src, m.MessageID)
	} else {
		// Without a Partial IV, a response is a copy if its request was
		// already answered: a retransmission if the request was sent again
		// (or the response is a CON, retransmitted until acknowledged), a
		// duplicate otherwise.
		switch {
		case p.responses == 0:
			r.Replay = Fresh
		case respFP == p.firstResp && (p.copies > p.responses || m.Type == decode.Confirmable):
			r.Replay = Retransmission
		default:
			r.Replay = Duplicate
		}
	}

	d.responders(p.verified, p.ctx, p.pt, &p.reqBytes)
	if len(d.cands) == 0 {
		if d.keysGiven() {
			r.Err = "no security context for " + p.describe()
			d.stats.NoContext++
		}
	} else {
		d.tryResponse(r, m, d.cands, kid, piv)
	}

	// As for requests, only what verified or could not be checked counts.
	if r.Verified || !r.Tried {
		if len(o.PIV) > 0 {
			d.replay.add(&wk, win, pivVal, frame, src, m.MessageID)
		} else {
			if p.responses == 0 {
				p.firstResp = respFP
			}
			p.responses++
		}
	}
	if r.Verified && len(o.PIV) == 0 {
		h := fingerprint(0, r.Plaintext)
		if p.hasPlain && h != p.firstPlain {
			r.NonceReuse = true
		} else if !p.hasPlain {
			p.firstPlain, p.hasPlain = h, true
		}
	}
	d.responseEcho(r, m)
	if p.replay.IsReplay() {
		r.Answer = answerKind(r, respFP == p.firstResp && r.Replay != Fresh)
		if p.report > 0 && d.reports[p.report-1].AnswerFrame == 0 {
			d.reports[p.report-1].AnswerFrame = frame
			d.reports[p.report-1].Answer = r.Answer
		}
	}
}

// tryResponse tries the candidate endpoints on response m to the request
// (reqKID, reqPIV).
func (d *Decryptor) tryResponse(r *Result, m *decode.Message, cands []ref, reqKID, reqPIV []byte) bool {
	o := &r.Option
	r.Tried = true
	for _, c := range cands {
		idPIV, piv := reqKID, reqPIV
		if len(o.PIV) > 0 {
			idPIV, piv = c.c.ids[c.p], o.PIV
		}
		if r.Context == "" {
			r.Context = c.c.name
		}
		pt, err := d.open(c, idPIV, piv, reqKID, reqPIV, m.Payload)
		if err != nil {
			r.Err = err.Error()
			continue
		}
		r.Verified, r.Err, r.Context = true, "", c.c.name
		setInner(r, m, pt)
		return true
	}
	return false
}

// guess tries a response whose request was not seen against the recent
// requests, newest first.
func (d *Decryptor) guess(r *Result, m *decode.Message) {
	if !d.keysGiven() {
		return
	}
	tried := false
	n := min(d.nrecent, recentLen)
	for i := 1; i <= n; i++ {
		p := &d.recent[(d.nrecent-i)%recentLen]
		if !p.set || p.piv == 0 {
			continue
		}
		d.responders(p.verified, p.ctx, p.pt, &p.reqBytes)
		if len(d.cands) == 0 {
			continue
		}
		tried = true
		kid, piv := p.kidBytes(), p.pivBytes()
		if d.tryResponse(r, m, d.cands, kid, piv) {
			r.Guessed = true
			r.RequestKID, r.RequestPIV, r.RequestFrame = r.own(kid), r.own(piv), p.frame
			d.stats.Guessed++
			return
		}
	}
	r.Tried = tried
	r.Err = "request not seen"
	if tried {
		r.Err = "request not seen; no recent request verifies it"
	}
}

// answerKind classifies the answer r to a replayed request.
func answerKind(r *Result, same bool) ReplayAnswer {
	if r.Verified && r.Inner.Code == codeUnauthorized {
		if r.Inner.HasOption(decode.OptEcho) {
			return RejectedEcho
		}
		return Rejected
	}
	if same {
		return AnsweredCached
	}
	return Answered
}

const codeUnauthorized decode.Code = 0x81 // 4.01

// unprotectedResponse handles a response without OSCORE option: if it
// answers an OSCORE request, it is an error (RFC 8613 section 8.2 and 8.4)
// and possibly the rejection of a replay or an Echo challenge.
func (d *Decryptor) unprotectedResponse(frame int, src, dst netip.AddrPort, m *decode.Message) {
	p := d.pend.get(d.pend.find(d.kh.exchange(dst, src, m.Token), dst, src, m.Token))
	if p == nil {
		return
	}
	d.replay.answered(p.win, p.pivVal)
	echo, hasEcho := m.Option(decode.OptEcho)
	if hasEcho {
		d.addEcho(echo, frame)
	}
	if !p.replay.IsReplay() || p.report == 0 {
		return
	}
	rep := &d.reports[p.report-1]
	if rep.AnswerFrame != 0 {
		return
	}
	rep.AnswerFrame = frame
	switch {
	case m.Code.Class() == 2:
		rep.Answer = Answered
	case m.Code == codeUnauthorized && hasEcho:
		rep.Answer = RejectedEcho
	default:
		rep.Answer = Rejected
	}
}

func (d *Decryptor) responseEcho(r *Result, m *decode.Message) {
	var v []byte
	var ok bool
	if r.Verified {
		v, ok = r.Inner.Option(decode.OptEcho)
	} else {
		v, ok = m.Option(decode.OptEcho)
	}
	if !ok {
		return
	}
	r.Echo, r.EchoStatus = r.own(v), EchoChallenge
	d.addEcho(v, 0)
}

func (d *Decryptor) addEcho(v []byte, frame int) {
	d.stats.EchoChallenges++
	if _, ok := d.echoes[string(v)]; ok {
		return
	}
	for len(d.echoes) >= 4096 && d.echoOrd.len() > 0 {
		delete(d.echoes, d.echoOrd.pop())
	}
	d.echoes[string(v)] = frame
	d.echoOrd.push(string(v))
}

func (d *Decryptor) echoRequest(r *Result, v []byte) {
	r.Echo = r.own(v)
	if _, ok := d.echoes[string(v)]; ok {
		r.EchoStatus = EchoAnswered
		d.stats.EchoAnswered++
	} else {
		r.EchoStatus = EchoUnknown
	}
}

// setInner stores the plaintext and decodes the inner message from it.
func setInner(r *Result, outer *decode.Message, pt []byte) {
	if len(pt) == 0 {
		r.Err = "decrypted message empty: no code"
		r.Plaintext = []byte{}
		return
	}
	tok := outer.Token
	var hdr [7]byte
	hdr[1], hdr[2], hdr[3] = pt[0], byte(outer.MessageID>>8), byte(outer.MessageID)
	n := 4
	switch tl := len(tok); {
	case tl < 13:
		hdr[0] = byte(tl)
	case tl < 269:
		hdr[0], hdr[4], n = 13, byte(tl-13), 5
	case tl < 65805:
		hdr[0], hdr[4], hdr[5], n = 14, byte((tl-269)>>8), byte(tl-269), 6
	default:
		tok = nil
	}
	hdr[0] |= 0x40 | byte(outer.Type&3)<<4
	buf := r.take(len(pt) + n + len(tok) + len(pt) - 1)[:0]
	buf = append(buf, pt...)
	r.Plaintext = buf[:len(pt):len(pt)]
	raw := append(buf[len(pt):], hdr[:n]...)
	raw = append(raw, tok...)
	raw = append(raw, pt[1:]...)
	r.Inner.Options = r.opts[:0]
	if err := r.Inner.Decode(raw); err != nil {
		r.Err = "decrypted message malformed: " + err.Error()
	}
}

// fingerprint hashes a message ID and payload, to recognise a copy
// (FNV-1a).
func fingerprint(mid uint16, b []byte) uint64 {
	const prime = 1099511628211
	h := uint64(14695981039346656037)
	h = (h ^ uint64(mid>>8)) * prime
	h = (h ^ uint64(mid&0xff)) * prime
	for _, c := range b {
		h = (h ^ uint64(c)) * prime
	}
	return h
}

// responders puts into d.cands the endpoints that may answer a request:
// the peer of the endpoint that verified it, else of those its kid and kid
// context name.
func (d *Decryptor) responders(verified bool, ctx *Context, pt party, b *reqBytes) {
	if verified {
		d.cands = append(d.cands[:0], ref{ctx, pt.peer()})
		return
	}
	d.cands = b.lookup(d.k, d.cands[:0])
	for i := range d.cands {
		d.cands[i].p = d.cands[i].p.peer()
	}
}
