package rules_test

import (
	"strings"
	"testing"

	"github.com/coapaudit/coapaudit/analysis"
	"github.com/coapaudit/coapaudit/internal/testenv"
	"github.com/coapaudit/coapaudit/oscore"
	"github.com/coapaudit/coapaudit/rules"
)

// keyring loads a shared key file (relative to the captures directory).
func keyring(t testing.TB, rel string) *oscore.Keyring {
	t.Helper()
	return keyringOf(t, keyParams(t, rel))
}

// keyParams loads the contexts of a shared key file.
func keyParams(t testing.TB, rel string) []oscore.Params {
	t.Helper()
	ps, err := oscore.LoadKeyFile(testenv.Capture(t, rel))
	if err != nil {
		t.Fatal(err)
	}
	return ps
}

func keyringOf(t testing.TB, ps []oscore.Params) *oscore.Keyring {
	t.Helper()
	k, err := oscore.NewKeyring(ps)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// runCapture runs every rule over shared captures and returns the
// findings and the engine.
func runCapture(t testing.TB, keys string, cfg rules.Config, files ...string) ([]*rules.Finding, *analysis.Engine) {
	t.Helper()
	var k *oscore.Keyring
	if keys != "" {
		k = keyring(t, keys)
	}
	return runCaptureKeys(t, k, cfg, files...)
}

// runCaptureKeys is runCapture with a keyring (nil: no keys).
func runCaptureKeys(t testing.TB, k *oscore.Keyring, cfg rules.Config, files ...string) ([]*rules.Finding, *analysis.Engine) {
	t.Helper()
	var paths []string
	for _, f := range files {
		paths = append(paths, capturePath(t, f))
	}
	opts := analysis.Options{Rules: rules.All(), RulesConfig: cfg, Keys: k}
	var out []*rules.Finding
	opts.OnFinding = func(f *rules.Finding) { out = append(out, f) }
	e, err := analysis.RunFiles(paths, opts, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if st := e.Rules().Stats(); st.Invalid > 0 {
		t.Errorf("%d findings without evidence or message", st.Invalid)
	}
	return out, e
}

// capturePath finds a capture by its name: under the repository's
// testdata/captures (prefix "repo:"), else among the shared captures.
func capturePath(t testing.TB, name string) string {
	t.Helper()
	if rel, ok := strings.CutPrefix(name, "repo:"); ok {
		return testenv.RepoCapture(t, rel)
	}
	return testenv.Capture(t, name)
}
