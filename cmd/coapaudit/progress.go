package main

import (
	"errors"
	"io"
	"os"
	"sync/atomic"
	"time"

	"github.com/coapaudit/coapaudit/capture"

	"github.com/schollz/progressbar/v3"
)

// Progress meter timing: nothing shows for inputs read within
// progressDelay, and the meter is updated at most every progressEvery.
const (
	progressDelay = time.Second
	progressEvery = 100 * time.Millisecond
)

// progressReader counts the bytes read from a capture input and, once
// reading has taken longer than progressDelay, draws a progress bar of
// bytes read against the input's size on w (a spinner when the size is
// unknown). Close clears the bar and closes the input.
//
// Reads come in the capture reader's buffer-sized chunks, so the clock is
// read once per chunk and the bar redrawn at most every progressEvery.
type progressReader struct {
	r      io.Reader
	closer io.Closer // nil for stdin, which is not ours to close
	w      io.Writer
	name   string
	size   int64 // -1 when unknown
	now    func() time.Time

	n     int64
	start time.Time
	next  time.Time // when the bar is next drawn (first after progressDelay)
	bar   *progressbar.ProgressBar
}

func newProgressReader(r io.Reader, closer io.Closer, w io.Writer, name string, size int64, now func() time.Time) *progressReader {
	if size <= 0 {
		size = -1
	}
	t := now()
	return &progressReader{r: r, closer: closer, w: w, name: name, size: size, now: now, start: t, next: t.Add(progressDelay)}
}

func (p *progressReader) Read(b []byte) (int, error) {
	n, err := p.r.Read(b)
	p.n += int64(n)
	if t := p.now(); !t.Before(p.next) {
		p.next = t.Add(progressEvery)
		if p.bar == nil {
			p.bar = progressbar.NewOptions64(p.size,
				progressbar.OptionSetWriter(p.w),
				progressbar.OptionSetDescription(p.name),
				progressbar.OptionShowBytes(true),
				progressbar.OptionShowCount(),
				progressbar.OptionSetWidth(30),
				progressbar.OptionClearOnFinish(),
				progressbar.OptionSetSpinnerChangeInterval(progressEvery),
			)
		}
		p.bar.Set64(p.n)
	}
	return n, err
}

// Close clears the progress bar, if one was drawn, and closes the input.
func (p *progressReader) Close() error {
	if p.bar != nil {
		p.bar.Finish()
		p.bar = nil
	}
	if p.closer != nil {
		return p.closer.Close()
	}
	return nil
}

// inputMeter counts the bytes read from the inputs of the viewer, which
// shows the progress in its own top bar: a bar on stderr would be drawn
// over the screen the viewer owns. It is safe for concurrent use.
type inputMeter struct {
	read, total atomic.Int64
}

// progress is tui.Config.Progress: bytes read, and the inputs' total size
// (0 when one of them has no known size).
func (m *inputMeter) progress() (read, total int64) { return m.read.Load(), m.total.Load() }

// meteredReader counts what it reads into m.
type meteredReader struct {
	r      io.Reader
	closer io.Closer // nil for stdin
	m      *inputMeter
}

func (r *meteredReader) Read(b []byte) (int, error) {
	n, err := r.r.Read(b)
	r.m.read.Add(int64(n))
	return n, err
}

func (r *meteredReader) Close() error {
	if r.closer != nil {
		return r.closer.Close()
	}
	return nil
}

// openMetered opens a capture file or stdin ("-") for the viewer,
// counting its bytes into m and drawing nothing.
func openMetered(e *env, name string, m *inputMeter) (*capture.Reader, error) {
	if name == "-" {
		m.total.Store(-1 << 62) // unknown: no percentage
		r, err := capture.NewReadCloser(&meteredReader{r: e.stdin, m: m}, "stdin")
		if err != nil {
			return nil, usageErr("%v", err)
		}
		return r, nil
	}
	f, err := os.Open(name)
	if err != nil {
		var pe *os.PathError
		if errors.As(err, &pe) {
			return nil, usageErr("%s: %v", name, pe.Err)
		}
		return nil, usageErr("%v", err)
	}
	if st, serr := f.Stat(); serr == nil && st.Mode().IsRegular() {
		m.total.Add(st.Size())
	} else {
		m.total.Store(-1 << 62)
	}
	r, err := capture.NewReadCloser(&meteredReader{r: f, closer: f, m: m}, name)
	if err != nil {
		f.Close()
		return nil, usageErr("%v", err)
	}
	return r, nil
}
