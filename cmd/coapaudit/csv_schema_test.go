package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/coapaudit/coapaudit/export"
	"github.com/coapaudit/coapaudit/internal/testenv"
)

// schemaProps returns the properties of a JSON Schema object, or of the
// objects of an array schema.
func schemaProps(s map[string]any) map[string]any {
	if items, ok := s["items"].(map[string]any); ok {
		s = items
	}
	p, _ := s["properties"].(map[string]any)
	return p
}

// csvColumnField finds the record field a CSV column holds: a top-level
// property ("uri"), a field of an object or of the objects of a list
// flattened with '_' ("oscore_piv" is oscore.piv, "ci_lo" is ci.lo,
// "residence_request" is residence[].request), or a field of such an
// object named alone ("request_size" is legs[].request_size,
// "psk_identity" is dtls.psk_identity). It returns "" for none.
func csvColumnField(props map[string]any, col string) string {
	if _, ok := props[col]; ok {
		return col
	}
	for name, p := range props {
		sub := schemaProps(p.(map[string]any))
		if sub == nil {
			continue
		}
		if rest, ok := strings.CutPrefix(col, name+"_"); ok {
			if _, ok := sub[rest]; ok {
				return name + "." + rest
			}
		}
		if _, ok := sub[col]; ok {
			return name + "." + col
		}
	}
	return ""
}

// csvOnly are columns that hold a field of a JSON field that is not an
// object in the schema: leak outliers are extra.outliers (documented in
// the README per metric).
var csvOnly = map[string]string{"leak.outliers": "extra.outliers"}

// jsonOnly are record fields that CSV leaves out, with the reason.
var jsonOnly = map[string]string{
	"exchange.frames_omitted": "the frames column lists what was kept",
	"exchange.evicted":        "a state of the tracker, counted in the summary's evicted column",
	"exchange.open":           "exchanges still open at the end, counted in the summary",
	"leak.error":              "set only on estimators that failed, with value empty",
	"packet.more_coap":        "a frame's messages after the first; CSV has a row per frame",
	"exchange.frame_files":    "with several files, CSV names each frame file#frame in the frames column",
	"finding.frame_files":     "with several files, CSV names each frame file#frame in the frames column",
}

// TestCSVHeadersMatchSchemas checks every CSV column against the JSON
// Schema of its record type, and that every field of the schema is in the
// CSV, as a column or flattened into columns, or listed in jsonOnly.
func TestCSVHeadersMatchSchemas(t *testing.T) {
	headers := map[string][]string{
		"packet":   (&export.Packet{}).CSVHeader(),
		"exchange": export.Exchange{}.CSVHeader(),
		"finding":  export.Finding{}.CSVHeader(),
		"leak":     export.Leak{}.CSVHeader(),
		"summary":  (&export.Summary{}).CSVHeader(),
	}
	for _, typ := range recordTypes {
		b, err := os.ReadFile(filepath.Join(testenv.RepoRoot(), "docs", "schema", typ+".schema.json"))
		if err != nil {
			t.Fatal(err)
		}
		var schema map[string]any
		if err := json.Unmarshal(b, &schema); err != nil {
			t.Fatalf("%s schema: %v", typ, err)
		}
		props := schemaProps(schema)
		hdr := headers[typ]
		if len(hdr) == 0 {
			t.Errorf("%s: no CSV header", typ)
			continue
		}
		covered := map[string]bool{}
		seen := map[string]bool{}
		for _, col := range hdr {
			if seen[col] {
				t.Errorf("%s: column %q twice", typ, col)
			}
			seen[col] = true
			f := csvColumnField(props, col)
			if f == "" {
				if alias, ok := csvOnly[typ+"."+col]; ok {
					f = alias
				}
			}
			if f == "" {
				t.Errorf("%s CSV column %q is no field of docs/schema/%s.schema.json", typ, col, typ)
				continue
			}
			covered[strings.SplitN(f, ".", 2)[0]] = true
		}
		for name := range props {
			if _, ok := jsonOnly[typ+"."+name]; ok && covered[name] {
				t.Errorf("%s field %q is in jsonOnly but has a CSV column", typ, name)
			}
			if name == "type" || covered[name] {
				continue
			}
			if _, ok := jsonOnly[typ+"."+name]; !ok {
				t.Errorf("%s field %q has no CSV column", typ, name)
			}
		}
	}
}
