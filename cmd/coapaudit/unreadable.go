package main

import (
	"errors"
	"fmt"

	"github.com/coapaudit/coapaudit/analysis"
	"github.com/coapaudit/coapaudit/capture"
)

// errNoFrames marks a capture that ended in an error before its first
// frame: unreadable input, exit status 2. A capture that breaks off later
// is analysed as far as it goes (exit 0, truncated in the summary).
var errNoFrames = errors.New("no readable frames")

// captureEnded handles the error that ended a capture file: a file that
// gave no frame is unreadable; one that gave some is marked truncated and
// said so on stderr.
func captureEnded(e *env, eng *analysis.Engine, r *capture.Reader, err error) error {
	eng.SetTruncated(err)
	if r.Frames() == 0 {
		return &exitError{code: exitUsage, err: fmt.Errorf("%w: %v", errNoFrames, err)}
	}
	warnf(e, "%v (analysed the %d frames before it)", err, r.Frames())
	return nil
}

// mergeEnded applies captureEnded to every file of a merge and returns the
// first unreadable one.
func mergeEnded(e *env, eng *analysis.Engine, m *analysis.Merge) error {
	var first error
	for _, f := range m.Files {
		eng.ReaderStats(f.R.Stats())
		if f.Err == nil {
			continue
		}
		if err := captureEnded(e, eng, f.R, f.Err); err != nil && first == nil {
			first = err
		}
	}
	return first
}
