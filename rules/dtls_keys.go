package rules

import (
	"net/netip"
	"strconv"
	"time"
)

// DTLSKeysMismatch reports DTLS sessions whose supplied key (a PSK or a
// key log line) is not the session's: the Finished message of the
// handshake does not verify, so nothing of the session is decrypted.
var DTLSKeysMismatch = &Rule{
	ID: "dtls-keys-mismatch",
	Doc: `a DTLS key supplied with --psk or --keylog does not match a session

The decrypter proves a key on the session's own Finished messages before
it trusts it. A session whose Finished does not verify with the key that
applies to it (the PSK of its identity, or the key log line of its client
random) gets this one finding, with the session's endpoints, cipher suite
and PSK identity (sent in clear in the handshake, never the key), instead
of records of garbage: the key is wrong, which proves nothing about the
traffic.`,
	Threat:   Usage,
	Severity: Low,
	Seed:     "2.1.1.1",
	Run: func(p *Pass) error {
		type session struct {
			first, last int
			t           time.Time
			failed      int
			suite, id   string
		}
		sessions := map[[2]netip.AddrPort]*session{}
		var order [][2]netip.AddrPort
		p.OnPacket(func(pk *Packet) {
			if !pk.DTLSKeyMismatch {
				return
			}
			k := [2]netip.AddrPort{pk.Src, pk.Dst}
			if pk.Dst.Compare(pk.Src) < 0 {
				k = [2]netip.AddrPort{pk.Dst, pk.Src}
			}
			s := sessions[k]
			if s == nil {
				if len(sessions) >= p.Config.MaxState {
					p.Drop(1)
					return
				}
				s = &session{first: pk.Frame}
				sessions[k] = s
				order = append(order, k)
			}
			s.last, s.t = pk.Frame, pk.Time
			s.failed += pk.DTLSFailed
			if pk.DTLSSuite != "" {
				s.suite = pk.DTLSSuite
			}
			if pk.DTLSIdentity != "" {
				s.id = pk.DTLSIdentity
			}
		})
		p.OnClose(func() {
			for _, k := range order {
				s := sessions[k]
				what := "DTLS session " + k[0].String() + " <-> " + k[1].String()
				if s.suite != "" {
					what += " (" + s.suite
					if s.id != "" {
						what += ", PSK identity " + strconv.Quote(s.id)
					}
					what += ")"
				}
				frames := []int{s.first}
				if s.last != s.first {
					frames = append(frames, s.last)
				}
				p.Report(Finding{Certainty: Did, Frames: frames, Time: s.t,
					Message: "The key supplied for " + what + " did not match it: its Finished message did not verify with it, so " +
						plural(s.failed, "record") + " stay encrypted; this is a wrong key, not an attack."})
			}
		})
		return nil
	},
}
