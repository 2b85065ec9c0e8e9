#!/usr/bin/env python3
"""Independent OSCORE (RFC 8613) computation for cross-checking the Go code.

Derives the Sender/Recipient Keys and Common IV (section 3.2), builds nonces
(5.2) and AAD (5.4), and encrypts a request, a response reusing the request
nonce and a response with its own Partial IV, for every AEAD algorithm.
Uses only the Python standard library and the `cryptography` package; CBOR
is encoded by hand. Writes JSON lines to stdout: crosscheck.jsonl.
"""
import json

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESCCM, AESGCM, ChaCha20Poly1305
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

# COSE id: (key length, nonce length, tag length, constructor)
ALGS = {
    1: (16, 12, 16, "gcm"), 2: (24, 12, 16, "gcm"), 3: (32, 12, 16, "gcm"),
    10: (16, 13, 8, "ccm"), 11: (32, 13, 8, "ccm"), 12: (16, 7, 8, "ccm"), 13: (32, 7, 8, "ccm"),
    24: (32, 12, 16, "chacha"),
    30: (16, 13, 16, "ccm"), 31: (32, 13, 16, "ccm"), 32: (16, 7, 16, "ccm"), 33: (32, 7, 16, "ccm"),
}
HASHES = {"HKDF-SHA-256": hashes.SHA256, "HKDF-SHA-512": hashes.SHA512}


def head(major, n):
    if n < 24:
        return bytes([major << 5 | n])
    if n < 256:
        return bytes([major << 5 | 24, n])
    return bytes([major << 5 | 25]) + n.to_bytes(2, "big")


def bstr(b):
    return head(2, len(b)) + b


def tstr(s):
    return head(3, len(s)) + s.encode()


def uint(n):
    return head(0, n)


def info(ident, idctx, alg, typ, length):
    return b"\x85" + bstr(ident) + (b"\xf6" if idctx is None else bstr(idctx)) + uint(alg) + tstr(typ) + uint(length)


def derive(h, secret, salt, ident, idctx, alg, typ, length):
    return HKDF(algorithm=HASHES[h](), length=length, salt=salt or None, info=info(ident, idctx, alg, typ, length)).derive(secret)


def nonce(civ, id_piv, piv):
    n = len(civ)
    raw = bytes([len(id_piv)]) + id_piv.rjust(n - 6, b"\0") + piv.rjust(5, b"\0")
    return bytes(a ^ b for a, b in zip(raw, civ))


def aad(alg, kid, piv):
    arr = b"\x85\x01\x81" + uint(alg) + bstr(kid) + bstr(piv) + bstr(b"")
    return b"\x83" + tstr("Encrypt0") + bstr(b"") + bstr(arr)


def aead(alg, key):
    _, _, tag, kind = ALGS[alg]
    if kind == "gcm":
        return AESGCM(key)
    if kind == "chacha":
        return ChaCha20Poly1305(key)
    return AESCCM(key, tag_length=tag)


def case(alg, h, secret, salt, sid, rid, idctx, piv, resp_piv, req_pt, resp_pt):
    klen, nlen, _, _ = ALGS[alg]
    skey = derive(h, secret, salt, sid, idctx, alg, "Key", klen)
    rkey = derive(h, secret, salt, rid, idctx, alg, "Key", klen)
    civ = derive(h, secret, salt, b"", idctx, alg, "IV", nlen)
    a = aad(alg, sid, piv)
    req = aead(alg, skey).encrypt(nonce(civ, sid, piv), req_pt, a)
    resp = aead(alg, rkey).encrypt(nonce(civ, sid, piv), resp_pt, a)
    resp2 = aead(alg, rkey).encrypt(nonce(civ, rid, resp_piv), resp_pt, a)
    return {
        "alg": alg, "hkdf": h, "secret": secret.hex(), "salt": salt.hex(),
        "sender_id": sid.hex(), "recipient_id": rid.hex(),
        "id_context": None if idctx is None else idctx.hex(),
        "piv": piv.hex(), "response_piv": resp_piv.hex(),
        "request_plaintext": req_pt.hex(), "response_plaintext": resp_pt.hex(),
        "sender_key": skey.hex(), "recipient_key": rkey.hex(), "common_iv": civ.hex(),
        "request_ciphertext": req.hex(), "response_ciphertext": resp.hex(),
        "response_piv_ciphertext": resp2.hex(),
    }


def main():
    secret = bytes(range(1, 33))
    req_pt = bytes.fromhex("01b3747631") + b"\xff" + b"request body"
    resp_pt = bytes.fromhex("45") + b"\xff" + b"Hello World!"
    for alg in sorted(ALGS):
        for h in ("HKDF-SHA-256", "HKDF-SHA-512"):
            print(json.dumps(case(alg, h, secret, bytes.fromhex("9e7ca92223786340"), b"", b"\x01",
                                  bytes.fromhex("37cbf3210017a2d3"), b"\x14", b"\x00", req_pt, resp_pt)))
        print(json.dumps(case(alg, "HKDF-SHA-256", secret[:16], b"", b"\x00", b"\x01", None,
                              bytes.fromhex("0102030405"), bytes.fromhex("ff"), req_pt, b"\x44")))


if __name__ == "__main__":
    main()
