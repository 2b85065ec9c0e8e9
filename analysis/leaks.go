package analysis

import (
	"github.com/coapaudit/coapaudit/flows"
	"github.com/coapaudit/coapaudit/leaks"
	"github.com/coapaudit/coapaudit/leaks/collect"
	"github.com/coapaudit/coapaudit/oscore"
)

// leakState is the leak analysis of an Engine.
type leakState struct {
	c      *collect.Collector
	report *collect.Report
}

// startLeaks sets up the leak analysis when it is on and exchanges are
// tracked.
func (e *Engine) startLeaks(opts Options) {
	if opts.Leaks && e.tracker != nil {
		if opts.FrameRefs != nil && opts.LeakConfig.FrameRef == nil {
			opts.LeakConfig.FrameRef = opts.FrameRefs.FileFrame
		}
		e.leaks = &leakState{c: collect.New(opts.LeakConfig)}
	}
}

// leakPacket records the message about to go to the tracker (fp), so
// that the exchanges it finishes find its sizes.
func (e *Engine) leakPacket(fp *flows.Packet, r *oscore.Result) {
	if e.leaks != nil {
		e.leaks.c.Packet(fp, r)
	}
}

func (e *Engine) leakExchange(x *flows.Exchange) {
	if e.leaks != nil {
		e.leaks.c.Exchange(x)
	}
}

// finishLeaks computes the leak measurements once the tracker has
// emitted every exchange.
func (e *Engine) finishLeaks() {
	if e.leaks != nil && e.leaks.report == nil {
		e.leaks.report = e.leaks.c.Report()
	}
}

// LeakReport returns the leak analysis after Finish: records, verdicts
// and the proxy delay outliers. It is nil when Options.Leaks was off or
// before Finish.
func (e *Engine) LeakReport() *collect.Report {
	if e.leaks == nil {
		return nil
	}
	return e.leaks.report
}

// Leaks returns the leak records after Finish (none when Options.Leaks
// was off).
func (e *Engine) Leaks() []leaks.Leak {
	if r := e.LeakReport(); r != nil {
		return r.Leaks
	}
	return nil
}
