package export

import (
	"encoding/json"
	"sort"
	"strconv"
	"strings"
)

// Summary is the last record of every run. Frames = CoAPFrames + DTLSFrames
// + MalformedFrames + OtherFrames, always.
type Summary struct {
	Files []string `json:"files"`
	// ClockOffsets are the clock corrections of the files after the first
	// when several are analysed together (analysis.EstimateOffsets).
	ClockOffsets    []ClockOffset `json:"clock_offsets,omitempty"`
	Frames          int           `json:"frames"`
	CoAPFrames      int           `json:"coap_frames"`
	DTLSFrames      int           `json:"dtls_frames"`
	MalformedFrames int           `json:"malformed_frames"`
	OtherFrames     int           `json:"other_frames"`
	// Other frames by what they are ("udp", "tcp", "arp", "ip-fragment", ...).
	OtherBy map[string]int `json:"other_by,omitempty"`
	// Frames found by a heuristic on a port not configured for CoAP or DTLS.
	HeuristicFrames int `json:"heuristic_frames"`
	// IP fragments seen, datagrams reassembled, and fragment state evicted.
	IPFragments      int `json:"ip_fragments"`
	IPReassembled    int `json:"ip_reassembled"`
	IPFragmentsEvict int `json:"ip_fragments_evicted"`
	// Anomalies found in frames that still decoded.
	Anomalies int `json:"anomalies"`

	Exchanges int `json:"exchanges"`
	// Findings counts finding records written; FindingsSuppressed those a
	// rule reported past its cap (rules.Config.MaxFindings), which have no
	// record, and FindingsSuppressedBy the same per rule.
	Findings             int            `json:"findings"`
	FindingsSuppressed   int            `json:"findings_suppressed,omitempty"`
	FindingsSuppressedBy map[string]int `json:"findings_suppressed_by,omitempty"`
	Decrypted            int            `json:"decrypted"`
	DecryptFailures      int            `json:"decrypt_failures"`
	// Evictions of per-flow state, by cause.
	Evicted map[string]int `json:"evicted,omitempty"`

	// DTLS decryption (--keylog, --psk): records decrypted, protected
	// records not decrypted, CoAP messages found in the decrypted
	// application data, and DTLS sessions by status ("decrypting", "key
	// does not match this session", ...).
	DTLSDecrypted       int            `json:"dtls_decrypted,omitempty"`
	DTLSDecryptFailures int            `json:"dtls_decrypt_failures,omitempty"`
	DTLSCoAP            int            `json:"dtls_coap,omitempty"`
	DTLSSessions        map[string]int `json:"dtls_sessions,omitempty"`

	// For live captures: frames the kernel received for the capture
	// socket and dropped before they were read.
	KernelReceived int `json:"kernel_received,omitempty"`
	KernelDropped  int `json:"kernel_dropped,omitempty"`

	Truncated      bool    `json:"truncated"`
	TruncatedError string  `json:"truncated_error,omitempty"`
	FirstTime      string  `json:"first_time,omitempty"`
	LastTime       string  `json:"last_time,omitempty"`
	ElapsedSeconds float64 `json:"elapsed_seconds"`
}

func (s *Summary) Type() string { return "summary" }

// ClockOffset is the clock correction of one capture file analysed with
// others, relative to the first file's clock.
type ClockOffset struct {
	File string `json:"file"`
	// Offset is what is added to every frame time of the file, in
	// seconds: -0.05 for a file whose clock is 50 ms ahead.
	Offset float64 `json:"offset"`
	// Pairs counts the messages seen in both files the estimate rests on
	// (0 for an offset set by hand).
	Pairs int `json:"pairs"`
	// Applied is false when the estimate was not used: too little
	// evidence, beyond --max-skew, or a file that could not be read twice.
	Applied bool `json:"applied"`
	// Source is "estimate" or "manual".
	Source string `json:"source"`
	// Uncertainty bounds the estimate's error, in seconds, when the
	// evidence gives a bound.
	Uncertainty float64 `json:"uncertainty,omitempty"`
	// Note says why an estimate was not applied, or how it was made.
	Note string `json:"note,omitempty"`
}

// AppendJSON implements Record.
func (s *Summary) AppendJSON(dst []byte) []byte {
	b, err := json.Marshal(struct {
		Type string `json:"type"`
		*Summary
	}{"summary", s})
	if err != nil { // cannot happen for this type
		panic(err)
	}
	return append(dst, b...)
}

var summaryHeader = []string{"frames", "coap_frames", "dtls_frames", "malformed_frames", "other_frames",
	"heuristic_frames", "ip_fragments", "ip_reassembled", "anomalies", "exchanges", "findings",
	"decrypted", "decrypt_failures", "truncated", "elapsed_seconds", "files", "other_by", "evicted",
	"ip_fragments_evicted", "kernel_received", "kernel_dropped", "truncated_error", "first_time", "last_time",
	"findings_suppressed", "findings_suppressed_by", "clock_offsets",
	"dtls_decrypted", "dtls_decrypt_failures", "dtls_coap", "dtls_sessions"}

func (s *Summary) CSVHeader() []string { return summaryHeader }

func (s *Summary) CSVRow(dst []string) []string {
	it := strconv.Itoa
	return append(dst, it(s.Frames), it(s.CoAPFrames), it(s.DTLSFrames), it(s.MalformedFrames), it(s.OtherFrames),
		it(s.HeuristicFrames), it(s.IPFragments), it(s.IPReassembled), it(s.Anomalies), it(s.Exchanges), it(s.Findings),
		it(s.Decrypted), it(s.DecryptFailures), strconv.FormatBool(s.Truncated),
		strconv.FormatFloat(s.ElapsedSeconds, 'f', -1, 64), joinList(s.Files), joinCounts(s.OtherBy), joinCounts(s.Evicted),
		it(s.IPFragmentsEvict), it(s.KernelReceived), it(s.KernelDropped), s.TruncatedError, s.FirstTime, s.LastTime,
		it(s.FindingsSuppressed), joinCounts(s.FindingsSuppressedBy), joinOffsets(s.ClockOffsets),
		it(s.DTLSDecrypted), it(s.DTLSDecryptFailures), it(s.DTLSCoAP), joinCounts(s.DTLSSessions))
}

// joinOffsets writes clock offsets for a CSV cell:
// "b.pcap=-0.05 (12 pairs, applied)" joined by ';'.
func joinOffsets(l []ClockOffset) string {
	cells := make([]string, len(l))
	for i, o := range l {
		state := "applied"
		if !o.Applied {
			state = "not applied"
		}
		cells[i] = o.File + "=" + strconv.FormatFloat(o.Offset, 'f', -1, 64) + " (" + strconv.Itoa(o.Pairs) + " pairs, " + state + ")"
	}
	return strings.Join(cells, ";")
}

func joinList(l []string) string {
	out := ""
	for i, s := range l {
		if i > 0 {
			out += ";"
		}
		out += s
	}
	return out
}

func joinCounts(m map[string]int) string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	out := ""
	for i, k := range keys {
		if i > 0 {
			out += ";"
		}
		out += k + "=" + strconv.Itoa(m[k])
	}
	return out
}
