package decode

import "strconv"

// Signaling option numbers (RFC 8323 section 5). They are numbered per
// signaling code: option 2 is Max-Message-Size in a CSM, Custody in a Ping
// or Pong, Alternative-Address in a Release and Bad-CSM-Option in an
// Abort.
const (
	OptMaxMessageSize     OptionID = 2 // 7.01 CSM
	OptBlockWiseTransfer  OptionID = 4 // 7.01 CSM
	OptCustody            OptionID = 2 // 7.02 Ping, 7.03 Pong
	OptAlternativeAddress OptionID = 2 // 7.04 Release
	OptHoldOff            OptionID = 4 // 7.04 Release
	OptBadCSMOption       OptionID = 2 // 7.05 Abort
)

// signalOptionTable is the "CoAP Signaling Option Numbers" registry of
// RFC 8323 section 11.2, with the lengths and formats of sections 5.3 to
// 5.6.
var signalOptionTable = [...]struct {
	code Code
	def  OptionDef
}{
	{CodeCSM, OptionDef{ID: OptMaxMessageSize, Name: "Max-Message-Size", Format: FormatUint, MinLen: 0, MaxLen: 4, Ref: "RFC 8323", goName: "OptMaxMessageSize"}},
	{CodeCSM, OptionDef{ID: OptBlockWiseTransfer, Name: "Block-Wise-Transfer", Format: FormatEmpty, MinLen: 0, MaxLen: 0, Ref: "RFC 8323", goName: "OptBlockWiseTransfer"}},
	{CodePing, OptionDef{ID: OptCustody, Name: "Custody", Format: FormatEmpty, MinLen: 0, MaxLen: 0, Ref: "RFC 8323", goName: "OptCustody"}},
	{CodePong, OptionDef{ID: OptCustody, Name: "Custody", Format: FormatEmpty, MinLen: 0, MaxLen: 0, Ref: "RFC 8323", goName: "OptCustody"}},
	{CodeRelease, OptionDef{ID: OptAlternativeAddress, Name: "Alternative-Address", Format: FormatString, MinLen: 1, MaxLen: 255, Repeatable: true, Ref: "RFC 8323", goName: "OptAlternativeAddress"}},
	{CodeRelease, OptionDef{ID: OptHoldOff, Name: "Hold-Off", Format: FormatUint, MinLen: 0, MaxLen: 3, Ref: "RFC 8323", goName: "OptHoldOff"}},
	{CodeAbort, OptionDef{ID: OptBadCSMOption, Name: "Bad-CSM-Option", Format: FormatUint, MinLen: 0, MaxLen: 2, Ref: "RFC 8323", goName: "OptBadCSMOption"}},
}

func lookupSignalOption(c Code, id OptionID) *OptionDef {
	for i := range signalOptionTable {
		if e := &signalOptionTable[i]; e.code == c && e.def.ID == id {
			return &e.def
		}
	}
	return nil
}

// LookupSignalOption returns the registry entry of option id in a
// signaling message of code c, and whether there is one.
func LookupSignalOption(c Code, id OptionID) (OptionDef, bool) {
	if d := lookupSignalOption(c, id); d != nil {
		return *d, true
	}
	return OptionDef{ID: id, Format: FormatOpaque, MaxLen: maxLenAny, Repeatable: true}, false
}

// OptionName returns the name of option id in a message of code c: for
// signaling codes the name of the signaling option ("Max-Message-Size"),
// otherwise id.String(); "Option(N)" for an unknown number.
func OptionName(c Code, id OptionID) string {
	if c.IsSignaling() {
		if d := lookupSignalOption(c, id); d != nil {
			return d.Name
		}
		return "Option(" + strconv.Itoa(int(id)) + ")"
	}
	return id.String()
}

// AppendMessageOptionValue is AppendOptionValue for an option of a
// message of code c: signaling options are shown by their own format.
func AppendMessageOptionValue(dst []byte, c Code, id OptionID, v []byte) []byte {
	if !c.IsSignaling() {
		return AppendOptionValue(dst, id, v)
	}
	f := FormatOpaque
	if d := lookupSignalOption(c, id); d != nil {
		f = d.Format
	}
	return appendFormatted(dst, f, false, v)
}
