package analysis

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/coapaudit/coapaudit/capture"
)

// Source gives frames in capture order, to Run.
type Source interface {
	// Next returns the next frame, valid until the next call, and the
	// index of the capture file it is from. It returns io.EOF after the
	// last frame. A live source (one that is also a Clock) returns an
	// error wrapping os.ErrDeadlineExceeded when nothing came before its
	// read deadline. Any other error ends the run; a file source that
	// keeps going after a damaged file records the damage itself.
	Next() (*capture.Datagram, int, error)
}

// Clock is what makes a Source live: reads wait at most until a
// deadline, and state expires by the wall clock.
type Clock interface {
	SetReadDeadline(t time.Time) error
}

// RunOptions tune Run.
type RunOptions struct {
	// OnPacket receives every frame's packet record (borrowed for the
	// call) and the index of its file; an error it returns ends the run
	// with that error.
	OnPacket func(pk *Packet, file int) error
	// FileName names file i in packet records (nil: no name).
	FileName func(i int) string
	// Tick is how often a live run expires state by the wall clock
	// (default 250 ms); OnTick, when set, is called after each, and an
	// error it returns ends the run.
	Tick   time.Duration
	OnTick func() error
	// Deadline, for a live run, ends it at that time.
	Deadline time.Time
	// Pipeline runs the tracker and the rules each in a goroutine of
	// their own (worth it with more than one CPU), behind the decoding;
	// live, each tick sends what is queued. The Engine's callbacks for
	// exchanges and findings are then called from another goroutine than
	// Run's (one at a time, in the same order as without); OnPacket and
	// OnTick still run in Run's. Run returns when every stage has run
	// every frame.
	Pipeline bool
}

// ErrInterrupted ends a run over files whose context was cancelled; the
// engine holds everything read before.
var ErrInterrupted = errors.New("interrupted")

// drainQuiet is the quiet time that ends a live run being stopped: what
// the kernel had already queued is read first.
const drainQuiet = 100 * time.Millisecond

// Run feeds every frame of src through e, the one loop of analyze, live,
// packets and the viewer. State expires by capture time as frames come
// (the tracker's lifetimes) and, for a live source, also by the wall
// clock every Tick, so that exchanges are emitted at the same times
// whichever command runs. Run does not finish the engine.
//
// Over files, a cancelled ctx ends the run with an error wrapping
// ErrInterrupted. A live run stops when ctx is cancelled or Deadline
// passes, after reading what was queued, and returns nil; a capture
// error there is recorded as truncation and returned.
func Run(ctx context.Context, src Source, e *Engine, o RunOptions) error {
	if o.Pipeline && (e.tracker != nil || e.runner != nil) {
		e.startPipeline()
		defer e.stopPipeline()
	}
	if c, ok := src.(Clock); ok {
		return runLive(ctx, src, c, e, &o)
	}
	for n := 0; ; n++ {
		if n&255 == 0 && ctx.Err() != nil {
			return fmt.Errorf("%w after %d frames", ErrInterrupted, e.sum.Frames)
		}
		d, file, err := src.Next()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
		if err := o.packet(e.Frame(d, file, o.name(file)), file); err != nil {
			return err
		}
	}
}

func (o *RunOptions) name(file int) string {
	if o.FileName == nil {
		return ""
	}
	return o.FileName(file)
}

func (o *RunOptions) packet(pk *Packet, file int) error {
	if o.OnPacket == nil {
		return nil
	}
	return o.OnPacket(pk, file)
}

func runLive(ctx context.Context, src Source, c Clock, e *Engine, o *RunOptions) error {
	tick := o.Tick
	if tick <= 0 {
		tick = 250 * time.Millisecond
	}
	// A cancel wakes a blocked read; the loop then drains.
	stop := context.AfterFunc(ctx, func() { c.SetReadDeadline(time.Now()) })
	defer stop()
	nextFlush := time.Now().Add(tick)
	draining := false
	for {
		now := time.Now()
		if !draining && (ctx.Err() != nil || !o.Deadline.IsZero() && !now.Before(o.Deadline)) {
			draining = true
		}
		wake := nextFlush
		switch {
		case draining:
			wake = now.Add(drainQuiet)
		case !o.Deadline.IsZero() && o.Deadline.Before(wake):
			wake = o.Deadline
		}
		if err := c.SetReadDeadline(wake); err != nil {
			return err
		}
		d, file, err := src.Next()
		switch {
		case err == nil:
			if err := o.packet(e.Frame(d, file, o.name(file)), file); err != nil {
				return err
			}
		case errors.Is(err, os.ErrDeadlineExceeded):
			if draining {
				return nil
			}
		case err == io.EOF:
			return nil
		default:
			e.SetTruncated(err)
			return err
		}
		if now := time.Now(); !now.Before(nextFlush) {
			e.Flush(now)
			if o.OnTick != nil {
				if err := o.OnTick(); err != nil {
					return err
				}
			}
			nextFlush = now.Add(tick)
		}
	}
}

// MergeSource reads the files of a Merge as one Source, by time. The
// ends of the files (clean or not) stay in the Merge's Files.
type MergeSource struct {
	M   *Merge
	cur *MergeFile
}

// Next implements Source.
func (s *MergeSource) Next() (*capture.Datagram, int, error) {
	if s.cur != nil {
		s.cur.Advance()
		s.cur = nil
	}
	f := s.M.Next()
	if f == nil {
		return nil, 0, io.EOF
	}
	s.cur = f
	return &f.D, f.Index, nil
}

// LiveSource reads a live capture as a Source (and Clock).
type LiveSource struct {
	L *capture.Live
	d capture.Datagram
}

// Next implements Source.
func (s *LiveSource) Next() (*capture.Datagram, int, error) {
	if err := s.L.Reader().Next(&s.d); err != nil {
		return nil, 0, err
	}
	return &s.d, 0, nil
}

// SetReadDeadline implements Clock.
func (s *LiveSource) SetReadDeadline(t time.Time) error { return s.L.SetReadDeadline(t) }

// ReaderSource reads one capture file as a Source. A damaged file ends
// it as if the file ended there; Err then says why.
type ReaderSource struct {
	R    *capture.Reader
	File int // the file index frames are given
	Err  error
	d    capture.Datagram
}

// Next implements Source.
func (s *ReaderSource) Next() (*capture.Datagram, int, error) {
	if s.Err != nil {
		return nil, 0, io.EOF
	}
	if err := s.R.Next(&s.d); err != nil {
		if err != io.EOF {
			s.Err = err
		}
		return nil, 0, io.EOF
	}
	return &s.d, s.File, nil
}
