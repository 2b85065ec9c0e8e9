package flows

import (
	"net/netip"

	"github.com/coapaudit/coapaudit/decode"
)

// ref names a pooled hop by slot and generation, so that stale references
// (from the Message ID table, the indexes or another exchange) are detected
// instead of pointing at a reused slot. The zero ref names nothing.
type ref struct{ i, gen uint32 }

func (r ref) ok() bool { return r.gen != 0 }

type hopKind uint8

const (
	kindRequest hopKind = iota // a request and its responses
	kindOrphan                 // responses whose request was not seen
	kindPing                   // a CoAP ping (RFC 7252 section 4.3)
)

type endReason uint8

const (
	endNone endReason = iota
	endDeregistered
	endReset
	endFinal
)

var endNames = [...]string{endNone: "", endDeregistered: "deregistered", endReset: "reset", endFinal: "final"}

// obsState follows an Observe registration on one leg.
type obsState struct {
	registered  bool // the request asked to observe
	established bool // a response carried Observe
	ended       endReason
	resetBase   bool // the next notification answers a reregistration
	endFrame    uint32
	endTime     int64
	firstSeq    uint32
	lastSeq     uint32
	lastSeqTime int64
	maxAge      uint32
	rereg       int
	stale       int
	late        int
	// dereg marks a GET or FETCH with Observe=1.
	dereg bool
	// unacked are the CON notifications not acknowledged (yet), the
	// first maxUnackFrames; lastCon the latest CON notification.
	unacked      []uint32
	unackedMore  int
	lastCon      uint32
	lastConAcked bool
}

// fresher is the rule of RFC 7641 section 3.4: is (v2, t2) newer than
// (v1, t1)?
func fresher(v1, v2 uint32, t1, t2 int64) bool {
	const half = 1 << 23
	return v1 < v2 && v2-v1 < half || v1 > v2 && v1-v2 > half || t2 > t1+128e9
}

// blockTrack follows the body offsets of one direction of a block-wise
// transfer. Offsets, not block numbers, are compared, so a change of
// block size mid-transfer is followed.
type blockTrack struct {
	used     bool
	complete bool
	next     uint64
	blocks   int
	repeated int
	missing  int
	bytes    uint64
	maxSize  int
	total    uint32 // the Size1 or Size2 option, the size of the whole body
}

func (b *blockTrack) add(o blockOpt, n int) {
	b.used = true
	off, sz := o.offset(), o.size()
	if int(sz) > b.maxSize {
		b.maxSize = int(sz)
	}
	switch {
	case off < b.next:
		b.repeated++
	default:
		if off > b.next {
			b.missing += int((off - b.next + sz - 1) / sz)
		}
		b.blocks++
		b.bytes += uint64(n)
		b.next = off + sz
	}
	if !o.more {
		b.complete = true
	}
}

func (b *blockTrack) open() bool { return b.used && !b.complete }

// recentResp is a response received on a downstream leg, remembered to
// measure how long the proxy holds it and to tell relayed from forged.
type recentResp struct {
	t     int64
	key   uint64
	hop   ref // the leg that received it
	used  bool
	frame uint32
	raw   []byte // the message, to confirm equality on the bytes
	// What sameContent compares, as decoded when the message came: its
	// code, and where its payload and OSCORE option value lie in raw.
	code                   decode.Code
	payOff, oscOff, oscLen int32
}

// content returns the payload and OSCORE option value of r's message.
func (r *recentResp) content() (payload, oscore []byte) {
	if r.payOff >= 0 {
		payload = r.raw[r.payOff:]
	}
	return payload, r.raw[r.oscOff : r.oscOff+r.oscLen]
}

// endpoint is an IP address and port as a compact, pointer-free map key
// (IPv4 in its IPv4-mapped IPv6 form; zones are dropped).
type endpoint struct {
	ip   [16]byte
	port uint16
}

func ep(a netip.AddrPort) endpoint { return endpoint{a.Addr().As16(), a.Port()} }

// tokKey is the request/response matching key of RFC 7252 section 5.3.2:
// both endpoints and the token. Tokens longer than 8 bytes (RFC 8974) are
// stored as their hash.
type tokKey struct {
	client, server endpoint
	n              uint16
	b              [8]byte
}

type pairKey struct{ client, server endpoint }

func mkPair(client, server netip.AddrPort) pairKey { return pairKey{ep(client), ep(server)} }

// midKey is the deduplication key of RFC 7252 section 4.5: the sender, the
// receiver and the Message ID.
type midKey struct {
	src, dst endpoint
	mid      uint16
}

// blkKey finds the transfer a block-wise continuation belongs to when the
// client changed its token: endpoints, method, resource and Request-Tag.
type blkKey struct {
	pair   pairKey
	method decode.Code
	path   uint64
	tag    uint64
}

// hop is one leg of an exchange: the requests one endpoint sent another
// and the responses that came back.
type hop struct {
	gen uint32
	idx uint32
	x   *xstate

	from, to netip.AddrPort
	tk       tokKey
	// The one-byte fields, together so that they take no padding.
	kind      hopKind
	method    decode.Code
	typ       decode.Type
	secure    bool
	carrier   uint8 // index in Tracker.carriers: transport, protection
	oscore    bool
	multicast bool
	proxyHint bool // Proxy-Uri or Proxy-Scheme: addressed to a forward proxy
	replay    bool
	// contested marks a request that another one could equally have
	// been linked to; ambiguous a leg whose link rests on arrival order
	// among such requests. No difference is claimed across it.
	contested, ambiguous bool
	// unconfirmed marks a leg sent from an address its proxy was not yet
	// confirmed to send from when it was linked.
	unconfirmed bool
	inFwd       bool
	inTok       bool
	pending     bool // in pair's list of unanswered requests
	code        decode.Code
	firstCode   decode.Code
	hasResp     bool
	reset       bool
	hasRespRes  bool
	relayed     bool
	recentNext  uint8
	mid         uint16
	// linkEv says what singled out the leg a request was forwarded from,
	// on the leg it was forwarded on; diffs what the proxy changed on the
	// way, in either direction.
	linkEv evidence
	diffs  []Diff
	// altered counts responses the proxy sent the client in a changed
	// form (paired with a server-leg response in diffs).
	altered int32

	token    []byte
	target   netip.AddrPort
	uri      []byte
	path     []byte // canonical resource (view.path)
	pathHash uint64
	// reqRaw is the first request message of the leg, kept to confirm a
	// link on the bytes and to tell what a proxy changed.
	reqRaw []byte

	// ext holds the state only some legs need (observations, block-wise
	// transfers, OSCORE, shared observations); nil until one does.
	ext *hopExt

	// main is the observation whose notification this leg fetches the
	// remaining blocks of; block progress is accounted there.
	main *hop
	// Linking.
	up                 ref // the previous leg, towards the client
	downs              int32
	shared             ref // a leg of another exchange feeding this one
	linkKey            uint64
	fwdOlder, fwdNewer ref
	tokOlder, tokNewer ref
	pair               *pairState
	pairOlder          ref
	pairNewer          ref

	// Times are Unix nanoseconds of capture time.
	firstReq, lastReq, firstResp, lastResp, lastAct int64
	reqBytes, respBytes                             int
	// Counters (int32: a leg holds at most MaxFrames frames; sizes are
	// of one message).
	reqSize, respSize               int32
	waiting                         int32
	requests, responses             int32
	retrans, dups, replays          int32
	respRetrans, respDups, rejected int32
	pendingRetrans                  int32
	notifications                   int32

	reqResidence  int64
	respResidence int64
	maxNotifRes   int64
	// recent are the last responses a leg towards a server received,
	// from the Tracker's pool once it gets one; nil on other legs.
	recent *recentSet

	reqFrames, respFrames, otherFrames []uint32
}

func (h *hop) ref() ref { return ref{h.idx, h.gen} }

// blocks returns the leg that accounts the block-wise progress of h.
func (h *hop) blocks() *hop {
	if h.main != nil {
		return h.main
	}
	return h
}

// hopExt is the part of a leg that most legs leave empty: kept out of
// line, it is allocated (from the Tracker's pool) by the first write
// (Tracker.ext) and read through hop.rd, which gives the zero value when
// the leg has none. Observations, the most common, need only its first
// fields; block-wise transfers and OSCORE have their own part (hopMore,
// Tracker.more and hop.rdMore).
type hopExt struct {
	obs obsState
	// sharers are the exchanges this leg feeds besides its own.
	sharers []xref
	more    *hopMore
}

// hopMore is the block-wise and OSCORE state of a leg.
type hopMore struct {
	b1, b2 blockTrack

	kid, kidContext, piv    []byte
	reqTried, reqVerified   bool
	respTried, respVerified bool

	// The block-wise transfer index (indexBlk).
	bk                 blkKey
	inBlk              bool
	blkOlder, blkNewer ref
}

// noExt and noMore are what hop.rd and hop.rdMore give for a leg without
// them. They are never written (the package's TestMain checks).
var (
	noExt  hopExt
	noMore hopMore
)

// rd returns h's hopExt for reading.
func (h *hop) rd() *hopExt {
	if h.ext != nil {
		return h.ext
	}
	return &noExt
}

// rdMore returns h's hopMore for reading.
func (h *hop) rdMore() *hopMore {
	if h.ext != nil && h.ext.more != nil {
		return h.ext.more
	}
	return &noMore
}

// ext returns h's hopExt for writing, taking one from the pool first if h
// has none.
func (t *Tracker) ext(h *hop) *hopExt {
	if h.ext == nil {
		h.ext = fromPool(&t.extFree)
	}
	return h.ext
}

// more returns h's hopMore for writing, taking one from the pool first if
// h has none.
func (t *Tracker) more(h *hop) *hopMore {
	e := t.ext(h)
	if e.more == nil {
		e.more = fromPool(&t.moreFree)
	}
	return e.more
}

// freeExt empties h's hopExt and hopMore, keeping the small buffers, and
// pools them.
func (t *Tracker) freeExt(h *hop) {
	e := h.ext
	if e == nil {
		return
	}
	h.ext = nil
	if m := e.more; m != nil {
		*m = hopMore{
			kid:        small(m.kid),
			kidContext: small(m.kidContext),
			piv:        small(m.piv),
		}
		t.moreFree = append(t.moreFree, m)
	}
	*e = hopExt{
		obs:     obsState{unacked: e.obs.unacked[:0]},
		sharers: e.sharers[:0],
	}
	t.extFree = append(t.extFree, e)
}

// recentSet holds the last responses of a leg.
type recentSet [4]recentResp

// clear resets h for reuse, keeping the capacity of its slices; its
// recent responses and hopExt must have gone back to the pools.
func (h *hop) clear() {
	*h = hop{
		gen:         h.gen,
		idx:         h.idx,
		token:       h.token[:0],
		uri:         h.uri[:0],
		path:        h.path[:0],
		reqRaw:      small(h.reqRaw),
		diffs:       h.diffs[:0],
		reqFrames:   h.reqFrames[:0],
		respFrames:  h.respFrames[:0],
		otherFrames: h.otherFrames[:0],
	}
}

// xstate is an exchange being tracked.
type xstate struct {
	gen, idx uint32
	id       uint64
	hops     []*hop
	heapIdx  int
	deadline int64 // when x expires
	hkey     int64 // the heap orders by this; never later than deadline
	frames   int
	omitted  int
	links    []Link
	// linksOmitted counts links beyond maxLinks.
	linksOmitted int
	// sharedSnap is the leg that fed this exchange's notifications, as it
	// was when its own exchange ended.
	sharedSnap *Leg
}

// xref names an exchange by pointer and generation.
type xref struct {
	x   *xstate
	gen uint32
}

func (x *xstate) clear() {
	*x = xstate{gen: x.gen, idx: x.idx, hops: x.hops[:0], heapIdx: -1, links: x.links[:0]}
}

// pairState lists the unanswered requests of one client/server pair,
// oldest first, for the per-pair cap.
type pairState struct {
	key            pairKey
	refs           int // legs of the pair
	n              int // of which waiting for a response
	oldest, newest ref
}

// fwdList lists the requests that a proxy may forward with one link key,
// oldest first.
type fwdList struct {
	oldest, newest ref
	n              int
}

// msgRole says what a remembered message was.
type msgRole uint8

const (
	roleRequest msgRole = iota
	roleResponse
	rolePing
)

// msgEntry is one remembered message, for deduplication and for matching
// ACK and RST by Message ID, and the slot of the ring that holds it: its
// key is inline, the endpoints as ids of the Tracker's endpoint table
// (80 bytes instead of 112 with a midKey beside the entry).
type msgEntry struct {
	t, last int64
	hash    [2]uint64 // keyed digest of the whole message
	tok     uint64    // hash of a request's token
	hop     ref
	file    int32
	copies  uint32
	acks    uint32
	frame   uint32 // the frame of a response, to follow its ACK
	key     msgKey
	typ     decode.Type
	role    msgRole
}

// msgKey is a midKey with its endpoints as ids of the Tracker's endpoint
// table (epTable).
type msgKey struct {
	src, dst uint32
	mid      uint16
}

// respRec and pubRec are the slots of the lossy tables that link
// notifications to server-leg responses and to publications.
type respRec struct {
	key   uint64
	t     int64
	hop   ref
	frame uint32
}

const (
	respSlots = 4096
	respWays  = 4
	pubSlots  = 4096
)
