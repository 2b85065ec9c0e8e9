// Package analysis wires coapaudit's stages together: each captured frame
// is dissected, OSCORE is decrypted, DTLS handshakes are followed, and CoAP
// messages are fed to the exchange tracker. The packets, analyze, live and
// view commands all run frames through an Engine.
package analysis

import (
	"net/netip"
	"time"

	"github.com/coapaudit/coapaudit/capture"
	"github.com/coapaudit/coapaudit/decode"
	"github.com/coapaudit/coapaudit/dissect"
	"github.com/coapaudit/coapaudit/dtlsdec"
	"github.com/coapaudit/coapaudit/flows"
	"github.com/coapaudit/coapaudit/leaks/collect"
	"github.com/coapaudit/coapaudit/oscore"
	"github.com/coapaudit/coapaudit/rules"
	"github.com/coapaudit/coapaudit/tlskeys"
)

// Options configure an Engine.
type Options struct {
	Dissect dissect.Config
	// Keys are the OSCORE security contexts; nil means none.
	Keys *oscore.Keyring
	// Flows configures the exchange tracker. Exchanges are tracked only
	// when TrackExchanges is set.
	TrackExchanges bool
	Flows          flows.Config
	// MaxDTLSSessions bounds the DTLS sessions followed (default 4096).
	MaxDTLSSessions int
	// TLSKeys are the DTLS key inputs (--keylog, --psk). With any key,
	// DTLS records are decrypted and the CoAP messages in them analysed
	// like plain CoAP, marked as carried in DTLS.
	TLSKeys *tlskeys.Keys
	// Leaks turns on the leak analysis of exchanges (it needs exchange
	// tracking); LeakConfig tunes it.
	Leaks      bool
	LeakConfig collect.Config

	// Rules are the audit rules to run (rules.All() for all of them);
	// none when empty. Rules turn exchange tracking on. RulesConfig
	// tunes them; its Keys and Proxies are filled from Keys and
	// Flows.Proxies when left unset.
	Rules       []*rules.Rule
	RulesConfig rules.Config
	// OnFinding receives every finding as the rules report it; it owns
	// the value.
	OnFinding func(*rules.Finding)

	// FrameRefs, for several capture files merged by time, makes the
	// frame numbers the stages see references that name the file too
	// (capture.FrameRefs): exchanges and findings then carry references,
	// and finding messages name the file of every frame ("b.pcap#12").
	// Nil for one file, or when frames of several files need not be told
	// apart.
	FrameRefs *capture.FrameRefs

	// TCP configures CoAP over TCP, TLS and WebSockets (RFC 8323), on by
	// default; TLSKeys decrypt TLS too.
	TCP TCPOptions

	// OnCoAP, when set, receives every CoAP message (version 1) after
	// decoding and OSCORE decryption, before the tracker: the sensor of a
	// distributed analysis publishes it (see package stream). The values
	// are borrowed until it returns.
	OnCoAP func(m *CoAPMessage)
}

// Engine runs frames through the stages. It is not safe for concurrent
// use: one goroutine feeds it, in capture-time order.
type Engine struct {
	ds      *dissect.Dissector
	dec     *oscore.Decryptor
	dtls    *dissect.DTLSSessions
	dtlsDec *dtlsdec.Decrypter
	dres    dtlsdec.Result
	ddec    DTLSDecryption
	tracker *flows.Tracker
	report  *flows.Summary
	onExch  func(*flows.Exchange)
	leaks   *leakState

	sum          Summary
	first, last  time.Time
	unreferenced int // frames beyond FrameRefs' reach

	pipe *pipeline // the goroutines after decoding, while Run runs them

	tcp    *tcpState
	tcpRaw []byte // a reliable transport's message kept for a packet record

	runner    *rules.Runner
	onFinding func(*rules.Finding)
	onCoAP    func(*CoAPMessage)
	cm        CoAPMessage
	refs      *capture.FrameRefs

	f      dissect.Frame
	pk     Packet
	msg    dissect.Message
	frames []int
	fp     flows.Packet
	oi     flows.OSCOREInfo
	rp     rules.Packet
}

// New returns an Engine. onExchange receives every exchange the tracker
// finishes (only with Options.TrackExchanges or Rules); it owns the value,
// but must not change it when rules run: they see it after the callback.
// New panics if the rules fail to start (two rules with one ID, a rule
// rejecting the configuration); use NewEngine when they come from input.
func New(opts Options, onExchange func(*flows.Exchange)) *Engine {
	e, err := NewEngine(opts, onExchange)
	if err != nil {
		panic("analysis: " + err.Error())
	}
	return e
}

// NewEngine is New, returning the rules' error instead of panicking.
func NewEngine(opts Options, onExchange func(*flows.Exchange)) (*Engine, error) {
	n := opts.MaxDTLSSessions
	if n <= 0 {
		n = 4096
	}
	e := &Engine{
		ds:        dissect.New(opts.Dissect),
		dec:       oscore.NewDecryptor(opts.Keys),
		dtls:      dissect.NewDTLSSessions(n),
		onExch:    onExchange,
		onFinding: opts.OnFinding,
		refs:      opts.FrameRefs,
		onCoAP:    opts.OnCoAP,
	}
	e.sum.OtherBy = map[string]int{}
	if !opts.TLSKeys.Empty() {
		e.dtlsDec = dtlsdec.New(dtlsdec.Config{Keys: opts.TLSKeys, MaxSessions: n})
	}
	if len(opts.Rules) > 0 {
		cfg := opts.RulesConfig
		if !cfg.Keys {
			cfg.Keys = opts.Keys.Len() > 0
		}
		if cfg.Proxies == nil {
			cfg.Proxies = opts.Flows.Proxies
		}
		cfg.Flows = opts.Flows
		r, err := rules.NewRunner(opts.Rules, cfg, e.finding)
		if err != nil {
			return nil, err
		}
		e.runner = r
	}
	if opts.TrackExchanges || e.runner != nil {
		e.report = flows.NewSummary(0)
		e.tracker = flows.NewTracker(opts.Flows, e.exchange)
	}
	e.startLeaks(opts)
	e.startTCP(opts)
	return e, nil
}

func (e *Engine) finding(f *rules.Finding) {
	e.sum.Findings++
	f.Message = e.refs.Message(f.Message)
	if e.onFinding != nil {
		e.onFinding(f)
	}
}

// exchange receives the tracker's exchanges: in the pipeline's tracker
// goroutine they are queued behind the message that finished them.
func (e *Engine) exchange(x *flows.Exchange) {
	if p := e.pipe; p != nil && p.tb != nil {
		p.tb.events = append(p.tb.events, event{slot: -1, x: x})
		return
	}
	e.emit(x)
}

func (e *Engine) emit(x *flows.Exchange) {
	e.sum.Exchanges++
	e.report.Add(x)
	e.leakExchange(x)
	if e.onExch != nil {
		e.onExch(x)
	}
	if e.runner != nil {
		e.runner.Exchange(x)
	}
}

// Frame runs one frame through every stage and returns its packet record,
// which borrows d and the Engine's storage until the next call. file is
// the index of the capture file (for merged captures) and fileName, when
// not empty, is shown in the packet record.
func (e *Engine) Frame(d *capture.Datagram, file int, fileName string) *Packet {
	f := &e.f
	if e.dtlsDec != nil && d.Kind == capture.KindUDP {
		f.DTLS.ConnIDLen = e.dtlsDec.ConnIDLen(d.Src, d.Dst)
	}
	e.ds.Dissect(d, f)
	e.pk = Packet{D: d, F: f, File: fileName}
	s := &e.sum
	s.Frames++
	num, ok := e.refs.Ref(file, d.Number)
	if !ok {
		// Beyond what a reference holds: the frame is counted and
		// dissected, but the stages that know frames by number skip it.
		e.unreferenced++
	}
	if e.first.IsZero() {
		e.first = d.Time
	}
	e.last = d.Time
	if f.Heuristic {
		s.HeuristicFrames++
	}
	if len(d.Fragments) > 0 {
		s.IPReassembled++
	}
	if d.Kind == capture.KindFragment {
		s.IPFragments++
	}
	tcp := d.Kind == capture.KindTCP && e.tcp != nil && ok && e.tcpSegment(d, num)
	if tcp && f.Proto == dissect.ProtoOther {
		f.Proto = dissect.ProtoTCP
	}
	switch {
	case tcp:
		s.TCPFrames++
	case f.Err != nil:
		s.MalformedFrames++
	case f.Proto.Clear():
		s.CoAPFrames++
	case f.Proto == dissect.ProtoDTLS:
		s.DTLSFrames++
	default:
		s.OtherFrames++
		s.OtherBy[otherKind(&e.pk)]++
	}
	switch {
	case tcp:
		// The messages it completed went through the stages as the
		// assembler found them.
	case f.Proto.Clear():
		t := f.Proto.Transport()
		for i := 0; i < f.NumCoAP; i++ {
			m := f.Clear(i)
			s.Anomalies += len(m.Anomalies)
			if !ok {
				continue
			}
			if len(m.Raw) < 4 {
				e.rulesPacket(d.Time, d.Src, d.Dst, len(d.Payload), num, file, nil, nil)
				continue
			}
			e.msg = dissect.Message{Transport: t, Src: d.Src, Dst: d.Dst, Time: d.Time, Frame: d.Number, Size: len(d.Payload), CoAP: m}
			res := e.message(file, num, &e.msg)
			if i == 0 {
				e.pk.OSCORE = res
			}
		}
	case f.Proto == dissect.ProtoDTLS:
		if ok {
			e.dtlsDatagram(d, file)
		}
		e.pk.PSKIdentity = e.dtls.Observe(d.Src, d.Dst, &f.DTLS)
		decrypt := e.dtlsDec != nil && ok
		if decrypt {
			e.dtlsDec.Datagram(d.Number, d.Src, d.Dst, &e.f.DTLS, &e.dres)
		}
		if e.runner != nil && ok {
			e.rp = rules.Packet{Frame: num, File: file, Time: d.Time, Src: d.Src, Dst: d.Dst, Size: len(d.Payload),
				DTLS: &f.DTLS, PSKIdentity: e.pk.PSKIdentity, Err: f.Err}
			if s := e.dres.Session; decrypt && s != nil && s.Status == dtlsdec.StatusKeyMismatch {
				e.rp.DTLSKeyMismatch, e.rp.DTLSFailed, e.rp.DTLSIdentity = true, e.dres.Failed, s.PSKIdentity
				if s.HasSuite {
					e.rp.DTLSSuite = s.Suite.String()
				}
			}
			e.rulesRun(&e.rp)
		}
		if decrypt {
			e.dtlsCoAP(d, num, file)
		}
	}
	return &e.pk
}

// dtlsCoAP takes the DTLS records of the frame that Datagram decrypted
// into e.dres and runs every CoAP
// message found in their application data through OSCORE, the rules and
// the tracker, as a message carried in DTLS (flows.Packet.Secure). The
// messages share the frame's number and decode into the frame's CoAP
// storage.
func (e *Engine) dtlsCoAP(d *capture.Datagram, num, file int) {
	x := &e.ddec
	*x = DTLSDecryption{Decrypted: len(e.dres.Records), Failed: e.dres.Failed}
	if x.Decrypted+x.Failed == 0 {
		return
	}
	e.pk.DTLSDec = x
	if s := e.dres.Session; s != nil {
		x.Key = s.Key.String()
		if s.Key == dtlsdec.KeyPSK {
			x.Identity = s.PSKIdentity
		}
	}
	for i := range e.dres.Records {
		r := &e.dres.Records[i]
		m := e.f.Slot(x.CoAP)
		if r.Type != decode.ContentApplicationData || m.Decode(r.Plaintext) != nil || m.Version != 1 {
			continue
		}
		x.CoAP++
		e.f.NumCoAP = x.CoAP
		e.sum.DTLSCoAP++
		e.msg = dissect.Message{Transport: dissect.DTLS, Src: d.Src, Dst: d.Dst, Time: d.Time, Frame: d.Number, Size: len(d.Payload), CoAP: m}
		res := e.message(file, num, &e.msg)
		if x.CoAP == 1 {
			e.pk.OSCORE = res
		}
	}
}

// message runs one CoAP message, whatever carried it, through OSCORE,
// the sensor hook, the rules and the tracker. m.Frame is the frame's
// number in its file and num the number the stages know it by (a
// reference with several files); m.CoAP has at least its header. It
// returns the OSCORE result.
func (e *Engine) message(file, num int, m *dissect.Message) *oscore.Result {
	c := m.CoAP
	res := e.dec.Process(m.Time, num, m.Src, m.Dst, c)
	if res != nil && res.Tried {
		if res.Verified {
			e.sum.Decrypted++
		} else {
			e.sum.DecryptFailures++
		}
	}
	if c.Version != 1 {
		e.rulesPacket(m.Time, m.Src, m.Dst, m.Size, num, file, nil, nil)
		return res
	}
	e.coap(file, m, res)
	e.stages(file, num, e.refFrames(file, m.Frames), m, res)
	return res
}

// stages runs a decoded, decrypted message through the rules and the
// tracker; num and frames are the numbers the stages know (references
// with several files).
func (e *Engine) stages(file, num int, frames []int, m *dissect.Message, res *oscore.Result) {
	var rp *rules.Packet
	if e.runner != nil {
		e.rp = rules.Packet{Frame: num, File: file, Time: m.Time, Src: m.Src, Dst: m.Dst, Size: m.Size,
			CoAP: m.CoAP, OSCORE: res, Secure: m.Secure(), Transport: m.Transport, Frames: frames}
		if !m.Secure() {
			e.rp.Err = e.f.Err
		}
		if e.tcp != nil {
			e.rp.ConnFirst = e.tcp.first
		}
		rp = &e.rp
	}
	var fp *flows.Packet
	if e.tracker != nil {
		fp = e.flowPacket(file, num, frames, m, res)
	}
	if e.pipe != nil {
		e.pipe.queue(rp, fp, res)
		return
	}
	if rp != nil {
		e.runner.Packet(rp)
	}
	if fp != nil {
		e.leakPacket(fp, res)
		e.tracker.Add(fp)
	}
}

// rulesRun runs the rules' packet hooks on p, or queues a copy of it
// behind the messages before it when the pipeline runs.
func (e *Engine) rulesRun(p *rules.Packet) {
	if e.pipe != nil {
		e.pipe.queue(p, nil, nil)
		return
	}
	e.runner.Packet(p)
}

// refFrames maps the frame numbers of a message that several frames
// carried to the numbers the stages know (references with several files),
// into storage reused by the next call.
func (e *Engine) refFrames(file int, frames []int) []int {
	if e.refs == nil || len(frames) == 0 {
		return frames
	}
	e.frames = e.frames[:0]
	for _, n := range frames {
		if r, ok := e.refs.Ref(file, n); ok {
			e.frames = append(e.frames, r)
		}
	}
	return e.frames
}

// rulesPacket hands a CoAP frame to the rules as frame num (see
// Options.FrameRefs): m is nil when the header did not decode (or is not
// version 1), and then only a malformed frame is passed on.
func (e *Engine) rulesPacket(t time.Time, src, dst netip.AddrPort, size, num, file int, m *decode.Message, res *oscore.Result) {
	if e.runner == nil || m == nil && e.f.Err == nil {
		return
	}
	e.rp = rules.Packet{Frame: num, File: file, Time: t, Src: src, Dst: dst, Size: size,
		CoAP: m, OSCORE: res, Err: e.f.Err}
	e.rulesRun(&e.rp)
}

// flowPacket returns the tracker's view of a message, in the Engine's
// storage until the next call.
func (e *Engine) flowPacket(file, num int, frames []int, m *dissect.Message, r *oscore.Result) *flows.Packet {
	t := m.Transport
	e.fp = flows.Packet{Frame: num, Frames: frames, File: file, Time: m.Time, Src: m.Src, Dst: m.Dst, Msg: m.CoAP, Size: m.Size,
		Secure: t.Security != "", Security: t.Security, Reliable: t.Reliable}
	if t != dissect.UDP && t != dissect.DTLS {
		e.fp.Transport = t.Name
	}
	if r != nil {
		e.oi = flows.OSCOREInfo{KID: r.Option.KID, KIDContext: r.Option.KIDContext, PIV: r.Option.PIV, Tried: r.Tried, Verified: r.Verified}
		if r.Verified {
			e.oi.Inner = &r.Inner
		}
		e.fp.OSCORE = &e.oi
	}
	return &e.fp
}

// otherKind names what an "other" frame is: udp, ip-fragment, or the
// capture layer's reason (icmp, arp, tcp, ...).
func otherKind(p *Packet) string {
	if (p.D.Kind == capture.KindOther || p.D.Kind == capture.KindTCP) && p.D.Reason != "" {
		return p.D.Reason
	}
	return p.ProtoName()
}

// AddFile names a capture file in the summary.
func (e *Engine) AddFile(name string) { e.sum.Files = append(e.sum.Files, name) }

// SetTruncated records that a capture ended early, and why.
func (e *Engine) SetTruncated(err error) {
	e.sum.Truncated = true
	if e.sum.TruncatedError != "" {
		e.sum.TruncatedError += "; "
	}
	e.sum.TruncatedError += err.Error()
}

// Flush expires exchange state older than before (capture time); live
// captures call it as time passes without traffic.
func (e *Engine) Flush(before time.Time) {
	e.flushTCP(before)
	if e.pipe != nil {
		e.dec.Flush(before)
		e.pipe.flush(before)
		return
	}
	if e.runner != nil {
		e.runner.Advance(before) // the rules judge what the tracker emits now at this time
	}
	if e.tracker != nil {
		e.tracker.Flush(before)
	}
	e.dec.Flush(before)
	if e.runner != nil {
		e.runner.Flush(before)
	}
}

// Finish emits every exchange still held and completes the summary. Call
// it once, after the last frame.
func (e *Engine) Finish() *Summary {
	ev := map[string]int{}
	e.finishTCP(ev)
	if e.tracker != nil {
		e.tracker.Close()
	}
	if e.runner != nil {
		e.runner.Close()
		if st := e.runner.Stats(); st.SuppressedTotal() > 0 {
			e.sum.FindingsSuppressed, e.sum.FindingsSuppressedBy = st.SuppressedTotal(), st.Suppressed
		}
	}
	e.finishLeaks()
	s := &e.sum
	if !e.first.IsZero() {
		s.FirstTime = e.first.UTC().Format(time.RFC3339Nano)
		s.LastTime = e.last.UTC().Format(time.RFC3339Nano)
	}
	if len(s.OtherBy) == 0 {
		s.OtherBy = nil
	}
	dst := e.dec.Stats()
	for k, n := range map[string]int{
		"oscore-requests":       dst.Evicted,
		"oscore-replay-windows": dst.WindowsEvicted,
		"oscore-partial-ivs":    dst.PIVsEvicted,
	} {
		if n > 0 {
			ev[k] = n
		}
	}
	if e.dtls.Evicted > 0 {
		ev["dtls-sessions"] = e.dtls.Evicted
	}
	if e.unreferenced > 0 {
		ev["frame-references"] = e.unreferenced
	}
	if e.tracker != nil {
		st := e.tracker.Stats()
		for k, v := range map[string]uint64{
			"exchanges-pending":  st.EvictedPending,
			"exchanges-per-pair": st.EvictedPerPair,
			"exchanges-early":    st.EarlyEmits,
			"message-ids":        st.EvictedMessages,
		} {
			if v > 0 {
				ev[k] = int(v)
			}
		}
	}
	if e.dtlsDec != nil {
		st := e.dtlsDec.Stats()
		s.DTLSDecrypted, s.DTLSDecryptFailures = st.Decrypted, st.Failed
		if st.Evicted > 0 {
			ev["dtls-decrypt-sessions"] = st.Evicted
		}
		if st.Unlisted > 0 {
			ev["dtls-decrypt-sessions-unlisted"] = st.Unlisted
		}
		s.DTLSSessions = map[string]int{}
		for _, x := range e.dtlsDec.Sessions() {
			s.DTLSSessions[x.Status.String()]++
		}
		if len(s.DTLSSessions) == 0 {
			s.DTLSSessions = nil
		}
	}
	if len(ev) > 0 {
		s.Evicted = ev
	}
	return s
}

// DTLSSessions describes every DTLS session the decrypter followed (none
// without TLSKeys), for reports: which were decrypted, and why the others
// were not.
func (e *Engine) DTLSSessions() []dtlsdec.SessionInfo {
	if e.dtlsDec == nil {
		return nil
	}
	return e.dtlsDec.Sessions()
}

// ReaderStats adds what a capture reader counted and the summary reports
// (IP fragments evicted from reassembly); call it once per reader, when
// it is done.
func (e *Engine) ReaderStats(st capture.Stats) {
	e.sum.IPFragmentsEvict += st.FragmentsEvicted
}

// Summary returns the summary so far.
func (e *Engine) Summary() *Summary { return &e.sum }

// Report returns the exchange tables for the text summary (empty unless
// exchanges are tracked).
func (e *Engine) Report() flows.Report {
	if e.report == nil {
		return flows.Report{}
	}
	return e.report.Report()
}

// Decryptor returns the OSCORE decryptor, for its replay reports and
// statistics.
func (e *Engine) Decryptor() *oscore.Decryptor { return e.dec }

// Rules returns the rules runner, for its statistics, or nil.
func (e *Engine) Rules() *rules.Runner { return e.runner }

// FrameRefs returns Options.FrameRefs: nil for one file.
func (e *Engine) FrameRefs() *capture.FrameRefs { return e.refs }

// Tracker returns the exchange tracker, or nil.
func (e *Engine) Tracker() *flows.Tracker { return e.tracker }

// ProxyFor is a helper for callers that configure proxies from flags: it
// parses "ip" or "ip:port" (port 0 matches every port).
func ProxyFor(s string) (netip.AddrPort, bool) {
	if ap, err := netip.ParseAddrPort(s); err == nil {
		return ap, true
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		return netip.AddrPort{}, false
	}
	return netip.AddrPortFrom(a, 0), true
}
