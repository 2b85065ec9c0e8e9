package analysis

import (
	"net/netip"
	"time"

	"github.com/coapaudit/coapaudit/capture"
	"github.com/coapaudit/coapaudit/coaptcp"
	"github.com/coapaudit/coapaudit/decode"
	"github.com/coapaudit/coapaudit/dissect"
	"github.com/coapaudit/coapaudit/rules"
	"github.com/coapaudit/coapaudit/tlsdec"
)

// CoAP over TCP, TLS and WebSockets (RFC 8323): TCP segments go to the
// coaptcp assembler, and each message it finds goes through the same
// stages as a message from a datagram (Engine.message), marked with its
// reliable transport. The assembler is given frame references, so a
// message's frames name their files too.

// TCPOptions configure CoAP over TCP, TLS and WebSockets.
type TCPOptions struct {
	// Off leaves TCP segments unanalysed ("other" frames).
	Off bool
	// CoAPPorts are coap+tcp ports besides 5683; TLSPorts coaps+tcp ports
	// besides 5684. Connections on other ports are recognised by their
	// first bytes unless the dissector's heuristics are off; WebSockets by
	// their HTTP Upgrade on any port.
	CoAPPorts, TLSPorts []uint16
	// MaxStreams, MaxStreamBuffer and MaxTotalBuffer bound the
	// reassembly (coaptcp's defaults when 0).
	MaxStreams, MaxStreamBuffer, MaxTotalBuffer int
}

// tcpState is the engine's part of the reliable transports.
type tcpState struct {
	a *coaptcp.Assembler
	// conns are the TLS connections being decrypted, for the summary.
	conns []TLSConn
	// While a frame is being run: its file, so that messages it
	// completes are counted in its packet record.
	inFrame bool
	seg     capture.Datagram
	// first: the message being run is its sender's first on the
	// connection (coaptcp.Message.First), for the rules.
	first bool
	// msgFrames holds the frames of the messages the frame being run
	// completed, for its packet record (reused).
	msgFrames [][]int
}

func (e *Engine) startTCP(opts Options) {
	o := opts.TCP
	if o.Off {
		return
	}
	t := &tcpState{}
	cfg := coaptcp.Config{
		CoAPPorts:       append([]uint16{dissect.PortCoAP}, o.CoAPPorts...),
		TLSPorts:        append([]uint16{dissect.PortCoAPS}, o.TLSPorts...),
		Heuristics:      !opts.Dissect.NoHeuristics,
		MaxStreams:      o.MaxStreams,
		MaxStreamBuffer: o.MaxStreamBuffer,
		MaxTotalBuffer:  o.MaxTotalBuffer,
	}
	if !opts.TLSKeys.Empty() {
		cfg.TLS = coaptcp.TLSKeys(opts.TLSKeys, func(client, server netip.AddrPort, c *tlsdec.Conn) {
			if len(t.conns) < maxTLSConns {
				t.conns = append(t.conns, TLSConn{Client: client, Server: server, conn: c})
			}
		})
	}
	t.a = coaptcp.New(cfg, e.tcpMessage)
	e.tcp = t
}

// maxTLSConns bounds the TLS connections whose state the summary reports.
const maxTLSConns = 4096

// tcpSegment hands a TCP segment to the assembler and reports whether it
// belongs to a connection carrying CoAP. The messages it completes are
// run now and kept in the frame for its packet record.
func (e *Engine) tcpSegment(d *capture.Datagram, num int) bool {
	t := e.tcp
	t.seg = *d
	t.seg.Number = num
	t.inFrame = true
	e.f.CoAP.Raw = nil // no message of an earlier frame in its record
	ok := t.a.Segment(&t.seg)
	t.inFrame = false
	return ok
}

// tcpMessage runs one message of a reliable transport through the stages.
func (e *Engine) tcpMessage(cm *coaptcp.Message) {
	t := e.tcp
	tr := dissect.TransportNamed(cm.Transport)
	if tr == nil || !tr.Reliable {
		return
	}
	s := &e.sum
	if s.ReliableMessages == nil {
		s.ReliableMessages = map[string]int{}
	}
	s.ReliableMessages[tr.Name]++
	file, frame := e.refs.Split(cm.Frame)
	if cm.Err != nil {
		s.ReliableMalformed++
		if e.runner != nil {
			e.rp = rules.Packet{Frame: cm.Frame, File: file, Time: cm.Time, Src: cm.Src, Dst: cm.Dst, Size: len(cm.Raw),
				Transport: tr, Frames: cm.Frames, Err: cm.Err}
			e.rulesRun(&e.rp)
		}
		return
	}
	m := &cm.CoAP
	if t.inFrame {
		// Kept for the packet record of the frame that completed it.
		f := &e.f
		i := f.NumCoAP
		e.tcpRaw = append(e.tcpRaw[:0], cm.Raw...)
		s := f.Slot(i)
		var err error
		if m.Framing == decode.FramingWebSocket {
			err = s.DecodeWS(e.tcpRaw)
		} else {
			_, err = s.DecodeTCP(e.tcpRaw)
		}
		if err == nil {
			f.NumCoAP++
			f.Proto = dissect.ProtoOf(tr)
			if i >= len(t.msgFrames) {
				t.msgFrames = append(t.msgFrames, nil)
			}
			fs := t.msgFrames[i][:0]
			for _, n := range cm.Frames {
				if fl, fr := e.refs.Split(n); fl == file {
					fs = append(fs, fr)
				}
			}
			t.msgFrames[i] = fs
			e.pk.ConnClient, e.pk.ConnServer = cm.Client, cm.Server
			e.pk.MsgFrames = t.msgFrames[:f.NumCoAP]
		}
	}
	e.msg = dissect.Message{Transport: tr, Src: cm.Src, Dst: cm.Dst, Time: cm.Time, Frame: frame, Size: len(cm.Raw), CoAP: m}
	if e.refs == nil {
		e.msg.Frames = cm.Frames
	}
	res := e.dec.Process(cm.Time, cm.Frame, cm.Src, cm.Dst, m)
	if res != nil && res.Tried {
		if res.Verified {
			e.sum.Decrypted++
		} else {
			e.sum.DecryptFailures++
		}
	}
	if t.inFrame && e.f.NumCoAP == 1 {
		e.pk.OSCORE = res
	}
	e.coap(file, &e.msg, res)
	t.first = cm.First
	e.stages(file, cm.Frame, cm.Frames, &e.msg, res)
	t.first = false
}

// flushTCP gives up on missing bytes and idle connections by time.
func (e *Engine) flushTCP(before time.Time) {
	if e.tcp != nil {
		e.tcp.a.Flush(before)
	}
}

// finishTCP ends every connection (the messages still held go through
// the stages) and adds the reassembly's counts to the summary.
func (e *Engine) finishTCP(ev map[string]int) {
	if e.tcp == nil {
		return
	}
	e.tcp.a.Close()
	st := e.tcp.a.Stats()
	s := &e.sum
	s.TCPGaps, s.TCPGapBytes = st.Gaps, st.GapBytes
	for k, v := range map[string]int{"tcp-connections": st.Evicted, "tcp-messages-dropped": st.BufferDrops,
		"tcp-messages-oversized": st.Oversized} {
		if v > 0 {
			ev[k] = v
		}
	}
	for _, c := range e.tcp.conns {
		if s.TLSSessions == nil {
			s.TLSSessions = map[string]int{}
		}
		s.TLSSessions[c.conn.Status().State.String()]++
	}
}

// TLSConn is one TLS connection carrying CoAP that the keys were tried
// on (the first 4096).
type TLSConn struct {
	Client, Server netip.AddrPort
	conn           *tlsdec.Conn
}

// Status says how decrypting the connection went; it holds no key.
func (c TLSConn) Status() tlsdec.Status { return c.conn.Status() }

// TLSConns lists the TLS connections the keys were tried on (none
// without TLSKeys), for reports: which were decrypted and why the others
// were not.
func (e *Engine) TLSConns() []TLSConn {
	if e.tcp == nil {
		return nil
	}
	return e.tcp.conns
}
