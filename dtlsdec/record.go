package dtlsdec

import (
	"errors"

	"github.com/coapaudit/coapaudit/decode"
	"github.com/coapaudit/coapaudit/internal/tlscrypto"
)

var errInnerType = errors.New("connection ID record without an inner content type")

// open decrypts record r with k into out (which must have room for the
// fragment) and returns the plaintext and its content type. aad is
// scratch space of at least 300 bytes.
func open(k *tlscrypto.Keys12, out []byte, r *decode.DTLSRecord, aad []byte) ([]byte, decode.ContentType, error) {
	pt, err := k.Open(out, r.Fragment, uint64(r.Epoch)<<48|r.Seq, additionalData(aad, r))
	if err != nil {
		return nil, 0, err
	}
	return innerType(pt, r)
}

// additionalData writes the AEAD additional data (or the MAC header) of
// record r into aad, its last two bytes (the plaintext length) left for
// the cipher to fill in: RFC 5246 6.2.3.3, or for a tls12_cid record
// RFC 9146 5.
func additionalData(aad []byte, r *decode.DTLSRecord) []byte {
	if r.ContentType != decode.ContentTLS12CID {
		b := aad[:13]
		b[0], b[1] = byte(r.Epoch>>8), byte(r.Epoch)
		putSeq(b[2:8], r.Seq)
		b[8] = byte(r.ContentType)
		b[9], b[10] = byte(r.Version>>8), byte(r.Version)
		return b
	}
	b := aad[:0]
	for range 8 {
		b = append(b, 0xff) // seq_num_placeholder
	}
	cid := byte(decode.ContentTLS12CID)
	b = append(b, cid, byte(len(r.ConnID)), cid, byte(r.Version>>8), byte(r.Version),
		byte(r.Epoch>>8), byte(r.Epoch))
	b = b[:len(b)+6]
	putSeq(b[len(b)-6:], r.Seq)
	b = append(b, r.ConnID...)
	return append(b, 0, 0)
}

func putSeq(b []byte, seq uint64) {
	for i := range 6 {
		b[i] = byte(seq >> (40 - 8*i))
	}
}

// innerType returns the content type: the record's, or for a tls12_cid
// record the last non-zero byte of the DTLSInnerPlaintext.
func innerType(pt []byte, r *decode.DTLSRecord) ([]byte, decode.ContentType, error) {
	if r.ContentType != decode.ContentTLS12CID {
		return pt, r.ContentType, nil
	}
	content, typ, err := tlscrypto.InnerPlaintext(pt)
	if err != nil {
		return nil, 0, errInnerType
	}
	return content, decode.ContentType(typ), nil
}
