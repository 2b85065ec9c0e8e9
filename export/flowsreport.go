package export

import (
	"fmt"
	"io"
	"strconv"
	"strings"
	"text/tabwriter"

	"github.com/coapaudit/coapaudit/flows"
	"github.com/coapaudit/coapaudit/internal/human"
)

// WriteReportText writes the exchange tracker's report r for a terminal: totals, then the top entries of each
// table (all of them when top <= 0).
func WriteReportText(w io.Writer, r flows.Report, top int) error {
	return WriteReportTextWidth(w, r, top, 0)
}

// resourceNameMin is how far resource names shrink before columns of the
// resource table are left out.
const resourceNameMin = 28

// fitResources fits the resource table (head and rows, the name first)
// into width cells, 0 for any width: the RTT maximum, then the RTT 95th
// percentile and the answered count are left out while the names cannot
// keep resourceNameMin cells, then the names are shortened from their
// host side. It says which columns to keep.
func fitResources(head []string, rows [][]string, width int) []bool {
	keep := make([]bool, len(head))
	for i := range keep {
		keep[i] = true
	}
	if width <= 0 {
		return keep
	}
	colWidth := func(i int) int {
		w := human.Width(head[i])
		for _, r := range rows {
			w = max(w, human.Width(r[i]))
		}
		return w
	}
	others := func() int { // the cells beside the name, with the gaps and indent
		n := 2
		for i := 1; i < len(head); i++ {
			if keep[i] {
				n += colWidth(i) + 2
			}
		}
		return n
	}
	for _, i := range []int{6, 5, 2} {
		if width-others() >= min(resourceNameMin, colWidth(0)) {
			break
		}
		keep[i] = false
	}
	room := max(width-others(), resourceNameMin)
	for _, r := range rows {
		r[0] = human.URI(r[0], room)
	}
	return keep
}

// WriteReportTextWidth is WriteReportText for a terminal width cells wide (0 for
// any width): the resource table leaves out columns and shortens the
// resource names so that its lines fit.
func WriteReportTextWidth(w io.Writer, r flows.Report, top, width int) error {
	cut := func(n int) int {
		if top > 0 && n > top {
			return top
		}
		return n
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "exchanges\t%d\n", r.Exchanges)
	for _, s := range r.Statuses {
		fmt.Fprintf(tw, "  %s\t%d\n", s.Name, s.Count)
	}
	fmt.Fprintf(tw, "notifications\t%d\n", r.Notifications)
	for _, s := range r.Protected {
		fmt.Fprintf(tw, "protected %s\t%d\n", s.Name, s.Count)
	}
	for _, t := range []struct {
		name     string
		list     []flows.EndpointCount
		overflow int
	}{{"clients", r.Clients, r.Overflow.Clients}, {"proxies", r.Proxies, r.Overflow.Proxies}, {"servers", r.Servers, r.Overflow.Servers}} {
		if len(t.list) == 0 {
			continue
		}
		fmt.Fprintf(tw, "\n%s\texchanges\n", t.name)
		for _, e := range t.list[:cut(len(t.list))] {
			fmt.Fprintf(tw, "  %s\t%d\n", e.Addr, e.Exchanges)
		}
		if n := len(t.list) - cut(len(t.list)); n > 0 {
			fmt.Fprintf(tw, "  (%d more)\t\n", n)
		}
		if t.overflow > 0 {
			fmt.Fprintf(tw, "  (not counted: %d exchanges)\t\n", t.overflow)
		}
	}
	if len(r.Resources) > 0 {
		head := []string{"resource", "exchanges", "answered", "codes", "rtt median", "rtt p95", "rtt max"}
		rows := make([][]string, 0, cut(len(r.Resources)))
		for _, s := range r.Resources[:cut(len(r.Resources))] {
			codes := make([]string, len(s.Codes))
			for i, c := range s.Codes {
				codes[i] = fmt.Sprintf("%s:%d", c.Name, c.Count)
			}
			rows = append(rows, []string{s.Method + " " + s.URI, strconv.Itoa(s.Exchanges), strconv.Itoa(s.Answered),
				strings.Join(codes, " "), s.RTTMedian.String(), s.RTTP95.String(), s.RTTMax.String()})
		}
		keep := fitResources(head, rows, width)
		line := func(cells []string, indent string) {
			fmt.Fprint(tw, indent)
			for i, c := range cells {
				if !keep[i] {
					continue
				}
				if i > 0 {
					fmt.Fprint(tw, "\t")
				}
				fmt.Fprint(tw, c)
			}
			fmt.Fprint(tw, "\n")
		}
		fmt.Fprint(tw, "\n")
		line(head, "")
		for _, row := range rows {
			line(row, "  ")
		}
		if n := len(r.Resources) - cut(len(r.Resources)); n > 0 {
			fmt.Fprintf(tw, "  (%d more)\t\n", n)
		}
		if r.Overflow.Resources > 0 {
			fmt.Fprintf(tw, "  (not counted: %d exchanges)\t\n", r.Overflow.Resources)
		}
	}
	return tw.Flush()
}
