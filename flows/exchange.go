package flows

import (
	"encoding"
	"encoding/hex"
	"encoding/json"
	"log/slog"
	"math"
	"net/netip"
	"strconv"
	"time"
)

// Status says how an exchange ended.
type Status string

// Exchange statuses. The names are stable: they appear in output records.
const (
	// Complete: the client got its response; through a proxy, after the
	// origin server answered the proxy.
	Complete Status = "complete"
	// Unanswered: no response reached the client, and none left the server
	// towards a proxy either.
	Unanswered Status = "unanswered"
	// Withheld: the server answered the proxy, but no response reached the
	// client (seed section 2.1.1.3).
	Withheld Status = "withheld"
	// ServedByIntermediary: a proxy answered the client without a server
	// leg, or before the server answered: a cache hit, an error of the
	// proxy's own (5.02, 5.04) or a spoofed response (seed section 2.1.1.1).
	ServedByIntermediary Status = "served-by-intermediary"
	// Observing: an Observe registration (RFC 7641) was accepted; see
	// Exchange.Observe for how it went on and ended.
	Observing Status = "observe"
	// Incomplete: a block-wise transfer whose last block was never seen.
	Incomplete Status = "incomplete"
	// Reset: the server answered the request with RST.
	Reset Status = "reset"
	// Unmatched: responses that matched no request in the capture.
	Unmatched Status = "unmatched"
	// Evicted: the exchange was still waiting for a response or a block
	// when the state caps forced it out; its outcome is unknown.
	Evicted Status = "evicted"
)

// Exchange is one request and everything that belongs to it, on every leg
// it travelled. The emit callback owns the value, except that the
// elements of Leg.LinkEvidence are shared with other exchanges (the
// slices have no spare capacity: appending copies) and must not be
// changed in place.
type Exchange struct {
	// ID is "X" and a number counting exchanges in the order they started.
	ID string `json:"id"`
	// Client sent the request. Server is the origin server: the receiver
	// of the last leg, or, when a proxy answered on its own, the address
	// in Proxy-Uri if it is an IP literal. Proxy is the first proxy on the
	// path (the address the client sent to); Proxies lists all of them
	// for chains.
	Client  netip.AddrPort   `json:"client"`
	Server  netip.AddrPort   `json:"server"`
	Proxy   netip.AddrPort   `json:"proxy"`
	Proxies []netip.AddrPort `json:"proxies,omitempty"`
	// Method is the request method ("GET"), "PING" for a CoAP ping, or
	// empty when no request was seen.
	Method string `json:"method"`
	// URI is the request URI as the client's request shows it: the
	// Proxy-Uri option, or the URI composed from Proxy-Scheme, Uri-Host,
	// Uri-Port, Uri-Path and Uri-Query and the destination address; for
	// OSCORE, the decrypted inner URI when it was decrypted.
	URI string `json:"uri"`
	// Code is the last response code the client got ("2.05").
	Code string `json:"code"`
	// Protected is "oscore", "dtls" or "none".
	Protected string `json:"protected"`
	Status    Status `json:"status"`
	// Legs are the hops of the exchange, client leg first.
	Legs []Leg `json:"legs"`
	// Notifications counts the Observe notifications the client got after
	// the first response, including late ones.
	Notifications int `json:"notifications"`
	// Frames lists every frame of the exchange, ascending.
	Frames        []int `json:"frames"`
	FramesOmitted int   `json:"frames_omitted,omitempty"`

	Start time.Time `json:"start"`
	End   time.Time `json:"end"`
	// RTT is the client leg's time from the first request to the first
	// response.
	RTT Duration `json:"rtt,omitzero"`
	// Residence has one entry per proxy on the path.
	Residence []Residence    `json:"residence,omitempty"`
	Observe   *ObserveInfo   `json:"observe,omitempty"`
	Block     *BlockInfo     `json:"block,omitempty"`
	OSCORE    *OSCORESummary `json:"oscore,omitempty"`
	// Evicted marks an exchange the state caps forced out before it
	// finished; its Status is Evicted unless it is an observation.
	Evicted bool `json:"evicted,omitempty"`
	// Open marks an exchange that was still within its lifetime when the
	// capture ended (Close): a missing response may simply not have been
	// captured.
	Open bool `json:"open,omitempty"`
	// Links relate this exchange to others: the publication that fed a
	// notification, the subscribers a publication reached, the exchange
	// whose server leg feeds this one's notifications.
	Links        []Link `json:"links,omitempty"`
	LinksOmitted int    `json:"links_omitted,omitempty"`
	// Role is what the request's resource is at a pub-sub broker
	// (RoleDiscovery, RoleCollection, RoleConfiguration, RoleData, or
	// RoleOther for another resource of a known broker), learnt from the
	// traffic; empty elsewhere. Publication marks a PUT
	// or POST with a payload to topic data.
	Role string `json:"role,omitempty"`
	// RoleEvidence says how the role was learnt: "link-format" (rt= in
	// a link-format payload), "location-path" (a topic creation),
	// "configuration" (an application/core-pubsub+cbor configuration)
	// or "behaviour" (a PUT whose value observers of the resource then
	// got: an ordinary observable server shows the same).
	RoleEvidence string `json:"role_evidence,omitempty"`
	Publication  bool   `json:"publication,omitempty"`
	// Diff lists what a proxy changed between the legs: in the request
	// it sent on, and in the responses it relayed (see Diff).
	Diff []Diff `json:"diff,omitempty"`
	// Ambiguous says that a leg of this exchange was, or could equally
	// have been, linked to another client's identical request in flight
	// at the same time: a leg missing here may be on that exchange.
	Ambiguous bool `json:"ambiguous,omitempty"`
}

// Leg is one hop of an exchange: the requests From sent To and the
// responses To sent back.
type Leg struct {
	From  netip.AddrPort `json:"from"`
	To    netip.AddrPort `json:"to"`
	Token HexBytes       `json:"token"`
	// Type is the message type of the first request ("CON", "NON"),
	// empty on a reliable transport, which has none.
	Type string `json:"type"`
	// Transport is what carried the leg when it is not UDP or DTLS:
	// "tcp", "tls", "ws", "wss" (RFC 8323), or a registered layer's
	// name. Protection is the hop-by-hop security ("dtls", "tls"),
	// empty in clear.
	Transport  string `json:"transport,omitempty"`
	Protection string `json:"protection,omitempty"`
	// RequestFrames are the frames of every request message and copy;
	// ResponseFrames those of every response and notification;
	// OtherFrames the empty ACKs and RSTs.
	RequestFrames  []int `json:"request_frames"`
	ResponseFrames []int `json:"response_frames"`
	OtherFrames    []int `json:"other_frames,omitempty"`
	// RequestTime and ResponseTime are the first request and the first
	// response; sizes are their UDP payload lengths.
	RequestTime  time.Time `json:"request_time"`
	ResponseTime time.Time `json:"response_time,omitzero"`
	RequestSize  int       `json:"request_size"`
	ResponseSize int       `json:"response_size,omitempty"`
	// RequestBytes and ResponseBytes add up the UDP payloads of every
	// request and response frame of the leg, copies included.
	RequestBytes  int `json:"request_bytes"`
	ResponseBytes int `json:"response_bytes,omitempty"`
	// Code is the last response code on this leg.
	Code string `json:"code,omitempty"`
	// Requests and Responses count distinct messages (blocks,
	// reregistrations, notifications), not copies.
	Requests  int `json:"requests"`
	Responses int `json:"responses"`
	// Copies of messages, classified at the message layer.
	Retransmissions         int `json:"retransmissions,omitempty"`
	Duplicates              int `json:"duplicates,omitempty"`
	Replays                 int `json:"replays,omitempty"`
	ResponseRetransmissions int `json:"response_retransmissions,omitempty"`
	ResponseDuplicates      int `json:"response_duplicates,omitempty"`
	// Rejected counts responses the client answered with RST.
	Rejected      int `json:"rejected,omitempty"`
	Notifications int `json:"notifications,omitempty"`
	// BlockSize is the largest block size used on this leg, in bytes.
	BlockSize int `json:"block_size,omitempty"`
	// Replay marks a leg whose request repeats, with a new Message ID, an
	// OSCORE request already forwarded on an earlier leg.
	Replay bool `json:"replay,omitempty"`
	// Shared names the exchange that owns this leg when one server-leg
	// observation feeds several clients.
	Shared string `json:"shared,omitempty"`
	// LinkEvidence says, on a leg a proxy sent a request on, what ties it
	// to the request the proxy received: "oscore" (option and ciphertext
	// identical), or the facts that matched among "token", "message-id",
	// "method", "uri", "payload" and "timing".
	LinkEvidence []string `json:"link_evidence,omitempty"`
}

// Residence is the time a proxy held an exchange.
type Residence struct {
	Proxy netip.AddrPort `json:"proxy"`
	// Request is from the request reaching the proxy to the proxy sending
	// it on; Response from the proxy getting the response to sending it
	// back (unset when either side is missing).
	Request  Duration `json:"request,omitzero"`
	Response Duration `json:"response,omitzero"`
	// MaxNotification is the longest a notification was held.
	MaxNotification Duration `json:"max_notification,omitzero"`
	// Relayed says that the response the client got carries the code and
	// payload of one the proxy received.
	Relayed bool `json:"relayed"`
}

// ObserveInfo describes an Observe registration (RFC 7641).
type ObserveInfo struct {
	// Established says that a response carried the Observe option.
	Established     bool   `json:"established"`
	FirstSeq        uint32 `json:"first_seq"`
	LastSeq         uint32 `json:"last_seq"`
	Reregistrations int    `json:"reregistrations,omitempty"`
	// Stale counts notifications that were not fresher than the latest
	// one by the rule of RFC 7641 section 3.4.
	Stale int `json:"stale,omitempty"`
	// Ended says how the observation ended: "deregistered" (GET with
	// Observe=1), "reset" (RST to a notification), "final" (a response
	// without Observe or with an error code), or "" while it was live.
	Ended    string `json:"ended,omitempty"`
	EndFrame int    `json:"end_frame,omitempty"`
	// Late counts notifications that arrived after the observation ended.
	Late int `json:"late,omitempty"`
	// LastCode is the code of the last response: Exchange.Code keeps the
	// registration's.
	LastCode string `json:"last_code,omitempty"`
	// Deregistration marks a GET or FETCH with Observe=1 (RFC 7641
	// section 3.6); the observation it ends is linked "deregisters".
	Deregistration bool `json:"deregistration,omitempty"`
	// Unacknowledged lists CON notifications never acknowledged (the
	// first 32; UnacknowledgedMore counts the rest). Vanished says that
	// the last CON notification was never acknowledged and the
	// observation was not deregistered or reset: the subscriber is gone.
	Unacknowledged     []int `json:"unacknowledged,omitempty"`
	UnacknowledgedMore int   `json:"unacknowledged_more,omitempty"`
	Vanished           bool  `json:"vanished,omitempty"`
}

// BlockInfo describes a block-wise transfer (RFC 7959) on the client leg.
type BlockInfo struct {
	// Option is "block1", "block2" or "block1+block2".
	Option string `json:"option"`
	// Blocks counts distinct blocks; Repeated the ones seen again; Missing
	// the ones skipped over.
	Blocks   int  `json:"blocks"`
	Repeated int  `json:"repeated,omitempty"`
	Missing  int  `json:"missing,omitempty"`
	Complete bool `json:"complete"`
	// Bytes is the number of body bytes covered by distinct blocks.
	Bytes int    `json:"bytes"`
	Size1 uint32 `json:"size1,omitempty"`
	Size2 uint32 `json:"size2,omitempty"`
	// SizeChanged says that the legs used different block sizes.
	SizeChanged bool `json:"size_changed,omitempty"`
}

// OSCORESummary is the OSCORE view of the client leg.
type OSCORESummary struct {
	KID        HexBytes `json:"kid"`
	KIDContext HexBytes `json:"kid_context,omitempty"`
	PIV        HexBytes `json:"piv"`
	// RequestVerified and ResponseVerified are "yes", "no", or "" when no
	// key was tried.
	RequestVerified  string `json:"request_verified,omitempty"`
	ResponseVerified string `json:"response_verified,omitempty"`
}

// Link relates an exchange to another one.
type Link struct {
	// Kind is one of the Link constants of pubsub.go: "published-by",
	// "delivered-to", "served-to", "fed-by", "cached-from",
	// "deregisters", "deregistered-by", "ends" or "ended-by".
	Kind     string `json:"kind"`
	Exchange string `json:"exchange"`
	Frame    int    `json:"frame"`
	// Peer is the other exchange's client where it matters: the
	// subscriber a publication reached, the publisher of what a
	// notification carried.
	Peer netip.AddrPort `json:"peer,omitzero"`
}

// HexBytes is a byte string (a token, an OSCORE kid or Partial IV) that
// marshals as lowercase hex. It redacts itself in logs.
type HexBytes []byte

var (
	_ encoding.TextMarshaler   = HexBytes(nil)
	_ encoding.TextUnmarshaler = (*HexBytes)(nil)
	_ json.Unmarshaler         = (*Duration)(nil)
	_ slog.LogValuer           = HexBytes(nil)
	_ json.Marshaler           = Duration{}
)

// MarshalText implements encoding.TextMarshaler.
func (b HexBytes) MarshalText() ([]byte, error) {
	return hex.AppendEncode(nil, b), nil
}

// UnmarshalText implements encoding.TextUnmarshaler: the hex that
// MarshalText writes.
func (b *HexBytes) UnmarshalText(text []byte) error {
	d, err := hex.AppendDecode(nil, text)
	if err != nil {
		return err
	}
	*b = d
	return nil
}

// String returns b in lowercase hex.
func (b HexBytes) String() string { return hex.EncodeToString(b) }

// LogValue implements slog.LogValuer: only the length is logged.
func (b HexBytes) LogValue() slog.Value {
	return slog.StringValue("REDACTED(" + strconv.Itoa(len(b)) + " bytes)")
}

// Duration is an optional duration that marshals as seconds.
type Duration struct {
	D     time.Duration
	Valid bool
}

func someDuration(d time.Duration) Duration { return Duration{D: d, Valid: true} }

// IsZero reports whether d is unset, for the json omitzero option.
func (d Duration) IsZero() bool { return !d.Valid }

// Seconds returns d in seconds.
func (d Duration) Seconds() float64 { return d.D.Seconds() }

// MarshalJSON writes the duration in seconds, or null when unset.
func (d Duration) MarshalJSON() ([]byte, error) {
	if !d.Valid {
		return []byte("null"), nil
	}
	return strconv.AppendFloat(nil, d.D.Seconds(), 'f', -1, 64), nil
}

// UnmarshalJSON reads what MarshalJSON writes: seconds, or null.
func (d *Duration) UnmarshalJSON(b []byte) error {
	if string(b) == "null" {
		*d = Duration{}
		return nil
	}
	f, err := strconv.ParseFloat(string(b), 64)
	if err != nil {
		return err
	}
	*d = someDuration(time.Duration(math.Round(f * 1e9)))
	return nil
}

// String returns d as time.Duration formats it, or "-" when unset.
func (d Duration) String() string {
	if !d.Valid {
		return "-"
	}
	return d.D.String()
}
