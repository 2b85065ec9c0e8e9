package rules

import (
	"bytes"
	"encoding/binary"
	"hash/maphash"
	"math/bits"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"github.com/coapaudit/coapaudit/decode"
)

// FrameInfo is what the runner remembers of one CoAP frame, so that
// exchange-level rules can look at the messages behind an exchange's frame
// numbers. It holds no bytes of the capture.
type FrameInfo struct {
	Frame int
	Time  time.Time
	Type  decode.Type
	Code  decode.Code
	MID   uint16
	// Size is the UDP payload length; PayloadLen the CoAP payload's (for
	// OSCORE, the ciphertext's).
	Size, PayloadLen int
	// Content hashes the code and the payload: a proxy that relays a
	// response keeps it (an OSCORE response's ciphertext passes through
	// unchanged). Equal content means an equal response, with the
	// certainty of a 64-bit hash.
	Content uint64
	// Payload hashes the payload alone (the ciphertext for OSCORE): a
	// notification that carries a publication has the publication's.
	Payload uint64
	// Options are the outer options: what a proxy reads.
	Options OptionSet
	// Observe and MaxAge are the outer option values, valid with the
	// flags FrameObserve and FrameMaxAge.
	Observe uint32
	MaxAge  uint32
	Flags   FrameFlags
	// keyCtx is the runner's id of the OSCORE security context tried on
	// the frame (0: none).
	keyCtx uint16
}

// Has reports whether all of flags are set.
func (f *FrameInfo) Has(flags FrameFlags) bool { return f.Flags&flags == flags }

// FrameFlags describe a remembered frame.
type FrameFlags uint16

const (
	FrameOSCORE       FrameFlags = 1 << iota // carries an OSCORE option
	FrameTried                               // an OSCORE key was tried
	FrameVerified                            // and it verified
	FrameReplay                              // its Partial IV was a duplicate or old (oscore.ReplayStatus.IsReplay)
	FrameObserve                             // outer Observe option present
	FrameMaxAge                              // outer Max-Age option present
	FrameProxyURIPath                        // Proxy-Uri carrying a path or query
)

// IsRequest and IsResponse classify the frame's code.
func (f *FrameInfo) IsRequest() bool  { return f.Code.IsRequest() }
func (f *FrameInfo) IsResponse() bool { return f.Code.IsResponse() }

// OptionSet is a set of option numbers: every number below 64 and up to
// four larger ones. It is a value and never allocates.
type OptionSet struct {
	low  uint64
	high [4]uint16
	nh   uint8
	// More counts larger option numbers that did not fit.
	More uint8
}

// Add puts id in the set.
func (s *OptionSet) Add(id decode.OptionID) {
	if id < 64 {
		s.low |= 1 << id
		return
	}
	for _, h := range s.high[:s.nh] {
		if h == uint16(id) {
			return
		}
	}
	if int(s.nh) < len(s.high) {
		s.high[s.nh] = uint16(id)
		s.nh++
	} else if s.More < 255 {
		s.More++
	}
}

// Has reports whether id is in the set.
func (s OptionSet) Has(id decode.OptionID) bool {
	if id < 64 {
		return s.low&(1<<id) != 0
	}
	for _, h := range s.high[:s.nh] {
		if h == uint16(id) {
			return true
		}
	}
	return false
}

// Union returns the options in s or t.
func (s OptionSet) Union(t OptionSet) OptionSet {
	s.low |= t.low
	for _, h := range t.high[:t.nh] {
		s.Add(decode.OptionID(h))
	}
	s.More = max(s.More, t.More)
	return s
}

// Filter returns the options of s for which keep is true.
func (s OptionSet) Filter(keep func(decode.OptionID) bool) OptionSet {
	var out OptionSet
	s.Each(func(id decode.OptionID) {
		if keep(id) {
			out.Add(id)
		}
	})
	return out
}

// Len returns the number of options in the set.
func (s OptionSet) Len() int { return bits.OnesCount64(s.low) + int(s.nh) }

// Each calls f for every option, in increasing number order for those
// below 64.
func (s OptionSet) Each(f func(decode.OptionID)) {
	for l := s.low; l != 0; l &= l - 1 {
		f(decode.OptionID(bits.TrailingZeros64(l)))
	}
	for _, h := range s.high[:s.nh] {
		f(decode.OptionID(h))
	}
}

// Names returns the option names.
func (s OptionSet) Names() []string {
	var names []string
	s.Each(func(id decode.OptionID) { names = append(names, optionName(id)) })
	return names
}

// String lists the option names joined by ", ".
func (s OptionSet) String() string { return strings.Join(s.Names(), ", ") }

func optionName(id decode.OptionID) string {
	if d, ok := decode.LookupOption(id); ok {
		return d.Name
	}
	return "Option(" + strconv.Itoa(int(id)) + ")"
}

// frameIndex remembers the last frames of a capture in a fixed array: a
// two-way set-associative table indexed by frame number, so that the
// frames of two merged capture files with the same numbers can both be
// held (with more files, the most recent frames win). Each entry records a hash of its endpoints, so that a lookup
// never returns another file's frame. The table starts small and doubles
// as frames arrive, up to its maximum.
type frameIndex struct {
	e     []frameEntry
	mask  int // number of sets - 1
	max   int // largest number of sets
	added int
	// stride is Config.FrameStride (0 or 1: the reference itself keys
	// the set).
	stride int
}

// setOf returns the first entry of frame n's set.
func (ix *frameIndex) setOf(n int) int {
	if ix.stride > 1 {
		n /= ix.stride
	}
	return (n & ix.mask) * 2
}

type frameEntry struct {
	frame int32
	used  bool
	ns    int64
	pair  uint64
	info  frameData
}

// frameData is FrameInfo without the time.Time (whose location pointer
// would make the garbage collector scan the table).
type frameData struct {
	typ        decode.Type
	code       decode.Code
	mid        uint16
	flags      FrameFlags
	keyCtx     uint16
	size       int32
	payloadLen int32
	content    uint64
	payload    uint64
	opts       OptionSet
	observe    uint32
	maxAge     uint32
}

// initialSets is the table's first size.
const initialSets = 1 << 11

func newFrameIndex(n, stride int) *frameIndex {
	sets := 1
	for sets*2 < n {
		sets <<= 1
	}
	first := min(sets, initialSets)
	return &frameIndex{e: make([]frameEntry, 2*first), mask: first - 1, max: sets, stride: stride}
}

// grow doubles the table, keeping every entry.
func (ix *frameIndex) grow() {
	old := ix.e
	sets := 2 * (ix.mask + 1)
	ix.e, ix.mask = make([]frameEntry, 2*sets), sets-1
	for i := range old {
		if old[i].used {
			ix.put(&old[i])
		}
	}
}

// slot picks the way of frame's set to fill: a free one, else the one
// written longer ago, so that a set holds the two most recent frames that
// map to it, of one file or of two merged ones.
func (ix *frameIndex) slot(frame int) *frameEntry {
	set := ix.setOf(frame)
	w, o := &ix.e[set], &ix.e[set+1]
	if w.used && (!o.used || o.ns < w.ns) {
		return o
	}
	return w
}

func (ix *frameIndex) put(e *frameEntry) { *ix.slot(int(e.frame)) = *e }

// pairHash hashes an ordered pair of endpoints.
func pairHash(src, dst netip.AddrPort) uint64 {
	return mix(endpointHash(src)*0x9e3779b97f4a7c15 + endpointHash(dst))
}

func endpointHash(a netip.AddrPort) uint64 {
	b := a.Addr().As16()
	h := binary.LittleEndian.Uint64(b[:8]) ^ mix(binary.LittleEndian.Uint64(b[8:])^uint64(a.Port())<<1)
	return mix(h)
}

// mix is the SplitMix64 finaliser.
func mix(x uint64) uint64 {
	x ^= x >> 30
	x *= 0xbf58476d1ce4e5b9
	x ^= x >> 27
	x *= 0x94d049bb133111eb
	return x ^ x>>31
}

// add records p, which must carry a CoAP message with a decoded header,
// and key, the id of the security context tried on it.
func (ix *frameIndex) add(p *Packet, key uint16) {
	m := p.CoAP
	ix.added++
	if ix.added > len(ix.e) && ix.mask+1 < ix.max {
		ix.grow()
	}
	w := ix.slot(p.Frame)
	*w = frameEntry{frame: int32(p.Frame), used: true, ns: p.Time.UnixNano(), pair: pairHash(p.Src, p.Dst)}
	d := &w.info
	d.typ, d.code, d.mid = m.Type, m.Code, m.MessageID
	d.size, d.payloadLen = int32(p.Size), int32(len(m.Payload))
	d.content = contentHash(m.Code, m.Payload)
	d.keyCtx = key
	d.payload = payloadHash(m.Payload)
	for i := range m.Options {
		o := &m.Options[i]
		d.opts.Add(o.ID)
		switch o.ID {
		case decode.OptObserve:
			d.flags |= FrameObserve
			d.observe = decode.DecodeUint(o.Value)
		case decode.OptMaxAge:
			d.flags |= FrameMaxAge
			d.maxAge = decode.DecodeUint(o.Value)
		case decode.OptProxyURI:
			if uriHasPath(o.Value) {
				d.flags |= FrameProxyURIPath
			}
		}
	}
	if r := p.OSCORE; r != nil {
		d.flags |= FrameOSCORE
		if r.Tried {
			d.flags |= FrameTried
		}
		if r.Verified {
			d.flags |= FrameVerified
		}
		if r.Replay.IsReplay() {
			d.flags |= FrameReplay
		}
	}
}

// contentSeed keys the content hashes of every run alike, so that equal
// content hashes equal in any two runs of a process.
var contentSeed = maphash.MakeSeed()

// payloadHash hashes a payload alone, with the same seed.
func payloadHash(payload []byte) uint64 {
	var h maphash.Hash
	h.SetSeed(contentSeed)
	h.WriteByte(0xff) // no code: keeps the two hashes of one payload apart
	h.Write(payload)
	return h.Sum64()
}

func contentHash(code decode.Code, payload []byte) uint64 {
	var h maphash.Hash
	h.SetSeed(contentSeed)
	h.WriteByte(byte(code))
	h.Write(payload)
	return h.Sum64()
}

// lookup returns frame n sent from src to dst.
func (ix *frameIndex) lookup(n int, src, dst netip.AddrPort) (FrameInfo, bool) {
	set := ix.setOf(n)
	pair := pairHash(src, dst)
	for i := set; i < set+2; i++ {
		e := &ix.e[i]
		if !e.used || int(e.frame) != n || e.pair != pair {
			continue
		}
		d := &e.info
		return FrameInfo{
			Frame: n, Time: time.Unix(0, e.ns), Type: d.typ, Code: d.code, MID: d.mid,
			Size: int(d.size), PayloadLen: int(d.payloadLen), Content: d.content, Payload: d.payload, Options: d.opts,
			Observe: d.observe, MaxAge: d.maxAge, Flags: d.flags, keyCtx: d.keyCtx,
		}, true
	}
	return FrameInfo{}, false
}

// uriHasPath reports whether the absolute URI u has a path other than
// "/" or a query (seed FR1.2).
func uriHasPath(u []byte) bool {
	i := 0
	if j := bytes.Index(u, []byte("://")); j >= 0 {
		i = j + 3
		for i < len(u) && u[i] != '/' && u[i] != '?' && u[i] != '#' {
			i++
		}
	}
	rest := u[i:]
	if k := bytes.IndexByte(rest, '#'); k >= 0 {
		rest = rest[:k]
	}
	return len(rest) > 1 || len(rest) == 1 && rest[0] == '?'
}
