package oscore

import (
	"bytes"
	"crypto/cipher"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strconv"

	"github.com/fxamacker/cbor/v2"
	"golang.org/x/crypto/hkdf"
)

// Params are the input parameters of one OSCORE security context (RFC 8613
// section 3.2), written from one endpoint's point of view: SenderID is that
// endpoint's own ID, RecipientID its peer's. A Keyring finds the context
// whichever point of view it was written from.
type Params struct {
	// Name identifies the context in results and errors: a label from the
	// key file or "file:line". It never contains key material.
	Name string

	SenderID, RecipientID []byte

	MasterSecret Secret
	MasterSalt   Secret // empty means the default empty salt

	// IDContext is used in the derivation when HasIDContext is set; an ID
	// Context that is present but empty differs from an absent one.
	IDContext    []byte
	HasIDContext bool

	AEAD Algorithm // 0 means AES-CCM-16-64-128
	HKDF string    // "" means HKDF-SHA-256; ValidateHKDF lists the spellings
}

// LogValue describes p without its key material.
func (p Params) LogValue() slog.Value {
	attrs := []slog.Attr{
		slog.String("name", p.Name),
		slog.String("sender_id", hex.EncodeToString(p.SenderID)),
		slog.String("recipient_id", hex.EncodeToString(p.RecipientID)),
	}
	if p.HasIDContext {
		attrs = append(attrs, slog.String("id_context", hex.EncodeToString(p.IDContext)))
	}
	attrs = append(attrs, slog.String("aead", p.aead().String()), slog.String("master_secret", redacted))
	return slog.GroupValue(attrs...)
}

func (p *Params) aead() Algorithm {
	if p.AEAD == 0 {
		return AESCCM16_64_128
	}
	return p.AEAD
}

// ValidateHKDF reports whether s names an HKDF algorithm this package
// implements: "HKDF-SHA-256" (the default, also for ""), "HKDF-SHA-384",
// "HKDF-SHA-512", aiocoap's "sha256"/"sha384"/"sha512", or the COSE
// identifiers -10 and -11.
func ValidateHKDF(s string) error {
	_, err := parseHKDF(s)
	return err
}

// ContextError is an invalid security context: Name says which, Err why.
type ContextError struct {
	Name string
	Err  error
}

func (e *ContextError) Error() string { return "security context " + e.Name + ": " + e.Err.Error() }
func (e *ContextError) Unwrap() error { return e.Err }

// Errors wrapped by ContextError.
var (
	ErrIDTooLong       = errors.New("sender or recipient ID longer than the AEAD nonce allows")
	ErrSameIDs         = errors.New("sender ID and recipient ID are equal")
	ErrNoMasterSecret  = errors.New("master secret missing")
	ErrBadPartialIV    = errors.New("partial IV longer than 5 bytes")
	ErrBadSequence     = errors.New("sequence number above 2^40-1")
	ErrAuthentication  = errors.New("authentication tag check failed")
	ErrCiphertextShort = errors.New("ciphertext shorter than the authentication tag")
)

// party selects one of the two endpoints of a context: the one Params
// calls the sender, or the recipient.
type party uint8

const (
	partySender    party = 0
	partyRecipient party = 1
)

func (p party) peer() party { return 1 - p }

// Context is a derived OSCORE security context (RFC 8613 section 3): the
// Sender and Recipient Keys and the Common IV, ready for protection and
// verification in both directions. It is immutable and safe for concurrent
// use. Printing or logging a Context shows its name and IDs, never keys.
type Context struct {
	name         string
	ids          [2][]byte // indexed by party
	idContext    []byte
	hasIDContext bool
	alg          Algorithm
	hkdf         string
	fingerprint  [32]byte // identifies the context whichever side wrote it
	// sec holds the key material behind a pointer, so that even a copied
	// Context value printed with fmt shows an address, not keys.
	sec *contextKeys
}

type contextKeys struct {
	commonIV Secret
	keys     [2]Secret // indexed by party: the key that party protects with
	aeads    [2]cipher.AEAD
}

// NewContext derives the keys and Common IV of p (RFC 8613 section 3.2.1).
func NewContext(p Params) (*Context, error) {
	c, err := newContext(&p)
	if err != nil {
		return nil, &ContextError{Name: p.Name, Err: err}
	}
	return c, nil
}

func newContext(p *Params) (*Context, error) {
	alg := p.aead()
	if !alg.Valid() {
		return nil, fmt.Errorf("AEAD %v: %w", alg, ErrUnknownAlgorithm)
	}
	h, err := parseHKDF(p.HKDF)
	if err != nil {
		return nil, fmt.Errorf("HKDF: %w", err)
	}
	if len(p.MasterSecret) == 0 {
		return nil, ErrNoMasterSecret
	}
	if len(p.SenderID) > alg.MaxIDLen() || len(p.RecipientID) > alg.MaxIDLen() {
		return nil, fmt.Errorf("%w (%d bytes for %v)", ErrIDTooLong, alg.MaxIDLen(), alg)
	}
	if bytes.Equal(p.SenderID, p.RecipientID) {
		return nil, ErrSameIDs
	}
	c := &Context{
		name:         p.Name,
		ids:          [2][]byte{clone(p.SenderID), clone(p.RecipientID)},
		hasIDContext: p.HasIDContext,
		alg:          alg,
		hkdf:         h.name,
		sec:          new(contextKeys),
	}
	if c.ids[0] == nil {
		c.ids[0] = []byte{}
	}
	if c.ids[1] == nil {
		c.ids[1] = []byte{}
	}
	if p.HasIDContext {
		c.idContext = clone(p.IDContext)
		if c.idContext == nil {
			c.idContext = []byte{}
		}
	}
	sec := c.sec
	for pt := range sec.keys {
		k, err := deriveParam(h, p, c.ids[pt], "Key", alg.KeyLen())
		if err != nil {
			return nil, err
		}
		sec.keys[pt] = k
		if sec.aeads[pt], err = alg.newAEAD(k); err != nil {
			return nil, err
		}
	}
	if sec.commonIV, err = deriveParam(h, p, []byte{}, "IV", alg.NonceLen()); err != nil {
		return nil, err
	}
	// The fingerprint is the same for both points of view: it hashes the
	// derived material in an order that does not depend on which ID is the
	// sender's.
	a, b := 0, 1
	if bytes.Compare(c.ids[0], c.ids[1]) > 0 {
		a, b = 1, 0
	}
	fp := sha256.New()
	for _, part := range [][]byte{c.ids[a], sec.keys[a], c.ids[b], sec.keys[b], sec.commonIV, {byte(alg)}} {
		fp.Write([]byte{byte(len(part))})
		fp.Write(part)
	}
	fp.Sum(c.fingerprint[:0])
	return c, nil
}

// kdfInfo is the HKDF info array of RFC 8613 section 3.2.1:
// [id: bstr, id_context: bstr / nil, alg_aead: int / tstr, type: tstr, L: uint].
type kdfInfo struct {
	_         struct{} `cbor:",toarray"`
	ID        []byte
	IDContext any // []byte, or nil for an absent ID Context
	AlgAEAD   int
	Type      string
	L         int
}

// infoEncMode encodes the info array; nil byte slices never reach it (an
// absent ID Context is a nil interface, which encodes as null).
var infoEncMode = func() cbor.EncMode {
	em, err := cbor.CoreDetEncOptions().EncMode()
	if err != nil {
		panic(err)
	}
	return em
}()

// encodeInfo returns the CBOR info array for deriving a value of type typ
// ("Key" or "IV") and length l for the endpoint with ID id.
func encodeInfo(id, idContext []byte, hasIDContext bool, alg Algorithm, typ string, l int) ([]byte, error) {
	info := kdfInfo{ID: id, AlgAEAD: int(alg), Type: typ, L: l}
	if info.ID == nil {
		info.ID = []byte{}
	}
	if hasIDContext {
		if idContext == nil {
			idContext = []byte{}
		}
		info.IDContext = idContext
	}
	return infoEncMode.Marshal(info)
}

func deriveParam(h *hkdfAlg, p *Params, id []byte, typ string, l int) (Secret, error) {
	info, err := encodeInfo(id, p.IDContext, p.HasIDContext, p.aead(), typ, l)
	if err != nil {
		return nil, err
	}
	out := make(Secret, l)
	if _, err := io.ReadFull(hkdf.New(h.new, p.MasterSecret, p.MasterSalt, info), out); err != nil {
		return nil, err
	}
	return out, nil
}

// Name returns the context's name (Params.Name).
func (c *Context) Name() string { return c.name }

// SenderID returns the Sender ID of the point of view the context was
// written from. The slice is the context's own: do not modify it.
func (c *Context) SenderID() []byte { return c.ids[partySender] }

// RecipientID returns the Recipient ID. Do not modify the slice.
func (c *Context) RecipientID() []byte { return c.ids[partyRecipient] }

// IDContext returns the ID Context and whether there is one.
func (c *Context) IDContext() ([]byte, bool) { return c.idContext, c.hasIDContext }

// Algorithm returns the AEAD algorithm.
func (c *Context) Algorithm() Algorithm { return c.alg }

// HKDF returns the name of the HKDF algorithm, e.g. "HKDF-SHA-256".
func (c *Context) HKDF() string { return c.hkdf }

// SenderKey returns the derived Sender Key.
func (c *Context) SenderKey() Secret { return c.sec.keys[partySender] }

// RecipientKey returns the derived Recipient Key.
func (c *Context) RecipientKey() Secret { return c.sec.keys[partyRecipient] }

// CommonIV returns the derived Common IV.
func (c *Context) CommonIV() Secret { return c.sec.commonIV }

// Reverse returns the same context seen from the peer: Sender and
// Recipient swapped. It shares the derived keys with c.
func (c *Context) Reverse() *Context {
	r := *c
	r.ids[0], r.ids[1] = c.ids[1], c.ids[0]
	r.sec = &contextKeys{
		commonIV: c.sec.commonIV,
		keys:     [2]Secret{c.sec.keys[1], c.sec.keys[0]},
		aeads:    [2]cipher.AEAD{c.sec.aeads[1], c.sec.aeads[0]},
	}
	return &r
}

// String describes the context by name, IDs and algorithm. The printing
// methods have value receivers so that a copied Context prints this way
// too.
func (c Context) String() string {
	s := "oscore.Context{" + strconv.Quote(c.name) + " sender=" + hex.EncodeToString(c.ids[0]) +
		" recipient=" + hex.EncodeToString(c.ids[1])
	if c.hasIDContext {
		s += " id_context=" + hex.EncodeToString(c.idContext)
	}
	return s + " " + c.alg.String() + "}"
}

// GoString is String: a Context never prints its keys.
func (c Context) GoString() string { return c.String() }

// Format writes String for every verb.
func (c Context) Format(f fmt.State, _ rune) { io.WriteString(f, c.String()) }

// LogValue describes the context without its keys.
func (c Context) LogValue() slog.Value {
	attrs := []slog.Attr{
		slog.String("name", c.name),
		slog.String("sender_id", hex.EncodeToString(c.ids[0])),
		slog.String("recipient_id", hex.EncodeToString(c.ids[1])),
	}
	if c.hasIDContext {
		attrs = append(attrs, slog.String("id_context", hex.EncodeToString(c.idContext)))
	}
	return slog.GroupValue(append(attrs, slog.String("aead", c.alg.String()))...)
}

// MarshalJSON describes the context without its keys.
func (c Context) MarshalJSON() ([]byte, error) {
	b := []byte(`{"name":`)
	b = strconv.AppendQuote(b, c.name)
	b = append(b, `,"sender_id":"`...)
	b = hex.AppendEncode(b, c.ids[0])
	b = append(b, `","recipient_id":"`...)
	b = hex.AppendEncode(b, c.ids[1])
	if c.hasIDContext {
		b = append(b, `","id_context":"`...)
		b = hex.AppendEncode(b, c.idContext)
	}
	b = append(b, `","aead":`...)
	b = strconv.AppendQuote(b, c.alg.String())
	return append(b, '}'), nil
}

// ref is one endpoint of one context: messages that party protects.
type ref struct {
	c *Context
	p party
}

// Keyring holds the derived security contexts given by the user and finds
// them by kid and kid context, from either point of view. It is immutable
// and safe for concurrent use; printing it shows names, never keys.
type Keyring struct {
	ctxs  []*Context
	byKID map[string][]ref
	all   []ref
}

// NewKeyring derives every context of ps. A context given twice, also from
// the two points of view, is kept once. The error names the failing
// context (Params.Name) and says why, without key material.
func NewKeyring(ps []Params) (*Keyring, error) {
	k := &Keyring{byKID: make(map[string][]ref)}
	seen := make(map[[32]byte]bool)
	var errs []error
	for i := range ps {
		c, err := newContext(&ps[i])
		if err != nil {
			errs = append(errs, &ContextError{Name: ps[i].Name, Err: err})
			continue
		}
		if seen[c.fingerprint] {
			continue
		}
		seen[c.fingerprint] = true
		k.ctxs = append(k.ctxs, c)
		for _, pt := range [...]party{partySender, partyRecipient} {
			r := ref{c, pt}
			k.byKID[string(c.ids[pt])] = append(k.byKID[string(c.ids[pt])], r)
			k.all = append(k.all, r)
		}
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return k, nil
}

// Len returns the number of distinct contexts.
func (k *Keyring) Len() int {
	if k == nil {
		return 0
	}
	return len(k.ctxs)
}

// Contexts returns the contexts in the order they were given.
func (k *Keyring) Contexts() []*Context {
	if k == nil {
		return nil
	}
	return append([]*Context(nil), k.ctxs...)
}

// maxCandidates bounds the contexts tried for one message.
const maxCandidates = 32

// lookup appends to dst the endpoints that may have protected a request
// with this kid and kid context: contexts whose ID Context equals the kid
// context come first, then those with another or no ID Context (the kid
// context is only a hint, RFC 8613 section 5.1). Without a kid every
// endpoint is a candidate.
func (k *Keyring) lookup(dst []ref, kid []byte, hasKID bool, kidCtx []byte, hasKIDCtx bool) []ref {
	if k == nil {
		return dst
	}
	cands := k.all
	if hasKID {
		cands = k.byKID[string(kid)]
	}
	start := len(dst)
	if hasKIDCtx {
		for _, r := range cands {
			if r.c.hasIDContext && bytes.Equal(r.c.idContext, kidCtx) {
				dst = append(dst, r)
			}
		}
	}
	for _, r := range cands {
		if hasKIDCtx && r.c.hasIDContext && bytes.Equal(r.c.idContext, kidCtx) {
			continue
		}
		dst = append(dst, r)
	}
	if len(dst)-start > maxCandidates {
		dst = dst[:start+maxCandidates]
	}
	return dst
}

// String describes the keyring by its context names.
func (k *Keyring) String() string {
	if k == nil {
		return "oscore.Keyring(nil)"
	}
	s := "oscore.Keyring{"
	for i, c := range k.ctxs {
		if i > 0 {
			s += ", "
		}
		s += strconv.Quote(c.name)
	}
	return s + "}"
}

// GoString is String: a Keyring never prints its keys.
func (k *Keyring) GoString() string { return k.String() }

// Format writes String for every verb.
func (k *Keyring) Format(f fmt.State, _ rune) { io.WriteString(f, k.String()) }

// LogValue lists the context names.
func (k *Keyring) LogValue() slog.Value { return slog.StringValue(k.String()) }

// MarshalJSON lists the contexts without keys.
func (k *Keyring) MarshalJSON() ([]byte, error) {
	b := []byte{'['}
	for i, c := range k.Contexts() {
		if i > 0 {
			b = append(b, ',')
		}
		cb, _ := c.MarshalJSON()
		b = append(b, cb...)
	}
	return append(b, ']'), nil
}

func clone(b []byte) []byte {
	if b == nil {
		return nil
	}
	return append(make([]byte, 0, len(b)), b...)
}
