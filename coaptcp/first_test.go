package coaptcp

import (
	"testing"

	"github.com/coapaudit/coapaudit/capture"
	"github.com/coapaudit/coapaudit/decode"
)

// TestFirstMessage: in the libcoap, go-coap and WebSocket recordings,
// every connection is captured from its SYN, so each side's first message
// is marked First, and it is the CSM (RFC 8323 section 5.3); no other
// message is marked. A capture that starts mid-connection marks none.
func TestFirstMessage(t *testing.T) {
	for _, name := range []string{"libcoap-tcp.pcap", "gocoap-tcp.pcap", "ws.pcap"} {
		msgs, _ := assemble(t, testdata(name), Config{CoAPPorts: []uint16{5683, 8080}})
		seen := map[string]bool{} // per direction of a connection
		firsts := 0
		for _, m := range msgs {
			k := m.Src + ">" + m.Dst
			if m.First != !seen[k] {
				t.Errorf("%s frame %d from %s: First %v, first message seen %v", name, m.Frame, m.Src, m.First, !seen[k])
			}
			if m.First {
				firsts++
				if decode.Code(m.Code) != decode.CodeCSM {
					t.Errorf("%s frame %d: first message %v, not a CSM", name, m.Frame, decode.Code(m.Code))
				}
			}
			seen[k] = true
		}
		if firsts == 0 {
			t.Errorf("%s: no first messages", name)
		}
	}
	var s synth
	c := s.conn("10.0.0.1:40000", "10.0.0.2:5683")
	var col collector
	a := New(Config{}, col.emit)
	feed(a, c.seg(true, 0, tcpMsg(decode.CodeGET, []byte{1}, nil)), c.seg(false, 0, tcpMsg(decode.CodeContent, []byte{1}, nil)))
	if len(col.msgs) != 2 || col.msgs[0].First || col.msgs[1].First {
		t.Errorf("mid-connection: %+v", col.msgs)
	}
	var open collector
	b := New(Config{}, open.emit)
	feed(b, append(c.open(), c.seg(true, capture.TCPAck, tcpMsg(decode.CodeGET, []byte{1}, nil)), c.seg(true, capture.TCPAck, tcpMsg(decode.CodeGET, []byte{2}, nil)))...)
	if len(open.msgs) != 2 || !open.msgs[0].First || open.msgs[1].First {
		t.Errorf("from the SYN: %+v", open.msgs)
	}
}
