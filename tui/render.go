package tui

import (
	"strconv"
	"strings"

	"github.com/gdamore/tcell/v2"

	"github.com/coapaudit/coapaudit/internal/human"
)

// draw paints the whole screen.
func (a *App) draw() {
	s := a.s
	s.Clear()
	w, h := s.Size()
	a.areas = [paneCount]rect{}
	if w < 20 || h < 6 {
		put(s, 0, 0, w, "terminal too small", stDefault)
		s.Show()
		return
	}
	a.drawTabs(w)
	body := rect{0, 1, w, h - 2}
	switch a.tab {
	case tabExchanges:
		a.drawExchanges(body)
	case tabFindings:
		a.areas[paneFindings] = body
		a.drawTable(a.ft, body, a.focus == paneFindings, "no findings")
	case tabLeaks:
		a.areas[paneLeaks] = body
		a.drawTable(a.lt, body, a.focus == paneLeaks, "no leak measurements")
	}
	a.drawStatus(w, h-1)
	if a.help {
		a.drawHelp(w, h)
	}
	if a.note != nil {
		a.drawNote(w, h)
	}
	s.Show()
}

func (a *App) drawTabs(w int) {
	s := a.s
	fill(s, 0, 0, w, stBar)
	x := 0
	names := [3]string{
		"1 Exchanges " + strconv.Itoa(a.xs.count()),
		"2 Findings " + strconv.Itoa(len(a.fs.rows)),
		"3 Leaks " + strconv.Itoa(len(a.ls.rows)),
	}
	for i, n := range names {
		st := stBar
		if i == a.tab {
			st = stTabOn
		}
		label := " " + n + " "
		lw := textWidth(label)
		if x+lw > w {
			break
		}
		put(s, x, 0, lw, label, st)
		a.tabAreas[i] = rect{x, 0, lw, 1}
		x += lw + 1
	}
	if rest := w - x - 1; rest > 10 {
		st := a.statusFit(rest)
		sw := textWidth(st)
		put(s, w-sw-1, 0, sw, st, stBar)
	}
}

// drawTable paints a table with a header row in r.
func (a *App) drawTable(t *table, r rect, focused bool, empty string) {
	s := a.s
	t.sync()
	idx, widths := t.layout(r.w)
	x := r.x
	for i, c := range idx {
		title := t.cols[c].title
		if c == t.sortCol {
			title += t.arrow()
		}
		putPad(s, x, r.y, widths[i], title, stHeader, t.cols[c].right)
		x += widths[i]
		if i < len(idx)-1 {
			put(s, x, r.y, 1, " ", stHeader)
			x++
		}
	}
	fill(s, x, r.y, r.x+r.w-x, stHeader)
	rows := r.h - 1
	a.pageRows[a.paneOfTable(t)] = rows
	if len(t.view) == 0 {
		msg := empty
		if t.filter != "" {
			msg = "no rows match the filter \"" + t.filter + "\""
			if t.exprErr != "" {
				msg += " (as an expression: " + t.exprErr + ")"
			}
		} else if !a.done {
			msg = "loading…"
		}
		put(s, r.x+1, r.y+1, r.w-1, msg, stDim)
		return
	}
	t.scroll(rows)
	for i := 0; i < rows && t.top+i < len(t.view); i++ {
		row := t.view[t.top+i]
		y := r.y + 1 + i
		var over *tcell.Style
		if t.top+i == t.cursor {
			st := stCursorOff
			if focused {
				st = stCursorOn
			}
			over = &st
		}
		x := r.x
		for j, c := range idx {
			st := t.src.style(row, c)
			if over != nil {
				st = *over
			}
			cell := t.src.cell(row, c)
			if sh := t.cols[c].shorten; sh != nil {
				cell = sh(cell, widths[j])
			}
			putPad(s, x, y, widths[j], cell, st, t.cols[c].right)
			x += widths[j]
			if j < len(idx)-1 {
				pad := stDefault
				if over != nil {
					pad = *over
				}
				put(s, x, y, 1, " ", pad)
				x++
			}
		}
		if over != nil {
			fill(s, x, y, r.x+r.w-x, *over)
		}
	}
}

func (a *App) paneOfTable(t *table) pane {
	switch t {
	case a.ft:
		return paneFindings
	case a.lt:
		return paneLeaks
	}
	return paneList
}

// drawExchanges paints the exchange list and, when open, the detail of
// the selected exchange: a summary line, its legs, its frames and the
// hex of the frame in focus.
func (a *App) drawExchanges(body rect) {
	if !a.detail {
		a.areas[paneList] = body
		a.drawTable(a.xt, body, a.focus == paneList, "no exchanges")
		return
	}
	a.selectExchange()
	listH := max(3, body.h*3/10)
	if a.focus != paneList {
		listH = max(3, body.h/5)
	}
	list := rect{body.x, body.y, body.w, listH}
	a.areas[paneList] = list
	a.drawTable(a.xt, list, a.focus == paneList, "no exchanges")
	if a.cur == nil {
		return
	}
	y := body.y + listH
	a.drawSummaryLine(rect{body.x, y, body.w, 1})
	y++
	rest := body.y + body.h - y
	// The frames and hex panes get the rows they need, up to 45%; the
	// legs get the rest.
	bytes := 0
	if f := a.hexFocus(); f.ok {
		if r := a.frames.get(int(f.key.file), int(f.key.num)); r != nil {
			bytes = int(r.data)
		}
	}
	need := max(len(a.flines), (bytes+15)/16) + 1
	if body.w < 110 {
		need = min(len(a.flines)+1, max(2, rest/6)) + (bytes+15)/16 + 1
	}
	bottomH := clamp(need, min(6, rest/3), rest*45/100)
	legsH := rest - bottomH
	if bottomH < 4 {
		legsH = rest
	}
	legs := rect{body.x, y, body.w, legsH}
	a.areas[paneLegs] = legs
	a.drawLegs(legs)
	bottom := rect{body.x, y + legsH, body.w, rest - legsH}
	if bottom.h < 4 {
		return
	}
	if bottom.w >= 110 {
		// The hex pane gets room for 16 bytes a row.
		fw := max(bottom.w*2/5, bottom.w-hexWidth(16)-1)
		a.areas[paneFrames] = rect{bottom.x, bottom.y, fw, bottom.h}
		a.areas[paneHex] = rect{bottom.x + fw + 1, bottom.y, bottom.w - fw - 1, bottom.h}
		for i := 0; i < bottom.h; i++ {
			a.s.SetContent(bottom.x+fw, bottom.y+i, '│', nil, stDim)
		}
	} else {
		fh := clamp(len(a.flines)+1, 2, max(2, bottom.h/3))
		if a.focus == paneFrames {
			fh = clamp(len(a.flines)+1, 2, max(2, bottom.h/2))
		}
		a.areas[paneFrames] = rect{bottom.x, bottom.y, bottom.w, fh}
		a.areas[paneHex] = rect{bottom.x, bottom.y + fh, bottom.w, bottom.h - fh}
	}
	a.drawFrames(a.areas[paneFrames])
	a.drawHex(a.areas[paneHex])
}

// drawSummaryLine shows the selected exchange in one line, with its
// findings.
func (a *App) drawSummaryLine(r rect) {
	x := a.cur
	sp := []span{{" " + x.ID + " ", stTitleOn}, {" " + x.Method + " " + x.URI, stDefault}}
	if x.Code != "" {
		sp = append(sp, span{" → " + x.Code, stDefault})
	}
	sp = append(sp, span{"  " + string(x.Status), stDim}, span{"  " + protection(x), stDim})
	if x.RTT.Valid {
		sp = append(sp, span{"  rtt " + fmtDur(x.RTT.D), stDim})
	}
	if n := a.xs.findings[x.ID]; n > 0 {
		var ids []string
		for _, f := range a.fs.rows {
			if f.Exchange == x.ID && len(ids) < 3 {
				ids = append(ids, f.Threat+" "+f.Rule)
			}
		}
		more := ""
		if n > len(ids) {
			more = ", …"
		}
		word := " findings: "
		if n == 1 {
			word = " finding: "
		}
		sp = append(sp, span{"  " + strconv.Itoa(n) + word + strings.Join(ids, ", ") + more, stHigh})
	}
	putSpans(a.s, r.x, r.y, r.w, sp, stDefault, nil)
}

// paneTitle paints a pane's title line.
func (a *App) paneTitle(r rect, p pane, sp ...span) {
	st := stTitle
	if a.focus == p {
		st = stTitleOn
	}
	sp[0].st = st
	putSpans(a.s, r.x, r.y, r.w, sp, stDefault, nil)
}

// legsSideBySide says whether the legs fit side by side in width w.
func (a *App) legsSideBySide(w int) bool {
	n := len(a.legs)
	return n <= 1 || (w-(n-1))/n >= 30
}

func (a *App) legWidth(w int) int {
	n := max(1, len(a.legs))
	return (w - (n - 1)) / n
}

func (a *App) drawLegs(r rect) {
	prof := profileFor(a.cfg.Profile, a.cur)
	title := " legs "
	if !a.legsSideBySide(r.w) {
		title = " leg " + strconv.Itoa(a.legCol+1) + "/" + strconv.Itoa(len(a.legs)) + " (h/l) "
	}
	a.paneTitle(r, paneLegs, span{title, stDefault},
		span{" ", stDefault}, span{"P", stProtected}, span{" protected  ", stDim},
		span{"X", stExposed}, span{" exposed to the proxy  ", stDim},
		span{"!", stShould}, span{" should be protected (" + prof.String() + ")", stDim})
	rows := r.h - 1
	a.pageRows[paneLegs] = rows
	if len(a.legs) == 0 {
		return
	}
	a.legCol = clamp(a.legCol, 0, len(a.legs)-1)
	// Rows show the leg titles, then the lines: row v shows line v-1, and
	// legTop is the first row shown.
	if v := a.legRow + 1; v < a.legTop {
		a.legTop = v
	} else if v >= a.legTop+rows {
		a.legTop = v - rows + 1
	}
	if a.legRow == 0 {
		a.legTop = 0
	}
	cols := []int{a.legCol}
	cw := r.w
	if a.legsSideBySide(r.w) {
		cols = cols[:0]
		for i := range a.legs {
			cols = append(cols, i)
		}
		cw = a.legWidth(r.w)
	}
	for k, c := range cols {
		x := r.x + k*(cw+1)
		col := a.legs[c]
		for i := 0; i < rows; i++ {
			y := r.y + 1 + i
			li := a.legTop + i - 1
			if k > 0 {
				a.s.SetContent(x-1, y, '│', nil, stDim)
			}
			if li == -1 {
				putPad(a.s, x, y, cw, col.title, stHeader, false)
				continue
			}
			if li < 0 || li >= len(col.lines) {
				continue
			}
			var over *tcell.Style
			if c == a.legCol && li == a.legRow {
				st := stCursorOff
				if a.focus == paneLegs {
					st = stCursorOn
				}
				over = &st
			}
			putSpans(a.s, x, y, cw, col.lines[li].spans, stDefault, over)
		}
	}
}

func (a *App) drawFrames(r rect) {
	count := " " + strconv.Itoa(len(a.cur.Frames))
	if a.cur.FramesOmitted > 0 {
		count += " (" + strconv.Itoa(a.cur.FramesOmitted) + " more not listed)"
	}
	a.paneTitle(r, paneFrames, span{" frames ", stDefault}, span{count, stDim})
	rows := r.h - 1
	a.pageRows[paneFrames] = rows
	a.frameSel = clamp(a.frameSel, 0, max(0, len(a.flines)-1))
	if a.frameSel < a.frameTop {
		a.frameTop = a.frameSel
	}
	if a.frameSel >= a.frameTop+rows {
		a.frameTop = a.frameSel - rows + 1
	}
	for i := 0; i < rows && a.frameTop+i < len(a.flines); i++ {
		st := stDefault
		if a.frameTop+i == a.frameSel && a.hexFrom == paneFrames {
			st = stCursorOff
			if a.focus == paneFrames {
				st = stCursorOn
			}
		}
		putPad(a.s, r.x, r.y+1+i, r.w, a.flines[a.frameTop+i].text, st, false)
	}
}

func (a *App) drawHex(r rect) {
	bpr := 16
	if r.w < hexWidth(16) {
		bpr = 8
	}
	rows, mark, title := a.hexView(a.hexFocus(), bpr)
	a.paneTitle(r, paneHex, span{" hex ", stDefault}, span{" " + title, stDim})
	n := r.h - 1
	a.pageRows[paneHex] = n
	if a.hexFollow && mark >= 0 {
		if mark < a.hexTop || mark >= a.hexTop+n {
			a.hexTop = max(0, mark-n/3)
		}
	}
	a.hexTop = clamp(a.hexTop, 0, max(0, len(rows)-n))
	for i := 0; i < n && a.hexTop+i < len(rows); i++ {
		putSpans(a.s, r.x, r.y+1+i, r.w, rows[a.hexTop+i], stDefault, nil)
	}
}

// hexWidth is the width of a hex row of bpr bytes: offset, bytes, text.
func hexWidth(bpr int) int { return 4 + 2 + bpr*3 + 1 + bpr }

func (a *App) drawStatus(w, y int) {
	s := a.s
	t := a.current()
	if a.editing {
		sp := []span{{"/", stBar}, {a.input, stDefault}, {"█", stDefault},
			{"   Enter keep · Esc clear · " + strconv.Itoa(len(t.view)) + " of " + strconv.Itoa(t.src.count()), stDim}}
		if t.exprErr != "" {
			sp = append(sp, span{"  expression: " + t.exprErr, stError})
		}
		putSpans(s, 0, y, w, sp, stDefault, nil)
		return
	}
	var sp []span
	if e := a.errorText(); e != "" {
		sp = append(sp, span{e + "  ", stError})
	}
	if t.filter != "" {
		sp = append(sp, span{"filter: " + t.filter + " (" + strconv.Itoa(len(t.view)) + "/" + strconv.Itoa(t.src.count()) + ")  ", stMedium})
	}
	sp = append(sp, span{"sort: " + t.cols[t.sortCol].title + t.arrow() + "  ", stDim})
	sp = append(sp, span{"?", stHeader}, span{" help  ", stDim}, span{"q", stHeader}, span{" quit  ", stDim},
		span{"/", stHeader}, span{" filter  ", stDim}, span{"s", stHeader}, span{" sort  ", stDim},
		span{"Enter", stHeader}, span{" detail  ", stDim}, span{"Tab", stHeader}, span{" pane", stDim})
	putSpans(s, 0, y, w, sp, stDefault, nil)
}

var helpText = []string{
	"coapaudit view",
	"",
	"  j k ↑ ↓        move the cursor",
	"  PgUp PgDn      page up, down (also Ctrl-B Ctrl-F, space)",
	"  g G Home End   first, last row",
	"  h l ← →        previous, next leg (legs pane)",
	"  Enter          open or close the exchange's detail;",
	"                 on a finding, go to its exchange",
	"  Tab Shift-Tab  next, previous pane",
	"  1 2 3          exchanges, findings, leaks",
	"  /              filter rows by text, or by an expression as --filter",
	"                 takes it: severity >= \"medium\" (Enter keeps, Esc clears)",
	"  s S            sort by the next column, reverse the order",
	"  Esc            clear the filter, close the detail",
	"  ?              this help",
	"  q Ctrl-C       quit",
	"",
	"  Markers:  P protected by OSCORE   X exposed to the proxy",
	"            ! should be protected by the profile",
	"  The mouse selects rows, tabs and panes; the wheel scrolls.",
}

func (a *App) drawHelp(w, h int) {
	bw := 0
	for _, l := range helpText {
		bw = max(bw, textWidth(l))
	}
	a.drawBox(w, h, min(bw+4, w), helpText)
}

// drawBox draws lines in a box bw cells wide, centred on the w×h screen,
// the first line bold; lines past the screen's height are left out.
func (a *App) drawBox(w, h, bw int, lines []string) {
	bh := min(len(lines)+2, h)
	x0, y0 := (w-bw)/2, max(0, (h-bh)/2)
	for i := 0; i < bh; i++ {
		fill(a.s, x0, y0+i, bw, stHelp)
	}
	for i, l := range lines {
		if i+1 >= bh-1 {
			break
		}
		st := stHelp
		if i == 0 {
			st = stHelp.Bold(true)
		}
		put(a.s, x0+2, y0+1+i, bw-4, l, st)
	}
}

// drawNote draws a.note in a box over the screen: the first line bold,
// each later one wrapped to the box, so that a long text is read whole.
func (a *App) drawNote(w, h int) {
	bw := min(w, 80)
	var lines []string
	for i, p := range a.note {
		if i == 0 || p == "" {
			lines = append(lines, p)
			continue
		}
		lines = append(lines, human.Wrap(p, bw-4, 0)...)
	}
	a.drawBox(w, h, bw, lines)
}
