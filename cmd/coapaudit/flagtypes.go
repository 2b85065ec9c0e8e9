package main

import (
	"errors"
	"fmt"
	"runtime/debug"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/pflag"
)

// portsValue is a repeatable UDP port flag (--port, --dtls-port); values
// may also be comma-separated.
type portsValue struct{ ports *[]int }

func (p portsValue) String() string {
	s := make([]string, len(*p.ports))
	for i, n := range *p.ports {
		s[i] = strconv.Itoa(n)
	}
	return strings.Join(s, ",")
}

func (p portsValue) Set(v string) error {
	for _, f := range strings.Split(v, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n < 1 || n > 65535 {
			return errors.New("not a UDP port: want a number from 1 to 65535")
		}
		*p.ports = append(*p.ports, n)
	}
	return nil
}

func (p portsValue) Type() string { return "N" }

// durationValue is a duration flag that takes plain seconds ("25",
// "0.5") as well as Go durations ("25s", "5m", "1h30m").
type durationValue struct{ d *time.Duration }

func (d durationValue) String() string {
	if *d.d == 0 {
		return "0"
	}
	return d.d.String()
}

func (d durationValue) Set(v string) error {
	v = strings.TrimSpace(v)
	dur, err := parseSecondsOrDuration(v)
	if err != nil {
		return err
	}
	if dur < 0 {
		return fmt.Errorf("%q is negative", v)
	}
	*d.d = dur
	return nil
}

func (d durationValue) Type() string { return "DURATION" }

func parseSecondsOrDuration(v string) (time.Duration, error) {
	if f, err := strconv.ParseFloat(v, 64); err == nil {
		if f > float64(1<<63-1)/float64(time.Second) || f < -float64(1<<63-1)/float64(time.Second) {
			return 0, fmt.Errorf("%q seconds is too long", v)
		}
		return time.Duration(f * float64(time.Second)), nil
	}
	dur, err := time.ParseDuration(v)
	if err != nil {
		return 0, errors.New("want seconds (25, 0.5) or a duration with a unit (25s, 5m, 1h30m)")
	}
	return dur, nil
}

// flagError rewords pflag's "invalid argument" errors as "--flag VALUE:
// reason", without Go's strconv wording.
func flagError(err error) error {
	var ive *pflag.InvalidValueError
	if !errors.As(err, &ive) {
		return err
	}
	cause := ive.Unwrap()
	var ne *strconv.NumError
	if errors.As(cause, &ne) {
		if errors.Is(ne.Err, strconv.ErrRange) {
			cause = errors.New("number out of range")
		} else {
			cause = errors.New("not a number")
		}
	}
	return fmt.Errorf("--%s %s: %v", ive.GetFlag().Name, ive.GetValue(), cause)
}

// version describes the build: the module version, the VCS revision and
// time the binary was built from, and the Go version.
func version(bi *debug.BuildInfo, ok bool) string {
	if !ok || bi == nil {
		return "unknown (no build information)"
	}
	v := bi.Main.Version
	if v == "" {
		v = "(devel)"
	}
	var rev, at string
	modified := false
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			rev = s.Value
		case "vcs.time":
			at = s.Value
		case "vcs.modified":
			modified = s.Value == "true"
		}
	}
	if rev != "" {
		if len(rev) > 12 {
			rev = rev[:12]
		}
		v += " " + rev
		if modified {
			v += "+modified"
		}
		if at != "" {
			v += " " + at
		}
	}
	return v + " " + bi.GoVersion
}
