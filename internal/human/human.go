// Package human formats values for people: counts with thousands
// separators, URIs shortened to a width with their path kept visible, and
// text wrapped to a terminal's width.
package human

import (
	"sort"
	"strconv"
	"strings"
	"unicode/utf8"
)

// Count writes n with a comma every three digits: 203040 is "203,040".
func Count(n int) string {
	s := strconv.Itoa(n)
	neg := strings.HasPrefix(s, "-")
	if neg {
		s = s[1:]
	}
	var b strings.Builder
	if neg {
		b.WriteByte('-')
	}
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	return b.String()
}

// evictedNames says what each eviction cause of the summary counts.
var evictedNames = map[string]string{
	"exchanges-early":                "exchanges early",
	"exchanges-pending":              "pending exchanges",
	"exchanges-per-pair":             "exchanges past the per-pair cap",
	"message-ids":                    "message IDs",
	"oscore-requests":                "OSCORE requests",
	"oscore-replay-windows":          "OSCORE replay windows",
	"oscore-partial-ivs":             "OSCORE Partial IVs from the recent set",
	"dtls-sessions":                  "DTLS sessions",
	"dtls-decrypt-sessions":          "DTLS decryption sessions",
	"dtls-decrypt-sessions-unlisted": "DTLS sessions not tracked",
	"frame-references":               "frame references",
}

// Counts writes counts by name as a list for people, largest first:
// "203,040 exchanges early, 12 message IDs". Names known to the summary's
// eviction counts are spelt out; others have their dashes turned to
// spaces.
func Counts(m map[string]int) string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool {
		if m[keys[i]] != m[keys[j]] {
			return m[keys[i]] > m[keys[j]]
		}
		return keys[i] < keys[j]
	})
	parts := make([]string, len(keys))
	for i, k := range keys {
		name, ok := evictedNames[k]
		if !ok {
			name = strings.ReplaceAll(k, "-", " ")
		}
		parts[i] = Count(m[k]) + " " + name
	}
	return strings.Join(parts, ", ")
}

// Width is the number of cells s takes, one a rune.
func Width(s string) int { return utf8.RuneCountInString(s) }

// Cut shortens s to n cells, ending it in "…" when it had to cut.
func Cut(s string, n int) string {
	if Width(s) <= n {
		return s
	}
	if n <= 0 {
		return ""
	}
	r := []rune(s)
	return string(r[:n-1]) + "…"
}

// cutLeft shortens s to n cells from the left: "…" and the last n-1.
func cutLeft(s string, n int) string {
	if Width(s) <= n {
		return s
	}
	if n <= 0 {
		return ""
	}
	r := []rune(s)
	return "…" + string(r[len(r)-(n-1):])
}

// URI shortens a URI (or a "METHOD URI" resource name) to n cells from the
// host side, so that the path stays visible:
// "coap://gateway.example.net/sensors/temp" at 28 cells is
// "coap://gateway.e…/sensors/temp", at 24 "gateway.ex…/sensors/temp";
// "coap://127.0.0.22/sensors/temp" at 24 is "127.0.0.22/sensors/temp".
// When the path alone does not fit, the host goes and the path loses its
// start: "…/a/long/path".
func URI(s string, n int) string {
	if Width(s) <= n {
		return s
	}
	prefix := ""
	if i := strings.IndexByte(s, ' '); i > 0 && !strings.Contains(s[:i], "/") {
		prefix, s = s[:i+1], s[i+1:]
		n -= Width(prefix)
		if n <= 1 {
			return Cut(prefix+s, n+Width(prefix))
		}
	}
	scheme, rest := "", s
	if i := strings.Index(s, "://"); i >= 0 {
		scheme, rest = s[:i+3], s[i+3:]
	}
	host, path := rest, ""
	if i := strings.IndexAny(rest, "/?"); i >= 0 {
		host, path = rest[:i], rest[i:]
	}
	if path == "" {
		return prefix + Cut(s, n)
	}
	// The scheme goes first, when that leaves the host whole; then the
	// host is cut while at least 8 of its cells show after the scheme,
	// then without it, then the host goes.
	if Width(host)+Width(path) <= n {
		return prefix + host + path
	}
	if k := n - Width(scheme) - Width(path); k >= 8 {
		return prefix + scheme + Cut(host, k) + path
	}
	if k := n - Width(path); k >= 4 {
		return prefix + Cut(host, k) + path
	}
	if Width(path)+1 <= n {
		return prefix + "…" + path
	}
	return prefix + cutLeft(path, n)
}

// Wrap breaks s into lines of at most width cells at spaces. Lines after
// the first are indented by indent spaces (counted in width). A word
// longer than a line is cut with "…".
func Wrap(s string, width, indent int) []string {
	return WrapAfter(s, 0, width, indent)
}

// WrapAfter is Wrap for text that starts after used cells of its first
// line: the first line it returns is at most width-used cells.
func WrapAfter(s string, used, width, indent int) []string {
	if width <= indent+1 || width <= used+1 {
		return []string{s}
	}
	var lines []string
	var line strings.Builder
	lw, max, empty := used, width, true
	for _, word := range strings.Fields(s) {
		ww := Width(word)
		if !empty && lw+1+ww > max {
			lines = append(lines, line.String())
			line.Reset()
			lw, max, empty = 0, width-indent, true
		}
		if !empty {
			line.WriteByte(' ')
			lw++
		}
		if ww > max-lw {
			word = Cut(word, max-lw)
			ww = Width(word)
		}
		line.WriteString(word)
		lw += ww
		empty = false
	}
	lines = append(lines, line.String())
	pad := strings.Repeat(" ", indent)
	for i := 1; i < len(lines); i++ {
		lines[i] = pad + lines[i]
	}
	return lines
}
