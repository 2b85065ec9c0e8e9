package tlskeys

// State is how far decryption of a session (DTLS) or connection (TLS)
// got with the keys given; dtlsdec and tlsdec report it.
type State uint8

const (
	// StateHandshake: the handshake is under way; no protected record
	// opened yet.
	StateHandshake State = iota
	// StateDecrypting: a key decrypted and authenticated the records.
	StateDecrypting
	// StateKeyMismatch: keys were given but none decrypts the records.
	StateKeyMismatch
	// StateNoKey: no key log entry or PSK applies (an ECDHE suite
	// without a key log entry, or no --psk at all).
	StateNoKey
	// StateNoHandshake: protected records whose handshake the capture
	// lacks (it started before the capture, or was lost).
	StateNoHandshake
	// StateUnsupported: a cipher suite or protocol version the
	// decrypter does not handle.
	StateUnsupported
	// StateNotTLS: the bytes do not frame as TLS records.
	StateNotTLS
)

var stateNames = [...]string{
	StateHandshake:   "handshake",
	StateDecrypting:  "decrypting",
	StateKeyMismatch: "key does not match this session",
	StateNoKey:       "no key for this session",
	StateNoHandshake: "handshake not in capture",
	StateUnsupported: "not supported",
	StateNotTLS:      "not TLS",
}

func (s State) String() string {
	if int(s) < len(stateNames) {
		return stateNames[s]
	}
	return "State(?)"
}

// Finished is the state of one side's Finished message.
type Finished uint8

const (
	FinishedUnseen   Finished = iota // not decrypted (yet)
	FinishedVerified                 // verify_data matches the transcript
	FinishedMismatch                 // decrypted, but verify_data differs
)

var finishedNames = [...]string{"unseen", "verified", "mismatch"}

func (f Finished) String() string { return finishedNames[f%3] }
