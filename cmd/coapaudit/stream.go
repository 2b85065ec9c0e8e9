package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/spf13/cobra"

	"github.com/coapaudit/coapaudit/analysis"
	"github.com/coapaudit/coapaudit/capture"
	"github.com/coapaudit/coapaudit/export"
	"github.com/coapaudit/coapaudit/stream"
)

// streamFlags are analyze's flags for NATS JetStream: --publish makes it
// a sensor; a nats:// argument makes it an analyzer of the stream.
type streamFlags struct {
	publish     string
	sensor      string
	site        string
	partitionBy string
	publishWait time.Duration
	buffer      int

	streamName string
	partitions []string
	durable    string
	idle       float64
	duration   time.Duration
	window     time.Duration
	maxHeld    int
	maxSources int
	sensorKeys bool
	share      int
	results    bool
	clockRef   string

	creds, nkey, ca, cert, key string
}

// register adds the flags of the sensor and of the analyzer (analyze).
func (s *streamFlags) register(cmd *cobra.Command) {
	s.registerSensor(cmd)
	f := cmd.Flags()
	f.StringVar(&s.streamName, "stream", "COAPAUDIT", "JetStream stream `NAME`")
	f.StringArrayVar(&s.partitions, "partition", nil, "consume only partition `P` (repeatable; default all)")
	f.StringVar(&s.durable, "durable", "coapaudit", "checkpoint `NAME`: a run resumes each partition after what the last run with this name checkpointed")
	f.BoolVar(&s.results, "publish-results", false, "also publish every exchange and finding (its NDJSON object) to coapaudit.exchange.<partition> and coapaudit.finding.<partition> in stream NAME_RESULTS")
	f.StringVar(&s.clockRef, "clock-reference", "", "`SENSOR` (or SENSOR/FILE) whose clock the others' offsets are estimated against (default: the first by name)")
	f.IntVar(&s.share, "share", 0, "split the --partition list with the other analyzers running with the same --durable, each partition read by one at a time; --share alone: among those running, --share=N: among at least N")
	f.Lookup("share").NoOptDefVal = "1"
	f.Float64Var(&s.idle, "idle", 5, "end after `SECONDS` without records (0: no limit)")
	f.DurationVar(&s.duration, "duration", 0, "end after this long (0: no limit)")
	f.DurationVar(&s.window, "window", 2*time.Second, "reordering window: how long a sensor quiet for this long may still send older records")
	f.BoolVar(&s.sensorKeys, "sensor-keys", false, "the sensors decrypt OSCORE with keys: run the rules that need keys")
	f.IntVar(&s.maxHeld, "max-buffered", 1_000_000, "`N` records held for reordering at most; beyond, the oldest go on at once")
	f.IntVar(&s.maxSources, "max-sources", 16, "`N` sensor capture files an analyzer run tells apart")
}

// registerSensor adds the flags of a sensor (analyze and live).
func (s *streamFlags) registerSensor(cmd *cobra.Command) {
	f := cmd.Flags()
	f.StringVar(&s.publish, "publish", "", "publish the decoded CoAP messages to NATS JetStream at `URLS` (nats://HOST:PORT[,...]) instead of analysing them here")
	f.StringVar(&s.sensor, "sensor", "", "`NAME` of this sensor in published records (default: the host name)")
	f.StringVar(&s.site, "site", "", "partition `NAME` for --partition-by site")
	f.StringVar(&s.partitionBy, "partition-by", "site", "partition key of published records: site (--site) or proxy (--proxy addresses)")
	f.DurationVar(&s.publishWait, "publish-wait", 10*time.Second, "how long to wait at the end for the stream's acknowledgements")
	f.IntVar(&s.buffer, "publish-buffer", 65536, "`N` records buffered while the stream is slow or away; beyond, records are dropped and counted")
	f.StringVar(&s.creds, "nats-creds", "", "NATS credentials `FILE`")
	f.StringVar(&s.nkey, "nats-nkey", "", "NATS nkey seed `FILE`")
	f.StringVar(&s.ca, "nats-ca", "", "CA `FILE` for TLS to NATS")
	f.StringVar(&s.cert, "nats-cert", "", "client certificate `FILE` for TLS to NATS")
	f.StringVar(&s.key, "nats-key", "", "client key `FILE` for TLS to NATS")
}

func (s *streamFlags) conn(urls, name string, retry bool) stream.ConnOptions {
	return stream.ConnOptions{URLs: urls, Name: name, Creds: s.creds, NKey: s.nkey, CA: s.ca, Cert: s.cert, Key: s.key,
		ConnectTimeout: 5 * time.Second, Retry: retry}
}

// publishReport is the line a sensor writes when it is done.
type publishReport struct {
	Type    string `json:"type"`
	Sensor  string `json:"sensor"`
	Frames  int    `json:"frames"`
	Records uint64 `json:"records"`
	stream.PublishStats
	Seconds float64 `json:"seconds"`
}

// sensor publishes what an Engine decodes.
type sensor struct {
	s     *streamFlags
	nc    interface{ Close() }
	pub   *stream.Publisher
	start time.Time
}

// startSensor connects to the servers and sets opts up to publish every
// message of the captures names instead of analysing it: no tracker, no
// rules, no leaks. maxBlock is how long a full buffer may hold the
// capture (0 for a live one).
func startSensor(af *analyzeFlags, opts *analysis.Options, names []string, maxBlock time.Duration) (*sensor, error) {
	start := time.Now()
	s := &af.stream
	fl, err := af.flowsConfig()
	if err != nil {
		return nil, err
	}
	part, err := stream.NewPartitioner(s.partitionBy, s.site, fl.Proxies)
	if err != nil {
		return nil, usageErr("%v", err)
	}
	if s.sensor == "" {
		if s.sensor, err = os.Hostname(); err != nil || s.sensor == "" {
			s.sensor = "sensor"
		}
	}
	nc, err := stream.Connect(s.conn(s.publish, "coapaudit sensor "+s.sensor, true))
	if err != nil {
		return nil, err
	}
	pub, err := stream.NewPublisher(nc, part, stream.PublisherConfig{Buffer: s.buffer, MaxBlock: maxBlock})
	if err != nil {
		nc.Close()
		return nil, err
	}
	refs := capture.NewFrameRefs(names)
	if refs == nil {
		// One capture: its name still goes in the records.
		refs = &capture.FrameRefs{Files: names}
	}
	opts.FrameRefs = refs
	opts.TrackExchanges, opts.Rules, opts.Leaks = false, nil, false
	keyed := opts.Keys.Len() > 0
	opts.OnCoAP = func(m *analysis.CoAPMessage) {
		r := stream.NewRecord(s.sensor, refs, m)
		r.Keyed = keyed
		pub.Publish(r)
	}
	return &sensor{s: s, nc: nc, pub: pub, start: start}, nil
}

// finish waits for the acknowledgements (--publish-wait) and writes the
// publish line; frames is how many frames were read.
func (x *sensor) finish(e *env, frames int) error {
	defer x.nc.Close()
	ctx, cancel := context.WithTimeout(context.Background(), x.s.publishWait)
	defer cancel()
	st := x.pub.Close(ctx)
	if lost := st.Dropped + st.Failed + st.Unacked; lost > 0 {
		warnf(e, "published %d of %d records: %d dropped, %d failed, %d not acknowledged", st.Acked, st.Offered, st.Dropped, st.Failed, st.Unacked)
	}
	rep := publishReport{Type: "publish", Sensor: x.s.sensor, Frames: frames, Records: st.Offered, PublishStats: st,
		Seconds: time.Since(x.start).Seconds()}
	b, _ := json.Marshal(rep)
	_, err := fmt.Fprintf(e.stdout, "%s\n", b)
	return err
}

// runSensor runs the per-packet stages over the captures and publishes
// every CoAP message. Reading files, it may wait for a slow stream (not
// for an absent one).
func runSensor(e *env, af *analyzeFlags, files []string) error {
	opts, err := af.options()
	if err != nil {
		return err
	}
	names := make([]string, len(files))
	for i, f := range files {
		names[i] = displayName(f)
	}
	var readers []*capture.Reader
	defer func() {
		for _, r := range readers {
			r.Close()
		}
	}()
	for _, name := range files {
		r, err := openCapture(e, name)
		if err != nil {
			return err
		}
		readers = append(readers, r)
	}
	x, err := startSensor(af, &opts, names, 5*time.Second)
	if err != nil {
		return err
	}
	eng := analysis.New(opts, nil)
	m := analysis.NewMerge(files, readers)
	for f := m.Next(); f != nil; f = m.Next() {
		if e.ctx.Err() != nil {
			break
		}
		eng.Frame(&f.D, f.Index, "")
		f.Advance()
	}
	mergeEnded(e, eng, m)
	return x.finish(e, eng.Finish().Frames)
}

// remote is an analyzer's run over the stream.
type remote struct {
	sess    *stream.Session
	refs    *capture.FrameRefs
	sources map[string]int
	nc      *nats.Conn
	// sensorKeys: --sensor-keys was given.
	sensorKeys bool
	share      bool
	// parts are the partitions of the sources (by file index); results
	// publishes exchanges and findings (--publish-results).
	parts   []string
	results *resultsWriter
}

// openRemote connects to the stream and claims the partitions.
// The frame references hold up to --max-sources capture files, named as
// their records arrive ("sensor/file").
func openRemote(e *env, af *analyzeFlags, urls string, opts *analysis.Options) (*remote, error) {
	s := &af.stream
	if s.sensorKeys {
		opts.RulesConfig.Keys = true
	}
	opts.RulesConfig.FrameStride = s.maxSources
	if s.maxSources < 1 {
		return nil, usageErr("--max-sources must be at least 1")
	}
	// --clock-offset names sensors here, not files; --max-skew 0
	// estimates nothing.
	offsets := map[string]time.Duration{}
	for _, a := range af.clockFlags.offsetArgs {
		name, val, ok := strings.Cut(a, "=")
		if !ok || name == "" {
			return nil, usageErr("--clock-offset %q: want SENSOR=OFFSET (or SENSOR/FILE=OFFSET) for a stream", a)
		}
		d, err := parseOffset(val)
		if err != nil {
			return nil, usageErr("--clock-offset %q: %v", a, err)
		}
		offsets[name] = d
	}
	af.clockFlags.offsetArgs = nil
	maxSkew := af.clockFlags.maxSkew
	if maxSkew == 0 {
		maxSkew = -1
	}
	nc, err := stream.Connect(s.conn(urls, "coapaudit analyzer", false))
	if err != nil {
		return nil, err
	}
	js, err := jetstream.New(nc)
	if err != nil {
		nc.Close()
		return nil, err
	}
	sess, err := stream.Open(e.ctx, js, stream.ConsumerConfig{Stream: s.streamName, Durable: s.durable, Partitions: s.partitions,
		Window: s.window, MaxBuffered: s.maxHeld, Idle: time.Duration(s.idle * float64(time.Second)), Duration: s.duration,
		Share: s.share > 0, Analyzers: s.share, Offsets: offsets, MaxSkew: maxSkew, ClockReference: s.clockRef, Batch: testPullBatch})
	if err != nil {
		nc.Close()
		if errors.Is(err, context.Canceled) {
			return nil, err
		}
		return nil, fmt.Errorf("stream: %w", err)
	}
	r := &remote{sess: sess, nc: nc, sources: map[string]int{}, sensorKeys: s.sensorKeys, share: s.share > 0,
		refs: &capture.FrameRefs{Files: make([]string, s.maxSources)}, parts: make([]string, s.maxSources)}
	if s.results {
		if r.results, err = openResults(e.ctx, nc, js, s.streamName, r); err != nil {
			r.close()
			return nil, err
		}
	}
	return r, nil
}

// openResults makes the results stream when missing and returns the
// writer that publishes exchanges and findings to it.
func openResults(ctx context.Context, nc *nats.Conn, js jetstream.JetStream, name string, r *remote) (*resultsWriter, error) {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if _, err := js.Stream(ctx, stream.ResultsStream(name)); errors.Is(err, jetstream.ErrStreamNotFound) {
		st, err := js.Stream(ctx, name)
		if err != nil {
			return nil, fmt.Errorf("stream %s: %w", name, err)
		}
		cfg := st.CachedInfo().Config
		if _, err := stream.InitResults(ctx, js, stream.StreamConfig{Name: name, Replicas: cfg.Replicas, MaxAge: cfg.MaxAge,
			MaxBytes: cfg.MaxBytes, Duplicates: cfg.Duplicates}); err != nil {
			return nil, fmt.Errorf("results stream: %w", err)
		}
	} else if err != nil {
		return nil, fmt.Errorf("results stream: %w", err)
	}
	pub, err := stream.NewResultPublisher(nc)
	if err != nil {
		return nil, err
	}
	return &resultsWriter{pub: pub, r: r}, nil
}

// resultsWriter publishes the exchanges and findings written to it.
type resultsWriter struct {
	pub *stream.ResultPublisher
	r   *remote
}

// Write publishes an exchange or a finding as its JSON object; its
// partition is that of its first frame, its ID derived from its frames
// (and for a finding its rule and verdict).
func (w *resultsWriter) Write(rec export.Record) error {
	var frames []int
	var facts []string
	switch x := rec.(type) {
	case export.Exchange:
		frames = x.Frames
	case export.Finding:
		frames = x.Frames
		facts = append(facts, x.Rule, x.Severity.String(), x.Certainty.String())
	default:
		return nil
	}
	part := w.r.partition(frames)
	facts = append(facts, part)
	for _, f := range frames {
		facts = append(facts, w.r.refs.Name(f))
	}
	return w.pub.Publish(rec.Type(), part, stream.ResultID(rec.Type(), facts...), rec.AppendJSON(nil))
}

// Close waits for the stream to store every result.
func (w *resultsWriter) Close() error {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	return w.pub.Close(ctx)
}

// partition is the partition of the record of the first of frames (with
// none, the run's partition when it read one).
func (r *remote) partition(frames []int) string {
	if len(frames) > 0 {
		file, _ := r.refs.Split(frames[0])
		if file >= 0 && file < len(r.parts) && r.parts[file] != "" {
			return r.parts[file]
		}
	}
	if p := r.sess.Stats.Partitions; len(p) == 1 && p[0] != "" {
		return p[0]
	}
	return stream.Fallback
}

// Tests set these: testPullBatch, records per pull (0: the default);
// testOnRecord runs after each record is analysed.
var (
	testPullBatch int
	testOnRecord  func(r *remote, n int)
)

// run feeds the stream's records to eng until the run ends.
func (r *remote) run(e *env, eng *analysis.Engine) error {
	bad, keyed, n := 0, false, 0
	err := r.sess.Run(e.ctx, func(rec *stream.Record) error {
		keyed = keyed || rec.Keyed
		i, err := r.source(eng, rec.Sensor, rec.File)
		if err != nil {
			return err
		}
		if r.parts[i] == "" {
			r.parts[i] = rec.Partition
		}
		m, err := rec.Message(i, func(file string, frame int) int {
			j, err := r.source(eng, rec.Sensor, file)
			if err != nil {
				return 0
			}
			n, _ := r.refs.Ref(j, frame)
			return n
		})
		if err == nil {
			err = eng.Message(m)
		}
		if err != nil {
			bad++
		}
		if n++; testOnRecord != nil {
			testOnRecord(r, n)
		}
		return nil
	})
	st := r.sess.Stats
	if r.share {
		counts := make([]string, len(st.Partitions))
		for i, p := range st.Partitions {
			counts[i] = fmt.Sprintf("%s %d", p, st.PartitionRecords[i])
		}
		warnf(e, "stream: read partitions %q (records: %s)", st.Partitions, strings.Join(counts, ", "))
	}
	if len(st.Lost) > 0 {
		warnf(e, "stream: partitions %q were taken over by another analyzer during the run", st.Lost)
	}
	if keyed && !r.sensorKeys {
		warnf(e, "stream: sensors decrypted OSCORE with keys; --sensor-keys runs the rules that need keys")
	}
	if bad > 0 || st.Late+st.Behind > 0 || st.Invalid > 0 {
		warnf(e, "stream: %d records received, %d late and %d behind others (past --window), %d invalid, %d not analysed",
			st.Received, st.Late, st.Behind, st.Invalid, bad)
	}
	return err
}

// source returns the file index of a sensor's capture file, naming it
// "sensor/file" when first seen.
func (r *remote) source(eng *analysis.Engine, sensor, file string) (int, error) {
	src := sensor + "/" + file
	i, ok := r.sources[src]
	if !ok {
		if len(r.sources) == len(r.refs.Files) {
			return 0, fmt.Errorf("records from more than %d capture files (--max-sources)", len(r.refs.Files))
		}
		i = len(r.sources)
		r.sources[src] = i
		r.refs.Files[i] = src
		eng.AddFile(src)
	}
	return i, nil
}

// ack checkpoints the run's records once its results are written.
func (r *remote) ack() error {
	// While a cluster elects the leader of the checkpoints' group (a
	// node lost) writes wait: give it time.
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	return r.sess.Ack(ctx)
}

func (r *remote) close() {
	r.sess.Close()
	r.nc.Close()
}

// streamsCmd manages the stream.
func streamsCmd(e *env) *cobra.Command {
	cmd := &cobra.Command{Use: "streams", Short: "manage the NATS JetStream stream sensors publish to"}
	var s streamFlags
	var c stream.StreamConfig
	var maxAge time.Duration
	var maxBytes int64
	initCmd := &cobra.Command{
		Use:   "init nats://HOST:PORT[,...]",
		Short: "create the stream (or update its limits)",
		Long: `init creates the stream records are published to: subjects coapaudit.msg.>,
file storage, limits retention (the oldest records go when --max-age or
--max-bytes is reached), a duplicate window for record IDs, and
--replicas copies on a JetStream cluster.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			nc, err := stream.Connect(s.conn(args[0], "coapaudit streams", false))
			if err != nil {
				return err
			}
			defer nc.Close()
			js, err := jetstream.New(nc)
			if err != nil {
				return err
			}
			c.Name, c.MaxAge, c.MaxBytes = s.streamName, maxAge, maxBytes
			ctx, cancel := context.WithTimeout(e.ctx, 30*time.Second)
			defer cancel()
			st, err := stream.InitStream(ctx, js, c)
			if err != nil {
				return fmt.Errorf("stream %s: %w", c.Name, err)
			}
			info := st.CachedInfo()
			fmt.Fprintf(e.stdout, "stream %s: subjects %v, %d replicas, %d records\n", info.Config.Name, info.Config.Subjects, info.Config.Replicas, info.State.Msgs)
			return nil
		},
	}
	f := initCmd.Flags()
	f.StringVar(&s.streamName, "stream", "COAPAUDIT", "stream `NAME`")
	f.IntVar(&c.Replicas, "replicas", 1, "copies of the stream on the cluster (1, 3 or 5)")
	f.DurationVar(&maxAge, "max-age", 7*24*time.Hour, "drop records older than this")
	f.Int64Var(&maxBytes, "max-bytes", 10<<30, "drop the oldest records beyond this many bytes")
	f.DurationVar(&c.Duplicates, "duplicate-window", 10*time.Minute, "window in which a record published again is stored once")
	f.StringVar(&s.creds, "nats-creds", "", "NATS credentials `FILE`")
	f.StringVar(&s.nkey, "nats-nkey", "", "NATS nkey seed `FILE`")
	f.StringVar(&s.ca, "nats-ca", "", "CA `FILE` for TLS to NATS")
	cmd.AddCommand(initCmd)
	return cmd
}
