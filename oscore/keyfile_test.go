package oscore

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// The context of the aiocoap captures.
var (
	capSecret = []byte{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16}
	capSalt   = []byte{0x9e, 0x7c, 0xa9, 0x22, 0x23, 0x78, 0x63, 0x40}
	capIDCtx  = []byte{0x37, 0xcb, 0xf3, 0x21, 0x00, 0x17, 0xa2, 0xd3}
)

func checkCaptureParams(t *testing.T, p Params, sender, recipient []byte) {
	t.Helper()
	if !bytes.Equal(p.SenderID, sender) || p.SenderID == nil || !bytes.Equal(p.RecipientID, recipient) || p.RecipientID == nil {
		t.Errorf("%s: IDs %x/%x, want %x/%x", p.Name, p.SenderID, p.RecipientID, sender, recipient)
	}
	if !bytes.Equal(p.MasterSecret, capSecret) || !bytes.Equal(p.MasterSalt, capSalt) {
		t.Errorf("%s: secret or salt wrong", p.Name)
	}
	if !p.HasIDContext || !bytes.Equal(p.IDContext, capIDCtx) {
		t.Errorf("%s: ID Context %x %v", p.Name, p.IDContext, p.HasIDContext)
	}
	if p.aead() != AESCCM16_64_128 {
		t.Errorf("%s: AEAD %v", p.Name, p.AEAD)
	}
	if _, err := NewContext(p); err != nil {
		t.Errorf("%s: %v", p.Name, err)
	}
}

func TestLoadKeyFileShared(t *testing.T) {
	dir := filepath.Join(capturesDir(t), "keys")
	uat := filepath.Join(dir, "oscore_contexts")
	ps, err := LoadKeyFile(uat)
	if err != nil || len(ps) != 1 {
		t.Fatalf("%v %v", ps, err)
	}
	checkCaptureParams(t, ps[0], []byte{}, []byte{1})
	if ps[0].Name != uat+":1" {
		t.Errorf("name %q", ps[0].Name)
	}
	for _, tc := range []struct {
		path              string
		sender, recipient []byte
	}{
		{filepath.Join(dir, "client", "ctx", "settings.json"), []byte{}, []byte{1}},
		{filepath.Join(dir, "server", "ctx", "settings.json"), []byte{1}, []byte{}},
		{filepath.Join(dir, "server", "ctx"), []byte{1}, []byte{}},
		{dir, []byte{}, []byte{1}}, // a directory with oscore_contexts, like a Wireshark profile
	} {
		ps, err := LoadKeyFile(tc.path)
		if err != nil || len(ps) != 1 {
			t.Fatalf("%s: %v %v", tc.path, ps, err)
		}
		checkCaptureParams(t, ps[0], tc.sender, tc.recipient)
	}
}

func TestParseKeysProjectJSON(t *testing.T) {
	for name, src := range map[string]string{
		"wrapper": `{"contexts": [{"name": "dev", "sender_id": "", "recipient_id": "01",
			"master_secret": "0102030405060708090a0b0c0d0e0f10", "master_salt": "9e7ca92223786340",
			"id_context": "37cbf3210017a2d3", "aead": 10, "hkdf": "HKDF-SHA-256"}]}`,
		"array": `[{"name": "dev", "sender_id": "", "recipient_id": "01",
			"master_secret": "01 02 03 04 05 06 07 08 09 0a 0b 0c 0d 0e 0f 10", "master_salt": "9E:7C:A9:22:23:78:63:40",
			"id_context": "0x37cbf3210017a2d3", "aead": "AES-CCM-16-64-128 (CCM*)"}]`,
		"single": "\ufeff" + `{"name": "dev", "sender_id": "", "recipient_id": "01",
			"master_secret": "0102030405060708090a0b0c0d0e0f10", "master_salt": "9e7ca92223786340",
			"id_context": "37cbf3210017a2d3"}`,
	} {
		t.Run(name, func(t *testing.T) {
			ps, err := ParseKeys([]byte(src), "k.json")
			if err != nil || len(ps) != 1 {
				t.Fatalf("%v %v", ps, err)
			}
			checkCaptureParams(t, ps[0], []byte{}, []byte{1})
			if ps[0].Name != "dev" {
				t.Errorf("name %q", ps[0].Name)
			}
		})
	}

	// Defaults and names from line numbers.
	ps, err := ParseKeys([]byte("[\n {\"sender_id\": \"00\", \"recipient_id\": \"01\", \"master_secret\": \"aa\"},\n\n"+
		" {\"sender_id\": \"01\", \"recipient_id\": \"02\", \"master_secret\": \"bb\", \"id_context\": \"\", \"aead\": \"A256GCM\", \"hkdf\": \"sha512\"}\n]"), "k.json")
	if err != nil || len(ps) != 2 {
		t.Fatalf("%v %v", ps, err)
	}
	if ps[0].Name != "k.json:2" || ps[1].Name != "k.json:4" {
		t.Errorf("names %q %q", ps[0].Name, ps[1].Name)
	}
	if ps[0].HasIDContext || ps[0].MasterSalt != nil || ps[0].AEAD != 0 || ps[0].HKDF != "" {
		t.Errorf("defaults: %+v", ps[0])
	}
	if !ps[1].HasIDContext || len(ps[1].IDContext) != 0 || ps[1].AEAD != A256GCM || ps[1].HKDF != "sha512" {
		t.Errorf("present-empty ID Context, AEAD, HKDF: %+v", ps[1])
	}
	if _, err := NewKeyring(ps); err != nil {
		t.Error(err)
	}
}

func TestParseKeysAiocoap(t *testing.T) {
	ps, err := ParseKeys([]byte(`{"sender-id_ascii": "c", "recipient-id_hex": "01", "secret_ascii": "hunter2hunter2",
		"algorithm": "AES-CCM-16-128-128", "kdf-hashfun": "sha256", "window": 32}`), "settings.json")
	if err != nil || len(ps) != 1 {
		t.Fatalf("%v %v", ps, err)
	}
	p := ps[0]
	if string(p.SenderID) != "c" || string(p.MasterSecret) != "hunter2hunter2" || p.AEAD != AESCCM16_128_128 || p.HasIDContext || p.MasterSalt != nil {
		t.Errorf("%+v", p)
	}

	// settings.json and secret.json in a directory, as aiocoap writes them.
	dir := t.TempDir()
	write := func(name, s string) {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(s), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write("settings.json", `{"sender-id_hex": "01", "recipient-id_hex": "", "id-context_hex": "37cbf3210017a2d3"}`)
	write("secret.json", `{"secret_hex": "0102030405060708090a0b0c0d0e0f10", "salt_hex": "9e7ca92223786340"}`)
	for _, path := range []string{dir, filepath.Join(dir, "settings.json")} {
		ps, err := LoadKeyFile(path)
		if err != nil || len(ps) != 1 {
			t.Fatalf("%s: %v %v", path, ps, err)
		}
		checkCaptureParams(t, ps[0], []byte{1}, []byte{})
	}
	write("secret.json", `{"secret_hex": "01", "sender-id_hex": "02"}`)
	var ke *KeyFileError
	if _, err := LoadKeyFile(dir); !errors.As(err, &ke) || ke.Field != "sender-id_hex" {
		t.Errorf("datum in both files: %v", err)
	}
}

func TestParseKeysUAT(t *testing.T) {
	src := "# comment\n\n" +
		`"","01","0102030405060708090a0b0c0d0e0f10","9e7ca92223786340","37cbf3210017a2d3","AES-CCM-16-64-128 (CCM*)"` + "\n" +
		` "\x30\x31" , "02","aabb","","" , "10"` + "\r\n" +
		`00,01,ccdd,,,AES-CCM-16-64-128` + "\n"
	ps, err := ParseKeys([]byte(src), "oscore_contexts")
	if err != nil || len(ps) != 3 {
		t.Fatalf("%v %v", ps, err)
	}
	checkCaptureParams(t, ps[0], []byte{}, []byte{1})
	if ps[0].Name != "oscore_contexts:3" || ps[1].Name != "oscore_contexts:4" {
		t.Errorf("names %q %q", ps[0].Name, ps[1].Name)
	}
	if !bytes.Equal(ps[1].SenderID, []byte{1}) || ps[1].HasIDContext || len(ps[1].MasterSalt) != 0 {
		t.Errorf("escaped line: %+v", ps[1])
	}
	if !bytes.Equal(ps[2].SenderID, []byte{0}) || !bytes.Equal(ps[2].MasterSecret, []byte{0xcc, 0xdd}) {
		t.Errorf("unquoted line: %+v", ps[2])
	}
}

// secretHex is a master secret that the error tests plant in bad files:
// no error message may contain it, or any part of it.
const secretHex = "5ec2e75ec2e75ec2e75ec2e75ec2e7zz"

func TestParseKeysErrors(t *testing.T) {
	for _, tc := range []struct {
		name, src string
		line      int
		field     string
		err       error
	}{
		{"bad hex json", "{\"contexts\": [\n{\"sender_id\": \"\", \"recipient_id\": \"01\",\n \"master_secret\": \"" + secretHex + "\"}]}", 2, "master_secret", ErrBadHex},
		{"missing secret", `[{"sender_id": "", "recipient_id": "01"}]`, 1, "master_secret", ErrMissingField},
		{"missing sender", `{"recipient_id": "01", "master_secret": "` + secretHex + `"}`, 1, "sender_id", ErrMissingField},
		{"unknown field", "[\n\n{\"sender_id\": \"\", \"recipient_id\": \"01\", \"master_secrt\": \"" + secretHex + "\"}]", 3, "master_secrt", ErrUnknownField},
		{"wrapper unknown field", `{"contexts": [], "keys": []}`, 1, "keys", ErrUnknownField},
		{"syntax", "[\n{\"sender_id\": \"\",\n \"master_secret\": " + secretHex + "}]", 3, "", ErrKeyFileSyntax},
		{"truncated", "[{\"sender_id\": \"\", \"master_secret\": \"" + secretHex, 1, "", ErrKeyFileSyntax},
		{"wrong type", `[{"sender_id": 1, "recipient_id": "01", "master_secret": "aa"}]`, 1, "sender_id", ErrWrongType},
		{"bad aead", `[{"sender_id": "", "recipient_id": "01", "master_secret": "aa", "aead": "ROT13"}]`, 1, "aead", ErrUnknownAlgorithm},
		{"bad hkdf", `[{"sender_id": "", "recipient_id": "01", "master_secret": "aa", "hkdf": "md5"}]`, 1, "hkdf", ErrUnknownAlgorithm},
		{"empty array", `[]`, 0, "", ErrNoContexts},
		{"uat bad hex", "\n\"\",\"01\",\"" + secretHex + "\",\"\",\"\",\"AES-CCM-16-64-128 (CCM*)\"", 2, "Master Secret", ErrBadHex},
		{"uat fields", `"","01","` + secretHex + `"`, 1, "", ErrFieldCount},
		{"uat unterminated", `"","01","` + secretHex, 1, "", ErrKeyFileSyntax},
		{"uat algorithm", `"","01","aa","","","ROT13"`, 1, "Algorithm", ErrUnknownAlgorithm},
		{"uat garbage", `"a" "b"`, 1, "", ErrKeyFileSyntax},
		{"empty", "\n# nothing\n", 0, "", ErrNoContexts},
		{"aiocoap missing secret", `{"sender-id_hex": "", "recipient-id_hex": "01"}`, 0, "secret", ErrMissingField},
		{"aiocoap bad hex", `{"sender-id_hex": "", "recipient-id_hex": "01", "secret_hex": "` + secretHex + `"}`, 0, "secret", ErrBadHex},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ParseKeys([]byte(tc.src), "f")
			var ke *KeyFileError
			if !errors.As(err, &ke) {
				t.Fatalf("error %v (%T), want *KeyFileError", err, err)
			}
			if !errors.Is(err, tc.err) || ke.Line != tc.line || ke.Field != tc.field {
				t.Errorf("got %q (line %d, field %q), want %v at line %d field %q", err, ke.Line, ke.Field, tc.err, tc.line, tc.field)
			}
			checkNoSecret(t, err.Error())
		})
	}
}

// checkNoSecret fails if s contains secretHex or a 4-character piece of it.
func checkNoSecret(t *testing.T, s string) {
	t.Helper()
	for i := 0; i+4 <= len(secretHex); i++ {
		if strings.Contains(s, secretHex[i:i+4]) {
			t.Errorf("%q contains part of the secret", s)
			return
		}
	}
}

func TestLoadKeyFileMissing(t *testing.T) {
	if _, err := LoadKeyFile(filepath.Join(t.TempDir(), "nope")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("missing file: %v", err)
	}
}

func TestNewKeyringErrors(t *testing.T) {
	good := Params{Name: "good", SenderID: []byte{}, RecipientID: []byte{1}, MasterSecret: capSecret}
	for _, tc := range []struct {
		p   Params
		err error
	}{
		{Params{Name: "long", SenderID: bytes.Repeat([]byte{1}, 8), RecipientID: []byte{}, MasterSecret: capSecret}, ErrIDTooLong},
		{Params{Name: "long7", SenderID: []byte{1, 2}, RecipientID: []byte{}, MasterSecret: capSecret, AEAD: AESCCM64_64_128}, ErrIDTooLong},
		{Params{Name: "same", SenderID: []byte{1}, RecipientID: []byte{1}, MasterSecret: capSecret}, ErrSameIDs},
		{Params{Name: "nosecret", SenderID: []byte{1}, RecipientID: []byte{2}}, ErrNoMasterSecret},
		{Params{Name: "alg", SenderID: []byte{1}, RecipientID: []byte{2}, MasterSecret: capSecret, AEAD: 4}, ErrUnknownAlgorithm},
		{Params{Name: "hkdf", SenderID: []byte{1}, RecipientID: []byte{2}, MasterSecret: capSecret, HKDF: "md5"}, ErrUnknownAlgorithm},
	} {
		_, err := NewKeyring([]Params{good, tc.p})
		var ce *ContextError
		if !errors.Is(err, tc.err) || !errors.As(err, &ce) || ce.Name != tc.p.Name {
			t.Errorf("%s: %v", tc.p.Name, err)
		}
	}
}

func TestKeyringDeduplicatesAndFindsBothViews(t *testing.T) {
	client := Params{Name: "client", SenderID: []byte{}, RecipientID: []byte{1}, MasterSecret: capSecret, MasterSalt: capSalt, IDContext: capIDCtx, HasIDContext: true}
	server := Params{Name: "server", SenderID: []byte{1}, RecipientID: []byte{}, MasterSecret: capSecret, MasterSalt: capSalt, IDContext: capIDCtx, HasIDContext: true}
	other := client
	other.Name, other.IDContext = "other", []byte{9}
	k, err := NewKeyring([]Params{client, server, other})
	if err != nil {
		t.Fatal(err)
	}
	if k.Len() != 2 {
		t.Fatalf("Len = %d, want 2 (client and server are one context)", k.Len())
	}
	// kid 01 with kid context 37cb...: the matching ID Context comes first.
	refs := k.lookup(nil, []byte{1}, true, capIDCtx, true)
	if len(refs) != 2 || refs[0].c.name != "client" || refs[0].p != partyRecipient || refs[1].c.name != "other" {
		t.Errorf("lookup kid 01: %v", refs)
	}
	refs = k.lookup(nil, []byte{9, 9}, true, nil, false)
	if len(refs) != 0 {
		t.Errorf("unknown kid found %v", refs)
	}
	if refs := k.lookup(nil, nil, false, nil, false); len(refs) != 4 {
		t.Errorf("no kid: %d candidates, want all 4 endpoints", len(refs))
	}
	var nilK *Keyring
	if nilK.Len() != 0 || len(nilK.lookup(nil, []byte{1}, true, nil, false)) != 0 || nilK.Contexts() != nil {
		t.Error("nil keyring")
	}
}
