// Package export writes coapaudit's records (docs/CONTRACT.md) as NDJSON, JSON,
// CSV and text.
package export

import (
	"bufio"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"strings"
)

// Record is one output record: a packet, exchange, finding, leak or summary.
type Record interface {
	// Type is the record's "type" field: packet, exchange, finding, leak, summary.
	Type() string
	// AppendJSON appends the record as one JSON object, without a newline.
	AppendJSON(dst []byte) []byte
	// CSVHeader returns the column names; CSVRow the values, in that order.
	CSVHeader() []string
	CSVRow(dst []string) []string
}

// Writer writes records. Close flushes and reports the first error.
type Writer interface {
	Write(Record) error
	Close() error
}

// Format is an output format.
type Format int

const (
	FormatText Format = iota
	FormatJSON
	FormatNDJSON
	FormatCSV
)

// ParseFormat parses a --format value.
func ParseFormat(s string) (Format, error) {
	switch strings.ToLower(s) {
	case "text":
		return FormatText, nil
	case "json":
		return FormatJSON, nil
	case "ndjson", "jsonl":
		return FormatNDJSON, nil
	case "csv":
		return FormatCSV, nil
	}
	return 0, fmt.Errorf("unknown format %q (want text, json, ndjson or csv)", s)
}

func (f Format) String() string {
	return [...]string{"text", "json", "ndjson", "csv"}[f]
}

// NDJSONWriter writes one JSON object per line (JSON Lines).
type NDJSONWriter struct {
	w   *bufio.Writer
	c   io.Closer
	buf []byte
	err error
}

// NewNDJSONWriter returns a writer to w. If w is an io.Closer, Close closes it.
func NewNDJSONWriter(w io.Writer) *NDJSONWriter {
	n := &NDJSONWriter{w: bufio.NewWriterSize(w, 256<<10)}
	n.c, _ = w.(io.Closer)
	return n
}

func (n *NDJSONWriter) Write(r Record) error {
	if n.err != nil {
		return n.err
	}
	n.buf = r.AppendJSON(n.buf[:0])
	n.buf = append(n.buf, '\n')
	_, n.err = n.w.Write(n.buf)
	return n.err
}

func (n *NDJSONWriter) Close() error {
	err := n.w.Flush()
	if n.c != nil {
		err = errors.Join(err, n.c.Close())
	}
	return errors.Join(n.err, err)
}

// JSONWriter writes a single JSON object holding one array per record type
// ("packets", "exchanges", "findings", "leaks") and the "summary" object.
// Packets stream as they come; the other record types are kept (encoded)
// until Close, so use NDJSON for very large analyses.
type JSONWriter struct {
	w       *bufio.Writer
	c       io.Closer
	buf     []byte
	packets int
	held    map[string][]byte
	order   []string
	summary []byte
	err     error
}

// NewJSONWriter returns a writer to w.
func NewJSONWriter(w io.Writer) *JSONWriter {
	j := &JSONWriter{w: bufio.NewWriterSize(w, 256<<10), held: map[string][]byte{}}
	j.c, _ = w.(io.Closer)
	return j
}

func (j *JSONWriter) Write(r Record) error {
	if j.err != nil {
		return j.err
	}
	switch t := r.Type(); t {
	case "packet":
		if j.packets == 0 {
			j.buf = append(j.buf[:0], `{"packets":[`...)
		} else {
			j.buf = append(j.buf[:0], ',')
		}
		j.buf = append(j.buf, "\n"...)
		j.buf = r.AppendJSON(j.buf)
		j.packets++
		_, j.err = j.w.Write(j.buf)
	case "summary":
		j.summary = r.AppendJSON(j.summary[:0])
	default:
		b, ok := j.held[t]
		if !ok {
			j.order = append(j.order, t)
		} else {
			b = append(b, ',')
		}
		b = append(b, '\n')
		j.held[t] = r.AppendJSON(b)
	}
	return j.err
}

func (j *JSONWriter) Close() error {
	if j.err == nil {
		if j.packets == 0 {
			j.w.WriteString("{")
		} else {
			j.w.WriteString("\n]")
		}
		first := j.packets == 0
		for _, t := range []string{"exchange", "finding", "leak"} {
			if !first {
				j.w.WriteString(",")
			}
			first = false
			fmt.Fprintf(j.w, "%q:[", t+"s")
			j.w.Write(j.held[t])
			if len(j.held[t]) > 0 {
				j.w.WriteString("\n")
			}
			j.w.WriteString("]")
		}
		if len(j.summary) > 0 {
			j.w.WriteString(`,"summary":`)
			j.w.Write(j.summary)
		}
		j.w.WriteString("}\n")
	}
	err := j.w.Flush()
	if j.c != nil {
		err = errors.Join(err, j.c.Close())
	}
	return errors.Join(j.err, err)
}

// CSVWriter writes records of one type as CSV with a header row; records of
// other types are passed to Other (or dropped when Other is nil).
type CSVWriter struct {
	typ string
	w   *csv.Writer
	c   io.Closer
	row []string
	hdr bool
	// header, when set, is written at Close if no record came.
	header []string
	Other  Writer
}

// NewCSVWriter returns a writer of records of type typ to w.
func NewCSVWriter(w io.Writer, typ string) *CSVWriter {
	c := &CSVWriter{typ: typ, w: csv.NewWriter(w)}
	c.c, _ = w.(io.Closer)
	return c
}

func (c *CSVWriter) Write(r Record) error {
	if r.Type() != c.typ {
		if c.Other != nil {
			return c.Other.Write(r)
		}
		return nil
	}
	if !c.hdr {
		c.hdr = true
		if err := c.w.Write(r.CSVHeader()); err != nil {
			return err
		}
	}
	c.row = r.CSVRow(c.row[:0])
	return c.w.Write(c.row)
}

func (c *CSVWriter) Close() error {
	if !c.hdr && c.header != nil {
		c.hdr = true
		c.w.Write(c.header)
	}
	c.w.Flush()
	err := c.w.Error()
	if c.c != nil {
		err = errors.Join(err, c.c.Close())
	}
	if c.Other != nil {
		err = errors.Join(err, c.Other.Close())
	}
	return err
}

// Multi writes every record to each of ws.
type Multi []Writer

func (m Multi) Write(r Record) error {
	var errs []error
	for _, w := range m {
		errs = append(errs, w.Write(r))
	}
	return errors.Join(errs...)
}

func (m Multi) Close() error {
	var errs []error
	for _, w := range m {
		errs = append(errs, w.Close())
	}
	return errors.Join(errs...)
}

var (
	_ Writer = (*NDJSONWriter)(nil)
	_ Writer = (*JSONWriter)(nil)
	_ Writer = (*CSVWriter)(nil)
	_ Writer = Multi(nil)
)
