package export

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
)

// DirWriter writes every record type to its own files in a directory, as
// the analysis streams: packets, exchanges, findings and leaks each as
// NAME.ndjson and NAME.csv, and the summary as summary.json. The files of
// types that got no record still exist (the CSV with its header), so a
// pipeline finds them all.
type DirWriter struct {
	dir   string
	kinds map[string]Writer
	sum   *NDJSONWriter
}

// headers are the CSV headers of the record types, for files that get no
// record.
var headers = map[string][]string{
	"packet":   packetHeader,
	"exchange": exchangeHeader,
	"leak":     leakHeader,
}

// RegisterCSVHeader lets record types defined elsewhere (findings, leaks)
// name their CSV columns for empty files.
func RegisterCSVHeader(typ string, h []string) { headers[typ] = h }

// NewDirWriter creates dir if needed and opens the files of the given
// record types ("packet", "exchange", "finding", "leak").
func NewDirWriter(dir string, types ...string) (*DirWriter, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	d := &DirWriter{dir: dir, kinds: map[string]Writer{}}
	for _, t := range types {
		nd, err := os.Create(filepath.Join(dir, t+"s.ndjson"))
		if err != nil {
			d.Close()
			return nil, err
		}
		cf, err := os.Create(filepath.Join(dir, t+"s.csv"))
		if err != nil {
			nd.Close()
			d.Close()
			return nil, err
		}
		cw := NewCSVWriter(cf, t)
		cw.header = headers[t]
		d.kinds[t] = Multi{NewNDJSONWriter(nd), cw}
	}
	sf, err := os.Create(filepath.Join(dir, "summary.json"))
	if err != nil {
		d.Close()
		return nil, err
	}
	d.sum = NewNDJSONWriter(sf)
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

// Close writes the headers of empty CSV files and closes every file.
func (d *DirWriter) Close() error {
	var errs []error
	for _, w := range d.kinds {
		errs = append(errs, w.Close())
	}
	if d.sum != nil {
		errs = append(errs, d.sum.Close())
	}
	return errors.Join(errs...)
}

var _ Writer = (*DirWriter)(nil)
