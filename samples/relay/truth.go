package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"time"
)

// truthLine is one act, as written to the truth file.
type truthLine struct {
	Act    string `json:"act"`
	N      int    `json:"n"`     // the request's number
	Dir    string `json:"dir"`   // the message acted on: request or response
	MID    uint16 `json:"mid"`   // Message ID of that message
	Token  string `json:"token"` // hex
	Client int    `json:"client"`
	// Field, Before and After say what an alter act changed (see the
	// field* constants); forge has After only (the forged payload, hex).
	Field   string  `json:"field,omitempty"`
	Before  string  `json:"before,omitempty"`
	After   string  `json:"after,omitempty"`
	Offset  *int    `json:"offset,omitempty"`  // changed payload byte
	Seconds float64 `json:"seconds,omitempty"` // delay
	Extra   int     `json:"extra,omitempty"`   // flood: copies beyond the first
	T       float64 `json:"t"`                 // unix seconds, microsecond resolution
	// Frames are filled in by -annotate: the frame the relay received,
	// then the frames it sent (none for drop, the extra copies for flood).
	Frames []int `json:"frames,omitempty"`
}

// unixMicros is t in unix seconds, truncated to the microsecond so that a
// capture timestamp of a later frame is never smaller.
func unixMicros(t time.Time) float64 { return float64(t.UnixMicro()) / 1e6 }

// readTruth reads a truth file.
func readTruth(name string) ([]truthLine, error) {
	f, err := os.Open(name)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var out []truthLine
	sc := bufio.NewScanner(f)
	for line := 1; sc.Scan(); line++ {
		var l truthLine
		dec := json.NewDecoder(bytes.NewReader(sc.Bytes()))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&l); err != nil {
			return nil, fmt.Errorf("%s:%d: %w", name, line, err)
		}
		out = append(out, l)
	}
	return out, sc.Err()
}

// writeTruth writes lines to w, one JSON object per line.
func writeTruth(w io.Writer, lines []truthLine) error {
	enc := json.NewEncoder(w)
	for _, l := range lines {
		if err := enc.Encode(l); err != nil {
			return err
		}
	}
	return nil
}
