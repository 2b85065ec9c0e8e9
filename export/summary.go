package export

import (
	"encoding/json"
	"sort"
	"strconv"
	"strings"

	"github.com/coapaudit/coapaudit/analysis"
)

// Summary is the summary record, the last of every run: the run's
// analysis.Summary as a record.
type Summary struct {
	*analysis.Summary
}

func (s *Summary) Type() string { return "summary" }

// AppendJSON implements Record.
func (s *Summary) AppendJSON(dst []byte) []byte {
	b, err := json.Marshal(struct {
		Type string `json:"type"`
		*analysis.Summary
	}{"summary", s.Summary})
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
	"dtls_decrypted", "dtls_decrypt_failures", "dtls_coap", "dtls_sessions",
	"tcp_frames", "reliable_messages", "reliable_malformed", "tcp_gaps", "tcp_gap_bytes", "tls_sessions"}

func (s *Summary) CSVHeader() []string { return summaryHeader }

func (s *Summary) CSVRow(dst []string) []string {
	it := strconv.Itoa
	return append(dst, it(s.Frames), it(s.CoAPFrames), it(s.DTLSFrames), it(s.MalformedFrames), it(s.OtherFrames),
		it(s.HeuristicFrames), it(s.IPFragments), it(s.IPReassembled), it(s.Anomalies), it(s.Exchanges), it(s.Findings),
		it(s.Decrypted), it(s.DecryptFailures), strconv.FormatBool(s.Truncated),
		strconv.FormatFloat(s.ElapsedSeconds, 'f', -1, 64), joinList(s.Files), joinCounts(s.OtherBy), joinCounts(s.Evicted),
		it(s.IPFragmentsEvict), it(s.KernelReceived), it(s.KernelDropped), s.TruncatedError, s.FirstTime, s.LastTime,
		it(s.FindingsSuppressed), joinCounts(s.FindingsSuppressedBy), joinOffsets(s.ClockOffsets),
		it(s.DTLSDecrypted), it(s.DTLSDecryptFailures), it(s.DTLSCoAP), joinCounts(s.DTLSSessions),
		it(s.TCPFrames), joinCounts(s.ReliableMessages), it(s.ReliableMalformed), it(s.TCPGaps),
		strconv.FormatInt(s.TCPGapBytes, 10), joinCounts(s.TLSSessions))
}

// joinOffsets writes clock offsets for a CSV cell:
// "b.pcap=-0.05 (12 pairs, applied)" joined by ';'.
func joinOffsets(l []analysis.ClockOffset) string {
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
