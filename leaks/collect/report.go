package collect

import (
	"github.com/coapaudit/coapaudit/internal/human"

	"cmp"
	"fmt"
	"io"
	"math"
	"net/netip"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/coapaudit/coapaudit/leaks"
)

// Report is what a Collector found.
type Report struct {
	// Leaks are the leak records, in a fixed order: the size tables
	// (label kind, then view, then observable), the resources, the k-NN
	// and timing estimates, then linkability and delay per proxy.
	Leaks []leaks.Leak
	// Verdicts are plain-language sentences for the text summary, per
	// resource and overall, then per proxy.
	Verdicts []string
	// Outliers are the residence times that proxy_delay flags, proxy by
	// proxy, largest |z| first within each.
	Outliers []DelayOutlier
	// Exchanges counts the exchanges recorded, Labelled those with a
	// hidden label, and Plaintext the labelled ones without protection.
	Exchanges, Labelled, Plaintext int
	// Missed counts messages that had left the frame window when their
	// exchange finished; Dropped the samples refused at the caps.
	Missed, Dropped int
}

// DelayOutlier is a residence time far from a proxy's usual ones (modified
// z-score above leaks.OutlierThreshold).
type DelayOutlier struct {
	Proxy netip.AddrPort
	// Direction is "request" or "response".
	Direction string
	Exchange  string
	// Frames are the frames in which the message reached and left the
	// proxy.
	Frames  []int
	Seconds float64
	Z       float64
	// Median is the proxy's median residence time in that direction.
	Median float64
}

// secondaryWork divides the permutation budget of the tables other than
// the capture-wide sizes with padding advice (pairs, sequences, blocks,
// the wire view, methods, codes and single resources); beyond it their
// p-value comes from the G-test. Their bootstrap takes
// leaks.DefaultPaddingResamples resamples unless Options say otherwise.
const secondaryWork = 10

var dirNames = [2]string{"request", "response"}

// Report computes every measurement. It can be called more than once;
// the Collector goes on accumulating.
func (c *Collector) Report() *Report {
	c.drain()
	r := &Report{Exchanges: c.exchanges, Labelled: c.labelled, Plaintext: c.plaintext, Missed: c.missed}
	opt := c.cfg.Options
	secondary := opt
	if secondary.PermutationWork <= 0 {
		secondary.PermutationWork = leaks.DefaultPermutationWork
	}
	secondary.PermutationWork /= secondaryWork
	if secondary.Resamples == 0 {
		secondary.Resamples = leaks.DefaultPaddingResamples
	}
	primaryName := LabelResource
	if c.cfg.Labels != nil {
		primaryName = LabelFile
	}
	kindNames := [numKinds]string{primaryName, LabelMethod, LabelCode}

	// Snapshot the tables, then run the estimators as independent jobs
	// on all cores; their records keep the order of the jobs.
	var jobs []job
	var sized [numViews][2]*leaks.Table
	var advice [numViews][2][]leaks.PaddingResult
	for i := range c.tables {
		t := &c.tables[i]
		tb := t.d.Table()
		r.Dropped += tb.Dropped()
		if len(tb.Labels()) < 2 {
			continue
		}
		scalar := t.obs == oRequest || t.obs == oResponse
		j := job{obs: obsNames[t.obs], label: kindNames[t.kind], view: viewNames[t.view]}
		switch {
		case t.kind == kindPrimary && scalar && t.view != vWire:
			sized[t.view][t.obs] = tb
			adv := &advice[t.view][t.obs]
			j.run = func() []leaks.Leak {
				a := leaks.Analyze(ScopeAll, tb, opt, c.cfg.Padding)
				*adv = a.Padding
				return a.Leaks()
			}
		default:
			if t.kind == kindPrimary && scalar {
				sized[vWire][t.obs] = tb
			}
			perValue := t.kind == kindPrimary && scalar
			j.run = func() []leaks.Leak { return tableLeaks(ScopeAll, tb, secondary, perValue) }
		}
		jobs = append(jobs, j)
	}
	if c.cfg.Labels == nil {
		jobs = append(jobs, c.resources(sized, secondary)...)
	}
	for i := range c.conts {
		k := &c.conts[i]
		r.Dropped += k.p.Dropped()
		if k.p.Len() == 0 {
			continue
		}
		j := job{obs: k.obs, label: primaryName, view: viewNames[k.view]}
		if k.obs == ObsSizesTiming {
			j.run = func() []leaks.Leak {
				res := k.p.KNNAccuracy(0)
				if res.N == 0 || res.Baseline >= 1 {
					return nil
				}
				return []leaks.Leak{res.Leak(ScopeAll)}
			}
		} else {
			j.run = func() []leaks.Leak {
				res := k.p.MutualInformation(0, 0)
				if res.N == 0 || res.HX == 0 {
					return nil
				}
				return []leaks.Leak{res.Leak(ScopeAll)}
			}
		}
		jobs = append(jobs, j)
	}
	runJobs(jobs)
	for _, j := range jobs {
		r.add(j.out, j.obs, j.label, j.view)
	}
	c.proxyReport(r)
	r.Verdicts = append(c.sizeVerdicts(sized, advice), r.Verdicts...)
	if c.cfg.Labels == nil && r.Plaintext > 0 {
		r.Verdicts = append([]string{plaintextVerdict(r.Plaintext, r.Labelled)}, r.Verdicts...)
	}
	return r
}

// tableLeaks returns mutual information, Bayes vulnerability and
// anonymity sets of a table; the anonymity record of every value only
// when perValue is set.
func tableLeaks(scope string, tb *leaks.Table, opt leaks.Options, perValue bool) []leaks.Leak {
	an := tb.Anonymity()
	ls := []leaks.Leak{tb.MutualInformation(opt).Leak(scope), tb.Bayes().Leak(scope)}
	if perValue {
		return append(ls, an.Leaks(scope)...)
	}
	return append(ls, an.Leaks(scope)[0])
}

// add appends records with their observable, label kind and view, and
// leaves out any with a value that JSON cannot carry.
func (r *Report) add(ls []leaks.Leak, obs, label, view string) {
	for _, l := range ls {
		if !finite(l.Value) {
			continue
		}
		l.Observable, l.Label, l.View = obs, label, view
		for k, v := range l.Extra {
			if f, ok := v.(float64); ok && !finite(f) {
				delete(l.Extra, k)
			}
		}
		if l.CI != nil && (!finite(l.CI.Lo) || !finite(l.CI.Hi)) {
			l.CI = nil
		}
		if l.Baseline != nil && !finite(*l.Baseline) {
			l.Baseline = nil
		}
		r.Leaks = append(r.Leaks, l)
	}
}

func finite(f float64) bool { return !math.IsNaN(f) && !math.IsInf(f, 0) }

// resources returns the jobs that analyse the busiest resources with
// several labels on their own: the labels of one resource (its methods)
// against each other.
func (c *Collector) resources(sized [numViews][2]*leaks.Table, opt leaks.Options) []job {
	all := sized[vWire][oRequest]
	if all == nil {
		return nil
	}
	type group struct {
		name   string
		labels int
		n      int
	}
	byName := map[string]*group{}
	var groups []*group
	for x, l := range all.Labels() {
		name := leaks.ByResource(l)
		g := byName[name]
		if g == nil {
			g = &group{name: name}
			byName[name] = g
			groups = append(groups, g)
		}
		g.labels++
		g.n += all.LabelCount(x)
	}
	groups = slices.DeleteFunc(groups, func(g *group) bool { return g.labels < 2 })
	slices.SortFunc(groups, func(a, b *group) int {
		return cmp.Or(cmp.Compare(b.n, a.n), cmp.Compare(a.name, b.name))
	})
	groups = groups[:min(len(groups), c.cfg.MaxResources)]
	slices.SortFunc(groups, func(a, b *group) int { return cmp.Compare(a.name, b.name) })
	var jobs []job
	for _, g := range groups {
		keep := func(l string) bool { return leaks.ByResource(l) == g.name }
		for v := range numViews {
			for o := range 2 {
				tb := sized[v][o]
				if tb == nil {
					continue
				}
				j := job{obs: obsNames[o], label: LabelResource, view: viewNames[v]}
				j.run = func() []leaks.Leak {
					sub := tb.Restrict(keep)
					switch {
					case len(sub.Labels()) < 2:
						return nil
					case v == vWire:
						return tableLeaks(g.name, sub, opt, false)
					}
					return leaks.Analyze(g.name, sub, opt, c.cfg.Padding).Leaks()
				}
				jobs = append(jobs, j)
			}
		}
	}
	return jobs
}

// job is one estimation of Report. run must only read shared state.
type job struct {
	run              func() []leaks.Leak
	obs, label, view string
	out              []leaks.Leak
}

// runJobs runs the jobs on up to GOMAXPROCS goroutines.
func runJobs(jobs []job) {
	var next atomic.Int64
	var wg sync.WaitGroup
	for range min(runtime.GOMAXPROCS(0), len(jobs)) {
		wg.Go(func() {
			for {
				i := int(next.Add(1)) - 1
				if i >= len(jobs) {
					return
				}
				jobs[i].out = jobs[i].run()
			}
		})
	}
	wg.Wait()
}

// proxyReport adds linkability and delay per proxy, and per route for
// proxies with several routes.
func (c *Collector) proxyReport(r *Report) {
	addrs := make([]netip.AddrPort, 0, len(c.proxies))
	for a := range c.proxies {
		addrs = append(addrs, a)
	}
	slices.SortFunc(addrs, netip.AddrPort.Compare)
	linkObs := [2]string{ObsRequests, ObsResponses}
	delayObs := [2]string{ObsRequestResidence, ObsResponseResidence}
	for _, a := range addrs {
		ps := c.proxies[a]
		scope := a.String()
		var exact, timing [2]leaks.LinkResult
		for d := range 2 {
			exact[d] = ps.exact[d].Result()
			if exact[d].Items > 0 {
				l := exact[d].Leak(scope)
				l.Extra["method"] = "oscore-identical"
				r.add([]leaks.Leak{l}, linkObs[d], "", "")
			}
			timing[d] = ps.timing[d].result()
			if timing[d].Items > 0 {
				l := timing[d].Leak(scope)
				l.Extra["method"] = "timing-size"
				l.Extra["not_scored"] = ps.timing[d].skipped
				r.add([]leaks.Leak{l}, linkObs[d], "", "")
			}
		}
		r.Verdicts = append(r.Verdicts, linkVerdicts(scope, exact, timing, [2]int{ps.timing[0].skipped, ps.timing[1].skipped})...)
		for d := range 2 {
			res := ps.delay[d].Result()
			if res.N == 0 {
				continue
			}
			l := res.Leak(scope)
			for _, o := range res.Outliers {
				x, frames := splitID(o.ID, d)
				r.Outliers = append(r.Outliers, DelayOutlier{
					Proxy: a, Direction: dirNames[d], Exchange: x, Frames: frames,
					Seconds: o.Seconds, Z: o.Z, Median: res.Median,
				})
			}
			outlierFields(l, d, c.cfg.FrameRef)
			r.add([]leaks.Leak{l}, delayObs[d], "", "")
			if s := delayVerdict(scope, d, res, c.cfg.FrameRef); s != "" {
				r.Verdicts = append(r.Verdicts, s)
			}
		}
		if len(ps.routes) < 2 {
			continue
		}
		routes := slices.Clone(ps.routes)
		slices.SortFunc(routes, func(a, b *routeState) int { return a.to.Compare(b.to) })
		for _, rt := range routes {
			for d := range 2 {
				res := rt.delay[d].Result()
				if res.N == 0 {
					continue
				}
				l := res.Leak(scope + " > " + rt.to.String())
				outlierFields(l, d, c.cfg.FrameRef)
				r.add([]leaks.Leak{l}, delayObs[d], "", "")
			}
		}
	}
}

// splitID splits a residence id "X3@7,8;9,10" into the exchange and the
// frames of direction dir.
func splitID(id string, dir int) (string, []int) {
	x, fs, ok := strings.Cut(id, "@")
	if !ok {
		return id, nil
	}
	req, resp, _ := strings.Cut(fs, ";")
	fs = [2]string{req, resp}[dir]
	var frames []int
	for f := range strings.SplitSeq(fs, ",") {
		if n, err := strconv.Atoi(f); err == nil {
			frames = append(frames, n)
		}
	}
	return x, frames
}

// outlierFields rewrites the outliers of a proxy_delay record: id is the
// exchange id, and frames lists the frames the message reached and left
// the proxy in; with several capture files (ref not nil) files lists
// their files, item by item.
func outlierFields(l leaks.Leak, dir int, ref func(int) (string, int)) {
	if l.Delay == nil {
		return
	}
	out, _ := l.Extra["outliers"].([]map[string]any)
	for i, o := range out {
		x, frames := splitID(l.Delay.Outliers[i].ID, dir)
		o["id"] = x
		o["frames"] = frames
		if ref != nil {
			files := make([]string, len(frames))
			for i, f := range frames {
				files[i], frames[i] = ref(f)
			}
			o["files"] = files
		}
	}
}

// sizeVerdicts says, per resource and over all labels, how well request
// and response sizes tell labels apart and what padding would cost: on
// OSCORE ciphertexts, on DTLS records (their CoAP messages), and for
// plaintext on the sizes OSCORE would give.
func (c *Collector) sizeVerdicts(sized [numViews][2]*leaks.Table, advice [numViews][2][]leaks.PaddingResult) []string {
	var out []string
	seen := map[string]bool{}
	for _, v := range []view{vInner, vDTLS, vWhatIf} {
		for o := range 2 {
			tb := sized[v][o]
			if tb == nil {
				continue
			}
			vo := leaks.VerdictOptions{Observable: [2]string{"request size", "response size"}[o]}
			switch v {
			case vDTLS:
				vo.Observable += " in DTLS"
			case vWhatIf:
				vo.Observable += " under OSCORE"
			}
			var vs []string
			if c.cfg.Labels == nil {
				vo.Group = leaks.ByResource
				vs = leaks.Verdicts(tb, advice[v][o], vo)
				vo.Group = nil
			}
			vs = append(vs, leaks.Verdicts(tb, advice[v][o], vo)...)
			for _, s := range vs {
				if !seen[s] {
					seen[s] = true
					out = append(out, s)
				}
			}
		}
	}
	return out
}

func plaintextVerdict(plain, labelled int) string {
	return strconv.Itoa(plain) + " of " + strconv.Itoa(labelled) +
		" labelled exchanges are in plaintext: their methods, URIs and payloads are visible to every observer; " +
		"the sentences \"under OSCORE\" say what sizes would still reveal with OSCORE."
}

// linkVerdicts describes linkability across one proxy.
func linkVerdicts(proxy string, exact, timing [2]leaks.LinkResult, notScored [2]int) []string {
	var out []string
	if exact[0].Items+exact[1].Items > 0 {
		var parts []string
		for d, r := range exact {
			if r.Items > 0 {
				parts = append(parts, strconv.Itoa(r.Certain)+" of "+strconv.Itoa(r.Items)+" "+dirNames[d]+"s")
			}
		}
		s := "Across proxy " + proxy + ", " + strings.Join(parts, " and ") +
			" are linked with certainty: the OSCORE option and ciphertext are identical on both legs"
		var none []string
		for d, r := range exact {
			if r.NoCandidate > 0 {
				none = append(none, strconv.Itoa(r.NoCandidate)+" "+dirNames[d]+plural(r.NoCandidate))
			}
		}
		if len(none) > 0 {
			s += "; " + strings.Join(none, " and ") + " left it matching nothing that reached it"
		}
		out = append(out, s+".")
	}
	for d, r := range timing {
		if r.Items == 0 {
			continue
		}
		scored := strconv.Itoa(r.Items)
		if notScored[d] > 0 {
			scored += " of " + strconv.Itoa(r.Items+notScored[d])
		}
		out = append(out, "Across proxy "+proxy+", an observer who knows its usual delays and size changes links "+
			dirNames[d]+"s not protected end to end (plaintext, or DTLS that ends at the proxy) by timing and size with "+pct(r.Top1)+" accuracy (candidate sets of "+
			strconv.FormatFloat(r.Entropy, 'f', 1, 64)+" bits on average; "+scored+" scored).")
	}
	return out
}

func plural(n int) string {
	if n == 1 {
		return ""
	}
	return "s"
}

func pct(p float64) string {
	if p < 1 && p >= 0.995 {
		return "over 99%"
	}
	return strconv.FormatFloat(100*p, 'f', 0, 64) + "%"
}

// delayVerdict describes a proxy's residence times when some stand out.
func delayVerdict(proxy string, dir int, res leaks.DelayResult, ref func(int) (string, int)) string {
	if len(res.Outliers) == 0 {
		return ""
	}
	var b strings.Builder
	fmt.Fprintf(&b, "Proxy %s holds %ss for %s (median of %d, MAD %s)", proxy, dirNames[dir], seconds(res.Median), res.N, seconds(res.MAD))
	const show = 3
	for i, o := range res.Outliers[:min(len(res.Outliers), show)] {
		x, frames := splitID(o.ID, dir)
		if i == 0 {
			b.WriteString("; ")
		} else {
			b.WriteString(", ")
		}
		fmt.Fprintf(&b, "%s (frames %s) was held %s (z = %s)", x, frameNames(frames, ref), seconds(o.Seconds), ZText(o.Z))
	}
	if n := len(res.Outliers) - show; n > 0 {
		fmt.Fprintf(&b, " and %d more", n)
	}
	b.WriteString(".")
	return b.String()
}

// ZText writes a modified z-score as the summary and the report show it.
func ZText(z float64) string {
	if math.Abs(z) >= 100 {
		return strconv.FormatFloat(z, 'f', 0, 64)
	}
	return strconv.FormatFloat(z, 'f', 1, 64)
}

// frameNames joins frame numbers with ", ", written "b.pcap#12" when ref
// names their files.
func frameNames(v []int, ref func(int) (string, int)) string {
	s := make([]string, len(v))
	for i, n := range v {
		if ref != nil {
			f, k := ref(n)
			s[i] = f + "#" + strconv.Itoa(k)
			continue
		}
		s[i] = strconv.Itoa(n)
	}
	return strings.Join(s, ", ")
}

// seconds formats a duration given in seconds with three significant
// digits and a fitting unit.
func seconds(s float64) string {
	switch a := math.Abs(s); {
	case a == 0:
		return "0 s"
	case a < 1e-3:
		return strconv.FormatFloat(s*1e6, 'g', 3, 64) + " µs"
	case a < 1:
		return strconv.FormatFloat(s*1e3, 'g', 3, 64) + " ms"
	}
	return strconv.FormatFloat(s, 'g', 3, 64) + " s"
}

// WriteText writes the verdicts for the terminal summary: a heading and
// each sentence wrapped to width cells. It writes nothing when there are
// none.
func (r *Report) WriteText(w io.Writer, width int) error {
	if r == nil || len(r.Verdicts) == 0 {
		return nil
	}
	var b strings.Builder
	head := fmt.Sprintf("leaks (what sizes and timing reveal, %d labelled exchanges; records: --format ndjson)", r.Labelled)
	b.WriteByte('\n')
	for _, l := range human.Wrap(head, width, 2) {
		b.WriteString(l)
		b.WriteByte('\n')
	}
	for _, v := range r.Verdicts {
		b.WriteString("  ")
		b.WriteString(strings.Join(human.WrapAfter(v, 2, width, 4), "\n"))
		b.WriteByte('\n')
	}
	_, err := io.WriteString(w, b.String())
	return err
}
