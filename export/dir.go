package export

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/coapaudit/coapaudit/internal/atomicfile"
)

// DirWriter writes every record type to its own files in a directory, as
// the analysis streams: packets, exchanges, findings and leaks each as
// NAME.ndjson and NAME.csv, and the summary as summary.json and
// summary.csv. The files of
// types that got no record still exist (the CSV with its header), so a
// pipeline finds them all. Each file is written under a temporary name and
// renamed into place by Close, so a run that fails (Abort) leaves the files
// that were there before.
type DirWriter struct {
	dir     string
	kinds   map[string]Writer
	sum     Writer
	files   []*atomicfile.File
	aborted bool
}

// headers are the CSV headers of the record types, for files that get no
// record.
var headers = map[string][]string{
	"packet":   packetHeader,
	"exchange": exchangeHeader,
	"finding":  findingHeader,
	"leak":     leakHeader,
	"summary":  summaryHeader,
}

// NewCSVWriterOf returns a CSV writer of records of type typ that writes
// the header even when no record comes.
func NewCSVWriterOf(w io.Writer, typ string) *CSVWriter {
	c := NewCSVWriter(w, typ)
	c.header = headers[typ]
	return c
}

// RegisterCSVHeader lets record types defined elsewhere (findings, leaks)
// name their CSV columns for empty files.
func RegisterCSVHeader(typ string, h []string) { headers[typ] = h }

// writerOnly hides a file's Close from the record writers: DirWriter
// commits the files itself.
type writerOnly struct{ io.Writer }

// NewDirWriter creates dir if needed and opens the files of the given
// record types ("packet", "exchange", "finding", "leak").
func NewDirWriter(dir string, types ...string) (*DirWriter, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	d := &DirWriter{dir: dir, kinds: map[string]Writer{}}
	create := func(name string) (io.Writer, error) {
		f, err := atomicfile.Create(filepath.Join(dir, name))
		if err != nil {
			d.Abort()
			return nil, err
		}
		d.files = append(d.files, f)
		return writerOnly{f}, nil
	}
	for _, t := range types {
		nd, err := create(t + "s.ndjson")
		if err != nil {
			return nil, err
		}
		cf, err := create(t + "s.csv")
		if err != nil {
			return nil, err
		}
		d.kinds[t] = Multi{NewNDJSONWriter(nd), NewCSVWriterOf(cf, t)}
	}
	sf, err := create("summary.json")
	if err != nil {
		return nil, err
	}
	sc, err := create("summary.csv")
	if err != nil {
		return nil, err
	}
	d.sum = Multi{NewNDJSONWriter(sf), NewCSVWriterOf(sc, "summary")}
	return d, nil
}

func (d *DirWriter) Write(r Record) error {
	if r.Type() == "summary" {
		return d.sum.Write(r)
	}
	w, ok := d.kinds[r.Type()]
	if !ok {
		return nil
	}
	if err := w.Write(r); err != nil {
		return fmt.Errorf("--out %s: %w", d.dir, err)
	}
	return nil
}

// Close writes the headers of empty CSV files, flushes every file and
// renames them into place. After an error none is renamed.
func (d *DirWriter) Close() error {
	if d.aborted {
		return nil
	}
	var errs []error
	for _, w := range d.kinds {
		errs = append(errs, w.Close())
	}
	if d.sum != nil {
		errs = append(errs, d.sum.Close())
	}
	if err := errors.Join(errs...); err != nil {
		d.Abort()
		return fmt.Errorf("--out %s: %w", d.dir, err)
	}
	for _, f := range d.files {
		if err := f.Commit(); err != nil {
			d.Abort()
			return fmt.Errorf("--out %s: %w", d.dir, err)
		}
	}
	return nil
}

// Abort discards every file not yet renamed into place.
func (d *DirWriter) Abort() {
	d.aborted = true
	for _, f := range d.files {
		f.Abort()
	}
}

var _ Writer = (*DirWriter)(nil)
