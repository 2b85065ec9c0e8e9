package report

import (
	"html/template"
	"math"
	"strconv"
	"strings"
)

// svg accumulates one inline SVG element. Every text and attribute value
// that comes from a capture goes through text or attr, which escape it;
// the result is therefore safe to hand to html/template as template.HTML.
type svg struct {
	b strings.Builder
}

func newSVG(w, h int, label string) *svg {
	s := &svg{}
	s.b.WriteString(`<svg xmlns="http://www.w3.org/2000/svg" role="img" viewBox="0 0 `)
	s.b.WriteString(strconv.Itoa(w) + " " + strconv.Itoa(h))
	s.b.WriteString(`" width="` + strconv.Itoa(w) + `" height="` + strconv.Itoa(h) + `" aria-label="`)
	s.b.WriteString(escape(label))
	s.b.WriteString(`" font-family="system-ui, sans-serif" font-size="12">`)
	s.b.WriteString("<title>" + escape(label) + "</title>")
	return s
}

// escape escapes s for XML text and double-quoted attribute values.
func escape(s string) string {
	return xmlEscaper.Replace(s)
}

var xmlEscaper = strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;", `"`, "&#34;", "'", "&#39;")

func num(f float64) string {
	if math.IsNaN(f) || math.IsInf(f, 0) {
		f = 0
	}
	return strconv.FormatFloat(math.Round(f*10)/10, 'f', -1, 64)
}

func (s *svg) line(x1, y1, x2, y2 float64, style string) {
	s.b.WriteString(`<line x1="` + num(x1) + `" y1="` + num(y1) + `" x2="` + num(x2) + `" y2="` + num(y2) + `" ` + style + `/>`)
}

func (s *svg) rect(x, y, w, h float64, style string) {
	s.b.WriteString(`<rect x="` + num(x) + `" y="` + num(y) + `" width="` + num(max(w, 0)) + `" height="` + num(max(h, 0)) + `" ` + style + `/>`)
}

// circle draws a dot; a non-empty tip becomes its tooltip.
func (s *svg) circle(x, y, r float64, style, tip string) {
	s.b.WriteString(`<circle cx="` + num(x) + `" cy="` + num(y) + `" r="` + num(r) + `" ` + style)
	if tip == "" {
		s.b.WriteString(`/>`)
		return
	}
	s.b.WriteString(`><title>` + escape(tip) + `</title></circle>`)
}

// text writes escaped text; anchor is "start", "middle" or "end".
func (s *svg) text(x, y float64, anchor, style, t string) {
	s.b.WriteString(`<text x="` + num(x) + `" y="` + num(y) + `" text-anchor="` + anchor + `" ` + style + `>` + escape(t) + `</text>`)
}

func (s *svg) raw(markup string) { s.b.WriteString(markup) }

// html closes the element and returns it for a template.
func (s *svg) html() template.HTML {
	s.b.WriteString("</svg>")
	return template.HTML(s.b.String()) // every value inside was escaped
}

// Palette: colour-blind-safe hues that also print in greyscale.
const (
	colInk     = "#1f2933"
	colGrid    = "#d9dee4"
	colMuted   = "#6b7785"
	colRequest = "#2f6db5"
	colResp    = "#d9822b"
	colOutlier = "#c0392b"
	colOSCORE  = "#1e8a4c"
	colDTLS    = "#c98a00"
	colNone    = "#c0392b"
)

// linearScale maps [lo, hi] onto [a, b].
type linearScale struct{ lo, hi, a, b float64 }

func (l linearScale) at(v float64) float64 {
	if l.hi == l.lo {
		return (l.a + l.b) / 2
	}
	return l.a + (v-l.lo)/(l.hi-l.lo)*(l.b-l.a)
}

// niceTicks returns about n round tick values covering [lo, hi].
func niceTicks(lo, hi float64, n int) []float64 {
	if !(hi > lo) || n < 1 {
		return []float64{lo}
	}
	raw := (hi - lo) / float64(n)
	mag := math.Pow(10, math.Floor(math.Log10(raw)))
	step := mag
	for _, m := range []float64{1, 2, 5, 10} {
		if m*mag >= raw {
			step = m * mag
			break
		}
	}
	var t []float64
	for i, end := math.Floor(lo/step), math.Ceil(hi/step); i <= end; i++ {
		t = append(t, i*step)
	}
	return t
}

// fmtSeconds prints a duration in seconds with a unit a person reads.
func fmtSeconds(s float64) string {
	a := math.Abs(s)
	switch {
	case a == 0:
		return "0"
	case a < 1e-3:
		return strconv.FormatFloat(s*1e6, 'g', 3, 64) + " µs"
	case a < 1:
		return strconv.FormatFloat(s*1e3, 'g', 3, 64) + " ms"
	}
	return strconv.FormatFloat(s, 'g', 4, 64) + " s"
}
