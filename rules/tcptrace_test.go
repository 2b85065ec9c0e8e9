package rules_test

import (
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/coapaudit/coapaudit/capture"
	"github.com/coapaudit/coapaudit/decode"
	"github.com/coapaudit/coapaudit/rules"
)

// tcpConn is a TCP connection in a trace: segments with sequence numbers
// that follow on, for CoAP over TCP (RFC 8323) on port 5683.
type tcpConn struct {
	tr             *trace
	client, server netip.AddrPort
	cseq, sseq     uint32
}

// dial adds the three-way handshake at offset at.
func (tr *trace) dial(at time.Duration, client, server string) *tcpConn {
	c := &tcpConn{tr: tr, client: netip.MustParseAddrPort(client), server: netip.MustParseAddrPort(server), cseq: 1000, sseq: 5000}
	c.segment(at, true, capture.TCPSyn, nil)
	c.cseq++
	c.segment(at, false, capture.TCPSyn|capture.TCPAck, nil)
	c.sseq++
	c.segment(at, true, capture.TCPAck, nil)
	return c
}

func (c *tcpConn) segment(at time.Duration, fromClient bool, flags capture.TCPFlags, payload []byte) int {
	tr := c.tr
	n := len(tr.ds) + 1
	d := capture.Datagram{
		Frame:      capture.Frame{Number: n, Time: tr.t0.Add(at), CapLen: len(payload), OrigLen: len(payload)},
		Kind:       capture.KindTCP,
		Src:        c.client,
		Dst:        c.server,
		Payload:    payload,
		PayloadOff: -1,
		Reason:     "tcp",
		TCP:        capture.TCPHeader{Seq: c.cseq, Ack: c.sseq, Flags: flags, Window: 65535},
	}
	if !fromClient {
		d.Src, d.Dst = c.server, c.client
		d.TCP.Seq, d.TCP.Ack = c.sseq, c.cseq
	}
	tr.ds = append(tr.ds, d)
	return n
}

// send adds one segment carrying msgs (RFC 8323 framing) and returns its
// frame number.
func (c *tcpConn) send(at time.Duration, fromClient bool, msgs ...[]byte) int {
	var b []byte
	for _, m := range msgs {
		b = append(b, m...)
	}
	n := c.segment(at, fromClient, capture.TCPPsh|capture.TCPAck, b)
	if fromClient {
		c.cseq += uint32(len(b))
	} else {
		c.sseq += uint32(len(b))
	}
	return n
}

// tmsg encodes a message in RFC 8323 framing.
func tmsg(code decode.Code, token, payload string, opts ...opt) []byte {
	m := message(0, code, 0, token, payload, opts...)
	m.Framing = decode.FramingTCP
	return m.AppendTCP(nil)
}

// csm is a 7.01 CSM with Max-Message-Size (0: none) and, when bwt,
// Block-Wise-Transfer.
func csm(maxSize uint32, bwt bool) []byte {
	var opts []opt
	if maxSize > 0 {
		opts = append(opts, uintOpt(decode.OptMaxMessageSize, maxSize))
	}
	if bwt {
		opts = append(opts, opt{decode.OptBlockWiseTransfer, nil})
	}
	return tmsg(decode.CodeCSM, "", "", opts...)
}

// signalingTrace breaks every RFC 8323 signaling rule on connections
// captured from their SYN; signalingFrames names the frame each rule's
// finding must include.
var signalingFrames = map[string]int{}

var signalingTrace = scenario{"RFC 8323 signaling trace", func(t *testing.T) []*rules.Finding {
	tr := newTrace()
	c := tr.dial(0, tcpClient, tcpServer)
	ms := time.Millisecond
	signalingFrames["csm-not-first"] = c.send(ms, true, tmsg(decode.CodeGET, "\x01", "", str(decode.OptURIPath, "a")))
	c.send(2*ms, true, csm(0, false))
	serverCSM := c.send(2*ms, false, csm(64, false))
	c.send(3*ms, false, tmsg(decode.CodeContent, "\x01", "x"))
	signalingFrames["message-too-large"] = c.send(4*ms, true, tmsg(decode.CodePUT, "\x03", strings.Repeat("x", 100), str(decode.OptURIPath, "a")))
	signalingFrames["bert-not-agreed"] = c.send(5*ms, true, tmsg(decode.CodeGET, "\x04", "", str(decode.OptURIPath, "big"), uintOpt(decode.OptBlock2, 7)))
	signalingFrames["ping-pong"] = c.send(6*ms, false, tmsg(decode.CodePong, "\x05", ""))
	ping := c.send(7*ms, true, tmsg(decode.CodePing, "\x06", ""))
	c.send(8*ms, false, tmsg(decode.CodeContent, "\x04", "y"))
	signalingFrames["ping-unanswered"] = ping
	signalingFrames["abort-bad-csm"] = c.send(9*ms, false, tmsg(decode.CodeAbort, "", "", uintOpt(decode.OptBadCSMOption, 2)))
	signalingFrames["csm"] = serverCSM
	d := tr.dial(20*ms, tcpClient2, tcpServer)
	d.send(21*ms, true, csm(0, true))
	d.send(21*ms, false, csm(0, true))
	signalingFrames["release-redirect"] = d.send(22*ms, false, tmsg(decode.CodeRelease, "", "", str(decode.OptAlternativeAddress, "coap+tcp://10.9.9.9")))
	return tr.run(t, nil, rules.Config{})
}}

// crossProxy is the recording of libcoap's proxy between a UDP client
// and a coap+tcp origin: real connections that keep RFC 8323's rules.
var crossProxy = shared("repo:libcoap-udp-tcp-proxy.pcap", "", rules.Config{})
