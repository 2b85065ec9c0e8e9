package analysis_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/coapaudit/coapaudit/analysis"
	"github.com/coapaudit/coapaudit/capture"
	"github.com/coapaudit/coapaudit/decode"
	"github.com/coapaudit/coapaudit/flows"
)

// fakeLive is a live source: it gives its frames, then waits for its
// read deadline like a quiet interface.
type fakeLive struct {
	frames   []capture.Datagram
	mu       sync.Mutex // a cancel sets the deadline from another goroutine
	deadline time.Time
}

func (s *fakeLive) SetReadDeadline(t time.Time) error {
	s.mu.Lock()
	s.deadline = t
	s.mu.Unlock()
	return nil
}

func (s *fakeLive) Next() (*capture.Datagram, int, error) {
	if len(s.frames) > 0 {
		d := &s.frames[0]
		s.frames = s.frames[1:]
		return d, 0, nil
	}
	s.mu.Lock()
	deadline := s.deadline
	s.mu.Unlock()
	time.Sleep(time.Until(deadline)) // a blocking read that times out
	return nil, 0, fmt.Errorf("read: %w", os.ErrDeadlineExceeded)
}

func request(t *testing.T, at time.Time, n int) capture.Datagram {
	b := coapMsg(t, decode.NonConfirmable, decode.CodeGET, uint16(n), "\x01", "", decode.Option{ID: decode.OptURIPath, Value: []byte("x")})
	return capture.Datagram{Frame: capture.Frame{Number: n, Time: at}, Kind: capture.KindUDP,
		Src: netip.MustParseAddrPort("10.0.0.1:40000"), Dst: netip.MustParseAddrPort("10.0.0.2:5683"), Payload: b, PayloadOff: -1, UDPLength: 8 + len(b)}
}

// A live run expires state by the wall clock: an unanswered request whose
// lifetime is over is emitted at the next tick, with no frame after it,
// and a cancel ends the run cleanly.
func TestRunLiveFlushesOnTick(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	ticks, ticksAtEmit := 0, -1
	e := analysis.New(analysis.Options{TrackExchanges: true}, func(x *flows.Exchange) {
		ticksAtEmit = ticks
		cancel()
	})
	src := &fakeLive{frames: []capture.Datagram{request(t, time.Now().Add(-10*time.Minute), 1)}}
	packets := 0
	err := analysis.Run(ctx, src, e, analysis.RunOptions{
		Tick:     5 * time.Millisecond,
		OnPacket: func(*analysis.Packet, int) error { packets++; return nil },
		OnTick:   func() error { ticks++; return nil },
	})
	if err != nil {
		t.Fatalf("Run: %v", err)
	}
	if packets != 1 || ticksAtEmit != 0 || ticks != 1 {
		t.Errorf("%d packets; exchange emitted after %d ticks, %d ticks in all; want 1, 0 (during the first), 1", packets, ticksAtEmit, ticks)
	}
}

// Over files, a cancelled context ends the run with ErrInterrupted and
// nothing is read.
func TestRunFilesInterrupted(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	e := analysis.New(analysis.Options{}, nil)
	src := &fakeFiles{frames: []capture.Datagram{request(t, time.Now(), 1)}}
	err := analysis.Run(ctx, src, e, analysis.RunOptions{})
	if !errors.Is(err, analysis.ErrInterrupted) || e.Summary().Frames != 0 {
		t.Errorf("Run: %v, %d frames", err, e.Summary().Frames)
	}
	err = analysis.Run(context.Background(), src, e, analysis.RunOptions{})
	if err != nil || e.Summary().Frames != 1 {
		t.Errorf("Run: %v, %d frames", err, e.Summary().Frames)
	}
}

type fakeFiles struct{ frames []capture.Datagram }

func (s *fakeFiles) Next() (*capture.Datagram, int, error) {
	if len(s.frames) == 0 {
		return nil, 0, io.EOF
	}
	d := &s.frames[0]
	s.frames = s.frames[1:]
	return d, 0, nil
}
