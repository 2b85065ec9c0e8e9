package rules

import (
	"fmt"
	"strings"

	"github.com/coapaudit/coapaudit/decode"
	"github.com/coapaudit/coapaudit/flows"
)

// Profile is one of the seed's protection levels: what a security
// solution must keep confidential and authentic so that a proxy or broker
// can still do its job (seed sections 2.2.1, 2.2.2 and 3.2.1).
type Profile uint8

const (
	// Auto picks a profile per exchange from what the traffic shows:
	// PubSub for every exchange with a broker resource the traffic shows
	// (flows.Exchange.Role: discovery, topic collection, configuration or
	// data) and for publications and the notifications and reads a
	// broker derives from them, Caching for responses a proxy serves from its cache or one
	// observation it shares between clients (or for any exchange through
	// a proxy seen doing that), Forwarding otherwise.
	Auto Profile = iota
	// Forwarding: a forward proxy with caching disabled (section 2.2.1).
	// Everything but Proxy-Uri, Proxy-Scheme, Uri-Host, Uri-Port and the
	// transport options is confidential; Max-Age must be 0 (FR1.1) and
	// Proxy-Uri carries no path or query (FR1.2).
	Forwarding
	// Caching: a caching proxy (section 2.2.2). Only response payloads
	// are confidential; the proxy reads the cache key.
	Caching
	// PubSub: a publish-subscribe broker (section 3.2.1). Publication
	// payloads are confidential; the topic is not.
	PubSub
)

var profileNames = [...]string{"auto", "forwarding", "caching", "pubsub"}

// ParseProfile parses a --profile value: auto, forwarding, caching or
// pubsub (also "pub-sub").
func ParseProfile(s string) (Profile, error) {
	switch strings.ToLower(s) {
	case "", "auto":
		return Auto, nil
	case "forwarding", "forward":
		return Forwarding, nil
	case "caching", "cache":
		return Caching, nil
	case "pubsub", "pub-sub":
		return PubSub, nil
	}
	return Auto, fmt.Errorf("unknown profile %q (want auto, forwarding, caching or pubsub)", s)
}

func (p Profile) String() string {
	if int(p) < len(profileNames) {
		return profileNames[p]
	}
	return fmt.Sprintf("Profile(%d)", uint8(p))
}

// MarshalText returns the name.
func (p Profile) MarshalText() ([]byte, error) { return []byte(p.String()), nil }

// Seed returns the seed section that defines the profile.
func (p Profile) Seed() string {
	switch p {
	case Forwarding:
		return "2.2.1"
	case Caching:
		return "2.2.2"
	case PubSub:
		return "3.2.1"
	}
	return "2.2"
}

// ConfidentialitySeed returns the section that lists what the profile
// keeps confidential.
func (p Profile) ConfidentialitySeed() string {
	switch p {
	case Caching:
		return "2.2.2.5"
	case PubSub:
		return "3.2.1.4"
	}
	return "2.2.1.5"
}

// AuthenticitySeed returns the section that lists what the profile
// keeps authentic.
func (p Profile) AuthenticitySeed() string {
	switch p {
	case Caching:
		return "2.2.2.4"
	case PubSub:
		return "3.2.1.3"
	}
	return "2.2.1.4"
}

// routing reports whether option id addresses the request: a proxy needs
// it to forward (seed 2.2.1.3, PR1.1 and PR1.2).
func routing(id decode.OptionID) bool {
	switch id {
	case decode.OptProxyURI, decode.OptProxyScheme, decode.OptURIHost, decode.OptURIPort,
		decode.OptProxyCRI, decode.OptProxySchemeNumber:
		return true
	}
	return false
}

// transport reports whether option id serves the hop rather than the
// application: options that OSCORE itself leaves in the outer message
// (RFC 8613 section 4.1) and that are not among the options the seed
// analyses (its Table 1).
func transport(id decode.OptionID) bool {
	switch id {
	case decode.OptOSCORE, decode.OptEDHOC, decode.OptHopLimit, decode.OptBlock1, decode.OptBlock2,
		decode.OptSize1, decode.OptSize2, decode.OptQBlock1, decode.OptQBlock2:
		return true
	}
	return false
}

// ConfidentialOption reports whether the profile requires option id of a
// request (or of a response) to be confidentiality protected. Auto is
// treated as Forwarding, the strictest.
func (p Profile) ConfidentialOption(id decode.OptionID, request bool) bool {
	switch p {
	case Caching, PubSub:
		// 2.2.2.5: no part of a request, and of a response only the
		// payload. 3.2.1.4: only the publication payload.
		return false
	}
	return !routing(id) && !transport(id)
}

// ConfidentialPayload reports whether the profile requires the payload of
// a request (or response) to be confidentiality protected. publication
// says that the message carries a publication: a PUT or POST to a broker,
// or a notification relaying one.
func (p Profile) ConfidentialPayload(request, publication bool) bool {
	switch p {
	case Caching:
		return !request
	case PubSub:
		return publication
	}
	return true
}

// AuthenticOption reports whether the profile requires option id of a
// request (or of a response) to reach the other end unaltered: A1.2 and
// A1.6 for forwarding, A2.1 and A2.3 for caching. The effective request
// URI is covered separately (A1.3, A2.2). PubSub asks for the payload only
// (A3.2). Transport options, which each hop sets, are never required.
func (p Profile) AuthenticOption(id decode.OptionID, request bool) bool {
	if transport(id) {
		return false
	}
	uri := routing(id) || id == decode.OptURIPath || id == decode.OptURIQuery
	switch p {
	case Caching:
		if request {
			return !uri && id != decode.OptETag && id != decode.OptObserve
		}
		return id != decode.OptMaxAge && id != decode.OptObserve
	case PubSub:
		return false
	}
	if request {
		return !uri
	}
	return true
}

// Link kinds of flows.Exchange that decide the Auto profile.
const (
	linkPublishedBy = flows.LinkPublishedBy
	linkDeliveredTo = flows.LinkDeliveredTo
	linkServedTo    = flows.LinkServedTo
	linkFedBy       = flows.LinkFedBy
	linkCachedFrom  = flows.LinkCachedFrom
)

// Resolve returns the profile x is held to under p: p itself, or under
// Auto the one x's traffic points to (a pub-sub broker's resource or
// publication links, a shared or cached response), without what a run
// learnt about x's proxy (Pass.Profile adds that).
func (p Profile) Resolve(x *flows.Exchange) Profile {
	if p != Auto {
		return p
	}
	return resolve(x, false)
}

// resolve picks the profile of x under Auto; cachingProxy says that the
// exchange's proxy was seen serving from its cache.
func resolve(x *flows.Exchange, cachingProxy bool) Profile {
	if x.Role != "" {
		return PubSub
	}
	caching := cachingProxy
	for _, l := range x.Links {
		switch l.Kind {
		case linkPublishedBy, linkDeliveredTo, linkServedTo:
			return PubSub
		case linkFedBy, linkCachedFrom:
			caching = true
		}
	}
	for i := range x.Legs {
		if x.Legs[i].Shared != "" {
			caching = true
		}
	}
	if caching {
		return Caching
	}
	return Forwarding
}
