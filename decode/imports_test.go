package decode

import (
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// TestImports keeps package decode on plain bytes: its non-test files may
// import only these standard packages, so no gopacket, UI, export, CBOR or
// formatting code creeps in.
func TestImports(t *testing.T) {
	allowed := map[string]bool{
		"bytes":           true,
		"encoding/binary": true,
		"encoding/hex":    true,
		"errors":          true,
		"math":            true,
		"math/bits":       true,
		"slices":          true,
		"strconv":         true,
		"strings":         true,
		"unicode/utf8":    true,
	}
	files, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	checked := 0
	fset := token.NewFileSet()
	for _, name := range files {
		if strings.HasSuffix(name, "_test.go") {
			continue
		}
		src, err := os.ReadFile(name)
		if err != nil {
			t.Fatal(err)
		}
		f, err := parser.ParseFile(fset, name, src, parser.ImportsOnly)
		if err != nil {
			t.Fatal(err)
		}
		checked++
		for _, imp := range f.Imports {
			path, err := strconv.Unquote(imp.Path.Value)
			if err != nil {
				t.Fatal(err)
			}
			if !allowed[path] {
				t.Errorf("%s imports %q, which package decode must not use", name, path)
			}
		}
	}
	if checked < 5 {
		t.Errorf("checked only %d files", checked)
	}
}
