package main

import (
	"fmt"
	"io"
	"slices"
	"strings"

	"github.com/spf13/cobra"

	"github.com/coapaudit/coapaudit/export"
)

// CSV has one header per file, so --format csv writes one record type on
// stdout: the one --records names. What it leaves out is said on stderr;
// --out DIR writes every type.

// registerRecords adds --records for a command whose records are types
// (plural names, the default first).
func (c *commonFlags) registerRecords(cmd *cobra.Command, types ...string) {
	c.recordTypes = types
	cmd.Flags().StringVar(&c.records, "records", "", "with --format csv: the record `TYPE` written on stdout: "+
		joinOr(types)+" (default "+types[0]+"; --out DIR writes all)")
}

func joinOr(l []string) string { return joinWith(l, " or ") }

func joinWith(l []string, last string) string {
	if len(l) < 2 {
		return strings.Join(l, "")
	}
	return strings.Join(l[:len(l)-1], ", ") + last + l[len(l)-1]
}

// countOf says "the summary" or "N exchanges".
func countOf(typ string, n int) string {
	if typ == "summary" {
		return "the summary"
	}
	return fmt.Sprintf("%d %ss", n, typ)
}

// validateRecords checks --records.
func (c *commonFlags) validateRecords() error {
	if c.records == "" {
		return nil
	}
	if !slices.Contains(c.recordTypes, c.records) {
		return usageErr("--records %s: want %s", c.records, joinOr(c.recordTypes))
	}
	if f, err := export.ParseFormat(c.format); err != nil || f != export.FormatCSV {
		return usageErr("--records picks the record type of --format csv (JSON and NDJSON carry every type)")
	}
	return nil
}

// csvType is the record type --format csv writes on stdout.
func (c *commonFlags) csvType() string {
	r := c.records
	if r == "" {
		r = c.recordTypes[0]
	}
	return strings.TrimSuffix(r, "s")
}

// csvStdout writes the records of one type as CSV and counts the others,
// to say on stderr at Close what was left out.
type csvStdout struct {
	csv    *export.CSVWriter
	typ    string
	types  []string // every type the command writes, singular
	rows   int
	left   map[string]int
	stderr io.Writer
}

func (c *commonFlags) newCSVStdout(e *env) *csvStdout {
	types := make([]string, len(c.recordTypes))
	for i, t := range c.recordTypes {
		types[i] = strings.TrimSuffix(t, "s")
	}
	typ := c.csvType()
	return &csvStdout{csv: export.NewCSVWriterOf(e.stdout, typ), typ: typ, types: types, left: map[string]int{}, stderr: e.stderr}
}

func (w *csvStdout) Write(r export.Record) error {
	if r.Type() != w.typ {
		w.left[r.Type()]++
		return nil
	}
	w.rows++
	return w.csv.Write(r)
}

func (w *csvStdout) Close() error {
	err := w.csv.Close()
	var left []string
	for _, t := range w.types {
		if t != w.typ {
			left = append(left, countOf(t, w.left[t]))
		}
	}
	if len(left) > 0 {
		fmt.Fprintf(w.stderr, "coapaudit: --format csv wrote %s; left out %s (--records TYPE for another type, --out DIR for all)\n",
			countOf(w.typ, w.rows), joinWith(left, " and "))
	}
	return err
}
