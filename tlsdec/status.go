package tlsdec

import (
	"fmt"

	"github.com/coapaudit/coapaudit/decode"
	"github.com/coapaudit/coapaudit/tlskeys"
)

// State is how far decryption of a connection got (tlskeys.StateDecrypting,
// ...).
type State = tlskeys.State

// Finished is the state of one side's Finished message.
type Finished = tlskeys.Finished

// KeySource says where a connection's key came from.
type KeySource uint8

const (
	KeyNone    KeySource = iota
	KeyLog               // the key log (CLIENT_RANDOM, or the TLS 1.3 traffic secrets)
	KeyPSK               // a --psk, TLS 1.2 plain PSK key exchange
	KeyResumed           // TLS 1.2: the master secret of the session it resumes (Sessions)
)

func (k KeySource) String() string { return [...]string{"", "keylog", "psk", "resumed"}[k%4] }

// Status describes a connection for reports. It holds no key material.
type Status struct {
	State State
	// Detail explains State; it never holds key material.
	Detail string
	// Version is VersionTLS12 or VersionTLS13 once the ServerHello is
	// seen (0 before).
	Version  uint16
	Suite    decode.CipherSuite
	HasSuite bool
	// SNI is the server name the ClientHello asked for; ALPN the
	// protocol the server selected ("coap" for RFC 8323), OfferedALPN
	// those the client offered.
	SNI         string
	ALPN        string
	OfferedALPN []string
	// PSKIdentity is the TLS 1.2 PSK identity of the ClientKeyExchange.
	PSKIdentity          string
	ExtendedMasterSecret bool
	EncryptThenMAC       bool
	// Resumed: TLS 1.2 abbreviated handshake (the ServerHello echoes
	// the ClientHello's session ID), or TLS 1.3 with a pre-shared key
	// the server accepted (resumption or external PSK).
	Resumed bool
	// HelloRetry: the server sent a HelloRetryRequest.
	HelloRetry     bool
	Key            KeySource
	ClientFinished Finished
	ServerFinished Finished
	// EarlyData counts TLS 1.3 0-RTT records decrypted (with the key
	// log's CLIENT_EARLY_TRAFFIC_SECRET).
	EarlyData int
	// KeyUpdates counts TLS 1.3 KeyUpdate messages followed.
	KeyUpdates int
	// Decrypted and Failed count protected records.
	Decrypted, Failed int
	// Skipped counts bytes that did not frame as TLS records, or were
	// dropped around a gap; Gaps counts the gaps reported.
	Skipped int64
	Gaps    int
}

// VersionName names a protocol version.
func VersionName(v uint16) string {
	switch v {
	case VersionTLS12:
		return "TLS 1.2"
	case VersionTLS13:
		return "TLS 1.3"
	case 0:
		return ""
	}
	return fmt.Sprintf("version %#04x", v)
}
