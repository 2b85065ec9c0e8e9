package dissect

import (
	"fmt"
	"net/netip"
	"sync"
	"time"

	"github.com/coapaudit/coapaudit/decode"
)

// Transport says how a CoAP message travelled on its hop: the name records
// show, whether the transport is reliable (RFC 8323: no Message IDs, no
// CON/ACK, nothing lost, duplicated or reordered at the message layer),
// and the hop-by-hop security that wrapped it, if any.
type Transport struct {
	Name     string
	Reliable bool
	// Security names the hop-by-hop protection ("dtls", "tls"), empty for
	// none.
	Security string
}

// The transports coapaudit knows. Registered layers may add more.
var (
	UDP  = &Transport{Name: "udp"}
	DTLS = &Transport{Name: "dtls", Security: "dtls"}
	TCP  = &Transport{Name: "tcp", Reliable: true}
	TLS  = &Transport{Name: "tls", Reliable: true, Security: "tls"}
	WS   = &Transport{Name: "ws", Reliable: true}
	WSS  = &Transport{Name: "wss", Reliable: true, Security: "tls"}
)

// TransportNamed returns the built-in transport of a name (udp, dtls,
// tcp, tls, ws, wss), or nil.
func TransportNamed(name string) *Transport {
	for _, t := range []*Transport{UDP, DTLS, TCP, TLS, WS, WSS} {
		if t.Name == name {
			return t
		}
	}
	return nil
}

// Message is one CoAP message found in the capture, whatever carried it:
// a UDP datagram, a DTLS record, a registered framing over UDP, or bytes
// of a reliable transport spread over several frames. Everything in it is
// borrowed until the stage that received it returns.
type Message struct {
	Transport *Transport
	Src, Dst  netip.AddrPort
	// Time is the capture time of Frame, the frame that completed the
	// message.
	Time  time.Time
	Frame int
	// Frames lists every frame the message's bytes came in, Frame last;
	// nil when the message came whole in Frame.
	Frames []int
	// Size is the length of what carried the message on its transport:
	// the UDP payload (the whole DTLS datagram for DTLS), or the framed
	// message on a reliable transport.
	Size int
	CoAP *decode.Message
}

// Secure reports whether the message was protected hop by hop.
func (m *Message) Secure() bool { return m.Transport.Security != "" }

// A Layer is a framing of CoAP over UDP that the dissector does not know
// by itself. Registering one is all it takes for its messages to go
// through flows, rules, leaks and the outputs like CoAP over UDP.
type Layer struct {
	// Transport names the messages the layer finds.
	Transport *Transport
	// Ports are the UDP ports (source or destination) of its datagrams.
	Ports []uint16
	// Heuristic, when set, claims datagrams on other ports (strictly:
	// it is tried after CoAP's and DTLS's own heuristics failed).
	Heuristic func(payload []byte) bool
	// Split calls emit with the bytes of each CoAP message in a datagram
	// payload (borrowed), in order; an error marks the datagram malformed
	// (messages emitted before it are kept).
	Split func(payload []byte, emit func(coap []byte)) error
}

var registry struct {
	sync.RWMutex
	layers []*Layer
}

// protoBase is the first Proto value of a registered layer.
const protoBase = ProtoWSS + 1

// Register adds a layer and returns the Proto of the frames it claims.
// Dissectors made afterwards use it. It panics on a layer with no
// transport, no ports and no heuristic, or no Split, as
// database/sql.Register does for a bad driver.
func Register(l Layer) Proto {
	if l.Transport == nil || l.Transport.Name == "" || l.Split == nil || len(l.Ports) == 0 && l.Heuristic == nil {
		panic("dissect: Register of an incomplete layer")
	}
	registry.Lock()
	defer registry.Unlock()
	if int(protoBase)+len(registry.layers) > 255 {
		panic("dissect: too many layers")
	}
	for _, o := range registry.layers {
		if o.Transport.Name == l.Transport.Name {
			panic(fmt.Sprintf("dissect: layer %q registered twice", l.Transport.Name))
		}
	}
	registry.layers = append(registry.layers, &l)
	return protoBase + Proto(len(registry.layers)-1)
}

// layer returns the registered layer of p, or nil.
func layer(p Proto) *Layer {
	if p < protoBase {
		return nil
	}
	registry.RLock()
	defer registry.RUnlock()
	if i := int(p - protoBase); i < len(registry.layers) {
		return registry.layers[i]
	}
	return nil
}

// Transport returns the transport of the CoAP messages of a frame
// dissected as p: UDP for ProtoCoAP, DTLS for ProtoDTLS, the registered
// layer's for others, nil for ProtoOther.
func (p Proto) Transport() *Transport {
	switch p {
	case ProtoOther:
		return nil
	case ProtoCoAP:
		return UDP
	case ProtoDTLS:
		return DTLS
	case ProtoTCP:
		return TCP
	case ProtoTLS:
		return TLS
	case ProtoWS:
		return WS
	case ProtoWSS:
		return WSS
	}
	if l := layer(p); l != nil {
		return l.Transport
	}
	return nil
}

// Clear reports whether the CoAP messages of frames of p are in
// Frame.CoAP and Frame.More (Frame.NumCoAP of them): CoAP over UDP, a
// registered framing, or the messages a TCP segment completed (after TLS
// decryption for ProtoTLS and ProtoWSS).
func (p Proto) Clear() bool {
	return p == ProtoCoAP || p >= ProtoTCP && p <= ProtoWSS || p >= protoBase && layer(p) != nil
}

// Reliable reports whether p is a segment of a reliable transport.
func (p Proto) Reliable() bool { return p >= ProtoTCP && p <= ProtoWSS }

// ProtoOf returns the Proto of a TCP segment that completed a message
// carried on t (TCP, TLS, WS or WSS).
func ProtoOf(t *Transport) Proto {
	switch t {
	case TLS:
		return ProtoTLS
	case WS:
		return ProtoWS
	case WSS:
		return ProtoWSS
	}
	return ProtoTCP
}
