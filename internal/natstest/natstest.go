// Package natstest runs NATS JetStream servers for tests: one node or a
// three-node cluster on 127.0.0.1, on free ports, with their stores under
// the test's temporary directory, stopped when the test ends. Tests skip
// without nats-server (and fail under COAPAUDIT_REQUIRE_TOOLS=1).
package natstest

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/coapaudit/coapaudit/internal/testenv"
)

// Node is one server.
type Node struct {
	Name string
	Port int
	conf string
	bin  string
	cmd  *exec.Cmd
	log  string
	t    testing.TB
}

// URL is the node's client URL.
func (n *Node) URL() string { return fmt.Sprintf("nats://127.0.0.1:%d", n.Port) }

// Cluster is a set of nodes.
type Cluster struct{ Nodes []*Node }

// URLs are the client URLs of every node, comma-separated.
func (c *Cluster) URLs() string {
	var u []string
	for _, n := range c.Nodes {
		u = append(u, n.URL())
	}
	return strings.Join(u, ",")
}

func freePorts(t testing.TB, n int) []int {
	t.Helper()
	var ls []net.Listener
	var ports []int
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		ls = append(ls, l)
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	for _, l := range ls {
		l.Close()
	}
	return ports
}

// Start runs n nodes (1 or a cluster of 3 or more) and waits until
// JetStream answers.
func Start(t testing.TB, n int) *Cluster {
	t.Helper()
	bin := testenv.Tool(t, "nats-server")
	dir := t.TempDir()
	ports := freePorts(t, 2*n)
	var routes []string
	for i := range n {
		routes = append(routes, fmt.Sprintf("nats-route://127.0.0.1:%d", ports[n+i]))
	}
	c := &Cluster{}
	for i := range n {
		name := fmt.Sprintf("n%d", i+1)
		store := filepath.Join(dir, name)
		conf := fmt.Sprintf("server_name: %s\nlisten: 127.0.0.1:%d\njetstream { store_dir: %q }\n", name, ports[i], store)
		if n > 1 {
			conf += fmt.Sprintf("cluster { name: c; listen: 127.0.0.1:%d; routes: [%s] }\n", ports[n+i], strings.Join(routes, ", "))
		}
		path := filepath.Join(dir, name+".conf")
		if err := os.WriteFile(path, []byte(conf), 0o644); err != nil {
			t.Fatal(err)
		}
		node := &Node{Name: name, Port: ports[i], conf: path, bin: bin, log: filepath.Join(dir, name+".log"), t: t}
		node.Start()
		c.Nodes = append(c.Nodes, node)
	}
	t.Cleanup(func() {
		for _, nd := range c.Nodes {
			nd.Stop()
		}
	})
	c.WaitReady(t, 30*time.Second)
	return c
}

// Start starts the node (again, after Stop) on its port and store; a
// running node is left alone.
func (n *Node) Start() {
	n.t.Helper()
	if n.cmd != nil {
		return
	}
	logf, err := os.OpenFile(n.log, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		n.t.Fatal(err)
	}
	defer logf.Close()
	n.cmd = exec.Command(n.bin, "-c", n.conf)
	n.cmd.Stdout, n.cmd.Stderr = logf, logf
	if err := n.cmd.Start(); err != nil {
		n.t.Fatalf("nats-server: %v", err)
	}
}

// Stop ends the node's process and waits for it.
func (n *Node) Stop() {
	if n.cmd == nil || n.cmd.Process == nil {
		return
	}
	n.cmd.Process.Kill()
	n.cmd.Wait()
	n.cmd = nil
}

// Log returns what the node wrote.
func (n *Node) Log() string {
	b, _ := os.ReadFile(n.log)
	return string(b)
}

// WaitReady waits until JetStream answers on every running node.
func (c *Cluster) WaitReady(t testing.TB, within time.Duration) {
	t.Helper()
	deadline := time.Now().Add(within)
	for _, n := range c.Nodes {
		if n.cmd == nil {
			continue
		}
		for {
			err := jetstreamReady(n.URL())
			if err == nil {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("node %s not ready: %v\n%s", n.Name, err, n.Log())
			}
			time.Sleep(100 * time.Millisecond) // polling the server, bounded by the deadline
		}
	}
}

// Connect connects a JetStream client to urls; the connection is closed
// when the test ends.
func Connect(t testing.TB, urls string) jetstream.JetStream {
	t.Helper()
	nc, err := nats.Connect(urls, nats.Timeout(time.Second))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	return js
}

func jetstreamReady(url string) error {
	nc, err := nats.Connect(url, nats.Timeout(time.Second))
	if err != nil {
		return err
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	_, err = js.AccountInfo(ctx)
	return err
}

// WaitCurrent waits until every named stream has a leader and every
// replica is current and online: after a node came back, it has caught
// up, so that the cluster survives the loss of another node.
func (c *Cluster) WaitCurrent(t testing.TB, within time.Duration, names ...string) {
	t.Helper()
	c.waitStreams(t, within, names, func(si *jetstream.StreamInfo) error {
		if err := hasLeader(si); err != nil {
			return err
		}
		for _, r := range si.Cluster.Replicas {
			if !r.Current || r.Offline {
				return fmt.Errorf("replica %s not current", r.Name)
			}
		}
		return nil
	})
}

// WaitStream waits until stream name answers through the running nodes
// (after a node stopped, its groups elect new leaders).
func (c *Cluster) WaitStream(t testing.TB, name string, within time.Duration) {
	t.Helper()
	c.waitStreams(t, within, []string{name}, hasLeader)
}

func hasLeader(si *jetstream.StreamInfo) error {
	if si.Cluster == nil || si.Cluster.Leader == "" {
		return fmt.Errorf("no leader")
	}
	return nil
}

// waitStreams waits until check accepts the information of every named
// stream, asked through the running nodes.
func (c *Cluster) waitStreams(t testing.TB, within time.Duration, names []string, check func(*jetstream.StreamInfo) error) {
	t.Helper()
	var urls []string
	for _, n := range c.Nodes {
		if n.cmd != nil {
			urls = append(urls, n.URL())
		}
	}
	js := Connect(t, strings.Join(urls, ","))
	defer js.Conn().Close()
	deadline := time.Now().Add(within)
	for _, name := range names {
		for {
			ctx, cancel := context.WithTimeout(context.Background(), time.Second)
			st, err := js.Stream(ctx, name)
			if err == nil {
				var si *jetstream.StreamInfo
				if si, err = st.Info(ctx); err == nil {
					err = check(si)
				}
			}
			cancel()
			if err == nil {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("stream %s not available: %v", name, err)
			}
			time.Sleep(100 * time.Millisecond) // polling the servers, bounded by the deadline
		}
	}
}
