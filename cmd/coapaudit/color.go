package main

import (
	"io"
	"os"

	"github.com/coapaudit/coapaudit/flows"
	"github.com/coapaudit/coapaudit/rules"
)

// palette colours the text output. The zero value writes plain text.
type palette struct{ on bool }

// paletteFor colours output to w only when w is a terminal and NO_COLOR
// (https://no-color.org) is unset or empty.
func paletteFor(w io.Writer) palette {
	return newPalette(isTerminal(w), os.Getenv("NO_COLOR"))
}

func newPalette(terminal bool, noColor string) palette {
	return palette{on: terminal && noColor == ""}
}

// SGR colour codes.
const (
	sgrRed    = "31"
	sgrYellow = "33"
	sgrCyan   = "36"
	sgrBold   = "1"
)

func (p palette) paint(sgr, s string) string {
	if !p.on || sgr == "" || s == "" {
		return s
	}
	return "\x1b[" + sgr + "m" + s + "\x1b[0m"
}

// severity colours s, text about a finding of severity sev: high red,
// medium yellow, low cyan, info plain.
func (p palette) severity(sev rules.Severity, s string) string {
	switch sev {
	case rules.High:
		return p.paint(sgrBold+";"+sgrRed, s)
	case rules.Medium:
		return p.paint(sgrYellow, s)
	case rules.Low:
		return p.paint(sgrCyan, s)
	}
	return s
}

// status colours s, text about an exchange that ended with st: outcomes
// that deserve a look stand out, normal ones stay plain.
func (p palette) status(st flows.Status, s string) string {
	switch st {
	case flows.Withheld, flows.ServedByIntermediary:
		return p.paint(sgrRed, s)
	case flows.Unanswered, flows.Incomplete, flows.Reset, flows.Unmatched, flows.Evicted:
		return p.paint(sgrYellow, s)
	}
	return s
}
