package tui

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/gdamore/tcell/v2"

	"github.com/coapaudit/coapaudit/analysis"
	"github.com/coapaudit/coapaudit/flows"
	"github.com/coapaudit/coapaudit/internal/human"
	"github.com/coapaudit/coapaudit/rules"
)

// Config configures the viewer.
type Config struct {
	// Title names the input in the top bar (file names, interface).
	Title string
	// Profile is the protection level option markers are held to.
	Profile rules.Profile
	// Live says the input is a live capture: the lists follow new rows,
	// and when a cap is reached the oldest rows are forgotten rather
	// than the newest.
	Live bool
	// MaxExchanges, MaxFindings and MaxFrames (per capture file) bound
	// what is kept (defaults 500,000, 100,000 and 2,000,000); the rest is
	// counted.
	MaxExchanges, MaxFindings, MaxFrames int
	// MemBytes is how much frame data is held in memory (default 4 MiB;
	// the exchange records get an eighth of it, at least 2 MiB);
	// older frame data goes to a temporary file in TempDir of at most
	// DiskBytes (default 2 GiB; negative: none), and beyond that is
	// dropped.
	MemBytes, DiskBytes int64
	TempDir             string
	// Filter is the filter the lists start with (view --filter): an
	// expression over record fields, as '/' takes it.
	Filter string
	// Progress, when set, says how many bytes of the input were read
	// and how many there are (total 0 when unknown); the top bar shows
	// it while loading. It is called on the UI goroutine and must be
	// safe to call while the loader reads.
	Progress func() (read, total int64)
}

func (c *Config) defaults() {
	if c.MaxExchanges <= 0 {
		c.MaxExchanges = 500_000
	}
	if c.MaxFindings <= 0 {
		c.MaxFindings = 100_000
	}
	if c.MaxFrames <= 0 {
		c.MaxFrames = 2_000_000
	}
	if c.MemBytes <= 0 {
		c.MemBytes = 4 << 20
	}
	switch {
	case c.DiskBytes == 0:
		c.DiskBytes = 2 << 30
	case c.DiskBytes < 0:
		c.DiskBytes = 0
	}
}

// Run shows the viewer on s until the user quits or ctx is cancelled.
// load runs on its own goroutine and feeds the viewer; the screen stays
// responsive while it reads. Run initialises s and always finalises it,
// also when it panics, so the terminal is restored. It returns load's
// error, if load finished with one.
func Run(ctx context.Context, s tcell.Screen, cfg Config, load LoadFunc) error {
	return newApp(s, cfg).run(ctx, load)
}

// pane is a part of the screen that takes the keyboard.
type pane int

const (
	paneList pane = iota
	paneLegs
	paneFrames
	paneHex
	paneFindings
	paneLeaks
	paneCount
)

// Tabs.
const (
	tabExchanges = iota
	tabFindings
	tabLeaks
)

// App is the viewer's state. Everything in it belongs to the UI
// goroutine; the loader only shares the byte store, which locks.
type App struct {
	s     tcell.Screen
	cfg   Config
	store *byteStore
	// xstore keeps the JSON records of the exchanges.
	xstore *byteStore
	cache  *frameCache

	frames frames
	xs     *exchanges
	xt     *table
	fs     *findingRows
	ft     *table
	ls     *leakRows
	lt     *table

	tab    int
	focus  pane
	detail bool
	help   bool
	// note, when not empty, is a text shown over the screen until a key
	// closes it: a finding in full.
	note []string
	// editing is set while a filter is typed after '/'.
	editing bool
	input   string

	// The selected exchange and its detail state.
	cur       *flows.Exchange
	curRef    blobRef // where cur's record is
	legs      []legCol
	legCol    int
	legRow    int
	legTop    int
	flines    []frameLine
	frameSel  int
	frameTop  int
	hexTop    int
	hexFrom   pane // paneLegs or paneFrames: which one the hex pane follows
	hexFollow bool // scroll the hex pane to the marked bytes
	hexLast   focusRef

	// Loading state.
	read      int
	done      bool
	loadErr   error
	summary   *analysis.Summary
	drops     uint64
	xDropped  int
	fDropped  int
	data      <-chan *batch
	loaded    chan struct{}
	afterDraw []func()

	// skipFrames tells the loader that frames are no longer kept: the
	// exchange list of a capture file is full, so the exchanges the
	// frames to come belong to will not be kept.
	skipFrames atomic.Bool
	// applied, when set, is called after each batch is taken in.
	applied func()

	quit     bool
	buttons  tcell.ButtonMask
	areas    [paneCount]rect
	tabAreas [3]rect
	pageRows [paneCount]int
}

func newApp(s tcell.Screen, cfg Config) *App {
	cfg.defaults()
	a := &App{
		s:       s,
		cfg:     cfg,
		store:   newByteStore(cfg.MemBytes, cfg.DiskBytes, cfg.TempDir),
		xstore:  newByteStore(cfg.MemBytes/8, cfg.DiskBytes, cfg.TempDir),
		cache:   newFrameCache(256),
		fs:      &findingRows{},
		ls:      &leakRows{},
		loaded:  make(chan struct{}),
		hexFrom: paneLegs,
	}
	a.xs = newExchanges(a.xstore)
	a.frames = frames{max: cfg.MaxFrames, keepNewest: cfg.Live, store: a.store}
	a.xt = newTable(a.xs, exchangeCols, xcID)
	a.ft = newTable(a.fs, findingCols, fcID)
	a.lt = newTable(a.ls, leakCols, lcMetric)
	if cfg.Live {
		a.xt.follow, a.ft.follow = true, true
	}
	if cfg.Filter != "" {
		for _, t := range []*table{a.xt, a.ft, a.lt} {
			t.setFilter(cfg.Filter)
		}
		a.input = cfg.Filter
	}
	return a
}

func (a *App) run(ctx context.Context, load LoadFunc) error {
	lctx, cancel := context.WithCancel(ctx)
	data := make(chan *batch, 2)
	a.data = data
	var wg sync.WaitGroup
	// Registered first, so it runs after the screen is finalised: the
	// terminal is restored at once, then the loader is waited for.
	defer func() {
		cancel()
		wg.Wait()
		a.store.close()
		a.xstore.close()
	}()
	if err := a.s.Init(); err != nil {
		return err
	}
	defer a.s.Fini()
	// For terminals without these characters.
	for r, f := range map[rune]string{'✓': "+", '✗': "x", '→': ">", '↑': "^", '↓': "v", '█': "_", '·': ".", '…': "~"} {
		a.s.RegisterRuneFallback(r, f)
	}
	a.s.EnableMouse()
	a.s.HideCursor()
	wg.Add(1)
	go func() {
		defer wg.Done()
		runLoader(lctx, data, a.store, a.xstore, &a.skipFrames, load)
	}()
	events := make(chan tcell.Event, 64)
	stop := make(chan struct{})
	go a.s.ChannelEvents(events, stop)
	defer close(stop)

	a.draw()
	for !a.quit {
		select {
		case ev, ok := <-events:
			if !ok {
				return a.loadErr
			}
			a.event(ev)
		case b := <-a.data:
			a.apply(b)
		case <-ctx.Done():
			return a.loadErr
		}
		// Take in whatever else is waiting before drawing once.
	drain:
		for i := 0; i < 64 && !a.quit; i++ {
			select {
			case ev, ok := <-events:
				if !ok {
					break drain
				}
				a.event(ev)
			case b := <-a.data:
				a.apply(b)
			default:
				break drain
			}
		}
		if a.quit {
			break
		}
		a.draw()
		for _, f := range a.afterDraw {
			f()
		}
		a.afterDraw = a.afterDraw[:0]
	}
	return a.loadErr
}

// apply takes in a batch from the loader.
func (a *App) apply(b *batch) {
	a.read = b.read
	if a.xs.first == 0 {
		a.xs.first = b.first
	}
	for _, r := range b.frames {
		a.frames.add(r)
	}
	for _, x := range b.exchanges {
		if a.xs.count() >= a.cfg.MaxExchanges {
			if !a.cfg.Live {
				a.xDropped++
				a.skipFrames.Store(true)
				continue
			}
			k := max(1, a.cfg.MaxExchanges/10)
			a.xs.dropFront(k)
			a.xt.dropFront(k)
			a.xDropped += k
		}
		a.xs.add(x)
	}
	for _, f := range b.findings {
		if len(a.fs.rows) >= a.cfg.MaxFindings {
			a.fDropped++
			continue
		}
		a.fs.add(f)
		if f.Exchange != "" {
			a.xs.findings[f.Exchange]++
		}
	}
	if len(b.findings) > 0 && a.xt.sortCol == xcFindings {
		a.xt.resort()
	}
	for _, l := range b.leaks {
		a.ls.add(l)
	}
	if b.summary != nil {
		a.summary = b.summary
	}
	if b.drops > 0 {
		a.drops = b.drops
	}
	if b.done {
		a.done = true
		a.loadErr = b.err
		a.data = nil
		close(a.loaded)
	}
	if a.applied != nil {
		a.applied()
	}
}

// event handles one terminal event.
func (a *App) event(ev tcell.Event) {
	switch ev := ev.(type) {
	case *tcell.EventKey:
		a.key(ev)
	case *tcell.EventMouse:
		a.mouse(ev)
	case *tcell.EventResize:
		a.s.Sync()
	case *tcell.EventInterrupt:
		// A function to run once what came before it is drawn.
		if f, ok := ev.Data().(func()); ok {
			a.afterDraw = append(a.afterDraw, f)
		}
	}
}

// current returns the table of the tab shown.
func (a *App) current() *table {
	switch a.tab {
	case tabFindings:
		return a.ft
	case tabLeaks:
		return a.lt
	}
	return a.xt
}

func (a *App) key(ev *tcell.EventKey) {
	if ev.Key() == tcell.KeyCtrlC {
		a.quit = true
		return
	}
	if a.editing {
		a.editKey(ev)
		return
	}
	if a.help || a.note != nil {
		switch ev.Key() {
		case tcell.KeyEscape, tcell.KeyEnter:
			a.help, a.note = false, nil
		case tcell.KeyRune:
			if r := ev.Rune(); r == '?' || r == 'q' {
				a.help, a.note = false, nil
			}
		}
		return
	}
	page := max(1, a.pageRows[a.focus]-1)
	switch ev.Key() {
	case tcell.KeyTab:
		a.cycleFocus(1)
	case tcell.KeyBacktab:
		a.cycleFocus(-1)
	case tcell.KeyEnter:
		a.enter()
	case tcell.KeyEscape:
		switch {
		case a.current().filter != "":
			a.input = ""
			a.current().setFilter("")
		case a.detail && a.tab == tabExchanges:
			a.detail, a.focus = false, paneList
		}
	case tcell.KeyUp:
		a.move(-1)
	case tcell.KeyDown:
		a.move(1)
	case tcell.KeyPgUp, tcell.KeyCtrlB:
		a.move(-page)
	case tcell.KeyPgDn, tcell.KeyCtrlF:
		a.move(page)
	case tcell.KeyCtrlU:
		a.move(-page / 2)
	case tcell.KeyCtrlD:
		a.move(page / 2)
	case tcell.KeyHome:
		a.move(-1 << 30)
	case tcell.KeyEnd:
		a.move(1 << 30)
	case tcell.KeyLeft:
		a.side(-1)
	case tcell.KeyRight:
		a.side(1)
	case tcell.KeyRune:
		switch ev.Rune() {
		case 'q':
			a.quit = true
		case 'j':
			a.move(1)
		case 'k':
			a.move(-1)
		case 'h':
			a.side(-1)
		case 'l':
			a.side(1)
		case 'g':
			a.move(-1 << 30)
		case 'G':
			a.move(1 << 30)
		case ' ':
			a.move(page)
		case '/':
			a.editing = true
			a.input = a.current().filter
		case '?':
			a.help = true
		case 's':
			a.current().cycleSort(false)
		case 'S':
			a.current().cycleSort(true)
		case '1':
			a.showTab(tabExchanges)
		case '2':
			a.showTab(tabFindings)
		case '3':
			a.showTab(tabLeaks)
		}
	}
}

// editKey edits the filter: it applies as it is typed.
func (a *App) editKey(ev *tcell.EventKey) {
	t := a.current()
	switch ev.Key() {
	case tcell.KeyEnter:
		a.editing = false
	case tcell.KeyEscape:
		a.editing = false
		a.input = ""
	case tcell.KeyBackspace, tcell.KeyBackspace2:
		if a.input == "" {
			a.editing = false
		}
		if r := []rune(a.input); len(r) > 0 {
			a.input = string(r[:len(r)-1])
		}
	case tcell.KeyCtrlU:
		a.input = ""
	case tcell.KeyRune:
		a.input += string(ev.Rune())
	default:
		return
	}
	t.setFilter(a.input)
}

func (a *App) showTab(tab int) {
	a.tab = tab
	switch tab {
	case tabExchanges:
		a.focus = paneList
	case tabFindings:
		a.focus = paneFindings
	case tabLeaks:
		a.focus = paneLeaks
	}
	a.input = a.current().filter
}

// panes returns the panes Tab goes through, in order.
func (a *App) panes() []pane {
	p := []pane{paneList}
	if a.detail {
		p = append(p, paneLegs, paneFrames, paneHex)
	}
	return append(p, paneFindings, paneLeaks)
}

func (a *App) cycleFocus(d int) {
	ps := a.panes()
	i := 0
	for j, p := range ps {
		if p == a.focus {
			i = j
		}
	}
	a.setFocus(ps[(i+d+len(ps))%len(ps)])
}

func (a *App) setFocus(p pane) {
	a.focus = p
	switch p {
	case paneFindings:
		a.tab = tabFindings
	case paneLeaks:
		a.tab = tabLeaks
	default:
		a.tab = tabExchanges
	}
	if p == paneLegs || p == paneFrames {
		a.hexFrom, a.hexFollow = p, true
	}
	a.input = a.current().filter
}

// enter opens or closes the detail of the selected exchange, or, on a
// finding, shows its exchange.
func (a *App) enter() {
	switch a.focus {
	case paneList:
		a.detail = !a.detail && a.xt.selected() >= 0
	case paneFindings:
		i := a.ft.selected()
		if i < 0 {
			return
		}
		f := a.fs.rows[i]
		if _, ok := a.xs.row(f.Exchange); ok {
			a.showExchange(f.Exchange, f.Frames)
			return
		}
		// No exchange to open: show the finding itself, in full.
		a.note = findingNote(f)
	}
}

// findingNote is a finding as the note box shows it: a heading, then the
// paragraphs that drawNote wraps.
func findingNote(f FindingRow) []string {
	head := f.ID + " · " + strings.ToUpper(f.Severity) + " · " + f.Threat + " · " + f.Rule
	note := []string{head, "", f.Message, ""}
	if len(f.Frames) > 0 {
		note = append(note, "Evidence frames: "+frameList(f.Frames))
	}
	if f.Exchange != "" {
		note = append(note, "Exchange "+f.Exchange+" (not kept)")
	} else {
		note = append(note, "About frames, not one exchange.")
	}
	if f.Seed != "" {
		note = append(note, "Seed §"+f.Seed)
	}
	return append(note, "", "Esc or Enter closes")
}

// showExchange selects exchange id in the list (clearing the filter if
// it hides it) and opens its detail on the first of frames.
func (a *App) showExchange(id string, frames []int) {
	row, ok := a.xs.row(id)
	if !ok {
		return
	}
	a.xt.sync()
	pos := -1
	for i, v := range a.xt.view {
		if v == row {
			pos = i
		}
	}
	if pos < 0 {
		a.xt.setFilter("")
		for i, v := range a.xt.view {
			if v == row {
				pos = i
			}
		}
	}
	a.xt.setCursor(pos)
	a.tab, a.detail = tabExchanges, true
	a.selectExchange()
	a.setFocus(paneFrames)
	if len(frames) > 0 {
		for i, fl := range a.flines {
			if fl.num == frames[0] {
				a.frameSel = i
			}
		}
	}
}

// move moves the cursor of the focused pane by d rows.
func (a *App) move(d int) {
	a.movePane(a.focus, d)
}

func (a *App) movePane(p pane, d int) {
	switch p {
	case paneList:
		a.xt.move(d)
	case paneFindings:
		a.ft.move(d)
	case paneLeaks:
		a.lt.move(d)
	case paneLegs:
		a.selectExchange()
		if a.legCol < len(a.legs) {
			a.legRow = clamp(a.legRow+d, 0, len(a.legs[a.legCol].lines)-1)
		}
		a.hexFrom, a.hexFollow = paneLegs, true
	case paneFrames:
		a.selectExchange()
		a.frameSel = clamp(a.frameSel+d, 0, len(a.flines)-1)
		a.hexFrom, a.hexFollow = paneFrames, true
	case paneHex:
		a.hexTop = max(0, a.hexTop+d)
		a.hexFollow = false
	}
}

// side moves between the legs of the legs pane.
func (a *App) side(d int) {
	if a.focus != paneLegs {
		return
	}
	a.selectExchange()
	if len(a.legs) == 0 {
		return
	}
	a.legCol = clamp(a.legCol+d, 0, len(a.legs)-1)
	a.legRow = clamp(a.legRow, 0, len(a.legs[a.legCol].lines)-1)
	a.hexFrom, a.hexFollow = paneLegs, true
}

func clamp(v, lo, hi int) int {
	if v > hi {
		v = hi
	}
	if v < lo {
		v = lo
	}
	return v
}

// selectExchange brings the detail state in line with the exchange under
// the list cursor.
func (a *App) selectExchange() {
	i := a.xt.selected()
	switch {
	case i < 0 && a.cur == nil:
		return
	case i >= 0 && a.cur != nil && a.curRef == a.xs.rows.at(i).ref && a.cur.ID == a.xs.id(i):
		return
	}
	var x *flows.Exchange
	if i >= 0 {
		x = a.xs.exchange(i)
		a.curRef = a.xs.rows.at(i).ref
	}
	a.cur = x
	a.legs, a.flines, a.hexLast = nil, nil, focusRef{}
	a.legCol, a.legRow, a.legTop = 0, 0, 0
	a.frameSel, a.frameTop, a.hexTop, a.hexFollow = 0, 0, 0, true
	if x == nil {
		return
	}
	a.legs = a.buildLegs(x)
	a.flines = a.frameLines(x)
	// Start on the header of the first request.
	if len(a.legs) > 0 {
		for j, l := range a.legs[0].lines {
			if l.ref.ok {
				a.legRow = j
				break
			}
		}
	}
}

// hexFocus is what the hex pane shows: the frame under the cursor of the
// frames pane, or the bytes of the line under the cursor of the legs
// pane; on a line about no bytes, what it showed before.
func (a *App) hexFocus() focusRef {
	var f focusRef
	switch {
	case a.hexFrom == paneFrames:
		if a.frameSel < len(a.flines) {
			if r := a.flines[a.frameSel].rec; r != nil {
				f = focusRef{key: r.key(), ok: true}
			}
		}
	case a.legCol < len(a.legs) && a.legRow < len(a.legs[a.legCol].lines):
		f = a.legs[a.legCol].lines[a.legRow].ref
	}
	if f.ok {
		a.hexLast = f
	}
	return a.hexLast
}

func (a *App) mouse(ev *tcell.EventMouse) {
	b := ev.Buttons()
	x, y := ev.Position()
	pressed := b&tcell.Button1 != 0 && a.buttons&tcell.Button1 == 0
	a.buttons = b
	target := pane(-1)
	for p := range paneCount {
		if a.areas[p].contains(x, y) {
			target = p
		}
	}
	switch {
	case b&tcell.WheelUp != 0:
		if target >= 0 {
			a.movePane(target, -1)
		}
	case b&tcell.WheelDown != 0:
		if target >= 0 {
			a.movePane(target, 1)
		}
	case pressed:
		for i, r := range a.tabAreas {
			if r.contains(x, y) {
				a.showTab(i)
				return
			}
		}
		if target < 0 || a.help || a.note != nil {
			a.help, a.note = false, nil
			return
		}
		a.setFocus(target)
		a.click(target, x, y)
	}
}

// click moves the cursor of pane p to the row at (x, y).
func (a *App) click(p pane, x, y int) {
	r := a.areas[p]
	row := y - r.y - 1 // below the header or title line
	if row < 0 {
		return
	}
	switch p {
	case paneList, paneFindings, paneLeaks:
		t := a.tableOf(p)
		t.sync()
		if i := t.top + row; i < len(t.view) {
			t.setCursor(i)
		}
	case paneLegs:
		a.selectExchange()
		n := len(a.legs)
		if n == 0 {
			return
		}
		if cw := a.legWidth(r.w); cw > 0 && n > 1 && a.legsSideBySide(r.w) {
			a.legCol = clamp((x-r.x)/(cw+1), 0, n-1)
		}
		a.legRow = clamp(a.legTop+row-1, 0, len(a.legs[a.legCol].lines)-1)
		a.hexFrom, a.hexFollow = paneLegs, true
	case paneFrames:
		a.selectExchange()
		if i := a.frameTop + row; i < len(a.flines) {
			a.frameSel = i
			a.hexFrom, a.hexFollow = paneFrames, true
		}
	}
}

func (a *App) tableOf(p pane) *table {
	switch p {
	case paneFindings:
		return a.ft
	case paneLeaks:
		return a.lt
	}
	return a.xt
}

// statusFit is the right side of the top bar in at most w cells: the
// title, then the loading state. The title is cut first, so that the
// loading state and its progress stay readable.
func (a *App) statusFit(w int) string {
	st := a.loadState()
	if a.cfg.Title == "" || textWidth(st) >= w-4 {
		return human.Cut(st, w)
	}
	return human.Cut(a.cfg.Title, w-textWidth(st)-3) + " · " + st
}

// loadState says how much was read and what the loader is doing.
func (a *App) loadState() string {
	s := strconv.Itoa(a.read) + " frames"
	switch {
	case !a.done && a.cfg.Live:
		s += " · live"
	case !a.done:
		s += " · loading…" + a.progressText()
	}
	if a.drops > 0 {
		s += " · " + strconv.FormatUint(a.drops, 10) + " dropped by the kernel"
	}
	if a.xDropped > 0 {
		s += " · " + strconv.Itoa(a.xDropped) + " exchanges not kept"
	}
	if a.summary != nil && a.summary.Truncated {
		s += " · truncated"
	}
	return s
}

// progressText is how far the loader read, for the status line: " 45%"
// of a file, or " 12.3 MB" of an input of unknown size.
func (a *App) progressText() string {
	if a.cfg.Progress == nil {
		return ""
	}
	read, total := a.cfg.Progress()
	switch {
	case total > 0:
		return " " + strconv.FormatInt(min(100, read*100/total), 10) + "%"
	case read > 0:
		return " " + strconv.FormatFloat(float64(read)/1e6, 'f', 1, 64) + " MB"
	}
	return ""
}

// errorText is the load error for the status line.
func (a *App) errorText() string {
	if a.loadErr == nil {
		return ""
	}
	var fe interface{ Unwrap() []error }
	if errors.As(a.loadErr, &fe) && len(fe.Unwrap()) > 1 {
		return fe.Unwrap()[0].Error() + " (and more)"
	}
	return a.loadErr.Error()
}
