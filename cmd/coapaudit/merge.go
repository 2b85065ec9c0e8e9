package main

import (
	"io"

	"github.com/coapaudit/coapaudit/capture"
)

// mergeSource reads several captures as one stream ordered by timestamp,
// the way mergecap -a does not but a person analysing both sides of a proxy
// needs: each file keeps its own frame numbers, and ties keep file order.
type mergeSource struct {
	files []*mergeFile
}

type mergeFile struct {
	name  string
	r     *capture.Reader
	d     capture.Datagram
	ok    bool  // d holds the next frame
	err   error // the error that ended this file (nil at a clean end)
	index int
}

func newMergeSource(names []string, readers []*capture.Reader) *mergeSource {
	m := &mergeSource{}
	for i, r := range readers {
		m.files = append(m.files, &mergeFile{name: names[i], r: r, index: i})
	}
	for _, f := range m.files {
		f.advance()
	}
	return m
}

func (f *mergeFile) advance() {
	err := f.r.Next(&f.d)
	switch {
	case err == nil:
		f.ok = true
	case err == io.EOF:
		f.ok = false
	default:
		f.ok = false
		f.err = err
	}
}

// next returns the file holding the earliest pending frame, or nil when
// every file is done. The caller uses f.d, then calls f.advance.
func (m *mergeSource) next() *mergeFile {
	var best *mergeFile
	for _, f := range m.files {
		if f.ok && (best == nil || f.d.Time.Before(best.d.Time)) {
			best = f
		}
	}
	return best
}
