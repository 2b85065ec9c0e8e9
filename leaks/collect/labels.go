package collect

import (
	"cmp"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strconv"
	"strings"
)

// Labels names the hidden label of exchanges, for traffic whose labels
// the capture does not show (OSCORE without keys) or for labels that are
// not the resource (an action such as "valve open").
//
// A labels file is CSV with two fields per line, id and label:
//
//	# comments start with '#'
//	id,label
//	X12,valve open
//	57,valve closed
//
// The id is an exchange id as exchange records show it ("X12") or a frame
// number ("57"), which labels the exchange that frame belongs to; a frame
// of one of several capture files analysed together is written with its
// file, "b.pcap#57" (see ResolveFiles). An
// optional first line "id,label" is a header. Labels must not be empty;
// an id must not appear twice. An exchange named by id wins over one of
// its frames; of several of its frames, the first in frame order wins.
type Labels struct {
	byExchange map[string]string
	byFrame    map[int]string
	// byFileFrame holds the "file#frame" ids until ResolveFiles.
	byFileFrame map[fileFrame]string
}

type fileFrame struct {
	file  string
	frame int
}

// LabelsError is a problem in a labels file.
type LabelsError struct {
	Line int
	Err  error
}

func (e *LabelsError) Error() string {
	return "line " + strconv.Itoa(e.Line) + ": " + e.Err.Error()
}

func (e *LabelsError) Unwrap() error { return e.Err }

// Errors of ReadLabels.
var (
	ErrLabelID        = errors.New("id is neither an exchange id (X12) nor a frame number")
	ErrEmptyLabel     = errors.New("empty label")
	ErrDuplicateLabel = errors.New("id labelled twice")
	ErrLabelFile      = errors.New("frame of no capture file analysed")
	ErrAmbiguousFrame = errors.New("frame number without its file, with several capture files (write file#frame)")
)

// ReadLabels parses a labels file.
func ReadLabels(r io.Reader) (*Labels, error) {
	cr := csv.NewReader(r)
	cr.Comment = '#'
	cr.FieldsPerRecord = 2
	cr.TrimLeadingSpace = true
	l := &Labels{byExchange: map[string]string{}, byFrame: map[int]string{}, byFileFrame: map[fileFrame]string{}}
	for first := true; ; first = false {
		rec, err := cr.Read()
		if err == io.EOF {
			return l, nil
		}
		if err != nil {
			var pe *csv.ParseError
			if errors.As(err, &pe) {
				return nil, &LabelsError{Line: pe.StartLine, Err: pe.Err}
			}
			return nil, err
		}
		line, _ := cr.FieldPos(0)
		id, label := strings.TrimSpace(rec[0]), strings.TrimSpace(rec[1])
		if first && strings.EqualFold(id, "id") && strings.EqualFold(label, "label") {
			continue
		}
		if err := l.add(id, label); err != nil {
			return nil, &LabelsError{Line: line, Err: err}
		}
	}
}

// ReadLabelsFile reads a labels file by name.
func ReadLabelsFile(name string) (*Labels, error) {
	f, err := os.Open(name)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	l, err := ReadLabels(f)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	return l, nil
}

func (l *Labels) add(id, label string) error {
	if label == "" {
		return ErrEmptyLabel
	}
	if rest, ok := strings.CutPrefix(id, "X"); ok {
		if n, err := strconv.Atoi(rest); err != nil || n < 1 || rest[0] == '+' {
			return fmt.Errorf("%w: %q", ErrLabelID, id)
		}
		if _, dup := l.byExchange[id]; dup {
			return fmt.Errorf("%w: %q", ErrDuplicateLabel, id)
		}
		l.byExchange[id] = label
		return nil
	}
	file, num, hasFile := "", id, false
	if i := strings.LastIndexByte(id, '#'); i >= 0 {
		file, num, hasFile = id[:i], id[i+1:], true
	}
	n, err := strconv.Atoi(num)
	if err != nil || n < 1 || num[0] == '+' || hasFile && file == "" {
		return fmt.Errorf("%w: %q", ErrLabelID, id)
	}
	if hasFile {
		k := fileFrame{file, n}
		if _, dup := l.byFileFrame[k]; dup {
			return fmt.Errorf("%w: %q", ErrDuplicateLabel, id)
		}
		l.byFileFrame[k] = label
		return nil
	}
	if _, dup := l.byFrame[n]; dup {
		return fmt.Errorf("%w: %q", ErrDuplicateLabel, id)
	}
	l.byFrame[n] = label
	return nil
}

// ResolveFiles turns the "file#frame" ids into the frame numbers the
// analysis knows (ref gives the number of a frame of files[i]). With
// several files, a plain frame number is ambiguous and an error; with
// one, "file#frame" must name it.
func (l *Labels) ResolveFiles(files []string, ref func(file, frame int) (int, bool)) error {
	if l == nil {
		return nil
	}
	if len(files) > 1 && len(l.byFrame) > 0 {
		return ErrAmbiguousFrame
	}
	keys := make([]fileFrame, 0, len(l.byFileFrame))
	for k := range l.byFileFrame {
		keys = append(keys, k)
	}
	slices.SortFunc(keys, func(a, b fileFrame) int { return cmp.Or(cmp.Compare(a.file, b.file), cmp.Compare(a.frame, b.frame)) })
	for _, k := range keys {
		id := k.file + "#" + strconv.Itoa(k.frame)
		i := slices.Index(files, k.file)
		if i < 0 {
			return fmt.Errorf("%w: %q", ErrLabelFile, id)
		}
		n, ok := ref(i, k.frame)
		if !ok {
			return fmt.Errorf("%w: %q", ErrLabelID, id)
		}
		if _, dup := l.byFrame[n]; dup {
			return fmt.Errorf("%w: %q", ErrDuplicateLabel, id)
		}
		l.byFrame[n] = l.byFileFrame[k]
	}
	clear(l.byFileFrame)
	return nil
}

// Len returns the number of ids labelled.
func (l *Labels) Len() int {
	if l == nil {
		return 0
	}
	return len(l.byExchange) + len(l.byFrame) + len(l.byFileFrame)
}

// lookup returns the label of an exchange, or "".
func (l *Labels) lookup(id string, frames []int) string {
	if s, ok := l.byExchange[id]; ok {
		return s
	}
	if len(l.byFrame) == 0 {
		return ""
	}
	for _, f := range frames {
		if s, ok := l.byFrame[f]; ok {
			return s
		}
	}
	return ""
}
