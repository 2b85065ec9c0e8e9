package depstest

import (
	"go/build"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/coapaudit/coapaudit/internal/testenv"
)

const module = "github.com/coapaudit/coapaudit/"

// allowed lists, for every package of the module, the packages of the
// module it may import (non-test files). Data flows one way: capture and
// decode know nothing above them; flows, oscore and the decrypters know
// nothing of rules; rules and leaks know nothing of output; only the
// command and the viewer put everything together. A new arrow fails this
// test: add it here on purpose, or do without it.
//
// The engine hands out domain values (analysis.Packet, analysis.Summary)
// that export wraps as records: export may import analysis, never the
// other way round.
var allowed = map[string][]string{
	"capture":              {},
	"decode":               {},
	"dissect":              {"capture", "decode"},
	"coaptcp":              {"capture", "decode", "tlsdec", "tlskeys"},
	"internal/ccm":         {},
	"internal/atomicfile":  {},
	"internal/human":       {},
	"stats":                {},
	"internal/testenv":     {},
	"internal/libcoaptest": {"internal/testenv"},
	"internal/truthtest":   {},
	"internal/depstest":    {},
	"internal/natstest":    {"internal/testenv"},
	"stream":               {"analysis", "capture", "decode", "dissect", "export", "oscore"},
	"oscore":               {"decode", "internal/ccm"},
	"tlskeys":              {"oscore"},
	"dtlsdec":              {"decode", "dissect", "internal/tlscrypto", "tlskeys"},
	"internal/tlscrypto":   {"decode", "internal/ccm"},
	"tlsdec":               {"decode", "internal/tlscrypto", "tlskeys"},
	"flows":                {"decode", "stats"},
	"leaks":                {"decode", "stats"},
	"leaks/collect":        {"decode", "flows", "internal/human", "leaks", "oscore", "stats"},
	"rules":                {"decode", "dissect", "flows", "leaks", "oscore"},
	"filter":               {},
	"export":               {"analysis", "capture", "decode", "dissect", "flows", "internal/atomicfile", "internal/human", "leaks", "oscore", "rules"},
	"analysis":             {"capture", "coaptcp", "decode", "dissect", "dtlsdec", "flows", "leaks", "leaks/collect", "oscore", "rules", "tlsdec", "tlskeys"},
	"report":               {"capture", "export", "flows", "leaks", "leaks/collect", "rules", "stats"},
	"tui":                  {"analysis", "capture", "decode", "dissect", "export", "filter", "flows", "internal/human", "leaks", "oscore", "rules"},
	"cmd/coapaudit":        {"analysis", "capture", "dissect", "dtlsdec", "export", "filter", "flows", "internal/atomicfile", "internal/human", "leaks/collect", "oscore", "report", "rules", "stream", "tlsdec", "tlskeys", "tui"},
}

// TestDependencies checks every package of the module against allowed:
// no import outside its list, and no package missing from the table.
// Commands and programs under samples/ may import what they need.
func TestDependencies(t *testing.T) {
	root := testenv.RepoRoot()
	seen := map[string]bool{}
	err := filepath.WalkDir(root, func(path string, d os.DirEntry, err error) error {
		if err != nil || !d.IsDir() {
			return err
		}
		rel, _ := filepath.Rel(root, path)
		rel = filepath.ToSlash(rel)
		name := d.Name()
		if rel != "." && (strings.HasPrefix(name, ".") || name == "testdata" || strings.HasPrefix(rel, "samples/") || rel == "samples") {
			return filepath.SkipDir
		}
		pkg, err := build.ImportDir(path, 0)
		if err != nil {
			if _, ok := err.(*build.NoGoError); ok {
				return nil
			}
			return err
		}
		if rel == "." {
			return nil
		}
		seen[rel] = true
		allow, ok := allowed[rel]
		if !ok {
			t.Errorf("package %s is not in the dependency table: add it with the imports it may have", rel)
			return nil
		}
		for _, imp := range pkg.Imports {
			dep, ok := strings.CutPrefix(imp, module)
			if !ok {
				continue
			}
			if !slices.Contains(allow, dep) {
				t.Errorf("%s imports %s: a new arrow in the dependency graph (see allowed)", rel, dep)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	var stale []string
	for p := range allowed {
		if !seen[p] {
			stale = append(stale, p)
		}
	}
	sort.Strings(stale)
	if len(stale) > 0 {
		t.Errorf("the table lists packages that do not exist: %v", stale)
	}
}
