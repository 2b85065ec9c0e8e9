package main

import (
	"io"
	"time"

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
