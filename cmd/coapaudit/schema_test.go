package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/santhosh-tekuri/jsonschema/v6"

	"github.com/coapaudit/coapaudit/internal/testenv"
)

// recordTypes are the record types of docs/CONTRACT.md, each with a schema in
// docs/schema/TYPE.schema.json.
var recordTypes = []string{"packet", "exchange", "finding", "leak", "summary"}

// loadSchemas compiles every record schema in docs/schema.
func loadSchemas(t *testing.T) map[string]*jsonschema.Schema {
	t.Helper()
	dir := filepath.Join(testenv.RepoRoot(), "docs", "schema")
	c := jsonschema.NewCompiler()
	c.DefaultDraft(jsonschema.Draft2020)
	out := make(map[string]*jsonschema.Schema)
	for _, typ := range recordTypes {
		path := filepath.Join(dir, typ+".schema.json")
		s, err := c.Compile(path)
		if err != nil {
			t.Fatalf("schema %s: %v", typ, err)
		}
		out[typ] = s
	}
	return out
}

// validateNDJSON checks every line of out against the schema its "type"
// names and counts the records by type.
func validateNDJSON(t *testing.T, name string, out []byte, schemas map[string]*jsonschema.Schema, seen map[string]int) {
	t.Helper()
	sc := bufio.NewScanner(bytes.NewReader(out))
	sc.Buffer(nil, 1<<26)
	line := 0
	for sc.Scan() {
		line++
		v, err := jsonschema.UnmarshalJSON(bytes.NewReader(sc.Bytes()))
		if err != nil {
			t.Fatalf("%s line %d: %v", name, line, err)
		}
		obj, _ := v.(map[string]any)
		typ, _ := obj["type"].(string)
		s := schemas[typ]
		if s == nil {
			t.Fatalf("%s line %d: record type %q has no schema", name, line, typ)
		}
		if err := s.Validate(v); err != nil {
			t.Errorf("%s line %d (%s): %v\n%s", name, line, typ, err, sc.Bytes())
			return
		}
		seen[typ]++
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	if line == 0 {
		t.Errorf("%s: no output", name)
	}
}

func TestNDJSONMatchesSchema(t *testing.T) {
	schemas := loadSchemas(t)
	keys := filepath.Join(testenv.SharedDir(t), "captures", "keys", "oscore_contexts")
	// Every shared capture: the proxies' captures, DTLS, OSCORE with keys,
	// fuzzed and raw inputs with malformed messages.
	files := testenv.Captures(t)
	for _, want := range []string{"libcoap-fwdproxy.pcap", "libcoap-dtls-proxy.pcap", "aiocoap-oscore-evilproxy.pcap",
		"fuzzcoap-conversation.pcapng", "raw-coap-inputs.pcap"} {
		if !slices.ContainsFunc(files, func(f string) bool { return filepath.Base(f) == want }) {
			t.Errorf("capture %s is missing", want)
		}
	}
	seen := make(map[string]int)
	for _, f := range files {
		for _, cmd := range []string{"packets", "analyze"} {
			var stdout, stderr bytes.Buffer
			args := []string{cmd, "--format", "ndjson", "--keys", keys, f}
			code := run(context.Background(), args, nil, &stdout, &stderr)
			if code != 0 {
				t.Fatalf("%s %s: exit %d: %s", cmd, f, code, stderr.String())
			}
			validateNDJSON(t, cmd+" "+f, stdout.Bytes(), schemas, seen)
		}
	}
	for _, typ := range recordTypes {
		if seen[typ] == 0 {
			t.Errorf("no %s record in any output: its schema went untested", typ)
		}
	}
	t.Logf("validated records: %v", seen)
}

// TestSchemaRejectsUndocumentedField makes sure the schemas are closed: a
// field added to a record without documenting it fails validation.
func TestSchemaRejectsUndocumentedField(t *testing.T) {
	schemas := loadSchemas(t)
	rec := map[string]any{
		"type": "finding", "id": "F1", "rule": "r", "threat": "T1", "severity": "high",
		"exchange": "", "frames": []any{json.Number("1")}, "message": "m", "seed": "2.1",
	}
	if err := schemas["finding"].Validate(rec); err != nil {
		t.Fatalf("valid finding rejected: %v", err)
	}
	rec["master_secret"] = "00"
	if err := schemas["finding"].Validate(rec); err == nil {
		t.Error("finding with an undocumented field passed validation")
	}
	delete(rec, "master_secret")
	delete(rec, "severity")
	if err := schemas["finding"].Validate(rec); err == nil {
		t.Error("finding without severity passed validation")
	}
}

// TestRecordsDocListsSchemaFields checks that docs/records.md names every
// property of every schema, nested ones included, and describes each.
func TestSchemaFieldsInRecordsDoc(t *testing.T) {
	root := testenv.RepoRoot()
	doc, err := os.ReadFile(filepath.Join(root, "docs", "records.md"))
	if err != nil {
		t.Fatal(err)
	}
	for _, typ := range recordTypes {
		b, err := os.ReadFile(filepath.Join(root, "docs", "schema", typ+".schema.json"))
		if err != nil {
			t.Fatal(err)
		}
		var s map[string]any
		if err := json.Unmarshal(b, &s); err != nil {
			t.Fatal(err)
		}
		walkProperties(s, "", func(path string, prop map[string]any) {
			if d, _ := prop["description"].(string); d == "" {
				t.Errorf("%s schema: %s has no description", typ, path)
			}
			if !bytes.Contains(doc, []byte("`"+path+"`")) {
				t.Errorf("docs/records.md does not list %s field `%s`", typ, path)
			}
		})
	}
}

// walkProperties calls fn for every property of schema s and of the
// objects nested in it (through items and $ref to $defs), with the path
// joined by dots ("legs.request_frames").
func walkProperties(s map[string]any, prefix string, fn func(path string, prop map[string]any)) {
	defs, _ := s["$defs"].(map[string]any)
	var walk func(node map[string]any, prefix string)
	resolve := func(node map[string]any) map[string]any {
		if ref, ok := node["$ref"].(string); ok {
			if d, ok := defs[strings.TrimPrefix(ref, "#/$defs/")].(map[string]any); ok {
				return d
			}
		}
		return node
	}
	walk = func(node map[string]any, prefix string) {
		node = resolve(node)
		if items, ok := node["items"].(map[string]any); ok {
			walk(items, prefix)
		}
		props, _ := node["properties"].(map[string]any)
		for name, p := range props {
			prop, _ := p.(map[string]any)
			path := prefix + name
			fn(path, prop)
			walk(prop, path+".")
		}
	}
	walk(s, prefix)
}
