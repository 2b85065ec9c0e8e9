package tui

import (
	"github.com/gdamore/tcell/v2"
	"github.com/rivo/uniseg"
)

// Styles. Colours are from the 16-colour palette, which every terminal
// has; nothing depends on colour alone (markers and text say the same).
var (
	stDefault   = tcell.StyleDefault
	stBar       = tcell.StyleDefault.Reverse(true)
	stTabOn     = tcell.StyleDefault.Bold(true).Underline(true)
	stTitle     = tcell.StyleDefault.Bold(true).Underline(true)
	stTitleOn   = tcell.StyleDefault.Reverse(true).Bold(true)
	stHeader    = tcell.StyleDefault.Bold(true).Underline(true)
	stCursorOn  = tcell.StyleDefault.Background(tcell.ColorNavy).Foreground(tcell.ColorWhite).Bold(true)
	stCursorOff = tcell.StyleDefault.Background(tcell.ColorGray).Foreground(tcell.ColorBlack)
	stDim       = tcell.StyleDefault.Dim(true)
	stProtected = tcell.StyleDefault.Foreground(tcell.ColorGreen)
	stExposed   = tcell.StyleDefault.Foreground(tcell.ColorOlive)
	stShould    = tcell.StyleDefault.Foreground(tcell.ColorRed).Bold(true)
	stHigh      = tcell.StyleDefault.Foreground(tcell.ColorRed).Bold(true)
	stMedium    = tcell.StyleDefault.Foreground(tcell.ColorOlive).Bold(true)
	stLow       = tcell.StyleDefault.Foreground(tcell.ColorTeal)
	stHexMark   = tcell.StyleDefault.Background(tcell.ColorOlive).Foreground(tcell.ColorBlack)
	stHelp      = tcell.StyleDefault.Background(tcell.ColorNavy).Foreground(tcell.ColorWhite)
	stError     = tcell.StyleDefault.Foreground(tcell.ColorRed)
)

// rect is a screen area.
type rect struct{ x, y, w, h int }

func (r rect) contains(x, y int) bool {
	return x >= r.x && x < r.x+r.w && y >= r.y && y < r.y+r.h
}

// textWidth is the number of terminal cells s takes.
func textWidth(s string) int {
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 {
			return uniseg.StringWidth(s)
		}
	}
	return len(s)
}

// put writes text at (x, y) in at most w cells and returns the cells
// used. Text that does not fit ends in "…"; control characters show as
// "·".
func put(s tcell.Screen, x, y, w int, text string, st tcell.Style) int {
	if w <= 0 {
		return 0
	}
	tw := textWidth(text)
	limit := w
	if tw > w {
		limit = w - 1
	}
	used := 0
	g := uniseg.NewGraphemes(text)
	for g.Next() {
		rs := g.Runes()
		cw := g.Width()
		if rs[0] < ' ' || rs[0] == 0x7f || cw == 0 {
			rs, cw = []rune{'·'}, 1
		}
		if used+cw > limit {
			break
		}
		s.SetContent(x+used, y, rs[0], rs[1:], st)
		for i := 1; i < cw; i++ {
			s.SetContent(x+used+i, y, ' ', nil, st)
		}
		used += cw
	}
	if tw > w {
		s.SetContent(x+used, y, '…', nil, st)
		used++
	}
	return used
}

// fill paints w cells at (x, y) with spaces.
func fill(s tcell.Screen, x, y, w int, st tcell.Style) {
	for i := 0; i < w; i++ {
		s.SetContent(x+i, y, ' ', nil, st)
	}
}

// putPad writes text and pads it with spaces to w cells (right-aligned
// when right is set).
func putPad(s tcell.Screen, x, y, w int, text string, st tcell.Style, right bool) {
	if right {
		if tw := textWidth(text); tw < w {
			fill(s, x, y, w-tw, st)
			put(s, x+w-tw, y, tw, text, st)
			return
		}
	}
	n := put(s, x, y, w, text, st)
	fill(s, x+n, y, w-n, st)
}

// span is a piece of styled text.
type span struct {
	text string
	st   tcell.Style
}

// putSpans writes spans from (x, y) in at most w cells, padding with pad.
func putSpans(s tcell.Screen, x, y, w int, sp []span, pad tcell.Style, override *tcell.Style) {
	used := 0
	for _, p := range sp {
		st := p.st
		if override != nil {
			st = *override
		}
		if used >= w {
			break
		}
		used += put(s, x+used, y, w-used, p.text, st)
	}
	if override != nil {
		pad = *override
	}
	fill(s, x+used, y, w-used, pad)
}
