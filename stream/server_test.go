package stream

import (
	"context"
	"net/netip"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/coapaudit/coapaudit/analysis"
	"github.com/coapaudit/coapaudit/decode"
	"github.com/coapaudit/coapaudit/internal/natstest"
)

// publishN publishes n records of sensor on partition lab and waits for
// their acknowledgements.
func publishN(t *testing.T, urls, sensor string, n int) PublishStats {
	t.Helper()
	return publishFrames(t, urls, sensor, 1, n, PublisherConfig{})
}

func openJS(t *testing.T, urls string) jetstream.JetStream { return natstest.Connect(t, urls) }

// consume runs a session over partition lab and returns the frames fed.
func consume(t *testing.T, js jetstream.JetStream, ack bool) []int {
	t.Helper()
	ctx := context.Background()
	s, err := Open(ctx, js, ConsumerConfig{Stream: "R", Durable: "d", Partitions: []string{"lab"},
		Idle: 3 * time.Second, Duration: 30 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	var frames []int
	if err := s.Run(ctx, func(r *Record) error { frames = append(frames, r.Frame); return nil }); err != nil {
		t.Fatal(err)
	}
	if ack {
		if err := s.Ack(ctx); err != nil {
			t.Fatal(err)
		}
	}
	return frames
}

// TestRestartResumes: a run that ends without a checkpoint (a crashed
// analyzer) leaves its records to the next run, at once (there is no ack
// wait); a run that checkpointed leaves nothing, and a record published
// again (same ID) is stored once.
func TestRestartResumes(t *testing.T) {
	cl := natstest.Start(t, 1)
	js := openJS(t, cl.URLs())
	ctx := context.Background()
	if _, err := InitStream(ctx, js, StreamConfig{Name: "R"}); err != nil {
		t.Fatal(err)
	}
	publishN(t, cl.URLs(), "s", 50)
	if st := publishN(t, cl.URLs(), "s", 50); st.Duplicates != 50 {
		t.Errorf("publishing again stored duplicates: %+v", st)
	}
	if got := consume(t, js, false); len(got) != 50 || got[0] != 1 || got[49] != 50 {
		t.Fatalf("first run got %d records (%v), want 1..50", len(got), got)
	}
	if got := consume(t, js, true); len(got) != 50 || got[0] != 1 || got[49] != 50 {
		t.Fatalf("run after a crash got %d records (%v), want 1..50", len(got), got)
	}
	if got := consume(t, js, true); len(got) != 0 {
		t.Errorf("run after a checkpointed run got %d records", len(got))
	}
}

// TestEngineBack: records published while the server is down wait in the
// sensor's buffer and reach the stream once it is back.
func TestEngineBack(t *testing.T) {
	cl := natstest.Start(t, 1)
	ctx := context.Background()
	if _, err := InitStream(ctx, openJS(t, cl.URLs()), StreamConfig{Name: "R"}); err != nil {
		t.Fatal(err)
	}
	node := cl.Nodes[0]
	node.Stop()
	nc, err := Connect(ConnOptions{URLs: cl.URLs(), Retry: true})
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	part, _ := NewPartitioner("site", "lab", nil)
	p, err := NewPublisher(nc, part, PublisherConfig{Buffer: 100})
	if err != nil {
		t.Fatal(err)
	}
	var msg decode.Message
	if err := msg.Decode([]byte{0x50, 0x01, 0x00, 0x01}); err != nil {
		t.Fatal(err)
	}
	for i := range 150 {
		p.Publish(NewRecord("s", nil, &analysis.CoAPMessage{Frame: i + 1, Time: time.Unix(0, int64(i)), Msg: &msg, Size: 4}))
	}
	// Publish returned for every record with the server away: at most
	// the buffer (and the one record taken from it) waits.
	if st := p.Stats(); st.Dropped < 49 || st.Dropped > 50 || st.Acked != 0 {
		t.Fatalf("with the server away: %+v", st)
	}
	node.Start()
	cctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	st := p.Close(cctx)
	if st.Acked+st.Dropped != 150 || st.Failed+st.Unacked != 0 {
		t.Errorf("after the server came back: %+v", st)
	}
	if got := consume(t, openJS(t, cl.URLs()), true); uint64(len(got)) != st.Acked {
		t.Errorf("the stream holds %d records, %d acknowledged", len(got), st.Acked)
	}
}

// TestClusterNodeLoss: on three nodes with three replicas, one node
// stops while a sensor publishes and comes back; then, while the analyzer
// consumes, the node its consumer lives on stops (and comes back), and
// later the node its connection goes through. Every record is received
// once, none is missing, and the checkpoint goes through: a second run
// finds nothing left.
func TestClusterNodeLoss(t *testing.T) {
	cl := natstest.Start(t, 3)
	ctx := context.Background()
	js := openJS(t, cl.URLs())
	if _, err := InitStream(ctx, js, StreamConfig{Name: "R", Replicas: 3}); err != nil {
		t.Fatal(err)
	}
	const half = 1000
	publishRange(t, cl.URLs(), 1, half)
	cl.Nodes[0].Stop()
	cl.WaitStream(t, "R", 30*time.Second)
	publishRange(t, cl.URLs(), half+1, 2*half)
	cl.Nodes[0].Start()
	cl.WaitReady(t, 30*time.Second)

	nc, err := Connect(ConnOptions{URLs: cl.URLs()})
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	ajs, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	// Small pulls, so that most records are still on the servers when
	// a node goes.
	s, err := Open(ctx, ajs, ConsumerConfig{Stream: "R", Durable: "d", Partitions: []string{"lab"}, Batch: 50,
		Idle: 3 * time.Second, Duration: 60 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	node := func(name string) *natstest.Node {
		for _, n := range cl.Nodes {
			if n.Name == name {
				return n
			}
		}
		t.Fatalf("no node %q", name)
		return nil
	}
	var stopped []string
	seen := map[int]int{}
	n := 0
	err = s.Run(ctx, func(r *Record) error {
		seen[r.Frame]++
		n++
		switch n {
		case 400:
			// The node the consumer lives on goes away mid-run.
			info, err := s.cons[0].c.Info(ctx)
			if err != nil || info.Cluster == nil || info.Cluster.Leader == "" {
				t.Fatalf("consumer info: %v %+v", err, info)
			}
			nd := node(info.Cluster.Leader)
			nd.Stop()
			stopped = append(stopped, "consumer's "+nd.Name)
		case 900:
			for _, nd := range cl.Nodes {
				nd.Start() // the running ones are left alone
			}
			cl.WaitReady(t, 30*time.Second)
			// Another node may go once this one has caught up.
			cl.WaitCurrent(t, 60*time.Second, "R", "KV_R_checkpoints", "KV_R_leases", "R_RESULTS")
		case 1300:
			// Then the node the analyzer is connected to.
			nd := node(nc.ConnectedServerName())
			nd.Stop()
			stopped = append(stopped, "connection's "+nd.Name)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(stopped) != 2 {
		t.Fatalf("nodes stopped: %v; %d records", stopped, n)
	}
	for f := 1; f <= 2*half; f++ {
		if seen[f] != 1 {
			t.Fatalf("frame %d received %d times (%d frames in all, after stopping %v; %+v)", f, seen[f], len(seen), stopped, s.Stats)
		}
	}
	if len(seen) != 2*half || n != 2*half {
		t.Errorf("%d frames received (%d records), want %d", len(seen), n, 2*half)
	}
	t.Logf("stopped %v: %+v", stopped, s.Stats)
	actx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if err := s.Ack(actx); err != nil {
		t.Errorf("checkpoint after a node loss: %v", err)
	}
	s.Close()
	if got := consume(t, js, true); len(got) != 0 {
		t.Errorf("the run after the checkpoint got %d records", len(got))
	}
}

// publishRange publishes the records of frames first..last, waiting
// for room in the buffer, and checks every acknowledgement.
func publishRange(t *testing.T, urls string, first, last int) {
	t.Helper()
	publishFrames(t, urls, "s", first, last, PublisherConfig{MaxBlock: 10 * time.Second})
}

// publishFrames publishes the records of frames first..last of sensor on
// partition lab and fails unless all are acknowledged.
func publishFrames(t *testing.T, urls, sensor string, first, last int, cfg PublisherConfig) PublishStats {
	t.Helper()
	nc, err := Connect(ConnOptions{URLs: urls, Retry: true})
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	part, _ := NewPartitioner("site", "lab", nil)
	p, err := NewPublisher(nc, part, cfg)
	if err != nil {
		t.Fatal(err)
	}
	var msg decode.Message
	if err := msg.Decode([]byte{0x50, 0x01, 0x00, 0x01}); err != nil {
		t.Fatal(err)
	}
	for f := first; f <= last; f++ {
		p.Publish(NewRecord(sensor, nil, &analysis.CoAPMessage{Frame: f, Time: time.Unix(0, int64(f)), Msg: &msg, Size: 4,
			Src: netip.MustParseAddrPort("127.0.0.1:1"), Dst: netip.MustParseAddrPort("127.0.0.2:5683")}))
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	st := p.Close(ctx)
	if st.Acked != uint64(last-first+1) {
		t.Fatalf("frames %d-%d: %+v", first, last, st)
	}
	return st
}
