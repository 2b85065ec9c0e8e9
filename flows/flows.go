// Package flows turns decoded CoAP messages into the exchanges a person
// thinks in, across every hop of a proxied path.
//
// A Tracker is fed one Packet per CoAP-over-UDP message, in capture-time
// order. It works on three layers:
//
//   - the message layer (RFC 7252 section 4): Message ID deduplication per
//     endpoint pair, retransmissions told apart from duplicates and from
//     replays, empty ACKs, RST and CoAP ping;
//   - the request/response layer (RFC 7252 section 5.3.2): matching by token
//     and endpoint, piggybacked and separate responses, Observe (RFC 7641)
//     registrations and notifications, block-wise transfers (RFC 7959, with
//     the Request-Tag of RFC 9175) kept as one exchange;
//   - the proxy layer: the client leg and the server leg of one exchange are
//     linked, through forward proxies (Proxy-Uri, Proxy-Scheme), reverse
//     proxies and chains of them, exactly for OSCORE (RFC 8613: option and
//     ciphertext pass unchanged) and heuristically otherwise; one server-leg
//     observation feeding several clients, and a pub-sub publication and the
//     notifications a broker derives from it, are linked too.
//
// Finished exchanges are handed to the emit callback as *Exchange values the
// callback owns. All state is bounded: exchanges expire on capture time with
// the lifetimes of RFC 7252 section 4.8.2, pending state is capped in total
// and per endpoint pair, and every eviction is counted in Stats. Nothing in
// this package reads the wall clock, and the same input always gives the
// same output.
//
// # Linking legs through a proxy
//
// A request is linked to an earlier one that a proxy received when it
// carries the same OSCORE option and ciphertext (exact), or the same
// method, resource (Uri-Path and Uri-Query, or the path and query of
// Proxy-Uri) and payload, and the earlier request went to a proxy: one with
// Proxy-Uri or Proxy-Scheme (whose IP-literal authority must then be the
// new request's destination), a proxy configured or already learnt, or the
// node the new request comes from. Once a proxy's links are confirmed by
// relayed responses, its outbound addresses and usual residence are known;
// among several candidates the oldest one within twice that residence wins.
// When identical requests from several clients are in flight at once, the
// responses settle which forwarded request was whose: a client's response
// that carries the content another client's server leg received moves that
// leg over (Stats.Relinks).
//
// Equal content is decided on the bytes: keyed hashes only pick the
// candidates. When no candidate carries the same content, a proxy may have
// changed the request on the way (a path dropped or rewritten, a payload
// altered): the requests sent to the address the new request comes from
// are scored on the evidence (token, Message ID, method, resource, payload,
// residence), and the best one is linked when it reaches a minimum and no
// other ties it (Leg.LinkEvidence says what matched, Stats.EvidenceLinks
// counts them). A client-leg response that carries no content the server
// leg received is paired with the server leg's earliest unrelayed
// response. Whatever differs between the two messages of a link, either
// way, is recorded in Exchange.Diff, with the legitimate proxy
// transformations named (Diff.Allowed).
package flows

import (
	"net/netip"
	"time"

	"github.com/coapaudit/coapaudit/decode"
)

// Packet is one CoAP message as the Tracker sees it.
//
// Msg, and every slice reachable from it or from OSCORE, is borrowed: the
// Tracker copies what it keeps before Add returns and never holds the
// capture buffer, so the caller may reuse Msg and its buffer right away.
type Packet struct {
	// Frame is the frame number the exchanges report. File is the index
	// of the capture file when several are merged: the same message seen
	// in two files within MergeWindow is one transmission.
	Frame int
	File  int
	Time  time.Time // capture time
	// Src and Dst are the UDP endpoints of the datagram.
	Src, Dst netip.AddrPort
	// Msg is the decoded message; its header (type, code, Message ID) and
	// token must have decoded, and Msg.Raw must hold the message bytes
	// (decode.Message.Decode sets it). Options decoded before a framing
	// error are used as they are.
	Msg *decode.Message
	// Frames, for a message whose bytes came in several frames (a
	// reliable transport), lists them all, Frame last; nil otherwise.
	Frames []int
	// Size is the length of what carried the message: the UDP payload,
	// or the framed message on a reliable transport.
	Size int
	// Secure says that the message was carried in DTLS or TLS and
	// decrypted; Security names that protection ("dtls" when empty).
	Secure   bool
	Security string
	// Transport names what carried the message when it is not UDP or
	// DTLS ("tcp", "tls", "ws", "wss", or a registered layer's name).
	// Reliable transports (RFC 8323) have no Message IDs and no
	// CON/ACK: their messages are matched by token alone and are never
	// copies.
	Transport string
	Reliable  bool
	// OSCORE carries what the OSCORE layer learnt about the message, or nil.
	// A message with an OSCORE option and no OSCORE info is treated as
	// protected with an unknown verification result.
	OSCORE *OSCOREInfo
}

// OSCOREInfo is what the OSCORE layer learnt about one message. All slices
// are borrowed, as in Packet.
type OSCOREInfo struct {
	KID, KIDContext, PIV []byte
	// Tried says that a security context was tried on the message;
	// Verified that it decrypted and its tag checked out.
	Tried, Verified bool
	// Inner is the decrypted inner message (RFC 8613 section 4), or nil.
	// When set, the method, URI, Block and Observe options are read from it.
	Inner *decode.Message
}

// RFC 7252 section 4.8.2 derived times for the default transmission
// parameters, and MAX_TRANSMIT_SPAN.
const (
	ExchangeLifetime = 247 * time.Second
	NonLifetime      = 145 * time.Second
	MaxTransmitSpan  = 45 * time.Second
	MaxTransmitWait  = 93 * time.Second
)

// Config tunes a Tracker. The zero value of every field selects the
// default given in its comment.
type Config struct {
	// Proxies are known proxy addresses (the address clients send to).
	// Port 0 matches every port of the address. Proxies are also learnt
	// from the traffic; a configured proxy is linked even when it sends
	// onward from an address unrelated to the one it listens on.
	Proxies []netip.AddrPort

	// MaxPending caps the exchanges held at once (default 16384). Beyond
	// it the exchange closest to expiry is emitted early; if it was not
	// finished it has Status Evicted.
	MaxPending int
	// MaxPendingPerPair caps the unanswered requests held per
	// client/server endpoint pair (default 1024), like Zeek's
	// max_pending_msgs; beyond it the oldest is emitted as evicted.
	MaxPendingPerPair int
	// MaxMessages caps the Message IDs remembered for deduplication
	// (default 262144).
	MaxMessages int
	// MaxFrames caps the frame numbers kept per exchange (default 4096);
	// the rest are counted in Exchange.FramesOmitted.
	MaxFrames int
	// MaxLegs caps the legs of one exchange (default 16).
	MaxLegs int

	// ExchangeLifetime and NonLifetime bound how long a request waits for
	// its response and how long a Message ID is remembered (RFC 7252
	// section 4.8.2; defaults 247 s and 145 s).
	ExchangeLifetime, NonLifetime time.Duration
	// Linger is how long a finished exchange is held for late copies,
	// ACKs and floods before it is emitted (default MAX_TRANSMIT_SPAN,
	// 45 s).
	Linger time.Duration
	// ObserveLifetime caps how long an observation is kept without a
	// notification (default 24 h). Within the cap an observation lives for
	// the Max-Age of its last notification plus ExchangeLifetime.
	ObserveLifetime time.Duration
	// MaxResidence is the longest time a proxy may hold a request or
	// response and still be linked (default MAX_TRANSMIT_WAIT, 93 s).
	MaxResidence time.Duration
	// MinRetransmitGap is the shortest gap after which a repeated CON is
	// taken for a retransmission rather than a duplicate (default 500 ms,
	// a quarter of ACK_TIMEOUT).
	MinRetransmitGap time.Duration
	// MergeWindow is how close in time the same message seen in two
	// capture files must be to count as one transmission (default 2 s).
	MergeWindow time.Duration
}

// WithDefaults returns c with every unset field set to its default: the
// configuration a Tracker made with c works with.
func (c Config) WithDefaults() Config { return c.withDefaults() }

func (c Config) withDefaults() Config {
	def := func(v *int, d int) {
		if *v <= 0 {
			*v = d
		}
	}
	defd := func(v *time.Duration, d time.Duration) {
		if *v <= 0 {
			*v = d
		}
	}
	def(&c.MaxPending, 1<<14)
	def(&c.MaxPendingPerPair, 1024)
	def(&c.MaxMessages, 1<<18)
	def(&c.MaxFrames, 4096)
	def(&c.MaxLegs, 16)
	defd(&c.ExchangeLifetime, ExchangeLifetime)
	defd(&c.NonLifetime, NonLifetime)
	defd(&c.Linger, MaxTransmitSpan)
	defd(&c.ObserveLifetime, 24*time.Hour)
	defd(&c.MaxResidence, MaxTransmitWait)
	defd(&c.MinRetransmitGap, 500*time.Millisecond)
	defd(&c.MergeWindow, 2*time.Second)
	return c
}

// Stats counts what a Tracker did. All counters only grow, except the Live
// gauges.
type Stats struct {
	Packets   uint64 // messages given to Add
	Requests  uint64 // distinct request messages
	Responses uint64 // distinct response messages (piggybacked, separate, notifications)
	EmptyACKs uint64
	Resets    uint64
	Pings     uint64
	Other     uint64 // signalling codes, reserved classes, empty NON

	Exchanges  uint64 // exchanges emitted
	Proxied    uint64 // emitted exchanges with more than one leg
	ProxyLinks uint64 // legs linked to a previous leg
	Relinks    uint64 // heuristic links corrected by the responses
	// TopicsDropped counts broker resources not remembered because the
	// table was full.
	TopicsDropped uint64
	// EvidenceLinks counts links made on evidence, with the content
	// changed; AlteredResponses client-leg responses paired with a
	// server-leg response whose content differs; DiffsOmitted
	// differences past the cap per leg.
	EvidenceLinks    uint64
	AmbiguousLinks   uint64 // links chosen by arrival order among equal candidates
	AlteredResponses uint64
	DiffsOmitted     uint64

	Retransmissions         uint64 // request copies sent after a timeout
	LateRetransmissions     uint64 // of which sent by a client after its request was answered
	Duplicates              uint64 // request copies that were no retransmission
	Replays                 uint64 // request copies sent after the request was answered
	ResponseRetransmissions uint64 // response copies answering a request copy or a timeout
	ResponseDuplicates      uint64 // response copies and extra responses nobody asked for
	CaptureDuplicates       uint64 // the same transmission seen in two capture files
	MessageIDReuse          uint64 // a Message ID reused for a different message within its lifetime

	UnmatchedResponses uint64 // responses that matched no request
	UnmatchedACKs      uint64 // empty ACKs that matched no message
	UnmatchedResets    uint64 // RSTs that matched no message
	DuplicateACKs      uint64 // empty ACKs beyond one per copy of the message
	// Detached counts message copies, ACKs and RSTs whose exchange had
	// already been emitted; their frames belong to no exchange.
	Detached uint64

	// Evictions by cause. EvictedPending and EvictedPerPair count
	// unfinished exchanges emitted early (Exchange.Evicted);
	// EarlyEmits counts finished ones emitted before their linger time
	// because of MaxPending; EvictedMessages counts Message IDs forgotten
	// before their lifetime because of MaxMessages.
	EvictedPending  uint64
	EvictedPerPair  uint64
	EarlyEmits      uint64
	EvictedMessages uint64

	LiveExchanges int // exchanges held now
	PeakExchanges int
	LiveMessages  int // Message IDs remembered now
	PeakMessages  int
}
