// Command coapaudit is a protocol analyzer and passive security auditor for
// CoAP traffic that crosses proxies and pub-sub brokers.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime/debug"
	"runtime/pprof"
	"strings"

	"github.com/spf13/cobra"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	code := run(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// Exit codes (docs/CONTRACT.md).
const (
	exitOK       = 0
	exitFindings = 1
	exitUsage    = 2
)

// exitError carries an exit code out of a command.
type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string {
	if e.err == nil {
		return fmt.Sprintf("exit %d", e.code)
	}
	return e.err.Error()
}

func (e *exitError) Unwrap() error { return e.err }

func usageErr(format string, args ...any) error {
	return &exitError{code: exitUsage, err: fmt.Errorf(format, args...)}
}

// env is what a command needs from its process, so that tests run commands
// in-process.
type env struct {
	ctx    context.Context
	stdin  io.Reader
	stdout io.Writer
	stderr io.Writer
	// liveReady, when set, is called once a live capture is open (tests
	// start their traffic then).
	liveReady func()
}

func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	return runEnv(&env{ctx: ctx, stdin: stdin, stdout: stdout, stderr: stderr}, args)
}

func runEnv(e *env, args []string) int {
	ctx, stdin, stdout, stderr := e.ctx, e.stdin, e.stdout, e.stderr
	root := &cobra.Command{
		Use:   "coapaudit",
		Short: "CoAP, DTLS and OSCORE analyzer and passive security auditor",
		Long: `coapaudit reads pcap/pcapng captures of CoAP traffic, decodes CoAP, DTLS and
OSCORE, and audits what proxies and brokers can read, change and learn.`,
		SilenceUsage:  true,
		SilenceErrors: true,
		Version:       version(debug.ReadBuildInfo()),
	}
	root.SetVersionTemplate("coapaudit {{.Version}}\n")
	root.SetArgs(args)
	root.SetIn(stdin)
	root.SetOut(stdout)
	root.SetErr(stderr)
	root.SetFlagErrorFunc(func(c *cobra.Command, err error) error {
		return &exitError{code: exitUsage, err: flagError(err)}
	})
	var cpuprofile, memprofile string
	root.PersistentFlags().StringVar(&cpuprofile, "cpuprofile", "", "write a CPU profile to `FILE`")
	root.PersistentFlags().MarkHidden("cpuprofile")
	root.PersistentFlags().StringVar(&memprofile, "memprofile", "", "write a heap profile to `FILE` at the end")
	root.PersistentFlags().MarkHidden("memprofile")
	root.PersistentPostRunE = func(cmd *cobra.Command, args []string) error {
		if memprofile == "" {
			return nil
		}
		f, err := os.Create(memprofile)
		if err != nil {
			return usageErr("--memprofile: %v", err)
		}
		defer f.Close()
		return pprof.Lookup("heap").WriteTo(f, 0)
	}
	root.PersistentPreRunE = func(cmd *cobra.Command, args []string) error {
		if cpuprofile == "" {
			return nil
		}
		f, err := os.Create(cpuprofile)
		if err != nil {
			return usageErr("--cpuprofile: %v", err)
		}
		if err := pprof.StartCPUProfile(f); err != nil {
			f.Close()
			return usageErr("--cpuprofile: %v", err)
		}
		cobra.OnFinalize(func() {
			pprof.StopCPUProfile()
			f.Close()
		})
		return nil
	}
	root.AddCommand(packetsCmd(e), analyzeCmd(e), liveCmd(e), viewCmd(e), rulesCmd(e), streamsCmd(e))
	err := root.ExecuteContext(ctx)
	if err == nil {
		return exitOK
	}
	var ee *exitError
	if errors.As(err, &ee) {
		if ee.err != nil {
			fmt.Fprintln(stderr, "coapaudit:", oneLine(ee.err.Error()))
		}
		return ee.code
	}
	// Errors from cobra itself (unknown command, bad arguments) are usage errors.
	fmt.Fprintln(stderr, "coapaudit:", oneLine(err.Error()))
	return exitUsage
}

func oneLine(s string) string {
	return strings.ReplaceAll(strings.TrimSpace(s), "\n", "; ")
}
