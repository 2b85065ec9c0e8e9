// Package tlskeys holds the key inputs that let coapaudit decrypt DTLS: an
// NSS key log (the SSLKEYLOGFILE format that GnuTLS, OpenSSL, NSS, pion and
// Wireshark share) and pre-shared keys given on the command line.
//
// Every secret is an oscore.Secret, which prints, logs and marshals as
// "[redacted]". Errors name the file and line, or the flag, and what is
// wrong, never the value.
package tlskeys

import (
	"bufio"
	"bytes"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strconv"
	"strings"

	"github.com/coapaudit/coapaudit/oscore"
)

// Secret is key material that never prints.
type Secret = oscore.Secret

// Key log labels (NSS key log format).
const (
	LabelClientRandom       = "CLIENT_RANDOM"
	LabelClientHandshake    = "CLIENT_HANDSHAKE_TRAFFIC_SECRET"
	LabelServerHandshake    = "SERVER_HANDSHAKE_TRAFFIC_SECRET"
	LabelClientTraffic0     = "CLIENT_TRAFFIC_SECRET_0"
	LabelServerTraffic0     = "SERVER_TRAFFIC_SECRET_0"
	LabelClientEarly        = "CLIENT_EARLY_TRAFFIC_SECRET"
	masterSecretLen         = 48
	clientRandomLen         = 32
	maxSecretLen            = 64
	maxLineLen              = 4096
	maxKeyLogEntries        = 1 << 20
	maxPSKLen               = 256
	maxPSKIdentityLen       = 1<<16 - 1
	errKeyLogTooManyEntries = "too many entries"
	errKeyLogLineTooLong    = "line too long"
	errKeyLogFieldCount     = "want LABEL CLIENT_RANDOM SECRET"
	errKeyLogRandom         = "client random is not 32 bytes of hex"
	errKeyLogSecretHex      = "secret is not hex"
	errKeyLogSecretLen      = "secret has the wrong length"
	errKeyLogLabel          = "label is not upper-case letters, digits and _"
	errKeyLogConflict       = "a different secret for this client random and label was given before"
)

// TLS13Secrets are the traffic secrets a DTLS 1.3 key log gives for one
// client random. A nil field was not logged.
type TLS13Secrets struct {
	ClientHandshake, ServerHandshake Secret
	ClientTraffic0, ServerTraffic0   Secret
	// ClientEarly protects TLS 1.3 0-RTT data.
	ClientEarly Secret
}

// LogValue names the secrets present, without their values.
func (s TLS13Secrets) LogValue() slog.Value {
	var have []string
	for _, x := range []struct {
		n string
		v Secret
	}{{"client_hs", s.ClientHandshake}, {"server_hs", s.ServerHandshake}, {"client_ap0", s.ClientTraffic0}, {"server_ap0", s.ServerTraffic0}, {"client_early", s.ClientEarly}} {
		if x.v != nil {
			have = append(have, x.n)
		}
	}
	return slog.StringValue("[redacted " + strings.Join(have, ",") + "]")
}

// KeyLog is a parsed NSS key log. The zero value is empty and usable.
type KeyLog struct {
	master map[[clientRandomLen]byte]Secret
	tls13  map[[clientRandomLen]byte]*TLS13Secrets
	// Ignored counts well-formed lines with labels the decrypter does not
	// use (EXPORTER_SECRET, CLIENT_EARLY_TRAFFIC_SECRET, ...).
	Ignored int
}

// LineError is a malformed key log line. It never holds the line.
type LineError struct {
	File string
	Line int
	What string
}

func (e *LineError) Error() string { return e.File + ":" + strconv.Itoa(e.Line) + ": " + e.What }

// ErrBadPSK is wrapped by every error of ParsePSK.
var ErrBadPSK = errors.New("bad pre-shared key")

// LoadKeyLog reads the key log file name.
func LoadKeyLog(name string) (*KeyLog, error) {
	f, err := os.Open(name)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	k := &KeyLog{}
	if err := k.Read(f, name); err != nil {
		return nil, err
	}
	return k, nil
}

// Read adds the entries of a key log read from r; name is used in errors.
// Blank lines and lines starting with # are skipped. A line with a label
// the decrypter does not use is counted in Ignored if it is otherwise well
// formed. The first malformed line stops the read with a *LineError.
func (k *KeyLog) Read(r io.Reader, name string) error {
	br := bufio.NewReaderSize(r, maxLineLen)
	for n := 1; ; n++ {
		line, err := br.ReadSlice('\n')
		if errors.Is(err, bufio.ErrBufferFull) {
			return &LineError{name, n, errKeyLogLineTooLong}
		}
		if len(line) > 0 {
			if what := k.addLine(line); what != "" {
				return &LineError{name, n, what}
			}
		}
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return fmt.Errorf("%s:%d: %w", name, n, err)
		}
	}
}

// addLine parses one line and returns what is wrong with it, or "".
func (k *KeyLog) addLine(line []byte) string {
	line = bytes.TrimRight(line, "\r\n")
	t := bytes.TrimSpace(line)
	if len(t) == 0 || t[0] == '#' {
		return ""
	}
	f := bytes.Fields(t)
	if len(f) != 3 {
		return errKeyLogFieldCount
	}
	label := string(f[0])
	if !validLabel(f[0]) {
		return errKeyLogLabel
	}
	var cr [clientRandomLen]byte
	if hex.DecodedLen(len(f[1])) != clientRandomLen {
		return errKeyLogRandom
	}
	if _, err := hex.Decode(cr[:], f[1]); err != nil {
		return errKeyLogRandom
	}
	if len(f[2])%2 != 0 || !isHex(f[2]) {
		return errKeyLogSecretHex
	}
	if len(f[2]) > 2*maxSecretLen {
		return errKeyLogSecretLen
	}
	secret := make(Secret, hex.DecodedLen(len(f[2])))
	if _, err := hex.Decode(secret, f[2]); err != nil {
		return errKeyLogSecretHex
	}
	var slot *Secret
	switch label {
	case LabelClientRandom:
		if len(secret) != masterSecretLen {
			return errKeyLogSecretLen
		}
		if k.master == nil {
			k.master = map[[clientRandomLen]byte]Secret{}
		}
		if old, ok := k.master[cr]; ok {
			if !bytes.Equal(old, secret) {
				return errKeyLogConflict
			}
			return ""
		}
		if len(k.master)+len(k.tls13) >= maxKeyLogEntries {
			return errKeyLogTooManyEntries
		}
		k.master[cr] = secret
		return ""
	case LabelClientHandshake, LabelServerHandshake, LabelClientTraffic0, LabelServerTraffic0, LabelClientEarly:
		if len(secret) != 32 && len(secret) != 48 {
			return errKeyLogSecretLen
		}
		if k.tls13 == nil {
			k.tls13 = map[[clientRandomLen]byte]*TLS13Secrets{}
		}
		s := k.tls13[cr]
		if s == nil {
			if len(k.master)+len(k.tls13) >= maxKeyLogEntries {
				return errKeyLogTooManyEntries
			}
			s = &TLS13Secrets{}
			k.tls13[cr] = s
		}
		switch label {
		case LabelClientHandshake:
			slot = &s.ClientHandshake
		case LabelServerHandshake:
			slot = &s.ServerHandshake
		case LabelClientTraffic0:
			slot = &s.ClientTraffic0
		case LabelClientEarly:
			slot = &s.ClientEarly
		default:
			slot = &s.ServerTraffic0
		}
		if *slot != nil && !bytes.Equal(*slot, secret) {
			return errKeyLogConflict
		}
		*slot = secret
		return ""
	}
	k.Ignored++
	return ""
}

func validLabel(b []byte) bool {
	for _, c := range b {
		if !(c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_') {
			return false
		}
	}
	return len(b) > 0
}

func isHex(b []byte) bool {
	for _, c := range b {
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F') {
			return false
		}
	}
	return true
}

// MasterSecret returns the DTLS 1.2 master secret logged for a client
// random (CLIENT_RANDOM), or nil.
func (k *KeyLog) MasterSecret(clientRandom []byte) Secret {
	if k == nil || len(clientRandom) != clientRandomLen {
		return nil
	}
	return k.master[[clientRandomLen]byte(clientRandom)]
}

// TLS13 returns the DTLS 1.3 secrets logged for a client random, or nil.
func (k *KeyLog) TLS13(clientRandom []byte) *TLS13Secrets {
	if k == nil || len(clientRandom) != clientRandomLen {
		return nil
	}
	return k.tls13[[clientRandomLen]byte(clientRandom)]
}

// Len returns the number of client randoms with secrets.
func (k *KeyLog) Len() int {
	if k == nil {
		return 0
	}
	return len(k.master) + len(k.tls13)
}

// PSK is a pre-shared key, with the identity it belongs to when one was
// given.
type PSK struct {
	Identity    []byte
	HasIdentity bool
	Key         Secret
}

// LogValue shows the identity and hides the key.
func (p PSK) LogValue() slog.Value {
	if !p.HasIdentity {
		return slog.StringValue("[redacted]")
	}
	return slog.StringValue(strconv.Quote(string(p.Identity)) + "=[redacted]")
}

// ParsePSK parses a --psk value: HEX, or IDENTITY=HEX. HEX is the key in
// hexadecimal, as Wireshark's dtls.psk preference takes it (an optional 0x
// prefix and ':' between bytes are accepted). The identity is everything
// before the last '='. Errors wrap ErrBadPSK and never show the key.
func ParsePSK(s string) (PSK, error) {
	var p PSK
	h := s
	if i := strings.LastIndexByte(s, '='); i >= 0 {
		p.Identity, p.HasIdentity = []byte(s[:i]), true
		h = s[i+1:]
		if len(p.Identity) == 0 {
			return PSK{}, fmt.Errorf("%w: empty identity before '='", ErrBadPSK)
		}
		if len(p.Identity) > maxPSKIdentityLen {
			return PSK{}, fmt.Errorf("%w: identity longer than %d bytes", ErrBadPSK, maxPSKIdentityLen)
		}
	}
	h = strings.TrimPrefix(strings.TrimPrefix(h, "0x"), "0X")
	h = strings.ReplaceAll(h, ":", "")
	if h == "" {
		return PSK{}, fmt.Errorf("%w: no key", ErrBadPSK)
	}
	if len(h)%2 != 0 || !isHex([]byte(h)) {
		return PSK{}, fmt.Errorf("%w: key is not an even number of hex digits", ErrBadPSK)
	}
	if len(h)/2 > maxPSKLen {
		return PSK{}, fmt.Errorf("%w: key longer than %d bytes", ErrBadPSK, maxPSKLen)
	}
	p.Key = make(Secret, len(h)/2)
	hex.Decode(p.Key, []byte(h))
	return p, nil
}

// Keys are every key input of a run. The zero value has none.
type Keys struct {
	Log  *KeyLog
	PSKs []PSK
}

// Empty reports whether there is no key at all.
func (k *Keys) Empty() bool { return k == nil || k.Log.Len() == 0 && len(k.PSKs) == 0 }

// PSKCandidates appends to dst the PSKs to try for a session whose
// ClientKeyExchange named identity: those given for that identity first,
// then, when none was, every PSK in the order given.
func (k *Keys) PSKCandidates(dst []*PSK, identity []byte) []*PSK {
	if k == nil {
		return dst
	}
	n := len(dst)
	for i := range k.PSKs {
		p := &k.PSKs[i]
		if p.HasIdentity && bytes.Equal(p.Identity, identity) {
			dst = append(dst, p)
		}
	}
	if len(dst) > n {
		return dst
	}
	for i := range k.PSKs {
		dst = append(dst, &k.PSKs[i])
	}
	return dst
}
