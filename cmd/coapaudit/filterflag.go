package main

import (
	"github.com/coapaudit/coapaudit/export"
	"github.com/coapaudit/coapaudit/filter"
)

const filterUsage = "display filter `EXPR` over record fields, like tshark -Y: only packets, exchanges, findings and leaks it matches are written, e.g. 'uri contains \"/sensors\" && code == \"2.05\"' or 'severity >= \"medium\"'"

// compileFilter compiles --filter once, before anything runs.
func (c *commonFlags) compileFilter() error {
	if c.filterSrc == "" {
		return nil
	}
	f, err := filter.Compile(c.filterSrc)
	if err != nil {
		return usageErr("--filter: %v", err)
	}
	c.filter = f
	return nil
}

// filterWriter passes on the records its filter matches, and always the
// summary (which counts everything).
type filterWriter struct {
	w   export.Writer
	f   *filter.Filter
	buf []byte
}

func (fw *filterWriter) Write(r export.Record) error {
	if r.Type() != "summary" {
		fw.buf = r.AppendJSON(fw.buf[:0])
		if !fw.f.Match(filter.FieldsOf(fw.buf)) {
			skip(fw.w, r)
			return nil
		}
	}
	return fw.w.Write(r)
}

func (fw *filterWriter) Close() error { return fw.w.Close() }

// skip tells the writers that keep state across records (the packet text
// times) about a record the filter held back.
func skip(w export.Writer, r export.Record) {
	switch w := w.(type) {
	case export.Multi:
		for _, x := range w {
			skip(x, r)
		}
	case interface{ Skip(export.Record) }:
		w.Skip(r)
	}
}

// filtered wraps w in the filter, if there is one.
func filtered(w export.Writer, f *filter.Filter) export.Writer {
	if f == nil {
		return w
	}
	return &filterWriter{w: w, f: f}
}
