package main

import (
	"bytes"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"math"
	"net/netip"
	"os"
	"slices"
	"strconv"
	"strings"

	"github.com/coapaudit/coapaudit/capture"
	"github.com/coapaudit/coapaudit/coaptcp"
	"github.com/coapaudit/coapaudit/decode"
)

// frame is one CoAP datagram of a capture. It owns its bytes.
type frame struct {
	N        int
	Micros   int64 // capture time, unix microseconds
	Src, Dst netip.AddrPort
	Raw      []byte
	Msg      decode.Message
	// Reliable: the message came over TCP (-origin-tcp), with no Message
	// ID; Raw is its RFC 8323 framing, N the frame that completed it.
	Reliable bool
}

// readFrames returns every UDP datagram of a capture that decodes as
// CoAP, and every CoAP message over TCP (port 5683), in frame order.
func readFrames(name string) ([]frame, error) {
	rd, err := capture.Open(name)
	if err != nil {
		return nil, err
	}
	defer rd.Close()
	var out []frame
	a := coaptcp.New(coaptcp.Config{}, func(m *coaptcp.Message) {
		if m.Err != nil || m.CoAP.Code.IsSignaling() {
			return
		}
		f := frame{N: m.Frame, Micros: m.Time.UnixMicro(), Src: m.Src, Dst: m.Dst, Raw: bytes.Clone(m.Raw), Reliable: true}
		if _, err := f.Msg.DecodeTCP(f.Raw); err == nil {
			out = append(out, f)
		}
	})
	var d capture.Datagram
	for {
		err := rd.Next(&d)
		if errors.Is(err, io.EOF) {
			a.Close()
			slices.SortStableFunc(out, func(x, y frame) int { return x.N - y.N })
			return out, nil
		}
		if err != nil {
			return nil, err
		}
		if d.Kind == capture.KindTCP {
			a.Segment(&d)
			continue
		}
		if d.Kind != capture.KindUDP || d.Truncated {
			continue
		}
		f := frame{N: d.Number, Micros: d.Time.UnixMicro(), Src: d.Src, Dst: d.Dst, Raw: bytes.Clone(d.Payload)}
		if f.Msg.Decode(f.Raw) != nil {
			continue
		}
		out = append(out, f)
	}
}

// fieldsOf lists every field of a CoAP message as comparable strings: the
// header, the token, each option (named by its truth-file field name or
// "option N", repeated values joined by ",") and the payload.
func fieldsOf(m *decode.Message) map[string]string {
	f := map[string]string{
		"type":       m.Type.String(),
		fieldCode:    codeString(uint8(m.Code)),
		"mid":        strconv.Itoa(int(m.MessageID)),
		"token":      hex.EncodeToString(m.Token),
		fieldPayload: "-",
	}
	if m.PayloadOff >= 0 {
		f[fieldPayload] = hex.EncodeToString(m.Payload)
	}
	for _, o := range m.Options {
		key, val := "option "+strconv.Itoa(int(o.ID)), hex.EncodeToString(o.Value)
		switch o.ID {
		case decode.OptURIPath:
			key, val = fieldURIPath, string(o.Value)
		case decode.OptContentFormat:
			key, val = fieldContentFormat, strconv.FormatUint(uint64(decode.DecodeUint(o.Value)), 10)
		}
		sep := ","
		if o.ID == decode.OptURIPath {
			sep = "/"
		}
		if prev, ok := f[key]; ok {
			val = prev + sep + val
		}
		f[key] = val
	}
	return f
}

// fieldOf is one field of fieldsOf, "-" when absent.
func fieldOf(m *decode.Message, field string) string {
	if v, ok := fieldsOf(m)[field]; ok {
		return v
	}
	return "-"
}

// legs are the endpoints of one client's traffic through the relay.
type legs struct {
	client, relay netip.AddrPort
}

// findLegs finds the client of truth line l (by port and token) and the
// relay address it sends to.
func findLegs(frames []frame, l truthLine) (legs, error) {
	for _, f := range frames {
		if int(f.Src.Port()) == l.Client && f.Msg.Code.IsRequest() && hex.EncodeToString(f.Msg.Token) == l.Token {
			return legs{client: f.Src, relay: f.Dst}, nil
		}
	}
	return legs{}, fmt.Errorf("no request from client port %d with token %s", l.Client, l.Token)
}

// Roles a frame can play in an act.
type role int

const (
	clientToRelay role = iota // the client's request
	relayToOrigin             // the relay's request, from its outgoing socket
	originToRelay             // the origin's response
	relayToClient             // the relay's response
)

// plays reports whether f carries l's message in role r.
func (g legs) plays(f *frame, l truthLine, r role) bool {
	if !f.Reliable && int(f.Msg.MessageID) != int(l.MID) || hex.EncodeToString(f.Msg.Token) != l.Token {
		return false
	}
	upstream := func(a netip.AddrPort) bool { return a.Addr() == g.relay.Addr() && a != g.relay }
	switch r {
	case clientToRelay:
		return f.Src == g.client && f.Dst == g.relay && f.Msg.Code.IsRequest()
	case relayToOrigin:
		return upstream(f.Src) && f.Dst != g.client && f.Msg.Code.IsRequest()
	case originToRelay:
		return upstream(f.Dst) && f.Src != g.client && f.Msg.Code.IsResponse()
	case relayToClient:
		return f.Src == g.relay && f.Dst == g.client && f.Msg.Code.IsResponse()
	}
	return false
}

// locate returns the frames that carry truth line l: the last frame in the
// relay received up to the act's time, then the first frames it sent from
// then on (none for drop, extra+1 for flood, one otherwise).
func locate(frames []frame, l truthLine) ([]int, error) {
	g, err := findLegs(frames, l)
	if err != nil {
		return nil, err
	}
	in, out, nOut := clientToRelay, relayToOrigin, 1
	if l.Dir == dirResponse {
		in, out = originToRelay, relayToClient
	}
	switch l.Act {
	case actForge:
		out = relayToClient
	case actDrop:
		nOut = 0
	case actFlood:
		nOut = l.Extra + 1
	}
	t := int64(math.Round(l.T * 1e6))
	got := []int{0}
	for i := range frames {
		f := &frames[i]
		switch {
		case f.Micros <= t && g.plays(f, l, in):
			got[0] = f.N
		case f.Micros >= t && len(got) <= nOut && g.plays(f, l, out):
			got = append(got, f.N)
		}
	}
	if got[0] == 0 {
		return nil, fmt.Errorf("%s n=%d: no frame the relay received", l.Act, l.N)
	}
	if len(got) != nOut+1 {
		return nil, fmt.Errorf("%s n=%d: %d frames sent, want %d", l.Act, l.N, len(got)-1, nOut)
	}
	return got, nil
}

// annotateFile fills in the frames of every line of a truth file.
func annotateFile(captureName, truthName string) error {
	frames, err := readFrames(captureName)
	if err != nil {
		return err
	}
	lines, err := readTruth(truthName)
	if err != nil {
		return err
	}
	var errs []string
	for i := range lines {
		fr, err := locate(frames, lines[i])
		if err != nil {
			errs = append(errs, err.Error())
			continue
		}
		lines[i].Frames = fr
	}
	if errs != nil {
		return fmt.Errorf("%s: %s", captureName, strings.Join(errs, "; "))
	}
	var buf bytes.Buffer
	if err := writeTruth(&buf, lines); err != nil {
		return err
	}
	return os.WriteFile(truthName, buf.Bytes(), 0o644)
}
