package tui

import (
	"net/netip"
	"testing"
	"time"

	"github.com/coapaudit/coapaudit/flows"
)

// TestExchangeRows checks the compact rows on their own: cells, IDs that
// are not "X" and a number, the lookup by ID after the oldest rows were
// forgotten, and the exchange rebuilt from the row when its record was
// not kept.
func TestExchangeRows(t *testing.T) {
	e := newExchanges(nil)
	start := time.Unix(100, 0)
	e.first = start.UnixNano()
	cl := netip.MustParseAddrPort("10.0.0.1:40000")
	for i, id := range []string{"X3", "X1", "Y7", "X02", "X2"} {
		x := &flows.Exchange{ID: id, Client: cl, Method: "GET", URI: "coap://s/a", Code: "2.05",
			Protected: "none", Status: flows.Observing, Notifications: i, Start: start.Add(time.Duration(i) * time.Second)}
		e.add(xrecOf(x))
	}
	for i, want := range []string{"X3", "X1", "Y7", "X02", "X2"} {
		if got := e.id(i); got != want {
			t.Errorf("row %d: id %q, want %q", i, got, want)
		}
		if r, ok := e.row(want); !ok || r != i {
			t.Errorf("row(%q) = %d, %v; want %d", want, r, ok, i)
		}
	}
	if _, ok := e.row("X7"); ok {
		t.Error("X7 found though only Y7 was added")
	}
	if got := e.cell(2, xcStatus); got != "observe (2)" {
		t.Errorf("status cell %q", got)
	}
	if got := e.cell(1, xcTime); got != "1.000000" {
		t.Errorf("time cell %q", got)
	}
	if got, want := e.cell(0, xcClient)+"|"+e.cell(0, xcProxy)+"|"+e.cell(0, xcProt), "10.0.0.1:40000||plain"; got != want {
		t.Errorf("cells %q, want %q", got, want)
	}
	x := e.exchange(4)
	if x.ID != "X2" || x.Client != cl || x.URI != "coap://s/a" || x.Status != flows.Observing || x.Notifications != 4 || !x.Start.Equal(start.Add(4*time.Second)) {
		t.Errorf("exchange from the row: %+v", x)
	}
	if e.fields(0) != nil {
		t.Error("fields of a row without a record")
	}
	e.dropFront(2)
	if _, ok := e.row("X3"); ok || e.count() != 3 {
		t.Errorf("after dropping two rows: %d rows, X3 still found: %v", e.count(), ok)
	}
	if r, ok := e.row("X2"); !ok || r != 2 || e.id(r) != "X2" {
		t.Errorf("row(X2) after the drop = %d, %v", r, ok)
	}
}
