package analysis

import (
	"context"
	"io"
	"time"

	"github.com/coapaudit/coapaudit/capture"
	"github.com/coapaudit/coapaudit/flows"
)

// Merge reads several captures as one stream ordered by timestamp (as
// mergecap does), for captures taken at several points, such as on each
// side of a proxy. Each file keeps its own frame numbers; ties keep file
// order.
type Merge struct {
	Files []*MergeFile
}

// MergeFile is one input of a Merge.
type MergeFile struct {
	Name  string
	R     *capture.Reader
	D     capture.Datagram // the next frame, valid while OK
	OK    bool
	Err   error // what ended this file (nil at a clean end)
	Index int
	// Offset is added to the time of every frame of the file: the
	// correction of its clock (SetOffset).
	Offset time.Duration
}

// NewMerge starts a merge of readers; names label them.
func NewMerge(names []string, readers []*capture.Reader) *Merge {
	m := &Merge{}
	for i, r := range readers {
		m.Files = append(m.Files, &MergeFile{Name: names[i], R: r, Index: i})
	}
	for _, f := range m.Files {
		f.Advance()
	}
	return m
}

// Advance reads the file's next frame into D.
func (f *MergeFile) Advance() {
	err := f.R.Next(&f.D)
	switch {
	case err == nil:
		f.OK = true
		if f.Offset != 0 {
			f.D.Time = f.D.Time.Add(f.Offset)
		}
	case err == io.EOF:
		f.OK = false
	default:
		f.OK = false
		f.Err = err
	}
}

// SetOffset corrects the clock of file i by d: every frame time of the
// file, the pending one included, is moved by d.
func (m *Merge) SetOffset(i int, d time.Duration) {
	f := m.Files[i]
	if f.OK {
		f.D.Time = f.D.Time.Add(d - f.Offset)
	}
	f.Offset = d
}

// Next returns the file holding the earliest pending frame, or nil when
// every file is done. The caller uses f.D, then calls f.Advance.
func (m *Merge) Next() *MergeFile {
	var best *MergeFile
	for _, f := range m.Files {
		if f.OK && (best == nil || f.D.Time.Before(best.D.Time)) {
			best = f
		}
	}
	return best
}

// RunFiles analyses capture files merged by time with a new Engine and
// returns it finished: a convenience for tests and tools. onPacket, if
// not nil, sees every frame's record (borrowed for the call); findings go
// to opts.OnFinding.
func RunFiles(names []string, opts Options, onPacket func(*Packet), onExchange func(*flows.Exchange)) (*Engine, error) {
	var readers []*capture.Reader
	defer func() {
		for _, r := range readers {
			r.Close()
		}
	}()
	for _, n := range names {
		r, err := capture.Open(n)
		if err != nil {
			return nil, err
		}
		readers = append(readers, r)
	}
	e, err := NewEngine(opts, onExchange)
	if err != nil {
		return nil, err
	}
	m := NewMerge(names, readers)
	for _, n := range names {
		e.AddFile(n)
	}
	o := RunOptions{}
	if onPacket != nil {
		o.OnPacket = func(pk *Packet, _ int) error { onPacket(pk); return nil }
	}
	if err := Run(context.Background(), &MergeSource{M: m}, e, o); err != nil {
		return nil, err
	}
	for _, f := range m.Files {
		if f.Err != nil {
			e.SetTruncated(f.Err)
		}
	}
	e.Finish()
	return e, nil
}
