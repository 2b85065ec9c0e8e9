package rules

import (
	"cmp"
	"math"
	"net/netip"
	"slices"
	"strconv"
	"time"

	"github.com/coapaudit/coapaudit/flows"
	"github.com/coapaudit/coapaudit/leaks"
)

// ProxyDelay reports requests and responses a proxy held far longer than
// it usually does.
var ProxyDelay = &Rule{
	ID: "proxy-delay",
	Doc: `a proxy held a request or response far longer than it usually does

The residence time of a request (from reaching the proxy to leaving it
towards the server) and of a response (from the server's answer reaching
the proxy to the proxy passing it on) is compared with that proxy's own
baseline, separately for each direction: the modified z-score
0.6745 (x - median) / MAD of leaks.Delays must exceed 3.5, and x must
exceed the median by Config.MinDelay, so that the jitter of a fast proxy
is not taken for an attack. Residence times are measured at the proxy, so
the delay is proven; whether it was malice the capture cannot say. On an
exchange whose legs were linked by arrival order among identical requests
in flight at once (flows.Exchange.Ambiguous) the residence may join one
client's request to what the proxy sent for another: the finding is then
low and "could". A
delayed actuation (any method but GET and FETCH) is rated high, as the
seed names actuators as the case where delay matters (for OSCORE only
when the inner method is known). Until a proxy has
Config.MinSamples residence times its exchanges are held; at the end of
the capture they are judged against whatever baseline there is, if it
has at least 5 values.`,
	Threat:   T2,
	Severity: High,
	Seed:     "2.1.1.2",
	Requires: RequiresExchanges | RequiresProxy,
	Run: func(p *Pass) error {
		d := &delayRule{p: p, proxies: map[delayKey]*delayState{}}
		p.OnExchange(d.exchange)
		p.OnClose(d.close)
		return nil
	},
}

// minCloseSamples is the smallest baseline judged at the end of a capture.
const minCloseSamples = 5

type delayKey struct {
	proxy    netip.AddrPort
	response bool
}

type delaySample struct {
	x       *flows.Exchange
	leg     int // the proxy's client-side leg; leg+1 is its server side
	seconds float64
}

type delayState struct {
	d       *leaks.Delays
	res     leaks.DelayResult
	resN    int // d.N() when res was computed
	pending []delaySample
}

type delayRule struct {
	p       *Pass
	proxies map[delayKey]*delayState
}

func (d *delayRule) state(k delayKey) *delayState {
	if s := d.proxies[k]; s != nil {
		return s
	}
	if len(d.proxies) >= d.p.Config.MaxState {
		d.p.Drop(1)
		return nil
	}
	s := &delayState{d: leaks.NewDelays(leaks.Limits{}, 1)}
	d.proxies[k] = s
	return s
}

func (d *delayRule) exchange(x *flows.Exchange) {
	for i, r := range x.Residence {
		if i+1 >= len(x.Legs) {
			break
		}
		if r.Request.Valid {
			d.add(delayKey{proxy: r.Proxy}, delaySample{x, i, r.Request.Seconds()})
		}
		if r.Response.Valid {
			d.add(delayKey{proxy: r.Proxy, response: true}, delaySample{x, i, r.Response.Seconds()})
		}
	}
}

func (d *delayRule) add(k delayKey, s delaySample) {
	st := d.state(k)
	if st == nil {
		return
	}
	min := d.p.Config.MinSamples
	if st.d.N() >= min {
		d.judge(k, st, s)
		st.d.Add(s.x.ID, s.seconds)
		return
	}
	st.d.Add(s.x.ID, s.seconds)
	st.pending = append(st.pending, s)
	if st.d.N() >= min {
		d.flush(k, st)
	}
}

// refresh recomputes the baseline when it has grown by a quarter since
// it was last computed.
func (d *delayRule) refresh(st *delayState) {
	if n := st.d.N(); st.resN == 0 || n >= st.resN+max(st.resN/4, 1) {
		st.res, st.resN = st.d.Result(), n
	}
}

func (d *delayRule) flush(k delayKey, st *delayState) {
	d.refresh(st)
	for _, s := range st.pending {
		d.judge(k, st, s)
	}
	clear(st.pending)
	st.pending = st.pending[:0]
}

func (d *delayRule) close() {
	keys := make([]delayKey, 0, len(d.proxies))
	for k := range d.proxies {
		keys = append(keys, k)
	}
	slices.SortFunc(keys, func(a, b delayKey) int {
		if c := a.proxy.Compare(b.proxy); c != 0 {
			return c
		}
		return cmp.Compare(b2i(a.response), b2i(b.response))
	})
	for _, k := range keys {
		st := d.proxies[k]
		if len(st.pending) > 0 && st.d.N() >= minCloseSamples {
			st.resN = 0
			d.flush(k, st)
		}
	}
}

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}

func (d *delayRule) judge(k delayKey, st *delayState, s delaySample) {
	d.refresh(st)
	res := &st.res
	z := res.Z(s.seconds)
	excess := time.Duration((s.seconds - res.Median) * float64(time.Second))
	if math.IsNaN(z) || z <= leaks.OutlierThreshold || excess < d.p.Config.MinDelay {
		return
	}
	x := s.x
	up, down := &x.Legs[s.leg], &x.Legs[s.leg+1]
	var in, out int
	var dir string
	if k.response {
		if len(down.ResponseFrames) == 0 || len(up.ResponseFrames) == 0 {
			return
		}
		in, out, dir = down.ResponseFrames[0], up.ResponseFrames[0], "the response to "
	} else {
		if len(up.RequestFrames) == 0 || len(down.RequestFrames) == 0 {
			return
		}
		in, out = up.RequestFrames[0], down.RequestFrames[0]
	}
	sev := Medium
	if !k.response && unsafeMethod(x.Method) && (x.OSCORE == nil || x.OSCORE.RequestVerified == "yes") {
		sev = High
	}
	held := time.Duration(s.seconds * float64(time.Second))
	median := time.Duration(res.Median * float64(time.Second))
	stats := " (frame " + strconv.Itoa(in) + " in, frame " + strconv.Itoa(out) + " out), against a median of " +
		seconds(median) + " over its " + plural(res.N, "residence time") + " (modified z-score " +
		strconv.FormatFloat(z, 'f', 1, 64) + ")"
	f := Finding{
		Severity:  sev,
		Certainty: Did,
		Exchange:  x.ID,
		Frames:    []int{in, out},
		Time:      x.End,
		Seed:      map[bool]string{false: "2.1.2.2", true: "2.1.1.2"}[k.response],
		Message:   "Proxy " + k.proxy.String() + " did hold " + dir + what(x) + " for " + seconds(held) + stats + ".",
	}
	if x.Ambiguous {
		// The legs were linked by arrival order among identical
		// requests in flight at once: the residence may join one
		// client's request to what the proxy sent for another.
		f.Severity, f.Certainty = Low, Could
		f.Message = "Proxy " + k.proxy.String() + " could have held " + dir + what(x) + " for " + seconds(held) + stats +
			", but other clients sent the same request at the same time, so the legs measured may belong to different exchanges."
	}
	d.p.Report(f)
}
