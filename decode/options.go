package decode

import (
	"encoding/hex"
	"strconv"
	"unicode/utf8"
)

// Option numbers from the IANA "CoAP Option Numbers" registry, plus the
// oneM2M options of TS-0008 (see optionTable for the source of each).
const (
	OptIfMatch                       OptionID = 1
	OptURIHost                       OptionID = 3
	OptETag                          OptionID = 4
	OptIfNoneMatch                   OptionID = 5
	OptObserve                       OptionID = 6
	OptURIPort                       OptionID = 7
	OptLocationPath                  OptionID = 8
	OptOSCORE                        OptionID = 9
	OptURIPath                       OptionID = 11
	OptContentFormat                 OptionID = 12
	OptMaxAge                        OptionID = 14
	OptURIQuery                      OptionID = 15
	OptHopLimit                      OptionID = 16
	OptAccept                        OptionID = 17
	OptQBlock1                       OptionID = 19
	OptLocationQuery                 OptionID = 20
	OptEDHOC                         OptionID = 21
	OptBlock2                        OptionID = 23
	OptBlock1                        OptionID = 27
	OptSize2                         OptionID = 28
	OptQBlock2                       OptionID = 31
	OptProxyURI                      OptionID = 35
	OptProxyScheme                   OptionID = 39
	OptSize1                         OptionID = 60
	OptProxyCRI                      OptionID = 235
	OptProxySchemeNumber             OptionID = 239
	OptEcho                          OptionID = 252
	OptNoResponse                    OptionID = 258
	OptRequestTag                    OptionID = 292
	OptOCFAcceptContentFormatVersion OptionID = 2049
	OptOCFContentFormatVersion       OptionID = 2053
	OptSCP82Params                   OptionID = 2055
	OptXAdminProtocol                OptionID = 2056

	// oneM2M TS-0008 Release 3 and later.
	OptOneM2MOT    OptionID = 259
	OptOneM2MRTURI OptionID = 263
	OptOneM2MTY    OptionID = 267
	OptOneM2MRVI   OptionID = 271
	OptOneM2MASRI  OptionID = 275
	OptOneM2MFR    OptionID = 279
	OptOneM2MRQI   OptionID = 283
	OptOneM2MRQET  OptionID = 291
	OptOneM2MRSET  OptionID = 295
	OptOneM2MOET   OptionID = 299
	OptOneM2MEC    OptionID = 303
	OptOneM2MRSC   OptionID = 307
	OptOneM2MGID   OptionID = 311
	OptOneM2MCTO   OptionID = 319
	OptOneM2MCTS   OptionID = 323
	OptOneM2MATI   OptionID = 327
	OptOneM2MVSI   OptionID = 331
	OptOneM2MGTM   OptionID = 335
	OptOneM2MAUS   OptionID = 339

	// oneM2M TS-0008 Releases 1 and 2 numbered some options differently.
	// The numbers below were dropped in Release 3 but still appear on the
	// wire (for example in the ETSI interoperability test captures).
	OptOneM2MFRLegacy   OptionID = 256
	OptOneM2MRQILegacy  OptionID = 257
	OptOneM2MRQETLegacy OptionID = 260
	OptOneM2MRSETLegacy OptionID = 261
	OptOneM2MOETLegacy  OptionID = 262
	OptOneM2MECLegacy   OptionID = 264
	OptOneM2MRSCLegacy  OptionID = 265
	OptOneM2MGIDLegacy  OptionID = 266
	OptOneM2MCTOLegacy  OptionID = 268
	OptOneM2MCTSLegacy  OptionID = 269
	OptOneM2MATILegacy  OptionID = 270
)

// OptionFormat is the value format of an option (RFC 7252 section 3.2).
type OptionFormat uint8

const (
	FormatOpaque OptionFormat = iota // a sequence of bytes
	FormatEmpty                      // a zero-length value
	FormatUint                       // a big-endian unsigned integer without leading zero bytes
	FormatString                     // a UTF-8 string (Net-Unicode)
)

var formatNames = [...]string{
	FormatOpaque: "opaque",
	FormatEmpty:  "empty",
	FormatUint:   "uint",
	FormatString: "string",
}

func (f OptionFormat) String() string {
	if int(f) < len(formatNames) {
		return formatNames[f]
	}
	return "OptionFormat(" + strconv.Itoa(int(f)) + ")"
}

// OptionDef is one row of the option registry.
type OptionDef struct {
	ID     OptionID
	Name   string // registered name, e.g. "Uri-Path"
	Format OptionFormat
	// MinLen and MaxLen bound the value length in bytes.
	MinLen, MaxLen int
	Repeatable     bool
	// OSCORE says how OSCORE protects the option (RFC 8613 section 4.1).
	OSCORE OSCOREClassKind
	// Ref names the specification that defines the option.
	Ref string

	goName string // the Go constant, for GoString
}

// maxLenAny is MaxLen for options whose specification sets no bound: the
// largest length the option encoding can express (RFC 7252 section 3.1).
const maxLenAny = 65535 + 269

// Shorthands for the OSCORE column of optionTable.
const (
	clsE  = OSCOREClassE
	clsU  = OSCOREClassU
	clsEU = OSCOREClassE | OSCOREClassU
)

// optionTable is the option registry, sorted by number. Lengths, formats
// and repeatability come from each option's definition (RFC 7252 section
// 5.10 and the "Option Definitions" table of later documents); the OSCORE
// class from RFC 8613 section 4.1 or the defining document. Options whose
// definition does not say are class E, as RFC 8613 section 4.1 prescribes.
var optionTable = [...]OptionDef{
	{OptIfMatch, "If-Match", FormatOpaque, 0, 8, true, clsE, "RFC 7252", "OptIfMatch"},
	{OptURIHost, "Uri-Host", FormatString, 1, 255, false, clsU, "RFC 7252", "OptURIHost"},
	{OptETag, "ETag", FormatOpaque, 1, 8, true, clsE, "RFC 7252", "OptETag"},
	{OptIfNoneMatch, "If-None-Match", FormatEmpty, 0, 0, false, clsE, "RFC 7252", "OptIfNoneMatch"},
	{OptObserve, "Observe", FormatUint, 0, 3, false, clsEU, "RFC 7641", "OptObserve"},
	{OptURIPort, "Uri-Port", FormatUint, 0, 2, false, clsU, "RFC 7252", "OptURIPort"},
	{OptLocationPath, "Location-Path", FormatString, 0, 255, true, clsE, "RFC 7252", "OptLocationPath"},
	{OptOSCORE, "OSCORE", FormatOpaque, 0, 255, false, clsU, "RFC 8613", "OptOSCORE"},
	{OptURIPath, "Uri-Path", FormatString, 0, 255, true, clsE, "RFC 7252", "OptURIPath"},
	{OptContentFormat, "Content-Format", FormatUint, 0, 2, false, clsE, "RFC 7252", "OptContentFormat"},
	{OptMaxAge, "Max-Age", FormatUint, 0, 4, false, clsEU, "RFC 7252", "OptMaxAge"},
	{OptURIQuery, "Uri-Query", FormatString, 0, 255, true, clsE, "RFC 7252", "OptURIQuery"},
	{OptHopLimit, "Hop-Limit", FormatUint, 1, 1, false, clsU, "RFC 8768", "OptHopLimit"},
	{OptAccept, "Accept", FormatUint, 0, 2, false, clsE, "RFC 7252", "OptAccept"},
	{OptQBlock1, "Q-Block1", FormatUint, 0, 3, false, clsEU, "RFC 9177", "OptQBlock1"},
	{OptLocationQuery, "Location-Query", FormatString, 0, 255, true, clsE, "RFC 7252", "OptLocationQuery"},
	{OptEDHOC, "EDHOC", FormatEmpty, 0, 0, false, clsU, "RFC 9668", "OptEDHOC"},
	{OptBlock2, "Block2", FormatUint, 0, 3, false, clsEU, "RFC 7959", "OptBlock2"},
	{OptBlock1, "Block1", FormatUint, 0, 3, false, clsEU, "RFC 7959", "OptBlock1"},
	{OptSize2, "Size2", FormatUint, 0, 4, false, clsEU, "RFC 7959", "OptSize2"},
	{OptQBlock2, "Q-Block2", FormatUint, 0, 3, true, clsEU, "RFC 9177", "OptQBlock2"},
	{OptProxyURI, "Proxy-Uri", FormatString, 1, 1034, false, clsU, "RFC 7252", "OptProxyURI"},
	{OptProxyScheme, "Proxy-Scheme", FormatString, 1, 255, false, clsU, "RFC 7252", "OptProxyScheme"},
	{OptSize1, "Size1", FormatUint, 0, 4, false, clsEU, "RFC 7252", "OptSize1"},
	{OptProxyCRI, "Proxy-Cri", FormatOpaque, 1, 1023, false, clsU, "draft-ietf-core-href", "OptProxyCRI"},
	{OptProxySchemeNumber, "Proxy-Scheme-Number", FormatUint, 0, 3, false, clsU, "draft-ietf-core-href", "OptProxySchemeNumber"},
	{OptEcho, "Echo", FormatOpaque, 1, 40, false, clsEU, "RFC 9175", "OptEcho"},
	{OptOneM2MFRLegacy, "oneM2M-FR", FormatString, 0, 255, false, clsE, "oneM2M TS-0008 R1-R2", "OptOneM2MFRLegacy"},
	{OptOneM2MRQILegacy, "oneM2M-RQI", FormatString, 0, 255, false, clsE, "oneM2M TS-0008 R1-R2", "OptOneM2MRQILegacy"},
	{OptNoResponse, "No-Response", FormatUint, 0, 1, false, clsEU, "RFC 7967", "OptNoResponse"},
	{OptOneM2MOT, "oneM2M-OT", FormatString, 0, 255, false, clsE, "oneM2M TS-0008", "OptOneM2MOT"},
	{OptOneM2MRQETLegacy, "oneM2M-RQET", FormatString, 0, 255, false, clsE, "oneM2M TS-0008 R1-R2", "OptOneM2MRQETLegacy"},
	{OptOneM2MRSETLegacy, "oneM2M-RSET", FormatString, 0, 255, false, clsE, "oneM2M TS-0008 R1-R2", "OptOneM2MRSETLegacy"},
	{OptOneM2MOETLegacy, "oneM2M-OET", FormatString, 0, 255, false, clsE, "oneM2M TS-0008 R1-R2", "OptOneM2MOETLegacy"},
	{OptOneM2MRTURI, "oneM2M-RTURI", FormatString, 0, 255, false, clsE, "oneM2M TS-0008", "OptOneM2MRTURI"},
	{OptOneM2MECLegacy, "oneM2M-EC", FormatUint, 0, 1, false, clsE, "oneM2M TS-0008 R1-R2", "OptOneM2MECLegacy"},
	{OptOneM2MRSCLegacy, "oneM2M-RSC", FormatUint, 0, 2, false, clsE, "oneM2M TS-0008 R1-R2", "OptOneM2MRSCLegacy"},
	{OptOneM2MGIDLegacy, "oneM2M-GID", FormatString, 0, 255, false, clsE, "oneM2M TS-0008 R1-R2", "OptOneM2MGIDLegacy"},
	{OptOneM2MTY, "oneM2M-TY", FormatUint, 0, 2, false, clsE, "oneM2M TS-0008", "OptOneM2MTY"},
	{OptOneM2MCTOLegacy, "oneM2M-CTO", FormatUint, 0, 2, false, clsE, "oneM2M TS-0008 R1-R2", "OptOneM2MCTOLegacy"},
	{OptOneM2MCTSLegacy, "oneM2M-CTS", FormatUint, 0, 2, false, clsE, "oneM2M TS-0008 R1-R2", "OptOneM2MCTSLegacy"},
	{OptOneM2MATILegacy, "oneM2M-ATI", FormatString, 0, 255, false, clsE, "oneM2M TS-0008 R1-R2", "OptOneM2MATILegacy"},
	{OptOneM2MRVI, "oneM2M-RVI", FormatString, 1, 2, false, clsE, "oneM2M TS-0008", "OptOneM2MRVI"},
	{OptOneM2MASRI, "oneM2M-ASRI", FormatString, 0, 255, false, clsE, "oneM2M TS-0008", "OptOneM2MASRI"},
	{OptOneM2MFR, "oneM2M-FR", FormatString, 0, 255, false, clsE, "oneM2M TS-0008", "OptOneM2MFR"},
	{OptOneM2MRQI, "oneM2M-RQI", FormatString, 0, 255, false, clsE, "oneM2M TS-0008", "OptOneM2MRQI"},
	{OptOneM2MRQET, "oneM2M-RQET", FormatString, 0, 255, false, clsE, "oneM2M TS-0008", "OptOneM2MRQET"},
	{OptRequestTag, "Request-Tag", FormatOpaque, 0, 8, true, clsEU, "RFC 9175", "OptRequestTag"},
	{OptOneM2MRSET, "oneM2M-RSET", FormatString, 0, 255, false, clsE, "oneM2M TS-0008", "OptOneM2MRSET"},
	{OptOneM2MOET, "oneM2M-OET", FormatString, 0, 255, false, clsE, "oneM2M TS-0008", "OptOneM2MOET"},
	{OptOneM2MEC, "oneM2M-EC", FormatUint, 0, 1, false, clsE, "oneM2M TS-0008", "OptOneM2MEC"},
	{OptOneM2MRSC, "oneM2M-RSC", FormatUint, 0, 2, false, clsE, "oneM2M TS-0008", "OptOneM2MRSC"},
	{OptOneM2MGID, "oneM2M-GID", FormatString, 0, 255, false, clsE, "oneM2M TS-0008", "OptOneM2MGID"},
	{OptOneM2MCTO, "oneM2M-CTO", FormatUint, 0, 2, false, clsE, "oneM2M TS-0008", "OptOneM2MCTO"},
	{OptOneM2MCTS, "oneM2M-CTS", FormatUint, 0, 2, false, clsE, "oneM2M TS-0008", "OptOneM2MCTS"},
	{OptOneM2MATI, "oneM2M-ATI", FormatString, 0, 255, false, clsE, "oneM2M TS-0008", "OptOneM2MATI"},
	{OptOneM2MVSI, "oneM2M-VSI", FormatString, 0, 255, false, clsE, "oneM2M TS-0008", "OptOneM2MVSI"},
	{OptOneM2MGTM, "oneM2M-GTM", FormatString, 0, 512, false, clsE, "oneM2M TS-0008", "OptOneM2MGTM"},
	{OptOneM2MAUS, "oneM2M-AUS", FormatString, 0, 255, false, clsE, "oneM2M TS-0008", "OptOneM2MAUS"},
	{OptOCFAcceptContentFormatVersion, "OCF-Accept-Content-Format-Version", FormatUint, 0, 2, false, clsE, "OCF Core", "OptOCFAcceptContentFormatVersion"},
	{OptOCFContentFormatVersion, "OCF-Content-Format-Version", FormatUint, 0, 2, false, clsE, "OCF Core", "OptOCFContentFormatVersion"},
	{OptSCP82Params, "SCP82-Params", FormatOpaque, 0, maxLenAny, false, clsE, "GlobalPlatform GPC_SPE_207", "OptSCP82Params"},
	{OptXAdminProtocol, "X-Admin-Protocol", FormatOpaque, 0, maxLenAny, false, clsE, "GSMA SGP.32", "OptXAdminProtocol"},
}

// lookupOption finds id in optionTable. The result points into the table
// and must not be modified.
func lookupOption(id OptionID) *OptionDef {
	lo, hi := 0, len(optionTable)
	for lo < hi {
		mid := int(uint(lo+hi) >> 1)
		switch n := optionTable[mid].ID; {
		case n == id:
			return &optionTable[mid]
		case n < id:
			lo = mid + 1
		default:
			hi = mid
		}
	}
	return nil
}

// LookupOption returns the registry entry for id and whether there is one.
func LookupOption(id OptionID) (OptionDef, bool) {
	if d := lookupOption(id); d != nil {
		return *d, true
	}
	return OptionDef{ID: id, Format: FormatOpaque, MaxLen: maxLenAny, Repeatable: true, OSCORE: OSCOREClassE}, false
}

// RegisteredOptions returns a copy of the option registry, sorted by number.
func RegisteredOptions() []OptionDef {
	return append([]OptionDef(nil), optionTable[:]...)
}

// Known reports whether id is in the option registry.
func (id OptionID) Known() bool { return lookupOption(id) != nil }

// String returns the registered name, or "Option(N)" for an unknown number.
func (id OptionID) String() string {
	if d := lookupOption(id); d != nil {
		return d.Name
	}
	return "Option(" + strconv.Itoa(int(id)) + ")"
}

// GoString returns the Go constant for id, or a conversion for an unknown number.
func (id OptionID) GoString() string {
	if d := lookupOption(id); d != nil {
		return "decode." + d.goName
	}
	return "decode.OptionID(" + strconv.Itoa(int(id)) + ")"
}

// Critical reports whether an endpoint must understand the option (RFC 7252
// section 5.4.1): the number is odd.
func (id OptionID) Critical() bool { return id&1 != 0 }

// Unsafe reports whether a proxy must understand the option to forward it
// (RFC 7252 section 5.4.2).
func (id OptionID) Unsafe() bool { return id&2 != 0 }

// NoCacheKey reports whether a safe-to-forward option is left out of the
// cache key (RFC 7252 section 5.4.6). It is meaningless for unsafe options.
func (id OptionID) NoCacheKey() bool { return id&0x1e == 0x1c }

// Format returns the value format of id; unknown options are opaque.
func (id OptionID) Format() OptionFormat {
	if d := lookupOption(id); d != nil {
		return d.Format
	}
	return FormatOpaque
}

// Repeatable reports whether id may occur more than once in a message.
// Unknown options count as repeatable: nothing says otherwise.
func (id OptionID) Repeatable() bool {
	if d := lookupOption(id); d != nil {
		return d.Repeatable
	}
	return true
}

// DecodeUint returns the value of a uint option (RFC 7252 section 3.2). A
// value longer than 4 bytes keeps its low 32 bits.
func DecodeUint(v []byte) uint32 {
	var n uint32
	for _, c := range v {
		n = n<<8 | uint32(c)
	}
	return n
}

// ParseBlock splits a Block1, Block2, Q-Block1 or Q-Block2 value (RFC 7959
// section 2.2) into block number, more flag and size exponent. The block
// size is 16<<szx; szx 7 is reserved over UDP.
func ParseBlock(v []byte) (num uint32, more bool, szx uint8) {
	n := DecodeUint(v)
	return n >> 4, n&0x08 != 0, uint8(n & 0x07)
}

// isBlock reports whether id carries a block value (RFC 7959, RFC 9177).
func isBlock(id OptionID) bool {
	return id == OptBlock1 || id == OptBlock2 || id == OptQBlock1 || id == OptQBlock2
}

// AppendOptionValue appends v, the value of option id, as text for people
// and JSON: a block option of up to 3 bytes as "NUM/M/SIZE" (for example
// "2/1/64"; size "reserved" for szx 7); any other uint of up to 8 bytes as
// decimal; a string as itself; an empty value as nothing; anything else,
// and any value that does not fit its format, as lowercase hex.
func AppendOptionValue(dst []byte, id OptionID, v []byte) []byte {
	return appendFormatted(dst, id.Format(), isBlock(id), v)
}

// appendFormatted appends v as AppendOptionValue does, for an option of
// format f; block says it is a block option.
func appendFormatted(dst []byte, f OptionFormat, block bool, v []byte) []byte {
	switch f {
	case FormatEmpty:
		if len(v) == 0 {
			return dst
		}
	case FormatUint:
		if block && len(v) <= 3 {
			num, more, szx := ParseBlock(v)
			dst = strconv.AppendUint(dst, uint64(num), 10)
			if more {
				dst = append(dst, "/1/"...)
			} else {
				dst = append(dst, "/0/"...)
			}
			if szx == 7 {
				return append(dst, "reserved"...)
			}
			return strconv.AppendUint(dst, 16<<szx, 10)
		}
		if len(v) <= 8 {
			var n uint64
			for _, c := range v {
				n = n<<8 | uint64(c)
			}
			return strconv.AppendUint(dst, n, 10)
		}
	case FormatString:
		if utf8.Valid(v) {
			return append(dst, v...)
		}
	}
	return hex.AppendEncode(dst, v)
}
