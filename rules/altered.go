package rules

import (
	"slices"
	"strconv"
	"strings"

	"github.com/coapaudit/coapaudit/flows"
)

// AlteredRequest reports requests a proxy changed before sending them on.
var AlteredRequest = &Rule{
	ID: "altered-request",
	Doc: `a proxy sent the server a request other than the one the client sent

The exchange tracker links the request a proxy sent on to the one it
received by evidence (token, Message ID, method, resource, payload,
timing), compares the two on the bytes, and records each difference
(Exchange.Diff). The per-hop parts of a message are never differences:
Message ID, token, Uri-Host, Uri-Port, Proxy-Uri decomposed into the same
resource, Observe, Hop-Limit, Block and Size options, Echo and
Request-Tag; an ETag the proxy adds to validate its cache is allowed. Any
other change (method, resource, payload, Content-Format, Accept, If-Match,
an option added or dropped) is an act of the proxy, proven by the two
frames: the server acts on a request the client did not make.`,
	Threat:   T1,
	Severity: High,
	Seed:     "2.1.2.1",
	Requires: RequiresExchanges | RequiresProxy,
	Run: func(p *Pass) error {
		p.OnExchange(func(x *flows.Exchange) { altered(p, x, "request") })
		return nil
	},
}

// AlteredResponse reports responses a proxy changed before relaying them.
var AlteredResponse = &Rule{
	ID: "altered-response",
	Doc: `a proxy relayed a server's response to the client in a changed form

A client-leg response is paired with the server-leg response it was
made from: the one with the same content, or, when there is none, the
earliest one the proxy received and relayed to nobody. What differs is
recorded (Exchange.Diff). A proxy may answer with an error of its own
(5.02, 5.04), serve a 2.03 validation as the 2.05 it validated, lower
Max-Age by the time it held the response, and renumber Observe and
re-block; any other change (code, payload, Content-Format, ETag,
Location-*, an option added or dropped) is an act of the proxy, proven by
the two frames: the client processes a response the server did not
send.`,
	Threat:   T1,
	Severity: High,
	Seed:     "2.1.1.1",
	Requires: RequiresExchanges | RequiresProxy,
	Run: func(p *Pass) error {
		p.OnExchange(func(x *flows.Exchange) { altered(p, x, "response") })
		return nil
	},
}

// altered reports the unallowed differences of one direction of x, one
// finding per proxy.
func altered(p *Pass, x *flows.Exchange, dir string) {
	var proxies []string
	for _, d := range x.Diff {
		if d.Dir == dir && d.Allowed == "" && !slices.Contains(proxies, d.Proxy.String()) {
			proxies = append(proxies, d.Proxy.String())
		}
	}
	for _, proxy := range proxies {
		// One clause per pair of messages: the changes, then the frames.
		type pair struct{ in, out int }
		var pairs []pair
		changes := map[pair][]string{}
		var frames []int
		for _, d := range x.Diff {
			if d.Dir != dir || d.Allowed != "" || d.Proxy.String() != proxy {
				continue
			}
			pr, from, to := pair{d.ClientFrame, d.ServerFrame}, d.Client, d.Server
			if dir == "response" {
				pr, from, to = pair{d.ServerFrame, d.ClientFrame}, d.Server, d.Client
			}
			if _, ok := changes[pr]; !ok {
				pairs = append(pairs, pr)
			}
			changes[pr] = append(changes[pr], d.Field+" "+shown(from)+" to "+shown(to))
			frames = append(frames, d.ClientFrame, d.ServerFrame)
		}
		var clauses []string
		for _, pr := range pairs {
			clauses = append(clauses, andList(changes[pr])+" (frame "+strconv.Itoa(pr.in)+" in, frame "+strconv.Itoa(pr.out)+" out)")
		}
		slices.Sort(frames)
		frames = slices.Compact(frames)
		f := Finding{Exchange: x.ID, Frames: frames, Certainty: Did, Severity: High, Time: x.End}
		var b strings.Builder
		b.WriteString("Proxy " + proxy + " did alter ")
		if dir == "request" {
			b.WriteString("the request " + what(x) + " before sending it on to " + addrString(x.Server) + ": ")
		} else {
			b.WriteString("the server's response to " + what(x) + " before relaying it to client " + x.Client.String() + ": ")
		}
		b.WriteString(strings.Join(clauses, "; "))
		b.WriteString(".")
		f.Message = b.String()
		p.Report(f)
	}
}

// shown writes a diff value for a message: "(none)" for an absent
// option.
func shown(v string) string {
	if v == "" {
		return "(none)"
	}
	return v
}

// pairedFrames returns the frames of x's responses that the tracker
// paired across a proxy in a changed form: client-leg frames when client,
// else server-leg frames. Such a response was relayed, altered: neither
// made up nor withheld.
func pairedFrames(x *flows.Exchange, client bool) []int {
	var out []int
	for _, d := range x.Diff {
		if d.Dir != "response" {
			continue
		}
		if client {
			out = append(out, d.ClientFrame)
		} else {
			out = append(out, d.ServerFrame)
		}
	}
	return out
}
