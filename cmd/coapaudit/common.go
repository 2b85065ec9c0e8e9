package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/coapaudit/coapaudit/analysis"
	"github.com/coapaudit/coapaudit/capture"
	"github.com/coapaudit/coapaudit/dissect"
	"github.com/coapaudit/coapaudit/dtlsdec"
	"github.com/coapaudit/coapaudit/export"
	"github.com/coapaudit/coapaudit/filter"
	"github.com/coapaudit/coapaudit/oscore"
	"github.com/coapaudit/coapaudit/rules"
	"github.com/coapaudit/coapaudit/tlsdec"
	"github.com/coapaudit/coapaudit/tlskeys"
)

// commonFlags are the flags shared by analyze, live, view and packets.
type commonFlags struct {
	keys      []string
	keylogs   []string
	psks      []string
	format    string
	out       string
	report    string
	ports     []int
	dtlsPorts []int
	tcpPorts  []int
	tlsPorts  []int
	noTCP     bool
	noHeur    bool
	profile   string
	// records is --records, one of recordTypes (see csvout.go).
	records     string
	recordTypes []string
	// filterSrc is --filter, compiled into filter by validate.
	filterSrc string
	filter    *filter.Filter
}

func (c *commonFlags) register(cmd *cobra.Command) {
	f := cmd.Flags()
	f.StringArrayVar(&c.keys, "keys", nil, "OSCORE security contexts in `FILE`: coapaudit JSON, aiocoap settings.json or Wireshark oscore_contexts (repeatable)")
	f.StringArrayVar(&c.keylogs, "keylog", nil, "DTLS and TLS key log `FILE` in NSS format (SSLKEYLOGFILE of GnuTLS, OpenSSL, Go, pion; Wireshark's tls.keylog_file) (repeatable)")
	f.StringArrayVar(&c.psks, "psk", nil, "DTLS or TLS pre-shared key as `[IDENTITY=]HEX`, e.g. alice=686f704b6579 or Wireshark's dtls.psk value (repeatable)")
	f.StringVar(&c.format, "format", "", "output `FORMAT` on stdout: text, json, ndjson or csv (default text on a terminal, ndjson otherwise)")
	f.Var(portsValue{&c.ports}, "port", "treat UDP port N as CoAP (repeatable; 5683 always is)")
	f.Var(portsValue{&c.dtlsPorts}, "dtls-port", "treat UDP port N as DTLS (repeatable; 5684 always is)")
	f.Var(portsValue{&c.tcpPorts}, "tcp-port", "treat TCP port N as CoAP over TCP, coap+tcp (repeatable; 5683 always is)")
	f.Var(portsValue{&c.tlsPorts}, "tls-port", "treat TCP port N as TLS carrying CoAP, coaps+tcp or coaps+ws (repeatable; 5684 always is)")
	f.BoolVar(&c.noTCP, "no-tcp", false, "leave TCP alone: no CoAP over TCP, TLS or WebSockets")
	f.BoolVar(&c.noHeur, "no-heuristics", false, "do not detect CoAP, DTLS, CoAP over TCP and TLS on other ports")
	f.StringVar(&c.out, "out", "", "also write every record type as .ndjson and .csv files in `DIR`")
	f.StringVar(&c.filterSrc, "filter", "", filterUsage)
}

// registerProfile adds --profile, for the commands that run the rules.
func (c *commonFlags) registerProfile(cmd *cobra.Command, usage string) {
	cmd.Flags().StringVar(&c.profile, "profile", "auto", usage)
}

const profileUsage = "protection `LEVEL` the rules hold traffic to: auto, forwarding, caching or pubsub (seed 2.2.1, 2.2.2, 3.2.1)"

// options builds the analysis options shared by every command: ports,
// heuristics and keys.
func (c *commonFlags) options() (analysis.Options, error) {
	var opts analysis.Options
	cfg, err := c.dissectConfig()
	if err != nil {
		return opts, err
	}
	opts.Dissect = cfg
	opts.TCP.Off = c.noTCP
	for _, p := range c.tcpPorts {
		if p < 1 || p > 65535 {
			return opts, usageErr("--tcp-port %d: not a TCP port", p)
		}
		opts.TCP.CoAPPorts = append(opts.TCP.CoAPPorts, uint16(p))
	}
	for _, p := range c.tlsPorts {
		if p < 1 || p > 65535 {
			return opts, usageErr("--tls-port %d: not a TCP port", p)
		}
		opts.TCP.TLSPorts = append(opts.TCP.TLSPorts, uint16(p))
	}
	if opts.Keys, err = c.keyring(); err != nil {
		return opts, err
	}
	opts.TLSKeys, err = c.tlsKeys()
	return opts, err
}

// tlsKeys loads every --keylog file and parses every --psk. Errors name
// the file and line, or the flag, never a secret.
func (c *commonFlags) tlsKeys() (*tlskeys.Keys, error) {
	k := &tlskeys.Keys{}
	for _, name := range c.keylogs {
		if k.Log == nil {
			k.Log = &tlskeys.KeyLog{}
		}
		f, err := os.Open(name)
		if err != nil {
			return nil, usageErr("--keylog: %v", err)
		}
		err = k.Log.Read(f, name)
		f.Close()
		if err != nil {
			return nil, usageErr("--keylog: %v", err)
		}
	}
	for i, v := range c.psks {
		p, err := tlskeys.ParsePSK(v)
		if err != nil {
			return nil, usageErr("--psk #%d: %v", i+1, err)
		}
		k.PSKs = append(k.PSKs, p)
	}
	if k.Empty() {
		return nil, nil
	}
	return k, nil
}

func (c *commonFlags) dissectConfig() (dissect.Config, error) {
	var cfg dissect.Config
	cfg.NoHeuristics = c.noHeur
	for _, p := range c.ports {
		if p < 1 || p > 65535 {
			return cfg, usageErr("--port %d: not a UDP port", p)
		}
		cfg.CoAPPorts = append(cfg.CoAPPorts, uint16(p))
	}
	for _, p := range c.dtlsPorts {
		if p < 1 || p > 65535 {
			return cfg, usageErr("--dtls-port %d: not a UDP port", p)
		}
		cfg.DTLSPorts = append(cfg.DTLSPorts, uint16(p))
	}
	return cfg, nil
}

// outputFormat resolves --format: text on a terminal, ndjson otherwise.
func (c *commonFlags) outputFormat(stdout io.Writer) (export.Format, error) {
	return resolveFormat(c.format, stdout)
}

// resolveFormat resolves a --format value: text on a terminal and ndjson
// otherwise when it is empty. Every command follows this rule.
func resolveFormat(format string, stdout io.Writer) (export.Format, error) {
	if format == "" {
		if isTerminal(stdout) {
			return export.FormatText, nil
		}
		return export.FormatNDJSON, nil
	}
	f, err := export.ParseFormat(format)
	if err != nil {
		return 0, usageErr("--format: %v", err)
	}
	return f, nil
}

// keyring loads every --keys file. Errors name the file, never its content.
func (c *commonFlags) keyring() (*oscore.Keyring, error) {
	var all []oscore.Params
	for _, k := range c.keys {
		ps, err := oscore.LoadKeyFile(k)
		if err != nil {
			return nil, usageErr("--keys %s: %v", k, err)
		}
		all = append(all, ps...)
	}
	kr, err := oscore.NewKeyring(all)
	if err != nil {
		return nil, usageErr("--keys: %v", err)
	}
	return kr, nil
}

// auditFlags are --fail-on and --max-findings.
type auditFlags struct {
	failOn      string
	maxFindings int
}

func (a *auditFlags) register(cmd *cobra.Command) {
	cmd.Flags().StringVar(&a.failOn, "fail-on", "none", "exit with status 1 when a finding reaches `SEVERITY`: info, low, medium, high or none")
	cmd.Flags().IntVar(&a.maxFindings, "max-findings", 10000, "report at most `N` findings per rule; more are counted in the summary (findings_suppressed) and in the verdict, not written")
}

// withRules sets opts to run every rule with the --profile, and sends each
// finding to w. A security context that does not match the traffic
// (keys-mismatch) is also said on stderr: the user gave a wrong key.
func (c *commonFlags) withRules(e *env, opts *analysis.Options, w func(*rules.Finding)) error {
	prof, err := rules.ParseProfile(c.profile)
	if err != nil {
		return usageErr("--profile: %v", err)
	}
	opts.Rules = rules.All()
	opts.RulesConfig.Profile = prof
	opts.OnFinding = func(f *rules.Finding) {
		if f.Rule == rules.KeysMismatch.ID {
			warnf(e, "keys: %s", f.Message)
		}
		w(f)
	}
	return nil
}

// outDir opens the --out directory writer, or returns nil without --out.
func (c *commonFlags) outDir() (*export.DirWriter, error) {
	if c.out == "" {
		return nil, nil
	}
	d, err := export.NewDirWriter(c.out, "packet", "exchange", "finding", "leak")
	if err != nil {
		return nil, usageErr("--out: %v", err)
	}
	return d, nil
}

func isTerminal(w any) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}

// openCapture opens a capture file or stdin ("-"). When stderr is a
// terminal, reading shows a progress bar there (see progressReader).
func openCapture(e *env, name string) (*capture.Reader, error) {
	var (
		r   *capture.Reader
		err error
	)
	switch {
	case !isTerminal(e.stderr) && name == "-":
		r, err = capture.NewReader(e.stdin)
	case !isTerminal(e.stderr):
		r, err = capture.Open(name)
	case name == "-":
		r, err = capture.NewReadCloser(newProgressReader(e.stdin, nil, e.stderr, "stdin", -1, time.Now), "stdin")
	default:
		var f *os.File
		if f, err = os.Open(name); err == nil {
			size := int64(-1)
			if st, serr := f.Stat(); serr == nil && st.Mode().IsRegular() {
				size = st.Size()
			}
			r, err = capture.NewReadCloser(newProgressReader(f, f, e.stderr, displayName(name), size, time.Now), name)
		}
	}
	if err != nil {
		var pe *os.PathError
		if errors.As(err, &pe) {
			return nil, usageErr("%s: %v", name, pe.Err)
		}
		return nil, usageErr("%v", err)
	}
	return r, nil
}

func displayName(name string) string {
	if name == "-" {
		return "stdin"
	}
	return filepath.Base(name)
}

// warnDTLS names every DTLS session and TLS connection the keys did not
// decrypt, and why: one line each, never a key.
func warnDTLS(e *env, eng *analysis.Engine) {
	for _, s := range eng.DTLSSessions() {
		if s.Status == dtlsdec.StatusDecrypting {
			continue
		}
		suite, what := sessionWords(s.Status.String(), s.Detail, s.HasSuite, s.Suite.String(), s.PSKIdentity)
		warnf(e, "DTLS session %v -> %v (from frame %d, %s): %s; %d records not decrypted",
			s.Client, s.Server, s.FirstFrame, suite, what, s.Failed)
	}
	for _, c := range eng.TLSConns() {
		s := c.Status()
		if s.State == tlskeys.StateDecrypting || s.State == tlskeys.StateHandshake && s.Failed == 0 {
			continue // decrypted, or nothing protected to decrypt
		}
		suite, what := sessionWords(s.State.String(), s.Detail, s.HasSuite, s.Suite.String(), s.PSKIdentity)
		if v := tlsdec.VersionName(s.Version); v != "" {
			suite = v + " " + suite
		}
		warnf(e, "TLS connection %v -> %v (%s): %s; %d records not decrypted", c.Client, c.Server, suite, what, s.Failed)
	}
}

// sessionWords describes a session's suite (with its PSK identity, sent
// in clear) and state for a warning.
func sessionWords(state, detail string, hasSuite bool, cs, identity string) (suite, what string) {
	what = state
	if detail != "" {
		what += " (" + detail + ")"
	}
	suite = "suite unknown"
	if hasSuite {
		suite = cs
	}
	if identity != "" {
		suite += fmt.Sprintf(", PSK identity %q", identity)
	}
	return suite, what
}

func warnf(e *env, format string, args ...any) {
	fmt.Fprintf(e.stderr, "coapaudit: "+format+"\n", args...)
}

// defaultWidth is the width text is laid out to when the output is not a
// terminal or its size is unknown.
const defaultWidth = 80

// termWidth is the width of the terminal w writes to, or defaultWidth.
func termWidth(w any) int {
	f, ok := w.(*os.File)
	if !ok || !term.IsTerminal(int(f.Fd())) {
		return defaultWidth
	}
	if cols, _, err := term.GetSize(int(f.Fd())); err == nil && cols > 0 {
		return cols
	}
	return defaultWidth
}
