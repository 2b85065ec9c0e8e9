package flows

import (
	"bytes"
	"net/netip"
	"slices"

	"github.com/fxamacker/cbor/v2"

	"github.com/coapaudit/coapaudit/decode"
)

// Roles of a pub-sub broker's resources (draft-ietf-core-coap-pubsub),
// as Exchange.Role names them. The names are stable.
const (
	// RoleDiscovery: /.well-known/core of a server seen acting as a broker.
	RoleDiscovery = "discovery"
	// RoleCollection: the topic collection (rt=core.ps.coll), where
	// topics are created (POST) and listed (GET, FETCH).
	RoleCollection = "topic-collection"
	// RoleConfiguration: a topic's configuration (rt=core.ps.conf).
	RoleConfiguration = "topic-configuration"
	// RoleData: a topic's data (rt=core.ps.data): PUT or POST to it
	// publishes, GET reads, GET with Observe subscribes.
	RoleData = "topic-data"
	// RoleOther: any other resource of a server seen acting as a broker.
	RoleOther = "other"
)

// Link kinds (Link.Kind). The names are stable.
const (
	// LinkPublishedBy: what the response carried was published by that
	// exchange (a notification, or a read of the topic data).
	LinkPublishedBy = "published-by"
	// LinkDeliveredTo: this publication reached that subscriber in a
	// notification.
	LinkDeliveredTo = "delivered-to"
	// LinkServedTo: this publication was the value that exchange read (a
	// plain GET, or the first response of a registration made after it).
	LinkServedTo = "served-to"
	// LinkFedBy: that exchange's server leg feeds this one's notifications.
	LinkFedBy = "fed-by"
	// LinkCachedFrom: a proxy answered with a response it received on
	// that exchange's server leg.
	LinkCachedFrom = "cached-from"
	// LinkDeregisters: this GET with Observe=1 ends that observation;
	// LinkDeregisteredBy is the other side.
	LinkDeregisters    = "deregisters"
	LinkDeregisteredBy = "deregistered-by"
	// LinkEnds: this request (a DELETE) caused the final notification of
	// that observation; LinkEndedBy is the other side.
	LinkEnds    = "ends"
	LinkEndedBy = "ended-by"
)

// Content-Formats that show a broker's resources.
const (
	cfLinkFormat   = 40
	cfPubSubCBOR   = 606 // application/core-pubsub+cbor
	maxTopics      = 4096
	maxUnackFrames = 32
	deleteWays     = 16
)

// topicKey names a resource of a broker by its address and canonical path.
type topicKey struct {
	server netip.AddrPort
	path   uint64
}

// recentDelete is a DELETE remembered to link the final notifications it
// causes.
type recentDelete struct {
	key topicKey
	t   int64
	hop ref
	id  uint64
}

// pubRec remembers a publication: the tracker links the notifications
// and reads that carry its payload to it.
type pubRec struct {
	key     uint64
	t       int64
	hop     ref
	id      uint64
	client  netip.AddrPort
	path    topicKey
	payload []byte
}

// maxPubPayload bounds the payload bytes a publication slot keeps; larger
// publications are confirmed by their keyed hash only.
const maxPubPayload = 1024

// pubsubDec decodes topic configurations; every CBOR the tracker reads
// goes through it.
var pubsubDec = func() cbor.DecMode {
	dm, err := cbor.DecOptions{
		MaxNestedLevels:  8,
		MaxArrayElements: 256,
		MaxMapPairs:      64,
		DupMapKey:        cbor.DupMapKeyEnforcedAPF,
	}.DecMode()
	if err != nil {
		panic(err)
	}
	return dm
}()

// How a resource's role was learnt (Exchange.RoleEvidence). The names
// are stable.
const (
	EvidenceLinkFormat    = "link-format"   // rt=core.ps.* in a link-format payload
	EvidenceLocation      = "location-path" // created by POST to the collection
	EvidenceConfiguration = "configuration" // application/core-pubsub+cbor
	EvidenceBehaviour     = "behaviour"     // PUT, then observers got its value
)

// topicRole is what the tracker knows of a broker's resource.
type topicRole struct {
	role, evidence string
}

// setRole records what a broker's resource is; the first source wins,
// except that a role learnt from behaviour gives way to one the broker
// declared. Only declared roles make a server a broker.
func (t *Tracker) setRole(k topicKey, role, evidence string) {
	if t.topics == nil {
		t.topics = make(map[topicKey]topicRole)
	}
	if r, ok := t.topics[k]; ok && (r.evidence != EvidenceBehaviour || evidence == EvidenceBehaviour) {
		return
	} else if !ok && len(t.topics) >= maxTopics {
		t.stats.TopicsDropped++
		return
	}
	t.topics[k] = topicRole{role, evidence}
	if evidence != EvidenceBehaviour {
		t.brokers[k.server] = struct{}{}
	}
}

func (t *Tracker) role(k topicKey) topicRole { return t.topics[k] }

// pathKey returns the key of a path written as a link target or a
// Location-Path ("/ps/data/1a2b", "coap://host/ps").
func (t *Tracker) pathKey(server netip.AddrPort, target []byte) topicKey {
	t.pathBuf = appendProxyURIPath(t.pathBuf[:0], target)
	return topicKey{server, t.h.bytes(t.pathBuf)}
}

// learnTopics reads what a response to h shows about a broker's
// resources: link-format with rt=core.ps.*, a topic created with
// Location-Path, a topic configuration (application/core-pubsub+cbor)
// naming its topic data.
func (t *Tracker) learnTopics(h *hop, p *Packet, v *view) {
	if h.kind != kindRequest || v.code.Class() != 2 || len(p.Msg.Payload) == 0 && !p.Msg.HasOption(decode.OptLocationPath) {
		return
	}
	m := p.Msg
	if p.OSCORE != nil && p.OSCORE.Inner != nil {
		m = p.OSCORE.Inner
	}
	server := h.to
	cf, hasCF := uint32(0), false
	var loc []byte
	for i := range m.Options {
		o := &m.Options[i]
		switch o.ID {
		case decode.OptContentFormat:
			cf, hasCF = decode.DecodeUint(o.Value), true
		case decode.OptLocationPath:
			loc = append(append(loc, '/'), o.Value...)
		}
	}
	self := topicKey{server, h.pathHash}
	switch {
	case hasCF && cf == cfLinkFormat:
		t.learnLinks(server, m.Payload)
		if bytes.Equal(h.path, wellKnownCore) && len(t.topics) > 0 && t.isBroker(server) {
			t.setRole(self, RoleDiscovery, EvidenceLinkFormat)
		}
	case hasCF && cf == cfPubSubCBOR:
		if h.method == decode.CodePOST && v.code == decode.CodeCreated && loc != nil {
			t.setRole(self, RoleCollection, EvidenceLocation)
			t.setRole(t.pathKey(server, loc), RoleConfiguration, EvidenceLocation)
		} else if h.method == decode.CodeGET || h.method == decode.CodePOST || h.method == decode.CodeIPATCH || h.method == decode.CodePATCH {
			t.setRole(self, RoleConfiguration, EvidenceConfiguration)
		}
		var conf map[int]cbor.RawMessage
		if pubsubDec.Unmarshal(m.Payload, &conf) == nil {
			var data string
			if raw, ok := conf[1]; ok && pubsubDec.Unmarshal(raw, &data) == nil && data != "" {
				t.setRole(t.pathKey(server, []byte("/"+data)), RoleData, EvidenceConfiguration)
			}
		}
	}
}

// wellKnownCore is the canonical path of /.well-known/core.
var wellKnownCore = appendProxyURIPath(nil, []byte("/.well-known/core"))

// isBroker reports whether server was seen with a pub-sub resource.
func (t *Tracker) isBroker(server netip.AddrPort) bool {
	if len(t.brokers) == 0 {
		return false
	}
	_, ok := t.brokers[server]
	return ok
}

// learnLinks reads a link-format payload (RFC 6690) for the resource
// types of draft-ietf-core-coap-pubsub.
func (t *Tracker) learnLinks(server netip.AddrPort, b []byte) {
	for len(b) > 0 {
		i := bytes.IndexByte(b, '<')
		if i < 0 {
			return
		}
		b = b[i+1:]
		j := bytes.IndexByte(b, '>')
		if j < 0 {
			return
		}
		target := b[:j]
		b = b[j+1:]
		end := len(b)
		if k := bytes.IndexByte(b, '<'); k >= 0 {
			end = k
		}
		attrs := b[:end]
		role := ""
		switch {
		case bytes.Contains(attrs, []byte("core.ps.coll")):
			role = RoleCollection
		case bytes.Contains(attrs, []byte("core.ps.conf")):
			role = RoleConfiguration
		case bytes.Contains(attrs, []byte("core.ps.data")):
			role = RoleData
		}
		if role != "" {
			t.setRole(t.pathKey(server, target), role, EvidenceLinkFormat)
		}
	}
}

// Publications (seed section 3): a PUT or POST with a body to a broker
// resource that is not known to be something else than topic data is
// remembered; a notification or read of the same resource with the same
// body is linked to it.
func (t *Tracker) notePublication(h *hop, v *view, now int64) {
	if len(v.payload) == 0 || v.code != decode.CodePUT && v.code != decode.CodePOST {
		return
	}
	tk := topicKey{h.to, h.pathHash}
	if r := t.role(tk).role; r != "" && r != RoleData {
		return
	}
	key := t.pubKey(h.to, h.pathHash, v.payload)
	r := &t.pubTab[pubSlot(h.to, h.path, v.payload)&(pubSlots-1)]
	r.key, r.t, r.hop, r.id, r.client, r.path = key, now, h.ref(), h.x.id, h.from, tk
	r.payload = r.payload[:0]
	if len(v.payload) <= maxPubPayload {
		r.payload = append(r.payload, v.payload...)
	}
}

// pubPayload reports whether the first request of h carried a payload.
func pubPayload(t *Tracker, h *hop) bool {
	m := t.decodeRaw(h.reqRaw)
	return m != nil && len(m.Payload) > 0
}

// deliverPublication links a response that carries a publication's
// payload: a notification is "delivered-to", a read (a plain GET or the
// first response of a registration) of known topic data "served-to". A
// notification that carries a publication shows that the resource is
// topic data when nothing else did.
func (t *Tracker) deliverPublication(h *hop, p *Packet, v *view, now int64, notif bool) {
	if h.kind != kindRequest || len(v.payload) == 0 || v.code.Class() != 2 ||
		h.method != decode.CodeGET && h.method != decode.CodeFETCH || !notif && !h.rd().obs.established && !t.isBroker(h.to) {
		// A plain read is linked only at a broker (below); skip the
		// hashing for every other response.
		return
	}
	key := t.pubKey(h.to, h.pathHash, v.payload)
	r := &t.pubTab[pubSlot(h.to, h.path, v.payload)&(pubSlots-1)]
	if r.key != key || now-r.t > t.maxRes || r.t > now || r.id == h.x.id {
		return
	}
	if len(v.payload) <= maxPubPayload && !bytes.Equal(r.payload, v.payload) {
		return
	}
	kind := LinkServedTo
	if notif {
		kind = LinkDeliveredTo
	} else if tr := t.role(r.path); tr.role != RoleData || tr.evidence == EvidenceBehaviour {
		// An ordinary server returns what was PUT to it: a read is
		// linked only at a resource known to be topic data.
		return
	}
	t.addLinkPeer(h.x, LinkPublishedBy, r.id, p.Frame, r.client)
	if pub := t.hop(r.hop); pub != nil && pub.x.id == r.id {
		t.addLinkPeer(pub.x, kind, h.x.id, p.Frame, h.from)
	}
	if h.rd().obs.established {
		t.setRole(r.path, RoleData, EvidenceBehaviour)
	}
}

// noteDelete remembers a DELETE so that the final notifications it causes
// can be linked to it.
func (t *Tracker) noteDelete(h *hop, now int64) {
	if h.method != decode.CodeDELETE {
		return
	}
	i := t.delNext % deleteWays
	t.deletes[i] = recentDelete{key: topicKey{h.to, h.pathHash}, t: now, hop: h.ref(), id: h.x.id}
	t.delNext++
}

// endedByDelete links the final notification of observation h to the
// latest DELETE of the same resource (or of its topic configuration when
// that is all the capture shows) that came before it.
func (t *Tracker) endedByDelete(h *hop, frame int, now int64) {
	k := topicKey{h.to, h.pathHash}
	var best *recentDelete
	for i := range t.deletes {
		d := &t.deletes[i]
		if d.id == 0 || d.t > now || now-d.t > t.maxRes || d.key != k {
			continue
		}
		if best == nil || d.t > best.t {
			best = d
		}
	}
	if best == nil {
		return
	}
	t.addLinkPeer(h.x, LinkEndedBy, best.id, frame, netip.AddrPort{})
	if d := t.hop(best.hop); d != nil && d.x.id == best.id {
		t.addLinkPeer(d.x, LinkEnds, h.x.id, frame, h.from)
	}
}

// noteUnacked follows the CON notifications of an observation that were
// never acknowledged.
func (t *Tracker) noteConNotification(h *hop, frame int) {
	o := &t.ext(h).obs
	if len(o.unacked) < maxUnackFrames {
		o.unacked = append(o.unacked, uint32(frame))
	} else {
		o.unackedMore++
	}
	o.lastConAcked = false
	o.lastCon = uint32(frame)
}

// ackedNotification removes an acknowledged CON notification.
func (t *Tracker) ackedNotification(h *hop, frame uint32) {
	if h.ext == nil && frame != 0 {
		return // nothing to remove, and frame is not lastCon (0)
	}
	o := &t.ext(h).obs
	if i := slices.Index(o.unacked, frame); i >= 0 {
		o.unacked = slices.Delete(o.unacked, i, i+1)
	} else if o.unackedMore > 0 {
		o.unackedMore--
	}
	if frame == o.lastCon {
		o.lastConAcked = true
	}
}

// pubSlot places a publication in the table of publications: the broker,
// the resource and the body, with the fixed hash (see fixedHash).
func pubSlot(to netip.AddrPort, path, payload []byte) uint64 {
	a := to.Addr().As16()
	k := mix(fixedHash(a[:]), uint64(to.Port())|5<<40)
	return mix(mix(k, fixedHash(path)), fixedHash(payload))
}
