package human

import (
	"strings"
	"testing"
)

func TestCount(t *testing.T) {
	for n, want := range map[int]string{0: "0", 999: "999", 1000: "1,000", 203040: "203,040", -1234567: "-1,234,567"} {
		if got := Count(n); got != want {
			t.Errorf("Count(%d) = %q, want %q", n, got, want)
		}
	}
}

func TestCounts(t *testing.T) {
	got := Counts(map[string]int{"message-ids": 12, "exchanges-early": 203040, "new-thing": 3})
	want := "203,040 exchanges early, 12 message IDs, 3 new thing"
	if got != want {
		t.Errorf("Counts = %q, want %q", got, want)
	}
}

func TestURI(t *testing.T) {
	for _, c := range []struct {
		in   string
		n    int
		want string
	}{
		{"coap://127.0.0.22/sensors/temp", 40, "coap://127.0.0.22/sensors/temp"},
		{"coap://gateway.example.net/sensors/temp", 30, "coap://gateway.e…/sensors/temp"},
		{"coap://gateway.example.net/sensors/temp", 24, "gateway.ex…/sensors/temp"},
		{"coap://127.0.0.22/sensors/temp", 20, "127.0.…/sensors/temp"},
		{"coap://127.0.0.22/sensors/temp", 29, "127.0.0.22/sensors/temp"},
		{"coap://gateway.example.net/sensors/temp", 14, "…/sensors/temp"},
		{"coap://gateway.example.net/sensors/temperature/outside", 14, "…ature/outside"},
		{"GET coap://gateway.example.net/sensors/temp", 28, "GET gateway.ex…/sensors/temp"},
		{"coap://a-very-long-host-name-without-path", 20, "coap://a-very-long-…"},
	} {
		got := URI(c.in, c.n)
		if got != c.want {
			t.Errorf("URI(%q, %d) = %q, want %q", c.in, c.n, got, c.want)
		}
		if Width(got) > c.n {
			t.Errorf("URI(%q, %d) = %q: %d cells", c.in, c.n, got, Width(got))
		}
	}
}

func TestWrap(t *testing.T) {
	s := "Proxy 127.0.0.22:5683 did send the client a response to GET coap://127.0.0.22/sensors/temp (frame 6) that the server never sent: it fails OSCORE verification."
	for _, width := range []int{40, 80, 120} {
		lines := Wrap(s, width, 4)
		for i, l := range lines {
			if Width(l) > width {
				t.Errorf("width %d: line %d has %d cells: %q", width, i, Width(l), l)
			}
			if i > 0 && !strings.HasPrefix(l, "    ") {
				t.Errorf("width %d: line %d not indented: %q", width, i, l)
			}
		}
		if got := strings.Join(strings.Fields(strings.Join(lines, " ")), " "); got != s {
			t.Errorf("width %d: words lost: %q", width, got)
		}
	}
	if got := Wrap("short", 80, 2); len(got) != 1 || got[0] != "short" {
		t.Errorf("Wrap(short) = %q", got)
	}
}
