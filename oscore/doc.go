// Package oscore verifies and decrypts OSCORE (RFC 8613) messages with
// security contexts supplied by the user, and tracks Partial IVs for replays
// with or without keys.
//
// Key files (LoadKeyFile, ParseKeys) come in the project's JSON format,
// aiocoap's context files and Wireshark's oscore_contexts table; KEYS.md
// describes them. NewKeyring derives each context's Sender Key, Recipient
// Key and Common IV (RFC 8613 section 3.2) with HKDF and finds a context by
// kid and kid context whichever endpoint's point of view it was written
// from. The AEAD algorithms are AES-CCM (COSE 10-13 and 30-33), AES-GCM (1-3)
// and ChaCha20/Poly1305 (24).
//
// A Decryptor follows a capture in order: it verifies requests, remembers
// them (bounded) to verify their responses, decodes the inner message, and
// classifies every Partial IV with a ReplayTracker (Fresh, Retransmission,
// Duplicate, Old): a window per sender and receiver and a bounded set of
// recent Partial IVs with the frame each was first seen in. It notes how a
// server answered a replay and the Echo challenges of RFC 9175. Context.ProtectRequest and ProtectResponse build
// protected messages, for tests and sample generation.
//
// Key material is held in Secret values, which print, log and marshal as
// "[redacted]"; Context, Keyring and Params describe themselves without
// keys, and errors name files, lines and fields, never values.
package oscore
