package capture

import (
	"fmt"

	"github.com/google/gopacket/layers"
)

// Reason classes for numbers without a name.
const (
	classEtherType uint8 = iota
	classIPProtocol
	classLinkType
	classFamily
	classSLLProtocol
	classIPVersion
)

var reasonFormats = [...]string{
	classEtherType:   "ethertype 0x%04x",
	classIPProtocol:  "ip proto %d",
	classLinkType:    "unsupported link type %d",
	classFamily:      "loopback family %d",
	classSLLProtocol: "linux-sll protocol 0x%04x",
	classIPVersion:   "ip version %d",
}

var etherTypeNames = map[uint32]string{
	0x0806: "arp",
	0x8035: "rarp",
	0x809b: "appletalk",
	0x8137: "ipx",
	0x8847: "mpls",
	0x8848: "mpls",
	0x8863: "pppoe",
	0x8864: "pppoe",
	0x888e: "eapol",
	0x88cc: "lldp",
	0x88e5: "macsec",
	0x88f7: "ptp",
	0x8809: "slow-protocols",
	0x893a: "ieee1905",
}

var ipProtocolNames = map[uint32]string{
	0:   "ipv6 hop-by-hop",
	1:   "icmp",
	2:   "igmp",
	4:   "ipip",
	6:   "tcp",
	17:  "udp",
	41:  "ipv6",
	43:  "ipv6 routing",
	44:  "ipv6 fragment",
	47:  "gre",
	50:  "esp",
	51:  "ah",
	58:  "icmpv6",
	59:  "ipv6 no next header",
	60:  "ipv6 destination options",
	88:  "eigrp",
	89:  "ospf",
	103: "pim",
	112: "vrrp",
	132: "sctp",
	136: "udplite",
}

type reasonKey struct {
	class uint8
	v     uint32
}

// reasonCache formats each reason once, so that frames of an unusual kind
// cost no allocation after the first. It stops growing at maxReasons.
type reasonCache map[reasonKey]string

const maxReasons = 4096

func (rc reasonCache) get(class uint8, v uint32) string {
	switch class {
	case classEtherType:
		if s, ok := etherTypeNames[v]; ok {
			return s
		}
	case classIPProtocol:
		if s, ok := ipProtocolNames[v]; ok {
			return s
		}
	}
	k := reasonKey{class, v}
	if s, ok := rc[k]; ok {
		return s
	}
	s := fmt.Sprintf(reasonFormats[class], v)
	if len(rc) < maxReasons {
		rc[k] = s
	}
	return s
}

func (rc reasonCache) protocol(p layers.IPProtocol) string {
	return rc.get(classIPProtocol, uint32(p))
}
