package oscore

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// Key files come in three formats, told apart by their content (KEYS.md
// documents them):
//
//   - the project's JSON: {"contexts": [entry...]}, a bare [entry...] or a
//     single entry object, where an entry has sender_id, recipient_id,
//     master_secret, master_salt, id_context (hex), aead, hkdf and name;
//   - aiocoap's security context JSON (settings.json, possibly with a
//     separate secret.json), keys such as "sender-id_hex" and "secret_ascii";
//   - Wireshark's oscore_contexts UAT file: one line per context,
//     "Sender ID","Recipient ID","Master Secret","Master Salt","ID Context","Algorithm".
//
// Errors say which file, line and field are wrong, never the values: a
// typo in a key file must not copy the key into a terminal or a log.

// KeyFileError is a problem in a key file.
type KeyFileError struct {
	Source string // the file name
	Line   int    // 1-based; 0 when unknown
	Field  string // e.g. "master_secret"; empty when not about one field
	Err    error
}

func (e *KeyFileError) Error() string {
	s := e.Source
	if e.Line > 0 {
		s += ":" + strconv.Itoa(e.Line)
	}
	if e.Field != "" {
		s += ": " + e.Field
	}
	return s + ": " + e.Err.Error()
}

func (e *KeyFileError) Unwrap() error { return e.Err }

// Errors wrapped by KeyFileError.
var (
	ErrKeyFileSyntax = errors.New("invalid syntax")
	ErrBadHex        = errors.New("not a hex string")
	ErrMissingField  = errors.New("missing")
	ErrUnknownField  = errors.New("unknown field")
	ErrWrongType     = errors.New("wrong type")
	ErrFieldCount    = errors.New("expected 6 fields: Sender ID, Recipient ID, Master Secret, Master Salt, ID Context, Algorithm")
	ErrNoContexts    = errors.New("no security context in the file")
	ErrKeyFileSize   = errors.New("file larger than 16 MiB")
)

const maxKeyFileSize = 16 << 20

// LoadKeyFile reads the security contexts of one key file, detecting its
// format. path may also be a directory: an aiocoap security context
// (settings.json and secret.json) or a Wireshark profile (its
// oscore_contexts file). An aiocoap settings.json without the secret is
// completed from the secret.json beside it. The Params are not yet
// checked: NewKeyring does that.
func LoadKeyFile(path string) ([]Params, error) {
	st, err := os.Stat(path)
	if err != nil {
		return nil, err
	}
	if st.IsDir() {
		settings := filepath.Join(path, "settings.json")
		if _, err := os.Stat(settings); err != nil {
			if uat := filepath.Join(path, "oscore_contexts"); fileExists(uat) {
				return LoadKeyFile(uat)
			}
		}
		return loadAiocoapDir(path, settings)
	}
	data, err := readLimited(path)
	if err != nil {
		return nil, err
	}
	if filepath.Base(path) == "settings.json" {
		if m, ok := aiocoapObject(data); ok && !hasAiocoapKey(m, "secret") {
			return loadAiocoapDir(filepath.Dir(path), path)
		}
	}
	return ParseKeys(data, path)
}

func fileExists(path string) bool {
	st, err := os.Stat(path)
	return err == nil && st.Mode().IsRegular()
}

func readLimited(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, maxKeyFileSize+1))
	if err != nil {
		return nil, err
	}
	if len(data) > maxKeyFileSize {
		return nil, &KeyFileError{Source: path, Err: ErrKeyFileSize}
	}
	return data, nil
}

// loadAiocoapDir merges an aiocoap context directory's settings.json and,
// if present, secret.json.
func loadAiocoapDir(dir, settings string) ([]Params, error) {
	merged := make(map[string]json.RawMessage)
	for _, name := range []string{settings, filepath.Join(dir, "secret.json")} {
		data, err := readLimited(name)
		if errors.Is(err, os.ErrNotExist) && name != settings {
			continue
		}
		if err != nil {
			return nil, err
		}
		m, ok := aiocoapObject(data)
		if !ok {
			return nil, &KeyFileError{Source: name, Err: fmt.Errorf("%w: not an aiocoap context file", ErrKeyFileSyntax)}
		}
		for k, v := range m {
			if _, dup := merged[k]; dup {
				return nil, &KeyFileError{Source: name, Field: k, Err: errors.New("given in more than one file")}
			}
			merged[k] = v
		}
	}
	p, err := parseAiocoap(merged, dir)
	if err != nil {
		return nil, err
	}
	return []Params{p}, nil
}

// ParseKeys parses the security contexts of a key file's content; source
// names the file in Params.Name and in errors.
func ParseKeys(data []byte, source string) ([]Params, error) {
	data = bytes.TrimPrefix(data, []byte("\ufeff")) // a UTF-8 byte order mark
	trimmed := bytes.TrimLeft(data, " \t\r\n")
	var ps []Params
	var err error
	if len(trimmed) > 0 && (trimmed[0] == '{' || trimmed[0] == '[') {
		ps, err = parseJSONKeys(data, source)
	} else {
		ps, err = parseUAT(data, source)
	}
	if err != nil {
		return nil, err
	}
	if len(ps) == 0 {
		return nil, &KeyFileError{Source: source, Err: ErrNoContexts}
	}
	return ps, nil
}

// lineAt returns the 1-based line of byte offset off in data.
func lineAt(data []byte, off int64) int {
	if off < 0 {
		return 0
	}
	if off > int64(len(data)) {
		off = int64(len(data))
	}
	return bytes.Count(data[:off], []byte{'\n'}) + 1
}

// skipToValue returns the offset of the first byte at or after off that is
// neither white space nor a separator, where a JSON value starts.
func skipToValue(data []byte, off int64) int64 {
	for off < int64(len(data)) {
		switch data[off] {
		case ' ', '\t', '\r', '\n', ',', ':':
			off++
			continue
		}
		break
	}
	return off
}

// jsonError converts an encoding/json error to a KeyFileError that keeps
// the position but drops the offending characters, which may be key
// material.
func jsonError(data []byte, source string, base int64, err error) error {
	var se *json.SyntaxError
	var te *json.UnmarshalTypeError
	switch {
	case errors.As(err, &se):
		return &KeyFileError{Source: source, Line: lineAt(data, base+se.Offset), Err: ErrKeyFileSyntax}
	case errors.As(err, &te):
		return &KeyFileError{Source: source, Line: lineAt(data, base+te.Offset), Field: te.Field, Err: ErrWrongType}
	case errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, io.EOF):
		return &KeyFileError{Source: source, Line: lineAt(data, int64(len(data))), Err: fmt.Errorf("%w: unexpected end", ErrKeyFileSyntax)}
	}
	return &KeyFileError{Source: source, Err: ErrKeyFileSyntax}
}

// parseJSONKeys handles the project's format and aiocoap's.
func parseJSONKeys(data []byte, source string) ([]Params, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	tok, err := dec.Token()
	if err != nil {
		return nil, jsonError(data, source, 0, err)
	}
	var ps []Params
	if tok == json.Delim('[') {
		ps, err = parseEntryArray(dec, data, source)
		if err != nil {
			return nil, err
		}
	} else {
		// An object: {"contexts": [...]}, one entry, or aiocoap's format.
		var m map[string]json.RawMessage
		if err := json.Unmarshal(data, &m); err != nil {
			return nil, jsonError(data, source, 0, err)
		}
		switch {
		case m["contexts"] != nil:
			if ps, err = parseWrapper(dec, data, source); err != nil {
				return nil, err
			}
		case isAiocoap(m):
			p, err := parseAiocoap(m, source)
			if err != nil {
				return nil, err
			}
			ps = []Params{p}
		default:
			start := skipToValue(data, int64(bytes.IndexByte(data, '{')))
			p, err := parseEntry(data, source)
			if err != nil {
				var ke *KeyFileError
				if errors.As(err, &ke) && ke.Line == 0 {
					ke.Line = lineAt(data, start)
				}
				return nil, err
			}
			if p.Name == "" {
				p.Name = source + ":" + strconv.Itoa(lineAt(data, start))
			}
			ps = []Params{p}
		}
	}
	return ps, nil
}

// parseWrapper reads {"contexts": [...]} after its opening brace.
func parseWrapper(dec *json.Decoder, data []byte, source string) ([]Params, error) {
	var ps []Params
	for dec.More() {
		off := dec.InputOffset()
		tok, err := dec.Token()
		if err != nil {
			return nil, jsonError(data, source, 0, err)
		}
		key, _ := tok.(string)
		if key != "contexts" {
			return nil, &KeyFileError{Source: source, Line: lineAt(data, skipToValue(data, off)), Field: key, Err: ErrUnknownField}
		}
		tok, err = dec.Token()
		if err != nil {
			return nil, jsonError(data, source, 0, err)
		}
		if tok != json.Delim('[') {
			return nil, &KeyFileError{Source: source, Line: lineAt(data, dec.InputOffset()), Field: "contexts", Err: ErrWrongType}
		}
		more, err := parseEntryArray(dec, data, source)
		if err != nil {
			return nil, err
		}
		ps = append(ps, more...)
	}
	return ps, nil
}

// parseEntryArray reads entries up to and including the closing bracket.
func parseEntryArray(dec *json.Decoder, data []byte, source string) ([]Params, error) {
	var ps []Params
	for dec.More() {
		start := skipToValue(data, dec.InputOffset())
		var raw json.RawMessage
		if err := dec.Decode(&raw); err != nil {
			return nil, jsonError(data, source, 0, err)
		}
		p, err := parseEntry(raw, source)
		if err != nil {
			var ke *KeyFileError
			if errors.As(err, &ke) && ke.Line == 0 {
				ke.Line = lineAt(data, start)
			}
			return nil, err
		}
		if p.Name == "" {
			p.Name = source + ":" + strconv.Itoa(lineAt(data, start))
		}
		ps = append(ps, p)
	}
	if _, err := dec.Token(); err != nil { // the closing ']'
		return nil, jsonError(data, source, 0, err)
	}
	return ps, nil
}

// jsonEntry is one context in the project's format.
type jsonEntry struct {
	Name         string          `json:"name"`
	SenderID     *string         `json:"sender_id"`
	RecipientID  *string         `json:"recipient_id"`
	MasterSecret *string         `json:"master_secret"`
	MasterSalt   *string         `json:"master_salt"`
	IDContext    *string         `json:"id_context"`
	AEAD         json.RawMessage `json:"aead"`
	HKDF         json.RawMessage `json:"hkdf"`
}

// parseEntry parses one entry object. Errors carry no line: the caller
// knows where the entry starts.
func parseEntry(raw []byte, source string) (Params, error) {
	var e jsonEntry
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&e); err != nil {
		var ke *KeyFileError
		if msg := err.Error(); strings.HasPrefix(msg, "json: unknown field ") {
			field, _ := strconv.Unquote(strings.TrimPrefix(msg, "json: unknown field "))
			return Params{}, &KeyFileError{Source: source, Field: field, Err: ErrUnknownField}
		}
		if e := jsonError(raw, source, 0, err); errors.As(e, &ke) {
			ke.Line = 0 // relative to raw: the caller sets the entry's line
			return Params{}, ke
		}
		return Params{}, err
	}
	fail := func(field string, err error) (Params, error) {
		return Params{}, &KeyFileError{Source: source, Field: field, Err: err}
	}
	p := Params{Name: e.Name}
	var err error
	for _, f := range []struct {
		name string
		src  *string
		dst  *[]byte
	}{
		{"sender_id", e.SenderID, &p.SenderID},
		{"recipient_id", e.RecipientID, &p.RecipientID},
		{"master_secret", e.MasterSecret, (*[]byte)(&p.MasterSecret)},
	} {
		if f.src == nil {
			return fail(f.name, ErrMissingField)
		}
		if *f.dst, err = parseHex(*f.src); err != nil {
			return fail(f.name, err)
		}
	}
	if e.MasterSalt != nil {
		if p.MasterSalt, err = parseHex(*e.MasterSalt); err != nil {
			return fail("master_salt", err)
		}
	}
	if e.IDContext != nil {
		if p.IDContext, err = parseHex(*e.IDContext); err != nil {
			return fail("id_context", err)
		}
		p.HasIDContext = true
	}
	if len(e.AEAD) > 0 && string(e.AEAD) != "null" {
		s := string(e.AEAD)
		if e.AEAD[0] == '"' {
			if err := json.Unmarshal(e.AEAD, &s); err != nil {
				return fail("aead", ErrWrongType)
			}
		}
		if p.AEAD, err = ParseAlgorithm(s); err != nil {
			return fail("aead", err)
		}
	}
	if len(e.HKDF) > 0 && string(e.HKDF) != "null" {
		s := string(e.HKDF)
		if e.HKDF[0] == '"' {
			if err := json.Unmarshal(e.HKDF, &s); err != nil {
				return fail("hkdf", ErrWrongType)
			}
		}
		if _, err := parseHKDF(s); err != nil {
			return fail("hkdf", err)
		}
		p.HKDF = s
	}
	return p, nil
}

// parseHex decodes a hex string; white space and colons between bytes and
// a 0x prefix are allowed. The error never quotes the input.
func parseHex(s string) ([]byte, error) {
	s = strings.TrimSpace(s)
	s = strings.TrimPrefix(strings.TrimPrefix(s, "0x"), "0X")
	if strings.ContainsAny(s, " \t:") {
		s = strings.NewReplacer(" ", "", "\t", "", ":", "").Replace(s)
	}
	b, err := hex.DecodeString(s)
	if err != nil {
		return nil, ErrBadHex
	}
	if b == nil {
		b = []byte{}
	}
	return b, nil
}

// aiocoapObject decodes data as a JSON object whose keys look like
// aiocoap's.
func aiocoapObject(data []byte) (map[string]json.RawMessage, bool) {
	var m map[string]json.RawMessage
	if json.Unmarshal(data, &m) != nil || !isAiocoap(m) {
		return nil, false
	}
	return m, true
}

func isAiocoap(m map[string]json.RawMessage) bool {
	for k := range m {
		if strings.HasSuffix(k, "_hex") || strings.HasSuffix(k, "_ascii") || k == "kdf-hashfun" {
			return true
		}
	}
	return false
}

// hasAiocoapKey reports whether m holds datum key in either encoding.
func hasAiocoapKey(m map[string]json.RawMessage, key string) bool {
	return m[key+"_hex"] != nil || m[key+"_ascii"] != nil
}

// parseAiocoap reads aiocoap's context format: each byte-string datum
// appears as name_hex or name_ascii; "algorithm" and "kdf-hashfun" are
// names; other keys (window, sequence numbers) are ignored.
func parseAiocoap(m map[string]json.RawMessage, source string) (Params, error) {
	fail := func(field string, err error) (Params, error) {
		return Params{}, &KeyFileError{Source: source, Field: field, Err: err}
	}
	get := func(name string) (b []byte, ok bool, err error) {
		hx, as := m[name+"_hex"], m[name+"_ascii"]
		var s string
		switch {
		case hx != nil && as != nil:
			return nil, false, errors.New("given both as _hex and _ascii")
		case hx != nil:
			if json.Unmarshal(hx, &s) != nil {
				return nil, false, ErrWrongType
			}
			b, err := parseHex(s)
			return b, true, err
		case as != nil:
			if json.Unmarshal(as, &s) != nil {
				return nil, false, ErrWrongType
			}
			return []byte(s), true, nil
		}
		return nil, false, nil
	}
	p := Params{Name: source}
	var ok bool
	var err error
	if p.SenderID, ok, err = get("sender-id"); err != nil || !ok {
		return fail("sender-id", orMissing(err))
	}
	if p.RecipientID, ok, err = get("recipient-id"); err != nil || !ok {
		return fail("recipient-id", orMissing(err))
	}
	var secret []byte
	if secret, ok, err = get("secret"); err != nil || !ok {
		return fail("secret", orMissing(err))
	}
	p.MasterSecret = secret
	var salt []byte
	if salt, _, err = get("salt"); err != nil {
		return fail("salt", err)
	}
	p.MasterSalt = salt
	if p.IDContext, p.HasIDContext, err = get("id-context"); err != nil {
		return fail("id-context", err)
	}
	if raw := m["algorithm"]; raw != nil {
		var s string
		if json.Unmarshal(raw, &s) != nil {
			return fail("algorithm", ErrWrongType)
		}
		if p.AEAD, err = ParseAlgorithm(s); err != nil {
			return fail("algorithm", err)
		}
	}
	if raw := m["kdf-hashfun"]; raw != nil {
		var s string
		if json.Unmarshal(raw, &s) != nil {
			return fail("kdf-hashfun", ErrWrongType)
		}
		if _, err := parseHKDF(s); err != nil {
			return fail("kdf-hashfun", err)
		}
		p.HKDF = s
	}
	return p, nil
}

func orMissing(err error) error {
	if err == nil {
		return ErrMissingField
	}
	return err
}

// uatFields names the columns of Wireshark's oscore_contexts table.
var uatFields = [...]string{"Sender ID", "Recipient ID", "Master Secret", "Master Salt", "ID Context", "Algorithm"}

// parseUAT reads Wireshark's oscore_contexts file. Blank lines and lines
// starting with '#' are skipped. Fields are double-quoted strings (with
// Wireshark's escapes \\, \" and \xHH) or bare values, separated by commas.
// An empty ID Context means none, as in Wireshark.
func parseUAT(data []byte, source string) ([]Params, error) {
	var ps []Params
	for n, line := range bytes.Split(data, []byte{'\n'}) {
		lineNo := n + 1
		line = bytes.TrimSpace(line)
		if len(line) == 0 || line[0] == '#' {
			continue
		}
		fields, err := splitUATLine(line)
		if err != nil {
			return nil, &KeyFileError{Source: source, Line: lineNo, Err: err}
		}
		if len(fields) != len(uatFields) {
			return nil, &KeyFileError{Source: source, Line: lineNo, Err: ErrFieldCount}
		}
		var hexes [5][]byte
		for i := range hexes {
			if hexes[i], err = parseHex(fields[i]); err != nil {
				return nil, &KeyFileError{Source: source, Line: lineNo, Field: uatFields[i], Err: err}
			}
		}
		alg, err := ParseAlgorithm(fields[5])
		if err != nil {
			return nil, &KeyFileError{Source: source, Line: lineNo, Field: uatFields[5], Err: err}
		}
		p := Params{
			Name:         source + ":" + strconv.Itoa(lineNo),
			SenderID:     hexes[0],
			RecipientID:  hexes[1],
			MasterSecret: hexes[2],
			MasterSalt:   hexes[3],
			AEAD:         alg,
		}
		if len(hexes[4]) > 0 {
			p.IDContext, p.HasIDContext = hexes[4], true
		}
		ps = append(ps, p)
	}
	return ps, nil
}

// splitUATLine splits one UAT record into its fields.
func splitUATLine(line []byte) ([]string, error) {
	var fields []string
	i := 0
	for {
		for i < len(line) && (line[i] == ' ' || line[i] == '\t') {
			i++
		}
		var f []byte
		if i < len(line) && line[i] == '"' {
			i++
			closed := false
			for i < len(line) {
				c := line[i]
				i++
				if c == '"' {
					closed = true
					break
				}
				if c != '\\' {
					f = append(f, c)
					continue
				}
				if i >= len(line) {
					return nil, fmt.Errorf("%w: escape at end of line", ErrKeyFileSyntax)
				}
				e := line[i]
				i++
				switch e {
				case 'x':
					if i+2 > len(line) {
						return nil, fmt.Errorf("%w: short \\x escape", ErrKeyFileSyntax)
					}
					v, err := strconv.ParseUint(string(line[i:i+2]), 16, 8)
					if err != nil {
						return nil, fmt.Errorf("%w: bad \\x escape", ErrKeyFileSyntax)
					}
					f = append(f, byte(v))
					i += 2
				default:
					f = append(f, e)
				}
			}
			if !closed {
				return nil, fmt.Errorf("%w: unterminated quoted field", ErrKeyFileSyntax)
			}
			for i < len(line) && (line[i] == ' ' || line[i] == '\t') {
				i++
			}
		} else {
			j := bytes.IndexByte(line[i:], ',')
			if j < 0 {
				j = len(line) - i
			}
			f = bytes.TrimSpace(line[i : i+j])
			i += j
		}
		fields = append(fields, string(f))
		if i >= len(line) {
			return fields, nil
		}
		if line[i] != ',' {
			return nil, fmt.Errorf("%w: expected a comma after field %d", ErrKeyFileSyntax, len(fields))
		}
		i++
	}
}
