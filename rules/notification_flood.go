package rules

import (
	"slices"
	"strconv"
	"time"

	"github.com/coapaudit/coapaudit/flows"
)

// Burst detection: at least burstLen notifications, each within
// 1/burstFactor of the observation's median gap of the one before, among
// at least burstMin notifications.
const (
	burstLen    = 6
	burstFactor = 10
	burstMin    = 12
)

// NotificationFlood reports notifications a client did not ask for: after
// its observation ended, or far above the observation's rate.
var NotificationFlood = &Rule{
	ID: "notification-flood",
	Doc: `a client got notifications after its observation ended, or in a burst

Once a client cancelled an observation (a GET with Observe 1, or a RST to
a notification), or the observation ended with a final response, further
notifications for it are responses it did not ask for and must reject
(RFC 7641 sections 3.5, 3.6; seed 2.1.1.4, A1.10). Notifications far
above the observation's own rate (at least 6 in a row, each within a
tenth of the median gap) cost the client energy too. Both are rated low:
the capture proves them, but they are a nuisance more than an attack.`,
	Threat:   T4,
	Severity: Low,
	Seed:     "2.1.1.4",
	Requires: RequiresExchanges,
	Run: func(p *Pass) error {
		p.OnExchange(func(x *flows.Exchange) {
			o := x.Observe
			if o == nil || len(x.Legs) == 0 {
				return
			}
			c := &x.Legs[0]
			sender := c.To.String()
			if x.Proxy.IsValid() {
				sender = "Proxy " + x.Proxy.String()
			}
			fs := make([]FrameInfo, 0, len(c.ResponseFrames))
			for _, n := range c.ResponseFrames {
				f, ok := p.Frame(n, c.To, c.From)
				if !ok {
					return
				}
				fs = append(fs, f)
			}
			byTime := func(a, b FrameInfo) int { return a.Time.Compare(b.Time) }
			if !slices.IsSortedFunc(fs, byTime) {
				slices.SortStableFunc(fs, byTime)
			}
			if o.Late > 0 && o.EndFrame > 0 {
				if end, ok := p.frameEither(o.EndFrame, c.From, c.To); ok {
					var late []int
					for _, f := range fs {
						if f.Time.After(end.Time) && f.Frame != o.EndFrame {
							late = append(late, f.Frame)
						}
					}
					if len(late) > 0 {
						p.Report(Finding{
							Severity: Low, Certainty: Did, Exchange: x.ID, Frames: append([]int{o.EndFrame}, capFrames(late, 32)...),
							Message: sender + " did send client " + x.Client.String() + " " + plural(len(late), "notification") +
								" of " + what(x) + " after the observation was " + o.Ended + " in frame " + strconv.Itoa(o.EndFrame) +
								" (" + cappedFrames(late, 8) + ").",
						})
					}
				}
			}
			if run := burst(fs); len(run) > 0 {
				span := fs[run[len(run)-1]].Time.Sub(fs[run[0]].Time)
				frames := make([]int, 0, len(run))
				for _, i := range run {
					frames = append(frames, fs[i].Frame)
				}
				p.Report(Finding{
					Severity: Low, Certainty: Did, Exchange: x.ID, Frames: capFrames(frames, 32),
					Message: sender + " did send client " + x.Client.String() + " " + plural(len(run), "notification") + " of " +
						what(x) + " within " + seconds(span) + " (" + cappedFrames(frames, 8) +
						"), far above the observation's usual rate.",
				})
			}
		})
		return nil
	},
}

// burst returns the indexes of the longest run of notifications (fs in
// time order) that arrive far faster than the median gap, or nil.
func burst(fs []FrameInfo) []int {
	if len(fs) < burstMin {
		return nil
	}
	gaps := make([]time.Duration, len(fs)-1)
	for i := 1; i < len(fs); i++ {
		gaps[i-1] = fs[i].Time.Sub(fs[i-1].Time)
	}
	sorted := slices.Clone(gaps)
	slices.Sort(sorted)
	limit := sorted[len(sorted)/2] / burstFactor
	if limit <= 0 {
		return nil
	}
	bestStart, bestLen := 0, 0
	for i := 0; i < len(gaps); {
		if gaps[i] >= limit {
			i++
			continue
		}
		j := i
		for j < len(gaps) && gaps[j] < limit {
			j++
		}
		if j-i+1 > bestLen {
			bestStart, bestLen = i, j-i+1
		}
		i = j
	}
	if bestLen < burstLen {
		return nil
	}
	run := make([]int, bestLen)
	for k := range run {
		run[k] = bestStart + k
	}
	return run
}
