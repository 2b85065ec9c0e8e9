package filter

import (
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/coapaudit/coapaudit/internal/testenv"
)

var (
	exchange = FieldsOf([]byte(`{"type":"exchange","id":"X3","method":"GET","uri":"coap://127.0.0.22/sensors/temp","code":"2.05","proxy":"10.0.0.2:5683","status":"complete","frames":[7,8,9,10],"rtt":2.006}`))
	other    = FieldsOf([]byte(`{"type":"exchange","id":"X4","method":"PUT","uri":"coap://127.0.0.22/actuators/valve","code":"2.04","status":"complete","frames":[11,12]}`))
	high     = FieldsOf([]byte(`{"type":"finding","id":"F1","rule":"oscore-unverified","threat":"T1","severity":"high","frames":[5,6]}`))
	medium   = FieldsOf([]byte(`{"type":"finding","id":"F2","rule":"proxy-delay","threat":"T2","severity":"medium","frames":[7,8]}`))
	low      = FieldsOf([]byte(`{"type":"finding","id":"F3","rule":"psk-identity-clear","threat":"T5","severity":"low","frames":[1]}`))
	packet   = FieldsOf([]byte(`{"type":"packet","frame":6,"src":"127.0.0.22:5683","dst":"127.0.0.1:49064","proto":"coap","code":"2.04","mid":28071,"uri_path":"","oscore":{"verified":false}}`))
)

func TestMatch(t *testing.T) {
	records := map[string]map[string]any{"X3": exchange, "X4": other, "F1": high, "F2": medium, "F3": low, "frame6": packet}
	for _, tc := range []struct {
		expr string
		want []string
	}{
		{`uri contains "/sensors" && code == "2.05"`, []string{"X3"}},
		{`severity >= "medium"`, []string{"F1", "F2"}},
		{`severity > "low" && severity < "high"`, []string{"F2"}},
		{`"medium" <= severity`, []string{"F1", "F2"}},
		{`severity == "high"`, []string{"F1"}},
		{`severity != "high"`, []string{"F2", "F3"}},
		{`proxy == "10.0.0.2:5683"`, []string{"X3"}},
		{`type == "finding" || method == "PUT"`, []string{"F1", "F2", "F3", "X4"}},
		{`7 in frames`, []string{"F2", "X3"}},
		{`frame > 5 && oscore.verified == false`, []string{"frame6"}},
		{`mid == 28071`, []string{"frame6"}},
		{`rtt > 1`, []string{"X3"}},
		{`code startsWith "2."`, []string{"X3", "X4", "frame6"}},
	} {
		f, err := Compile(tc.expr)
		if err != nil {
			t.Errorf("%s: %v", tc.expr, err)
			continue
		}
		var got []string
		for _, id := range []string{"F1", "F2", "F3", "X3", "X4", "frame6"} {
			if f.Match(records[id]) {
				got = append(got, id)
			}
		}
		if strings.Join(got, ",") != strings.Join(tc.want, ",") {
			t.Errorf("%s: matched %v, want %v", tc.expr, got, tc.want)
		}
	}
}

func TestCompileErrorsNameTheColumn(t *testing.T) {
	for _, tc := range []struct{ expr, want string }{
		{`uri contains "/x" && cod == "2.05"`, "column 22: unknown field cod"},
		{`code == `, "column 8:"},
		{`code = "2.05"`, "column 6:"},
		{`severity >= "urgent"`, ""}, // compiles; matches nothing (checked below)
		{``, "empty filter"},
	} {
		_, err := Compile(tc.expr)
		if tc.want == "" {
			if err != nil {
				t.Errorf("%q: %v", tc.expr, err)
			}
			continue
		}
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q: error %v, want %q", tc.expr, err, tc.want)
		}
	}
	f, _ := Compile(`severity >= "urgent"`)
	if f.Match(high) {
		t.Error(`severity >= "urgent" matched`)
	}
}

func TestFieldsOfBadJSON(t *testing.T) {
	f, _ := Compile(`type == "packet"`)
	if f.Match(FieldsOf([]byte("{not json"))) {
		t.Error("a record that is not JSON matched")
	}
}

// TestFieldsAreTheRecordFields checks Fields against the JSON Schemas of
// the filtered record types.
func TestFieldsAreTheRecordFields(t *testing.T) {
	want := map[string]bool{}
	for _, typ := range []string{"packet", "exchange", "finding", "leak"} {
		b, err := os.ReadFile(filepath.Join(testenv.RepoRoot(), "docs", "schema", typ+".schema.json"))
		if err != nil {
			t.Fatal(err)
		}
		var s struct {
			Properties map[string]any `json:"properties"`
		}
		if err := json.Unmarshal(b, &s); err != nil {
			t.Fatal(err)
		}
		for p := range s.Properties {
			want[p] = true
		}
	}
	for p := range want {
		if !known[p] {
			t.Errorf("record field %s is not in Fields", p)
		}
	}
	for _, f := range Fields {
		if !want[f] {
			t.Errorf("Fields has %s, which no record has", f)
		}
	}
}

// TestNames checks the fields an expression is said to read: each once,
// not the functions it calls.
func TestNames(t *testing.T) {
	for src, want := range map[string][]string{
		`uri contains "/a" && code == "2.05" || uri == "x"`: {"uri", "code"},
		`len(legs) > 1 && upper(method) == "GET"`:           {"legs", "method"},
		`severity >= "medium"`:                              {"severity"},
	} {
		f, err := Compile(src)
		if err != nil {
			t.Fatalf("%s: %v", src, err)
		}
		got := slices.Clone(f.Names())
		slices.Sort(got)
		slices.Sort(want)
		if !slices.Equal(got, want) {
			t.Errorf("%s: names %v, want %v", src, got, want)
		}
	}
}
