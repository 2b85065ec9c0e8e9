package coaptcp

import (
	"net/netip"
	"slices"
	"testing"
	"time"

	"github.com/coapaudit/coapaudit/capture"
	"github.com/coapaudit/coapaudit/decode"
)

// fuzzSegments turns fuzz input into segments of three connections: on
// the coap+tcp port, a WebSocket one on port 80 and a TLS one on 5684.
// Each op is a control byte (connection, direction, flags, how far the
// sequence number moves back or ahead: retransmissions, overlaps, gaps,
// reordering; a time jump), a length byte and that many bytes.
func fuzzSegments(data []byte) []*capture.Datagram {
	var s synth
	conns := []*synthConn{
		s.conn("10.0.0.1:40000", "10.0.0.2:5683"),
		s.conn("10.0.0.1:40001", "10.0.0.2:80"),
		s.conn("10.0.0.1:40002", "10.0.0.2:5684"),
	}
	var out []*capture.Datagram
	for len(data) >= 2 {
		ctl, n := data[0], int(data[1])
		data = data[2:]
		n = min(n, len(data))
		payload := data[:n]
		data = data[n:]
		c := conns[int(ctl&3)%3]
		fromClient := ctl&4 != 0
		var flags capture.TCPFlags
		switch ctl >> 3 & 3 {
		case 1:
			flags = capture.TCPSyn
		case 2:
			flags = capture.TCPFin
		case 3:
			if ctl&0x80 != 0 {
				flags = capture.TCPRst
			}
		}
		seq := &c.cseq
		if !fromClient {
			seq = &c.sseq
		}
		switch ctl >> 5 {
		case 1:
			*seq -= uint32(n / 2) // overlap what went before
		case 2:
			*seq += 7 // a gap
		case 3:
			*seq -= uint32(n) // a retransmission
		case 4:
			s.now = s.now.Add(3 * time.Second) // past the gap timeout
		}
		out = append(out, c.seg(fromClient, flags, payload))
	}
	return out
}

// FuzzAssembler: any sequence of segments leaves the Assembler within its
// bounds and every message consistent: frames in order, Frame last and
// not after the segment being taken, the framing decoding to Raw.
func FuzzAssembler(f *testing.F) {
	get := tcpMsg(decode.CodeGET, []byte{1}, nil, decode.Option{ID: decode.OptURIPath, Value: []byte("x")})
	op := func(ctl byte, b []byte) []byte { return append([]byte{ctl, byte(len(b))}, b...) }
	f.Add(slices.Concat(op(0x04, csmBytes), op(0x04, get), op(0x00, csmBytes), op(0x24, get[:3]), op(0x04, get[3:])))
	f.Add(slices.Concat(op(0x05, []byte(upgradeReq[:100])), op(0x05, []byte(upgradeReq[100:])), op(0x01, []byte(upgradeResp[:120])),
		op(0x05, wsFrame(true, 2, true, wsMsg(decode.CodeGET, []byte{2}, nil)))))
	f.Add(slices.Concat(op(0x06, fakeRecord(csmBytes)), op(0x46, fakeRecord(get)), op(0x86, get), op(0x02, fakeRecord(csmBytes))))
	f.Add(slices.Concat(op(0x04, get), op(0x64, get), op(0x44, get), op(0x14, nil), op(0x9c, nil)))
	f.Fuzz(func(t *testing.T, data []byte) {
		segs := fuzzSegments(data)
		cfg := Config{MaxStreams: 2, MaxStreamBuffer: 300, MaxTotalBuffer: 500, Heuristics: true,
			TLS: func(client, server netip.AddrPort) TLSConn { return &fakeTLS{} }}
		cur := 0
		var a *Assembler
		a = New(cfg, func(m *Message) {
			if len(m.Frames) == 0 || m.Frames[len(m.Frames)-1] != m.Frame || !slices.IsSorted(m.Frames) || m.Frame > cur || m.Frame <= 0 {
				t.Fatalf("message on frame %d (segment %d), frames %v", m.Frame, cur, m.Frames)
			}
			if m.Err == nil {
				var d decode.Message
				switch m.CoAP.Framing {
				case decode.FramingTCP:
					if n, err := d.DecodeTCP(m.Raw); err != nil || n != len(m.Raw) {
						t.Fatalf("Raw %x: %d %v", m.Raw, n, err)
					}
				case decode.FramingWebSocket:
					if err := d.DecodeWS(m.Raw); err != nil {
						t.Fatalf("Raw %x: %v", m.Raw, err)
					}
				default:
					t.Fatalf("framing %v", m.CoAP.Framing)
				}
			}
			if st := a.Stats(); st.Buffered > cfg.MaxTotalBuffer+cfg.MaxStreamBuffer {
				t.Fatalf("%d bytes buffered", st.Buffered)
			}
		})
		for _, d := range segs {
			cur = d.Number
			a.Segment(d)
			if st := a.Stats(); st.Streams > cfg.MaxStreams+1 || st.Buffered < 0 {
				t.Fatalf("stats %+v", st)
			}
		}
		a.Close()
		if st := a.Stats(); st.Buffered != 0 || st.Streams != 0 {
			t.Fatalf("after Close: %+v", st)
		}
	})
}
