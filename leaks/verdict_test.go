package leaks

import "testing"

func TestVerdicts(t *testing.T) {
	tb := tableOf([]string{"GET /actuators/valve", "PUT /actuators/valve", "GET /sensors/temp"}, []uint64{20, 27, 40},
		[][]int{{30, 0, 0}, {0, 30, 0}, {0, 0, 30}})
	advice := AdvisePadding(tb, PaddingOptions{MI: Options{Seed: 1}})
	got := Verdicts(tb, advice, VerdictOptions{Group: ByResource})
	// Bucketing with two labels per bucket pads all three to 40 bytes:
	// 33 of 87 bytes, 38%; within the valve group one size is left.
	want := []string{"GET /actuators/valve and PUT /actuators/valve are told apart by size with 100% accuracy (50% by guessing); " +
		"padding to optimal buckets of at least 2 labels costs 38% and leaves 0 bits."}
	if len(got) != 1 || got[0] != want[0] {
		t.Errorf("got  %q\nwant %q", got, want)
	}

	// Without the bucket schemes nothing removes the leak; the best of the
	// rest is named with what it leaves: 16-byte blocks give 32, 32 and 48
	// (25 of 87 bytes, 29%), and the sizes still tell the resource apart:
	// H(2/3, 1/3) plus the Miller-Madow term 1/(2*90 ln 2), 0.93 bits.
	advice = AdvisePadding(tb, PaddingOptions{Schemes: []Scheme{Block(8), Block(16)}, MI: Options{Seed: 1}})
	got = Verdicts(tb, advice, VerdictOptions{})
	want = []string{"GET /actuators/valve, GET /sensors/temp and PUT /actuators/valve are told apart by size with 100% accuracy (33% by guessing); " +
		"no padding scheme tried removes the leak, the best, padding to 16-byte blocks costs 29% and leaves 0.93 bits."}
	if len(got) != 1 || got[0] != want[0] {
		t.Errorf("got  %q\nwant %q", got, want)
	}
}

func TestVerdictNotApart(t *testing.T) {
	tb := tableOf([]string{"GET /a", "PUT /a"}, []uint64{10, 20}, [][]int{{50, 50}, {50, 50}})
	got := Verdicts(tb, nil, VerdictOptions{Group: ByResource, Observable: "response size"})
	if want := "GET /a and PUT /a are not told apart by response size."; len(got) != 1 || got[0] != want {
		t.Errorf("%q", got)
	}
	// One exchange each: unique sizes, but nothing to learn from.
	tb = tableOf([]string{"GET /a", "PUT /a"}, []uint64{10, 20}, [][]int{{1, 0}, {0, 1}})
	got = Verdicts(tb, nil, VerdictOptions{Group: ByResource})
	if want := "GET /a and PUT /a may be told apart by size: 100% of these 2 are, too few to tell."; len(got) != 1 || got[0] != want {
		t.Errorf("%q", got)
	}
}

func TestVerdictFormatting(t *testing.T) {
	if got := nameList([]string{"a", "b", "c", "d", "e", "f"}, 4); got != "a, b, c, d and 2 more" {
		t.Error(got)
	}
	for _, c := range []struct {
		p    float64
		want string
	}{{1, "100%"}, {0.996, "over 99%"}, {0.5, "50%"}, {0.754, "75%"}} {
		if got := percent(c.p); got != c.want {
			t.Errorf("percent(%v) = %q", c.p, got)
		}
	}
	if got := percentRange(0.75, 1); got != "75-100%" {
		t.Error(got)
	}
	for _, c := range []struct {
		b    float64
		want string
	}{{0, "0 bits"}, {0.3, "0.3 bits"}, {0.0123, "0.012 bits"}, {2.5333, "2.5 bits"}} {
		if got := bitsText(c.b); got != c.want {
			t.Errorf("bitsText(%v) = %q", c.b, got)
		}
	}
	if overhead(0.42) != "0.4%" || overhead(9.4) != "9%" {
		t.Error(overhead(0.42), overhead(9.4))
	}
	if ByResource("GET /a/b") != "/a/b" || ByResource("x") != "x" {
		t.Error("ByResource")
	}
}
