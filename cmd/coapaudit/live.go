package main

import (
	"fmt"
	"io"
	"runtime"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/coapaudit/coapaudit/analysis"
	"github.com/coapaudit/coapaudit/capture"
	"github.com/coapaudit/coapaudit/dissect"
	"github.com/coapaudit/coapaudit/export"
	"github.com/coapaudit/coapaudit/flows"
	"github.com/coapaudit/coapaudit/internal/human"
	"github.com/coapaudit/coapaudit/leaks/collect"
	"github.com/coapaudit/coapaudit/rules"
)

type liveFlags struct {
	analyzeFlags
	iface    string
	bpf      string
	duration time.Duration
	write    string
	snaplen  int
	bufMiB   int
	allUDP   bool
	linger   time.Duration
}

func liveCmd(e *env) *cobra.Command {
	var lf liveFlags
	cmd := &cobra.Command{
		Use:   "live -i IFACE [flags]",
		Short: "audit a live interface until Ctrl-C or --duration",
		Long: `live captures on a network interface (Linux, AF_PACKET, no libpcap needed;
root or CAP_NET_RAW) and streams exchanges as they complete, with the same
records and flags as analyze. By default only UDP to or from the CoAP and
DTLS ports (5683, 5684, --port, --dtls-port) and TCP to or from the CoAP
over TCP and TLS ports (5683, 5684, --tcp-port, --tls-port) and the
WebSocket ports (80, 443, 8080) is captured;
--all-udp (every frame) or --bpf widen or narrow that.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			return runLive(e, &lf)
		},
	}
	lf.registerAudit(cmd)
	lf.stream.registerSensor(cmd)
	f := cmd.Flags()
	f.StringVarP(&lf.iface, "interface", "i", "", "`IFACE` to capture on (e.g. lo, eth0, any)")
	f.StringVar(&lf.bpf, "bpf", "", "capture filter `EXPR`, compiled with tcpdump (e.g. 'udp and host 10.0.0.5')")
	f.Var(durationValue{&lf.duration}, "duration", "stop after this long: seconds (25) or a duration (30s, 5m); default: until Ctrl-C")
	f.StringVarP(&lf.write, "write", "w", "", "also write the captured frames to `FILE` (pcapng)")
	f.IntVar(&lf.snaplen, "snaplen", 0, "`BYTES` captured per frame (default 262144)")
	registerBufferSize(cmd, &lf.bufMiB, "")
	lf.linger = 5 * time.Second
	f.Var(durationValue{&lf.linger}, "linger", "how long a finished exchange waits for late copies before it is reported: seconds or a duration")
	f.BoolVar(&lf.allUDP, "all-udp", false, "capture all UDP, so that CoAP and DTLS on other ports are found by heuristics")
	return cmd
}

func runLive(e *env, lf *liveFlags) error {
	start := time.Now()
	if lf.iface == "" {
		return usageErr("live needs an interface: -i IFACE")
	}
	failSev, err := lf.validate()
	if err != nil {
		return err
	}
	restore, err := lf.setMemoryLimit()
	if err != nil {
		return err
	}
	defer restore()
	format, err := lf.outputFormat(e.stdout)
	if err != nil {
		return err
	}
	opts, err := lf.options()
	if err != nil {
		return err
	}
	if opts.Flows, err = lf.flowsConfig(); err != nil {
		return err
	}
	opts.TrackExchanges = true
	if opts.Flows.Linger == 0 {
		opts.Flows.Linger = lf.linger
	}
	if err := lf.leakOptions(&opts); err != nil {
		return err
	}
	var sensor *sensor // --publish: publish the messages, a sensor
	if lf.stream.publish != "" {
		if sensor, err = startSensor(&lf.analyzeFlags, &opts, []string{"live:" + lf.iface}, 0); err != nil {
			return err
		}
	}
	lo := capture.LiveOptions{Snaplen: lf.snaplen, Filter: lf.bpf}
	if lo.BufferSize, err = bufferBytes(lf.bufMiB); err != nil {
		return err
	}
	if !lf.allUDP {
		lo.Ports = livePorts(opts.Dissect)
		lo.TCPPorts = liveTCPPorts(opts.TCP)
	}
	live, err := capture.OpenLive(lf.iface, lo)
	if err != nil {
		return usageErr("-i %s: %v", lf.iface, err)
	}
	defer live.Close()
	sw, err := streamWriter(e, format, &lf.commonFlags)
	if err != nil {
		return err
	}
	out := &outputs{stdout: sw, filter: lf.filter}
	defer out.abort()
	var pw *capture.PcapngWriter
	if lf.write != "" {
		po, err := createPcapOutput(lf.write, live.LinkType(), live.Snaplen())
		if err != nil {
			return err
		}
		out.files = append(out.files, po)
		pw = po.pw
	}
	if out.dir, err = lf.outDir(); err != nil {
		return err
	}
	w := out.writer()
	dir := out.packets()
	var writeErr firstErr // exchanges and findings are written from the pipeline's goroutine
	opts.RulesConfig.MaxFindings = lf.maxFindings
	if err := lf.withRules(e, &opts, func(f *rules.Finding) {
		writeErr.set(w.Write(export.Finding{Finding: f}))
	}); err != nil {
		return err
	}
	if sensor != nil {
		opts.Rules = nil
	}
	eng := analysis.New(opts, func(x *flows.Exchange) {
		writeErr.set(w.Write(export.Exchange{Exchange: x}))
	})
	eng.AddFile("live:" + lf.iface)
	var deadline time.Time
	if lf.duration > 0 {
		deadline = start.Add(lf.duration)
	}
	if e.liveReady != nil {
		e.liveReady()
	}
	recs := newPacketRecords(nil)
	err = analysis.Run(e.ctx, &analysis.LiveSource{L: live}, eng, analysis.RunOptions{
		Deadline: deadline,
		Pipeline: pipelineRuns && runtime.GOMAXPROCS(0) > 1,
		OnPacket: func(pk *analysis.Packet, _ int) error {
			if pw != nil {
				if err := pw.WriteFrame(&pk.D.Frame); err != nil {
					writeErr.set(fmt.Errorf("-w: %w", err))
				}
			}
			if dir != nil {
				writeErr.set(dir.Write(recs.of(pk)))
			}
			return writeErr.get()
		},
		OnTick: writeErr.get,
	})
	if err != nil && err != writeErr.get() {
		warnf(e, "capture on %s: %v", lf.iface, err)
	}
	sum := eng.Finish()
	warnDTLS(e, eng)
	if st, err := live.Stats(); err == nil {
		sum.KernelReceived = int(st.Received)
		sum.KernelDropped = int(st.Dropped)
	}
	sum.ElapsedSeconds = time.Since(start).Seconds()
	writeErr.set(writeLeaks(w, eng))
	if lt, ok := sw.(*liveText); ok {
		lt.tables(eng.Report(), eng.LeakReport(), lf.top)
	}
	if sensor != nil {
		writeErr.set(sensor.finish(e, sum.Frames))
	}
	runErr := out.finish(writeErr.get(), sum)
	if runErr == nil && sensor == nil {
		runErr = failOn(failSev, eng.Rules().Stats())
	}
	return runErr
}

// liveTCPPorts are the TCP ports the live capture keeps by default: CoAP
// over TCP and TLS, and the web ports WebSockets use (80, 443, 8080),
// where a connection is CoAP only when its Upgrade asks for it (none with
// --no-tcp).
func liveTCPPorts(o analysis.TCPOptions) []uint16 {
	if o.Off {
		return nil
	}
	ports := []uint16{dissect.PortCoAP, dissect.PortCoAPS, 80, 443, 8080}
	ports = append(ports, o.CoAPPorts...)
	return append(ports, o.TLSPorts...)
}

// maxBufferMiB bounds --buffer-size.
const maxBufferMiB = 4096

// registerBufferSize adds --buffer-size, in MiB, to cmd; prefix starts
// its help ("with -i: " for view).
func registerBufferSize(cmd *cobra.Command, mib *int, prefix string) {
	cmd.Flags().IntVar(mib, "buffer-size", 0, prefix+"`MiB` of kernel buffer the capture queues frames in while the analysis is busy, as tcpdump's -B (default 32)")
}

// bufferBytes checks --buffer-size and returns it in bytes (0: the
// capture's default).
func bufferBytes(mib int) (int, error) {
	if mib < 0 || mib > maxBufferMiB {
		return 0, usageErr("--buffer-size %d: want MiB from 1 to %d (0: the default)", mib, maxBufferMiB)
	}
	return mib << 20, nil
}

// livePorts are the UDP ports the live capture keeps by default.
func livePorts(cfg dissect.Config) []uint16 {
	ports := []uint16{dissect.PortCoAP, dissect.PortCoAPS}
	ports = append(ports, cfg.CoAPPorts...)
	return append(ports, cfg.DTLSPorts...)
}

// streamWriter returns the stdout writer for commands that stream records
// as they happen: text prints one line per exchange at once.
func streamWriter(e *env, format export.Format, c *commonFlags) (export.Writer, error) {
	switch format {
	case export.FormatText:
		return &liveText{w: e.stdout, color: paletteFor(e.stdout), width: termWidth(e.stdout)}, nil
	case export.FormatJSON:
		return export.NewJSONWriter(e.stdout), nil
	case export.FormatCSV:
		return c.newCSVStdout(e), nil
	}
	return newFlushingNDJSON(e.stdout), nil
}

// flushingNDJSON writes each record through at once, so that a consumer
// of a live capture sees it when it happens.
type flushingNDJSON struct {
	w   io.Writer
	buf []byte
}

func newFlushingNDJSON(w io.Writer) *flushingNDJSON { return &flushingNDJSON{w: w} }

func (f *flushingNDJSON) Write(r export.Record) error {
	f.buf = append(r.AppendJSON(f.buf[:0]), '\n')
	_, err := f.w.Write(f.buf)
	return err
}

func (f *flushingNDJSON) Close() error { return nil }

// liveText prints exchanges as they complete and, at the end, the tables
// of the capture (--top rows each), the leak verdicts and the summary.
type liveText struct {
	w      io.Writer
	n      int
	color  palette
	report flows.Report
	leaks  *collect.Report
	top    int
	final  bool
	width  int // of the terminal, for the summary
}

// tables sets what liveText prints before the summary.
func (t *liveText) tables(r flows.Report, l *collect.Report, top int) {
	t.report, t.leaks, t.top, t.final = r, l, top, true
}

func (t *liveText) Write(r export.Record) error {
	switch r := r.(type) {
	case export.Exchange:
		x := r.Exchange
		t.n++
		via := ""
		if x.Proxy.IsValid() {
			via = " via " + x.Proxy.String()
		}
		return t.line(fmt.Sprintf("%s %s %s %s %s%s → %s %s %s", x.Start.Format("15:04:05.000"), x.ID, x.Method, x.URI, x.Client, via, x.Server, x.Code, t.color.status(x.Status, string(x.Status))))
	case export.Finding:
		f := r.Finding
		return t.line(fmt.Sprintf("%s FINDING %s %s %s %s frames %s: %s", f.Time.Format("15:04:05.000"), t.color.severity(f.Severity, strings.ToUpper(f.Severity.String())), f.Threat, f.Rule, f.Exchange, frameRange(f.Frames, nil), f.Message))
	case *export.Summary:
		if t.final {
			fmt.Fprintln(t.w)
			if err := export.WriteReportTextWidth(t.w, t.report, t.top, t.width); err != nil {
				return err
			}
			if err := t.leaks.WriteText(t.w, t.width); err != nil {
				return err
			}
		}
		return writeSummaryLine(t.w, r, t.width)
	}
	return nil
}

func (t *liveText) Close() error { return nil }

// line writes one event, wrapped to the terminal's width under the time.
func (t *liveText) line(s string) error {
	if t.width > 0 {
		s = strings.Join(human.Wrap(s, t.width, 13), "\n")
	}
	_, err := fmt.Fprintln(t.w, s)
	return err
}
