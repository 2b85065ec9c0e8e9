package tui

import (
	"context"
	"errors"
	"fmt"
	"runtime/debug"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/coapaudit/coapaudit/analysis"
	"github.com/coapaudit/coapaudit/capture"
	"github.com/coapaudit/coapaudit/export"
	"github.com/coapaudit/coapaudit/filter"
	"github.com/coapaudit/coapaudit/flows"
	"github.com/coapaudit/coapaudit/leaks"
	"github.com/coapaudit/coapaudit/oscore"
	"github.com/coapaudit/coapaudit/rules"
)

// FindingRow is one finding as the findings pane shows it.
type FindingRow struct {
	ID       string
	Severity string // info, low, medium, high
	Threat   string
	Rule     string
	Exchange string // exchange ID, or empty
	Frames   []int
	Message  string
	Seed     string
}

// FindingFrom converts a rules finding.
func FindingFrom(f *rules.Finding) FindingRow {
	return FindingRow{
		ID:       f.ID,
		Severity: f.Severity.String(),
		Threat:   string(f.Threat),
		Rule:     f.Rule,
		Exchange: f.Exchange,
		Frames:   append([]int(nil), f.Frames...),
		Message:  f.Message,
		Seed:     f.Seed,
	}
}

// LeakRow is one leak measurement as the leaks pane shows it.
type LeakRow struct {
	Metric string
	// What says what the metric measures: the observable, what it
	// reveals and where it was seen ("request size → resource, wire").
	What  string
	Scope string
	Value string
	Unit  string
	// Detail is the rest of the record in words: interval, baseline,
	// sample count.
	Detail string
	// fields are the leak record's fields, for filter expressions.
	fields map[string]any
}

// LeakFrom converts a leak record.
func LeakFrom(l leaks.Leak) LeakRow {
	r := LeakRow{Metric: l.Metric, What: leakWhat(l), Scope: l.Scope, Value: strconv.FormatFloat(l.Value, 'g', 4, 64), Unit: l.Unit,
		fields: filter.FieldsOf(export.Leak{Leak: &l}.AppendJSON(nil))}
	// Units for people: a probability as a percentage, labels as what
	// they count.
	switch l.Unit {
	case "probability":
		r.Value, r.Unit = strconv.FormatFloat(100*l.Value, 'g', 3, 64), "%"
	case "percent":
		r.Unit = "%"
	case "labels":
		r.Unit = l.Label
		if r.Unit == "" {
			r.Unit = "label"
		}
		if l.Value != 1 {
			r.Unit += "s"
		}
	}
	var d []string
	if l.CI != nil && l.CI.Valid() {
		d = append(d, fmt.Sprintf("%g%% CI [%.4g, %.4g]", l.CI.Level*100, l.CI.Lo, l.CI.Hi))
	}
	if l.Baseline != nil {
		d = append(d, fmt.Sprintf("baseline %.4g", *l.Baseline))
	}
	if l.N > 0 {
		d = append(d, "n="+strconv.Itoa(l.N))
	}
	r.Detail = strings.Join(d, ", ")
	return r
}

// leakWhat says what a leak record measures: where it was seen (on the
// wire, or inside OSCORE), its observable and the label it may reveal
// ("wire · request size → resource"). The view comes first so that a cut
// cell still tells the rows apart.
func leakWhat(l leaks.Leak) string {
	s := strings.ReplaceAll(l.Observable, "_", " ")
	if l.Label != "" {
		s += " → " + l.Label
	}
	switch l.View {
	case "":
	case "oscore-inner":
		s = "inner · " + s
	default:
		s = l.View + " · " + s
	}
	return s
}

// LoadFunc reads the input of the viewer and feeds l. It runs on its own
// goroutine; ctx is cancelled when the viewer quits, and LoadFunc should
// then return soon. Its error is shown in the status line and returned by
// Run.
type LoadFunc func(ctx context.Context, l *Loader) error

// batch is what the loader posts to the UI goroutine.
type batch struct {
	frames    []frameAt
	exchanges []xrec
	findings  []FindingRow
	leaks     []LeakRow
	read      int // frames read so far
	first     int64
	summary   *analysis.Summary
	drops     uint64 // kernel drops of a live capture
	err       error
	done      bool
}

// Loader collects what the analysis produces and posts it to the viewer
// in batches. Its methods are called on the loader goroutine.
type Loader struct {
	ctx   context.Context
	out   chan<- *batch
	store *byteStore
	// xstore keeps the exchanges' JSON records.
	xstore *byteStore
	rec    []byte
	cur    *batch
	read   int
	first  int64
	last   time.Time // wall clock of the last post
	since  int       // frames read since the last post
	note   []byte
	hdr    []byte
	// skip is set by the viewer when it keeps no more frames: the
	// exchanges still to come will not be kept either.
	skip *atomic.Bool
	// flushFrames and flushEvery bound how much and how long results
	// wait before they are posted.
	flushFrames int
	flushEvery  time.Duration
}

func newLoader(ctx context.Context, out chan<- *batch, st, xst *byteStore, skip *atomic.Bool) *Loader {
	if skip == nil {
		skip = new(atomic.Bool)
	}
	return &Loader{ctx: ctx, out: out, store: st, xstore: xst, cur: &batch{}, skip: skip, flushFrames: 4096, flushEvery: 100 * time.Millisecond}
}

// Exchange adds a finished exchange: what the list shows of it, and its
// JSON record in the exchange store, from which the detail pane decodes
// it again. x is not kept. Its signature fits analysis.New.
func (l *Loader) Exchange(x *flows.Exchange) {
	r := xrecOf(x)
	if l.xstore != nil && !l.skip.Load() {
		l.rec = export.Exchange{Exchange: x}.AppendJSON(l.rec[:0])
		r.ref, r.n = l.xstore.add(l.rec), uint32(len(l.rec))
	}
	l.cur.exchanges = append(l.cur.exchanges, r)
}

// Finding adds a finding.
func (l *Loader) Finding(f FindingRow) { l.cur.findings = append(l.cur.findings, f) }

// Leak adds a leak measurement.
func (l *Loader) Leak(r LeakRow) { l.cur.leaks = append(l.cur.leaks, r) }

// Summary sets the summary shown once loading is done.
func (l *Loader) Summary(s *analysis.Summary) {
	c := *s
	l.cur.summary = &c
}

// Packet records one frame as the engine returned it (file is the index
// of its capture file). The bytes of CoAP frames, and what OSCORE
// decrypted, are kept for the detail and hex panes.
func (l *Loader) Packet(pk *analysis.Packet, file int) {
	d, f := pk.D, pk.F
	l.read++
	l.since++
	if l.first == 0 {
		l.first = d.Time.UnixNano()
	}
	if l.since >= l.flushFrames || (l.since%256 == 0 && time.Since(l.last) >= l.flushEvery) {
		defer l.post()
	}
	if l.skip.Load() || l.store == nil {
		return
	}
	r := frameRec{
		t: d.Time.UnixNano(), num: uint32(d.Number), file: uint16(file),
		wire: uint32(d.OrigLen), proto: uint8(f.Proto), coapOff: -1,
		pair: pairHash(d.Src, d.Dst),
	}
	if d.Truncated {
		r.flags |= flagTruncated
	}
	if f.Err != nil {
		r.flags |= flagMalformed
	}
	// The stored bytes: the frame's, what OSCORE decrypted, and the note.
	var data, inner []byte
	l.note = l.note[:0]
	if m := &f.CoAP; f.Proto.Clear() && len(m.Raw) >= 4 {
		r.typ, r.code, r.mid = uint8(m.Type), uint8(m.Code), m.MessageID
		off := d.PayloadOff
		data = d.Data
		// A message on a reliable transport may start anywhere in its
		// segment, or in an earlier one: its bytes are kept as framed.
		if off < 0 || off+len(m.Raw) > len(data) || f.Proto.Reliable() {
			data, off = m.Raw, 0
		}
		r.coapOff, r.coapLen = int32(off), uint32(len(m.Raw))
		if res := pk.OSCORE; res != nil {
			r.osc = oscNoKey
			switch {
			case res.Verified:
				r.osc = oscVerified
				inner = res.Inner.Raw
				if h := len(inner) - len(res.Plaintext) + 1; h >= 4 && h <= len(inner) && len(res.Plaintext) > 0 {
					r.innerHdr = uint16(h)
				} else {
					inner = nil
				}
			case res.Tried:
				r.osc = oscFailed
			}
			if res.Replay.IsReplay() {
				r.flags |= flagReplay
			}
			l.note = appendNote(l.note, res)
		}
		if len(l.note) > 0xffff {
			l.note = l.note[:0xffff]
		}
		if len(data) <= 1<<24 {
			r.data, r.inner, r.note = uint32(len(data)), uint32(len(inner)), uint16(len(l.note))
			r.flags |= flagStored
		} else {
			data, inner, l.note = nil, nil, l.note[:0]
		}
	}
	l.hdr = r.appendHeader(l.hdr[:0])
	r.ref = l.store.add(l.hdr, data, inner, l.note)
	l.cur.frames = append(l.cur.frames, frameAt{ref: r.ref, num: r.num, file: r.file})
}

// appendNote describes what OSCORE found, for the frames list.
func appendNote(b []byte, r *oscore.Result) []byte {
	add := func(s string) {
		if len(b) > 0 {
			b = append(b, "; "...)
		}
		b = append(b, s...)
	}
	if r.Tried && !r.Verified && r.Err != "" {
		add("not verified: " + r.Err)
	}
	if r.Verified && r.Context != "" {
		add("context " + r.Context)
	}
	if r.Guessed {
		add("request guessed")
	}
	switch {
	case r.Replay.IsReplay():
		s := "replay (" + r.Replay.String()
		if r.FirstFrame > 0 {
			s += ", first in frame " + strconv.Itoa(r.FirstFrame)
		}
		add(s + ")")
	case r.Replay == oscore.Retransmission && r.FirstFrame > 0:
		add("retransmission of frame " + strconv.Itoa(r.FirstFrame))
	}
	if r.RequestReplay.IsReplay() {
		add("answers a replayed request: " + r.Answer.String())
	}
	if r.NonceReuse {
		add("nonce reuse")
	}
	if r.Echo != nil {
		add("Echo " + r.EchoStatus.String())
	}
	return b
}

// post sends what was collected to the UI; it blocks while the UI is
// behind, which bounds the memory held in batches.
func (l *Loader) post() {
	b := l.cur
	b.read, b.first = l.read, l.first
	l.cur = &batch{}
	l.last, l.since = time.Now(), 0
	select {
	case l.out <- b:
	case <-l.ctx.Done():
	}
}

// ReadFiles runs the frames of m through eng until the captures end or
// the viewer quits, then finishes the engine. A capture that ends early is
// reported in the error (after everything before it was analysed).
func (l *Loader) ReadFiles(eng *analysis.Engine, m *analysis.Merge) error {
	err := analysis.Run(l.ctx, &analysis.MergeSource{M: m}, eng, analysis.RunOptions{
		OnPacket: func(pk *analysis.Packet, file int) error { l.Packet(pk, file); return nil },
	})
	if errors.Is(err, analysis.ErrInterrupted) {
		return l.ctx.Err()
	}
	var errs []error
	for _, f := range m.Files {
		if f.Err != nil {
			eng.SetTruncated(f.Err)
			errs = append(errs, f.Err)
		}
	}
	l.Summary(eng.Finish())
	return errors.Join(errs...)
}

// ReadLive runs the frames of a live capture through eng until the
// viewer quits (or the capture is closed), expiring exchanges by the
// clock so that they appear while the capture goes on.
func (l *Loader) ReadLive(eng *analysis.Engine, lv *capture.Live) error {
	err := analysis.Run(l.ctx, &analysis.LiveSource{L: lv}, eng, analysis.RunOptions{
		Tick:     l.flushEvery,
		OnPacket: func(pk *analysis.Packet, _ int) error { l.Packet(pk, 0); return nil },
		OnTick: func() error {
			if st, err := lv.Stats(); err == nil {
				l.cur.drops = st.Dropped
			}
			l.post()
			return nil
		},
	})
	l.Summary(eng.Finish())
	return err
}

// runLoader runs load on the calling goroutine and posts the final
// batch. A panic in load is turned into an error.
func runLoader(ctx context.Context, out chan<- *batch, st, xst *byteStore, skip *atomic.Bool, load LoadFunc) {
	l := newLoader(ctx, out, st, xst, skip)
	var err error
	func() {
		defer func() {
			if p := recover(); p != nil {
				err = fmt.Errorf("loader panic: %v\n%s", p, debug.Stack())
			}
		}()
		err = load(ctx, l)
	}()
	if errors.Is(err, context.Canceled) && ctx.Err() != nil {
		err = nil
	}
	l.cur.err, l.cur.done = err, true
	l.post()
}
