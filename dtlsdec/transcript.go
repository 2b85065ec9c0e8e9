package dtlsdec

import (
	"crypto"

	"github.com/coapaudit/coapaudit/decode"
)

// Transcript bounds.
const (
	maxMessageLen    = 1 << 16
	maxTranscriptLen = 1 << 18
)

// transcript holds a session's handshake messages in the order they were
// first seen, each as if sent in one fragment (RFC 6347 4.2.6): the
// 12-byte header with fragment_offset 0 and fragment_length = length,
// then the body. Fragments are reassembled and retransmissions dropped.
type transcript struct {
	msgs []hsMsg
	size int
}

type hsMsg struct {
	fromClient bool
	seq        uint16
	data       []byte   // header and body
	have       []uint64 // bitmap of body bytes received
	missing    int
	cookieless bool // a ClientHello without a cookie
}

// dropCookielessHellos removes the ClientHellos sent without a cookie,
// which a HelloVerifyRequest answered.
func (t *transcript) dropCookielessHellos() {
	keep := t.msgs[:0]
	for _, m := range t.msgs {
		if m.cookieless {
			t.size -= len(m.data) - 12
			continue
		}
		keep = append(keep, m)
	}
	clear(t.msgs[len(keep):])
	t.msgs = keep
}

func (t *transcript) find(fromClient bool, seq uint16) *hsMsg {
	for i := range t.msgs {
		if m := &t.msgs[i]; m.fromClient == fromClient && m.seq == seq {
			return m
		}
	}
	return nil
}

func (t *transcript) has(fromClient bool, seq uint16) bool { return t.find(fromClient, seq) != nil }

// add takes a message or a fragment of one; cookieless marks a
// ClientHello without a cookie. It returns false when the message would
// make the transcript larger than its bounds.
func (t *transcript) add(fromClient bool, hs *decode.DTLSHandshake, cookieless bool) bool {
	m := t.find(fromClient, hs.MessageSeq)
	if m == nil {
		if hs.Length > maxMessageLen || t.size+int(hs.Length) > maxTranscriptLen {
			return false
		}
		n := int(hs.Length)
		t.msgs = append(t.msgs, hsMsg{fromClient: fromClient, seq: hs.MessageSeq, data: make([]byte, 12+n),
			have: make([]uint64, (n+63)/64), missing: n, cookieless: cookieless})
		t.size += n
		m = &t.msgs[len(t.msgs)-1]
		putHeader(m.data, hs.Type, hs.Length, hs.MessageSeq)
	}
	if m.missing == 0 || uint32(len(m.data)-12) != hs.Length ||
		uint64(hs.FragmentOffset)+uint64(hs.FragmentLength) > uint64(hs.Length) {
		return true
	}
	off := int(hs.FragmentOffset)
	copy(m.data[12+off:], hs.Body)
	for i := off; i < off+len(hs.Body); i++ {
		if m.have[i/64]&(1<<(i%64)) == 0 {
			m.have[i/64] |= 1 << (i % 64)
			m.missing--
		}
	}
	return true
}

// addWhole adds a complete message given with its header.
func (t *transcript) addWhole(fromClient bool, seq uint16, msg []byte) {
	t.msgs = append(t.msgs, hsMsg{fromClient: fromClient, seq: seq, data: append([]byte(nil), msg...)})
	t.size += len(msg)
}

func putHeader(b []byte, typ decode.HandshakeType, n uint32, seq uint16) {
	b[0] = byte(typ)
	b[1], b[2], b[3] = byte(n>>16), byte(n>>8), byte(n)
	b[4], b[5] = byte(seq>>8), byte(seq)
	b[6], b[7], b[8] = 0, 0, 0
	b[9], b[10], b[11] = byte(n>>16), byte(n>>8), byte(n)
}

// hash returns the hash of the first n messages.
func (t *transcript) hash(h crypto.Hash, n int) []byte {
	d := h.New()
	for i := range t.msgs[:n] {
		d.Write(t.msgs[i].data)
	}
	return d.Sum(nil)
}
