package rules

import (
	"bytes"
	"encoding/hex"
	"net/netip"
	"strconv"
	"time"

	"github.com/coapaudit/coapaudit/decode"
	"github.com/coapaudit/coapaudit/oscore"
)

// OSCOREReplay reports OSCORE requests and notifications that reached
// their receiver again.
var OSCOREReplay = &Rule{
	ID: "oscore-replay",
	Doc: `an OSCORE request or notification was replayed

The OSCORE layer tracks every (kid context, kid, Partial IV) a receiver
sees, with or without keys. A request whose Partial IV the server has
seen before under another Message ID, or that is below the 32-wide replay
window, is a replay (A1.4); so is a notification with a Partial IV seen
before (A1.8). Retransmissions (the same message again) are not. The
finding waits for the server's answer: a server that processed the
replay again and sent a fresh response is rated high; one that answered
from its deduplication cache, rejected it (4.01) or did not answer,
medium.`,
	Threat:   Replay,
	Severity: High,
	Seed:     "2.1.2.1",
	Run: func(p *Pass) error {
		r := &replayRule{p: p}
		p.OnPacket(r.packet)
		p.OnFlush(func(before time.Time) { r.expire(before.Add(-p.Config.Flows.ExchangeLifetime)) })
		p.OnClose(func() {
			for len(r.pending) > 0 {
				r.report(0, nil, oscore.AnswerNone)
			}
		})
		return nil
	},
}

type pendingReplay struct {
	frame, first   int
	t              time.Time
	status         oscore.ReplayStatus
	src, dst       netip.AddrPort
	token          []byte
	kid, piv, kctx []byte
	hasKCtx        bool
}

type replayRule struct {
	p       *Pass
	pending []pendingReplay // oldest first
}

func (r *replayRule) packet(pk *Packet) {
	m := pk.CoAP
	if m == nil {
		return
	}
	if len(r.pending) > 0 {
		r.expire(pk.Time.Add(-r.p.Config.Flows.ExchangeLifetime))
		if m.Code.IsResponse() {
			r.answer(pk)
		}
	}
	o := pk.OSCORE
	if o == nil || !o.Replay.IsReplay() {
		return
	}
	if !o.IsRequest {
		if len(o.Option.PIV) > 0 {
			r.notification(pk)
		}
		return
	}
	if len(r.pending) >= r.p.Config.MaxState {
		r.report(0, nil, oscore.AnswerNone)
	}
	r.pending = append(r.pending, pendingReplay{
		frame: pk.Frame, first: o.FirstFrame, t: pk.Time, status: o.Replay, src: pk.Src, dst: pk.Dst,
		token: bytes.Clone(m.Token), kid: bytes.Clone(o.Option.KID), piv: bytes.Clone(o.Option.PIV),
		kctx: bytes.Clone(o.Option.KIDContext), hasKCtx: o.Option.HasKIDContext,
	})
}

// expire reports the replays sent before cutoff that got no answer.
func (r *replayRule) expire(cutoff time.Time) {
	for len(r.pending) > 0 && r.pending[0].t.Before(cutoff) {
		r.report(0, nil, oscore.AnswerNone)
	}
}

// answer matches the response pk to a pending replay.
func (r *replayRule) answer(pk *Packet) {
	m := pk.CoAP
	for i := range r.pending {
		q := &r.pending[i]
		if pk.Src != q.dst || pk.Dst != q.src || !bytes.Equal(m.Token, q.token) {
			continue
		}
		ans := oscore.Answered
		switch o := pk.OSCORE; {
		case o != nil && o.RequestReplay.IsReplay() && o.Answer != oscore.AnswerNone:
			ans = o.Answer
		case o != nil:
		case m.Code == decode.CodeUnauthorized && m.HasOption(decode.OptEcho):
			ans = oscore.RejectedEcho
		case m.Code.Class() != 2:
			ans = oscore.Rejected
		}
		r.report(i, pk, ans)
		return
	}
}

// report reports pending replay i, answered by pk (nil: no answer).
func (r *replayRule) report(i int, pk *Packet, ans oscore.ReplayAnswer) {
	q := r.pending[i]
	r.pending = append(r.pending[:i], r.pending[i+1:]...)
	frames := []int{q.frame}
	if q.first > 0 {
		frames = append(frames, q.first)
	}
	sev := Medium
	var outcome string
	t := q.t
	if pk != nil {
		frames = append(frames, pk.Frame)
		t = pk.Time
		at := " (frame " + strconv.Itoa(pk.Frame) + ")"
		switch ans {
		case oscore.Answered:
			sev = High
			outcome = "the server processed it again and answered" + at
		case oscore.AnsweredCached:
			outcome = "the server answered with its cached response" + at + ", without processing it again"
		case oscore.RejectedEcho:
			outcome = "the server rejected it with an Echo challenge" + at
		default:
			outcome = "the server rejected it" + at
		}
	} else {
		outcome = "no answer was seen"
	}
	what := "the Partial IV of frame " + strconv.Itoa(q.first)
	if q.first == 0 {
		what = "a Partial IV it had seen before"
	}
	if q.status == oscore.Old {
		what = "a Partial IV below the replay window"
	}
	who := q.src.String()
	if r.p.ProxySource(q.src) {
		who = "Proxy endpoint " + who
	}
	r.p.Report(Finding{
		Severity: sev, Certainty: Did, Frames: frames, Time: t,
		Message: who + " did replay an OSCORE request to " + q.dst.String() + " in frame " + strconv.Itoa(q.frame) + " (" +
			describeOSCORE(q.kctx, q.hasKCtx, q.kid, q.piv) + ", " + what + "); " + outcome + ".",
	})
}

func (r *replayRule) notification(pk *Packet) {
	o := pk.OSCORE
	frames := []int{pk.Frame}
	if o.FirstFrame > 0 {
		frames = append(frames, o.FirstFrame)
	}
	r.p.Report(Finding{
		Severity: Medium, Certainty: Did, Frames: frames, Time: pk.Time, Seed: "2.1.1.1",
		Message: pk.Src.String() + " did replay an OSCORE response to " + pk.Dst.String() + " in frame " + strconv.Itoa(pk.Frame) +
			" (Partial IV " + hexOrEmpty(o.Option.PIV) + ", " + o.Replay.String() + "): the client could take an old notification for a fresh one.",
	})
}

func describeOSCORE(kctx []byte, hasKCtx bool, kid, piv []byte) string {
	s := "kid " + hexOrEmpty(kid)
	if hasKCtx {
		s += ", kid context " + hexOrEmpty(kctx)
	}
	return s + ", Partial IV " + hexOrEmpty(piv)
}

func hexOrEmpty(b []byte) string {
	if len(b) == 0 {
		return "(empty)"
	}
	return hex.EncodeToString(b)
}
