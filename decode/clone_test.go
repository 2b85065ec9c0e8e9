package decode

import (
	"reflect"
	"testing"
)

// checkClone decodes a copy of b with dec, clones the result, overwrites
// the copy, and requires the clone to equal a fresh decode of b: the
// clone holds no byte of its input.
func checkClone[T any](t *testing.T, b []byte, dec func(*T, []byte), clone func(src, dst *T, buf []byte) []byte) {
	t.Helper()
	in := append(make([]byte, 0, len(b)), b...) // not nil when b is empty
	var src, want, dst T
	dec(&src, in)
	dec(&want, b)
	// A dirty destination and a buffer with room and without.
	buf := clone(&src, &dst, make([]byte, 3, 4))
	for i := range in {
		in[i] ^= 0xff
	}
	for i := range buf[:3] {
		buf[i] = 0xee
	}
	if !reflect.DeepEqual(&dst, &want) {
		t.Fatalf("clone of %x differs:\n got %+v\nwant %+v", b, dst, want)
	}
	dec(&src, b)
	clone(&src, &dst, nil)
	if !reflect.DeepEqual(&dst, &want) {
		t.Fatalf("clone of %x into a reused value differs", b)
	}
}

func checkMessageClone(t *testing.T, b []byte, dec func(*Message, []byte)) {
	checkClone(t, b, dec, func(src, dst *Message, buf []byte) []byte { return src.CloneTo(dst, buf) })
}

func TestCloneTo(t *testing.T) {
	get := []byte{0x44, 0x01, 0x12, 0x34, 1, 2, 3, 4, 0xb4, 't', 'e', 'm', 'p', 0xff, 'x'}
	checkMessageClone(t, get, func(m *Message, b []byte) { m.Decode(b) })
	checkMessageClone(t, get[:2], func(m *Message, b []byte) { m.Decode(b) })
	checkMessageClone(t, []byte{0x44, 0x01, 0x12, 0x34, 1, 2, 3, 4, 0xd0, 0xff}, func(m *Message, b []byte) { m.Decode(b) })
	tcp := []byte{0x21, 0x01, 9, 0xb3, 'a', 'b', 'c'}
	checkMessageClone(t, tcp, func(m *Message, b []byte) { m.DecodeTCP(b) })
	cke := dtlsRec(ContentHandshake, VersionDTLS12, 0, 2, dtlsMsg(HandshakeClientKeyExchange, 2, dtlsCat(dtlsVec16(dtlsAlice), dtlsX25519)))
	checkDTLSClone(t, cke, 0)
	checkDTLSClone(t, dtlsCat(dtlsCIDRec(1, 4, []byte{9, 8, 7}, dtlsCipher), dtlsCIDRec(1, 5, []byte{9, 8, 7}, dtlsCipher[:20])), 3)
}

func checkDTLSClone(t *testing.T, b []byte, cidLen int) {
	checkClone(t, b, func(d *DTLS, b []byte) { d.ConnIDLen = cidLen; d.Decode(b) },
		func(src, dst *DTLS, buf []byte) []byte { return src.CloneTo(dst, buf) })
}

// A slice that is not in Raw is copied on its own.
func TestCloneToOutsideRaw(t *testing.T) {
	var m Message
	m.Decode([]byte{0x41, 0x01, 0, 1, 7})
	other := []byte("elsewhere")
	m.Payload = other[:4]
	var c Message
	c.CloneTo(&c, nil) // an empty message clones to itself
	buf := m.CloneTo(&c, nil)
	other[0] = 'E'
	if string(c.Payload) != "else" || string(c.Token) != "\x07" || len(buf) != 5+4 {
		t.Fatalf("payload %q token %x buf %d", c.Payload, c.Token, len(buf))
	}
}
