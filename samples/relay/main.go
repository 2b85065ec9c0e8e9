// Command relay is a transparent, misbehaving CoAP-over-UDP relay: the
// evidence generator for coapaudit's proxy rules.
//
//	go run ./samples/relay -listen 127.0.1.2:5683 -origin 127.0.1.3:5683 -truth FILE [-schedule S]
//	go run ./samples/relay -annotate CAPTURE -truth FILE
//
// The client talks to the relay as if it were the server. The relay sends
// every datagram on to the origin from an outgoing socket of its own, one
// per client, and the origin's datagrams back to that client, with Message
// ID and token unchanged. Requests are numbered from 1 in the order they
// arrive; a retransmission (same client, same Message ID) keeps its number.
// The schedule ("2:alter-method,5:delay=2,...") names the act committed on
// the n-th request or on its response; everything else is relayed byte for
// byte. Each act writes one JSON line to the truth file.
//
// With -origin-tcp the relay speaks CoAP over TCP (RFC 8323) to the origin,
// one connection per client (tcp.go): the acts are the same, committed on
// the datagram forms of the messages.
//
// With -annotate, the relay reads a capture of its own run and adds to every
// truth line the frame numbers that carry the act: the frame the relay
// received, then the frames it sent.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stderr)
	stop()
	os.Exit(code)
}

func run(ctx context.Context, args []string, stderr io.Writer) int {
	fs := flag.NewFlagSet("relay", flag.ContinueOnError)
	fs.SetOutput(stderr)
	listen := fs.String("listen", "127.0.1.2:5683", "`address` the clients send to")
	origin := fs.String("origin", "127.0.1.3:5683", "`address` of the origin server")
	truth := fs.String("truth", "", "truth `file` (JSON lines); required")
	schedule := fs.String("schedule", defaultSchedule, "acts keyed by request number: N:act[=arg],...")
	originTCP := fs.Bool("origin-tcp", false, "speak CoAP over TCP (RFC 8323) to the origin")
	annotate := fs.String("annotate", "", "add frame numbers from this `capture` to the truth file, then exit")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if *truth == "" || fs.NArg() > 0 {
		fmt.Fprintln(stderr, "usage: relay -listen ADDR -origin ADDR -truth FILE [-schedule S] | relay -annotate CAPTURE -truth FILE")
		return 2
	}
	if *annotate != "" {
		if err := annotateFile(*annotate, *truth); err != nil {
			fmt.Fprintf(stderr, "relay: %v\n", err)
			return 1
		}
		return 0
	}
	sched, err := parseSchedule(*schedule)
	if err != nil {
		fmt.Fprintf(stderr, "relay: %v\n", err)
		return 2
	}
	f, err := os.Create(*truth)
	if err != nil {
		fmt.Fprintf(stderr, "relay: %v\n", err)
		return 1
	}
	r, err := newRelay(*listen, *origin, sched, f, stderr)
	if err == nil {
		r.tcp = *originTCP
		err = r.serve(ctx)
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		fmt.Fprintf(stderr, "relay: %v\n", err)
		return 1
	}
	return 0
}
