package analysis

// Summary is the last record of every run. Frames = CoAPFrames + DTLSFrames
// + TCPFrames + MalformedFrames + OtherFrames, always.
type Summary struct {
	Files []string `json:"files"`
	// ClockOffsets are the clock corrections of the files after the first
	// when several are analysed together (EstimateOffsets).
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

	// CoAP over TCP, TLS and WebSockets (RFC 8323): the frames of
	// connections carrying CoAP, the messages found by transport
	// ("tcp", "tls", "ws", "wss"), those that did not decode, the places
	// where the capture lost bytes of such a connection and how many,
	// and TLS connections by decryption state (with --keylog or --psk).
	TCPFrames         int            `json:"tcp_frames,omitempty"`
	ReliableMessages  map[string]int `json:"reliable_messages,omitempty"`
	ReliableMalformed int            `json:"reliable_malformed,omitempty"`
	TCPGaps           int            `json:"tcp_gaps,omitempty"`
	TCPGapBytes       int64          `json:"tcp_gap_bytes,omitempty"`
	TLSSessions       map[string]int `json:"tls_sessions,omitempty"`

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
