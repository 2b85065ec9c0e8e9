package decode

// Append appends the encoding of m to b (RFC 7252 section 3, with the
// extended token lengths of RFC 8974): version 1, m's type, token, code
// and Message ID, its options in increasing number order (options of one
// number keep their order), and the payload after the payload marker when
// there is one. It is the inverse of Decode for every message Decode
// accepts without anomalies.
func (m *Message) Append(b []byte) []byte {
	n := len(m.Token)
	switch {
	case n < 13:
		b = append(b, 1<<6|byte(m.Type&3)<<4|byte(n))
	case n < 269:
		b = append(b, 1<<6|byte(m.Type&3)<<4|13)
	default:
		b = append(b, 1<<6|byte(m.Type&3)<<4|14)
	}
	b = append(b, byte(m.Code), byte(m.MessageID>>8), byte(m.MessageID))
	switch {
	case n >= 269:
		b = append(b, byte((n-269)>>8), byte(n-269))
	case n >= 13:
		b = append(b, byte(n-13))
	}
	b = append(b, m.Token...)
	return m.appendOptionsPayload(b)
}

func cmpOption(a, b Option) int { return int(a.ID) - int(b.ID) }

// AppendOptions appends the encoding of opts, which must be sorted by
// number (RFC 7252 section 3.1): each option's delta from the previous
// number and its length, with their extended forms, then its value.
func AppendOptions(b []byte, opts []Option) []byte {
	prev := 0
	for _, o := range opts {
		delta := int(o.ID) - prev
		prev = int(o.ID)
		dn, dx, dlen := nibble(delta)
		ln, lx, llen := nibble(len(o.Value))
		b = append(b, byte(dn<<4|ln))
		b = append(b, dx[:dlen]...)
		b = append(b, lx[:llen]...)
		b = append(b, o.Value...)
	}
	return b
}

// nibble returns the 4-bit field for v and its extended bytes.
func nibble(v int) (n int, ext [2]byte, len int) {
	switch {
	case v < 13:
		return v, ext, 0
	case v < 269:
		return 13, [2]byte{byte(v - 13)}, 1
	}
	v -= 269
	return 14, [2]byte{byte(v >> 8), byte(v)}, 2
}

// AppendUint appends v as a uint option value in its shortest form (RFC
// 7252 section 3.2: no leading zero bytes, zero as no bytes), the inverse
// of DecodeUint.
func AppendUint(b []byte, v uint32) []byte {
	n := 0
	for x := v; x != 0; x >>= 8 {
		n++
	}
	for i := n - 1; i >= 0; i-- {
		b = append(b, byte(v>>(8*i)))
	}
	return b
}
