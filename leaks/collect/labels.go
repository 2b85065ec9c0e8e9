package collect

import (
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"os"
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
// number ("57"), which labels the exchange that frame belongs to. An
// optional first line "id,label" is a header. Labels must not be empty;
// an id must not appear twice. An exchange named by id wins over one of
// its frames; of several of its frames, the first in frame order wins.
type Labels struct {
	byExchange map[string]string
	byFrame    map[int]string
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
)

// ReadLabels parses a labels file.
func ReadLabels(r io.Reader) (*Labels, error) {
	cr := csv.NewReader(r)
	cr.Comment = '#'
	cr.FieldsPerRecord = 2
	cr.TrimLeadingSpace = true
	l := &Labels{byExchange: map[string]string{}, byFrame: map[int]string{}}
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
	n, err := strconv.Atoi(id)
	if err != nil || n < 1 || id[0] == '+' {
		return fmt.Errorf("%w: %q", ErrLabelID, id)
	}
	if _, dup := l.byFrame[n]; dup {
		return fmt.Errorf("%w: %q", ErrDuplicateLabel, id)
	}
	l.byFrame[n] = label
	return nil
}

// Len returns the number of ids labelled.
func (l *Labels) Len() int {
	if l == nil {
		return 0
	}
	return len(l.byExchange) + len(l.byFrame)
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
