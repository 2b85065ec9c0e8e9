package decode

// Copies of decoded messages that share no memory with the input, for a
// consumer that runs after the input buffer has been reused (another
// goroutine of a pipeline). Every slice of a decoded value lies in its
// Raw (the input given to Decode), so Raw is copied once and each slice
// is pointed at the same bytes of the copy; a slice found outside Raw
// (reassembled data) is copied on its own. Spans are offsets and stay
// valid as they are.

// CloneTo makes dst a copy of m, appending the bytes it needs to buf, and
// returns buf extended. dst's Options and Anomalies storage is reused.
// Slices that are nil in m are nil in dst.
func (m *Message) CloneTo(dst *Message, buf []byte) []byte {
	opts, anoms := dst.Options[:0], dst.Anomalies[:0]
	*dst = *m
	var c copier
	buf = c.start(m.Raw, buf)
	dst.Raw = c.raw
	dst.Token, buf = c.slice(m.Token, buf)
	dst.Payload, buf = c.slice(m.Payload, buf)
	for _, o := range m.Options {
		o.Value, buf = c.slice(o.Value, buf)
		opts = append(opts, o)
	}
	dst.Options = opts
	if m.Options == nil {
		dst.Options = nil
	}
	dst.Anomalies = append(anoms, m.Anomalies...)
	if m.Anomalies == nil {
		dst.Anomalies = nil
	}
	return buf
}

// CloneTo makes dst a copy of d, as Message.CloneTo does.
func (d *DTLS) CloneTo(dst *DTLS, buf []byte) []byte {
	recs, hss, anoms := dst.Records[:0], dst.Handshakes[:0], dst.Anomalies[:0]
	*dst = *d
	var c copier
	buf = c.start(d.Raw, buf)
	dst.Raw = c.raw
	for _, r := range d.Records {
		r.Fragment, buf = c.slice(r.Fragment, buf)
		r.ConnID, buf = c.slice(r.ConnID, buf)
		recs = append(recs, r)
	}
	for _, h := range d.Handshakes {
		h.Body, buf = c.slice(h.Body, buf)
		hss = append(hss, h)
	}
	dst.Records, dst.Handshakes = recs, hss
	dst.Anomalies = append(anoms, d.Anomalies...)
	if d.Records == nil {
		dst.Records = nil
	}
	if d.Handshakes == nil {
		dst.Handshakes = nil
	}
	if d.Anomalies == nil {
		dst.Anomalies = nil
	}
	ch, sh := &dst.ClientHello, &dst.ServerHello
	for _, p := range []*[]byte{&ch.Random, &ch.SessionID, &ch.Cookie, &ch.CipherSuites, &ch.CompressionMethods,
		&ch.Extensions, &ch.ServerName, &ch.ConnID, &ch.SupportedVersions, &ch.PSKIdentities,
		&sh.Random, &sh.SessionID, &sh.Extensions, &sh.ConnID,
		&dst.HelloVerifyCookie, &dst.ServerKeyExchange, &dst.ClientKeyExchange} {
		*p, buf = c.slice(*p, buf)
	}
	return buf
}

// copier points slices of one input at a copy of it.
type copier struct {
	src, raw []byte
}

// start copies src to the end of buf.
func (c *copier) start(src, buf []byte) []byte {
	c.src = src
	if src == nil {
		c.raw = nil
		return buf
	}
	if len(src) == 0 {
		c.raw = []byte{} // empty, as the input was, not nil
		return buf
	}
	n := len(buf)
	buf = append(buf, src...)
	c.raw = buf[n:len(buf):len(buf)]
	return buf
}

// slice returns the copy of s: the same bytes of the copy of the input
// when s lies in it, else s appended to buf.
func (c *copier) slice(s, buf []byte) ([]byte, []byte) {
	switch {
	case s == nil:
		return nil, buf
	case len(s) == 0:
		return []byte{}, buf
	}
	// A slice of src starting at byte off has off fewer bytes of
	// capacity; the address check rules out another array.
	if off := cap(c.src) - cap(s); off >= 0 && off+len(s) <= len(c.src) && &c.src[off] == &s[0] {
		return c.raw[off : off+len(s) : off+len(s)], buf
	}
	n := len(buf)
	buf = append(buf, s...)
	return buf[n:len(buf):len(buf)], buf
}
