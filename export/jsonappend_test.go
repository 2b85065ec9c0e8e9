package export

import (
	"encoding/json"
	"testing"
	"time"
)

func TestAppendStringMatchesEncodingJSON(t *testing.T) {
	for _, s := range []string{
		"", "plain", `quote " and \ backslash`, "ctl \x00\x01\x1f\x7f", "tab\tnl\nret\r",
		"utf-8 é ü 漢字 😀", "bad \xff\xfe utf-8", "\u2028\u2029", "<html>&amp;",
	} {
		got := appendString(nil, s)
		var back string
		if err := json.Unmarshal(got, &back); err != nil {
			t.Errorf("appendString(%q) = %s: not JSON: %v", s, got, err)
			continue
		}
		want, _ := json.Marshal(s)
		var wantBack string
		json.Unmarshal(want, &wantBack)
		if back != wantBack {
			t.Errorf("appendString(%q) decodes to %q, encoding/json's to %q", s, back, wantBack)
		}
		if b := appendString(nil, []byte(s)); string(b) != string(got) {
			t.Errorf("string and []byte forms differ for %q: %s vs %s", s, got, b)
		}
	}
}

func FuzzAppendString(f *testing.F) {
	f.Add("hello")
	f.Add("\xff\x00\"\\\u2028")
	f.Fuzz(func(t *testing.T, s string) {
		got := appendString(nil, s)
		var back string
		if err := json.Unmarshal(got, &back); err != nil {
			t.Fatalf("appendString(%q) = %s: not JSON: %v", s, got, err)
		}
		want, _ := json.Marshal(s)
		var wantBack string
		json.Unmarshal(want, &wantBack)
		if back != wantBack {
			t.Fatalf("appendString(%q) decodes to %q, encoding/json's to %q", s, back, wantBack)
		}
	})
}

func TestAppendTime(t *testing.T) {
	ts := time.Date(2026, 11, 26, 22, 1, 2, 3000, time.FixedZone("X", 3600))
	got := string(appendTime(nil, ts))
	if want := `"2026-11-26T21:01:02.000003000Z"`; got != want {
		t.Errorf("appendTime = %s, want %s", got, want)
	}
	var back time.Time
	if err := json.Unmarshal([]byte(got), &back); err != nil || !back.Equal(ts) {
		t.Errorf("appendTime output %s does not round-trip: %v %v", got, back, err)
	}
}

func TestTimeCacheMatchesLayout(t *testing.T) {
	var c TimeCache
	base := time.Date(2025, 12, 31, 23, 59, 58, 0, time.UTC)
	for _, d := range []time.Duration{0, 1, 999999999, time.Second, time.Second + 5, 2*time.Second + 123456789, -time.Hour} {
		ts := base.Add(d)
		if got, want := string(c.AppendTime(nil, ts)), ts.Format(timeLayout); got != want {
			t.Errorf("TimeCache.AppendTime(%v) = %s, want %s", ts, got, want)
		}
	}
}
