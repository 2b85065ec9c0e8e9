package main

import (
	"context"
	"strings"
	"time"

	"github.com/gdamore/tcell/v2"
	"github.com/spf13/cobra"

	"github.com/coapaudit/coapaudit/analysis"
	"github.com/coapaudit/coapaudit/capture"
	"github.com/coapaudit/coapaudit/rules"
	"github.com/coapaudit/coapaudit/tui"
)

// newScreen opens the terminal; tests replace it with a simulation screen.
var newScreen = tcell.NewScreen

type viewFlags struct {
	commonFlags
	clockFlags
	proxies []string
	iface   string
	bpf     string
	snaplen int
	bufMiB  int
	allUDP  bool
	linger  time.Duration
	// memLimit is --memory-limit, in MiB.
	memLimit int
}

func viewCmd(e *env) *cobra.Command {
	var vf viewFlags
	cmd := &cobra.Command{
		Use:   "view [flags] FILE... | -i IFACE",
		Short: "terminal flow viewer: exchanges, legs through proxies, findings, hex",
		Long: `view shows captures (merged by time) or a live interface in the terminal:
the exchange list (sortable with s, filtered with /), each exchange's legs
through its proxies side by side with residence times, every option marked
as protected by OSCORE (P), exposed to the proxy (X) or exposed although
the profile asks for it to be protected (!), decrypted content with --keys,
the frames with a hex view, and the findings and leak measurements.
Press ? in the viewer for its keys.`,
		RunE: func(cmd *cobra.Command, args []string) error {
			return runView(e, &vf, args)
		},
	}
	vf.commonFlags.register(cmd)
	vf.clockFlags.register(cmd)
	f := cmd.Flags()
	f.MarkHidden("format")
	f.MarkHidden("out")
	vf.registerProfile(cmd, "protection `LEVEL` the option markers and rules hold traffic to: auto, forwarding, caching or pubsub")
	f.StringArrayVar(&vf.proxies, "proxy", nil, "`ADDR` (ip or ip:port) of a proxy, in addition to those found in the traffic (repeatable)")
	f.StringVarP(&vf.iface, "interface", "i", "", "capture live on `IFACE` instead of reading files")
	f.StringVar(&vf.bpf, "bpf", "", "with -i: capture filter `EXPR`, compiled with tcpdump")
	f.IntVar(&vf.snaplen, "snaplen", 0, "with -i: `BYTES` captured per frame (default 262144)")
	registerBufferSize(cmd, &vf.bufMiB, "with -i: ")
	f.BoolVar(&vf.allUDP, "all-udp", false, "with -i: capture all UDP, so that CoAP on other ports is found by heuristics")
	registerMemoryLimit(cmd, &vf.memLimit, viewMemoryLimit)
	vf.linger = 5 * time.Second
	f.Var(durationValue{&vf.linger}, "linger", "with -i: how long a finished exchange waits for late copies before it is listed: seconds or a duration")
	return cmd
}

func runView(e *env, vf *viewFlags, files []string) error {
	switch {
	case vf.iface == "" && len(files) == 0:
		return usageErr("view needs a capture file or -i IFACE")
	case vf.iface != "" && len(files) > 0:
		return usageErr("view reads either files or -i IFACE, not both")
	case vf.format != "" || vf.out != "":
		return usageErr("view writes no records: use analyze for --format and --out")
	}
	if err := vf.validate(); err != nil {
		return err
	}
	restore, err := setMemoryLimit(vf.memLimit)
	if err != nil {
		return err
	}
	defer restore()
	opts, err := vf.options()
	if err != nil {
		return err
	}
	for _, p := range vf.proxies {
		ap, ok := analysis.ProxyFor(p)
		if !ok {
			return usageErr("--proxy %q: want an IP address or ip:port", p)
		}
		opts.Flows.Proxies = append(opts.Flows.Proxies, ap)
	}
	prof, err := rules.ParseProfile(vf.profile)
	if err != nil {
		return usageErr("--profile: %v", err)
	}
	opts.TrackExchanges = true
	opts.Rules = rules.All()
	opts.RulesConfig.Profile = prof
	opts.Leaks = true
	cfg := tui.Config{Profile: prof, Filter: vf.filterSrc}

	var load tui.LoadFunc
	if vf.iface != "" {
		if opts.Flows.Linger == 0 {
			opts.Flows.Linger = vf.linger
		}
		opts.Leaks = false // measured over a whole capture, not live
		lo := capture.LiveOptions{Snaplen: vf.snaplen, Filter: vf.bpf}
		if lo.BufferSize, err = bufferBytes(vf.bufMiB); err != nil {
			return err
		}
		if !vf.allUDP {
			lo.Ports = livePorts(opts.Dissect)
			lo.TCPPorts = liveTCPPorts(opts.TCP)
		}
		live, err := capture.OpenLive(vf.iface, lo)
		if err != nil {
			return usageErr("-i %s: %v", vf.iface, err)
		}
		defer live.Close()
		cfg.Title, cfg.Live = "live "+vf.iface, true
		load = func(ctx context.Context, l *tui.Loader) error {
			eng, err := newViewEngine(opts, l)
			if err != nil {
				return err
			}
			eng.AddFile("live:" + vf.iface)
			return l.ReadLive(eng, live)
		}
	} else {
		var readers []*capture.Reader
		defer func() {
			for _, r := range readers {
				r.Close()
			}
		}()
		names := make([]string, len(files))
		meter := new(inputMeter)
		cfg.Progress = meter.progress
		stdinUsed := false
		for i, name := range files {
			if name == "-" {
				if stdinUsed {
					return usageErr("stdin ('-') given twice")
				}
				stdinUsed = true
			}
			r, err := openMetered(e, name, meter)
			if err != nil {
				return err
			}
			readers = append(readers, r)
			names[i] = displayName(name)
		}
		cfg.Title = strings.Join(names, " + ")
		offsets, err := vf.clockFlags.estimate(e, files, names, opts.Dissect)
		if err != nil {
			return err
		}
		load = func(ctx context.Context, l *tui.Loader) error {
			eng, err := newViewEngine(opts, l)
			if err != nil {
				return err
			}
			for _, n := range names {
				eng.AddFile(n)
			}
			m := analysis.NewMerge(names, readers)
			applyOffsets(m, offsets)
			err = l.ReadFiles(eng, m)
			for _, lk := range eng.Leaks() {
				l.Leak(tui.LeakFrom(lk))
			}
			return err
		}
	}
	s, err := newScreen()
	if err != nil {
		return usageErr("view needs a terminal: %v", err)
	}
	if err := tui.Run(e.ctx, s, cfg, load); err != nil {
		warnf(e, "%v", err)
	}
	return nil
}

// newViewEngine starts an engine whose exchanges and findings go to l.
func newViewEngine(opts analysis.Options, l *tui.Loader) (*analysis.Engine, error) {
	opts.OnFinding = func(f *rules.Finding) { l.Finding(tui.FindingFrom(f)) }
	eng, err := analysis.NewEngine(opts, l.Exchange)
	if err != nil {
		return nil, usageErr("%v", err)
	}
	return eng, nil
}
