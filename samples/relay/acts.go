package main

import (
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/plgd-dev/go-coap/v3/message"
	"github.com/plgd-dev/go-coap/v3/message/codes"
	"github.com/plgd-dev/go-coap/v3/udp/coder"
)

// The acts the relay can commit. The alter-* acts change exactly one field
// of one message; the others change what is sent when, or by whom.
const (
	actAlterRequestPayload  = "alter-request-payload"
	actAlterResponsePayload = "alter-response-payload"
	actAlterMethod          = "alter-method"
	actAlterContentFormat   = "alter-content-format"
	actAlterURIPath         = "alter-uri-path"
	actAlterResponseCode    = "alter-response-code"
	actForge                = "forge"
	actDelay                = "delay"
	actDrop                 = "drop"
	actFlood                = "flood"
	actReplay               = "replay"
)

// Directions: the message an act works on.
const (
	dirRequest  = "request"
	dirResponse = "response"
)

// Field names used in truth lines. Values are compared as strings:
// payload is hex, code is "c.dd", content-format is decimal, uri-path is
// the segments joined by "/"; an absent option or payload is "-".
const (
	fieldPayload       = "payload"
	fieldCode          = "code"
	fieldContentFormat = "content-format"
	fieldURIPath       = "uri-path"
)

// defaultSchedule matches the request sequence of scripts/record-relay.sh.
const defaultSchedule = "2:alter-request-payload,3:alter-response-payload,4:alter-method," +
	"6:alter-response-code,7:alter-content-format=request,8:alter-content-format=response," +
	"9:alter-uri-path=example_data,10:forge,12:delay=1.5,13:drop,14:flood=2,15:replay," +
	"16:alter-uri-path,18:alter-response-code,20:alter-response-payload"

// step is one scheduled act with its optional argument (delay=1.5).
type step struct {
	Act string
	Arg string
}

// direction reports which message the act works on.
func (s step) direction() string {
	switch s.Act {
	case actAlterResponsePayload, actAlterResponseCode, actDrop, actFlood:
		return dirResponse
	case actAlterContentFormat:
		if s.Arg == dirResponse {
			return dirResponse
		}
	}
	return dirRequest
}

// seconds is the delay of a delay act (default 1.5 s, below libcoap's
// shortest ACK timeout so the client does not retransmit meanwhile).
func (s step) seconds() float64 {
	if v, err := strconv.ParseFloat(s.Arg, 64); err == nil && v > 0 {
		return v
	}
	return 1.5
}

// extra is how many more copies a flood act sends (default 2).
func (s step) extra() int {
	if v, err := strconv.Atoi(s.Arg); err == nil && v > 0 {
		return v
	}
	return 2
}

var knownActs = map[string]bool{
	actAlterRequestPayload: true, actAlterResponsePayload: true, actAlterMethod: true,
	actAlterContentFormat: true, actAlterURIPath: true, actAlterResponseCode: true,
	actForge: true, actDelay: true, actDrop: true, actFlood: true, actReplay: true,
}

// parseSchedule reads "2:alter-method,5:delay=2,..." into a map keyed by
// the request number.
func parseSchedule(s string) (map[int]step, error) {
	out := make(map[int]step)
	for _, item := range strings.Split(s, ",") {
		item = strings.TrimSpace(item)
		if item == "" {
			continue
		}
		num, act, ok := strings.Cut(item, ":")
		n, err := strconv.Atoi(num)
		if !ok || err != nil || n < 1 {
			return nil, fmt.Errorf("schedule item %q: want N:act", item)
		}
		act, arg, _ := strings.Cut(act, "=")
		if !knownActs[act] {
			return nil, fmt.Errorf("schedule item %q: unknown act %q", item, act)
		}
		if act == actAlterContentFormat && arg != "" && arg != dirRequest && arg != dirResponse {
			return nil, fmt.Errorf("schedule item %q: want =request or =response", item)
		}
		if _, dup := out[n]; dup {
			return nil, fmt.Errorf("schedule: request %d scheduled twice", n)
		}
		out[n] = step{Act: act, Arg: arg}
	}
	return out, nil
}

// alteration is what an alter-* act changed.
type alteration struct {
	Field, Before, After string
	Offset               int // for payload: the byte that changed
}

var errNotApplicable = errors.New("act does not apply to this message")

// methodSwap keeps the server answering: libcoap's /time answers FETCH
// like GET, and the others get a 4.05 or a different action.
var methodSwap = map[codes.Code]codes.Code{
	codes.GET: codes.FETCH, codes.FETCH: codes.GET,
	codes.PUT: codes.POST, codes.POST: codes.PUT,
	codes.DELETE: codes.GET,
}

// codeSwap turns a success into a plausible different answer.
var codeSwap = map[codes.Code]codes.Code{
	codes.Content: codes.NotFound, codes.Changed: codes.Created,
	codes.Created: codes.Changed, codes.Deleted: codes.Changed,
	codes.Valid: codes.Content,
}

// alter applies an alter-* act to m in place. buf holds new option values
// and must outlive m.
func alter(s step, m *message.Message, buf []byte) (alteration, error) {
	switch s.Act {
	case actAlterRequestPayload, actAlterResponsePayload:
		if len(m.Payload) == 0 {
			return alteration{}, errNotApplicable
		}
		// Requests change in their last byte, responses in their first,
		// so that a response never undoes what an altered request stored.
		p := append([]byte(nil), m.Payload...)
		i := len(p) - 1
		if s.Act == actAlterResponsePayload {
			i = 0
		}
		p[i] ^= 0x01
		a := alteration{Field: fieldPayload, Before: fmt.Sprintf("%x", m.Payload), After: fmt.Sprintf("%x", p), Offset: i}
		m.Payload = p
		return a, nil
	case actAlterMethod, actAlterResponseCode:
		table := methodSwap
		if s.Act == actAlterResponseCode {
			table = codeSwap
		}
		to, ok := table[m.Code]
		if !ok {
			return alteration{}, errNotApplicable
		}
		a := alteration{Field: fieldCode, Before: codeString(uint8(m.Code)), After: codeString(uint8(to))}
		m.Code = to
		return a, nil
	case actAlterContentFormat:
		before := "-"
		to := message.TextPlain
		if cf, err := m.Options.ContentFormat(); err == nil {
			before = strconv.Itoa(int(cf))
			if cf == message.TextPlain {
				to = message.AppJSON
			}
		}
		opts, _, err := m.Options.SetContentFormat(buf, to)
		if err != nil {
			return alteration{}, err
		}
		m.Options = opts
		return alteration{Field: fieldContentFormat, Before: before, After: strconv.Itoa(int(to))}, nil
	case actAlterURIPath:
		before := "-"
		if p, err := m.Options.Path(); err == nil && m.Options.HasOption(message.URIPath) {
			before = strings.TrimPrefix(p, "/")
		}
		if s.Arg == "" {
			if before == "-" {
				return alteration{}, errNotApplicable
			}
			m.Options = m.Options.Remove(message.URIPath)
			return alteration{Field: fieldURIPath, Before: before, After: "-"}, nil
		}
		if s.Arg == before {
			return alteration{}, errNotApplicable
		}
		opts, _, err := m.Options.SetPath(buf, s.Arg)
		if err != nil {
			return alteration{}, err
		}
		m.Options = opts
		return alteration{Field: fieldURIPath, Before: before, After: s.Arg}, nil
	}
	return alteration{}, fmt.Errorf("%s is not an alter act", s.Act)
}

// forgedPayload is what a forged response says.
const forgedPayload = "forged by relay"

// forge makes up a response to req: a piggybacked 2.05 for a confirmable
// request, a non-confirmable one with Message ID mid otherwise.
func forge(req *message.Message, mid uint16) ([]byte, error) {
	resp := message.Message{
		Token:     req.Token,
		Code:      codes.Content,
		Payload:   []byte(forgedPayload),
		MessageID: int32(mid),
		Type:      message.NonConfirmable,
	}
	if req.Type == message.Confirmable {
		resp.Type = message.Acknowledgement
		resp.MessageID = req.MessageID
	}
	opts, _, err := message.Options{}.SetContentFormat(make([]byte, 4), message.TextPlain)
	if err != nil {
		return nil, err
	}
	resp.Options = opts
	return encode(resp)
}

// parse decodes a CoAP-over-UDP datagram with go-coap. The message borrows b.
func parse(b []byte) (*message.Message, error) {
	m := &message.Message{Options: make(message.Options, 0, 64)}
	if _, err := coder.DefaultCoder.Decode(b, m); err != nil {
		return nil, err
	}
	return m, nil
}

// encode writes m as a CoAP-over-UDP datagram.
func encode(m message.Message) ([]byte, error) {
	n, err := coder.DefaultCoder.Size(m)
	if err != nil {
		return nil, err
	}
	b := make([]byte, n)
	if _, err := coder.DefaultCoder.Encode(m, b); err != nil {
		return nil, err
	}
	return b, nil
}

// codeString formats a CoAP code as "c.dd".
func codeString(c uint8) string { return fmt.Sprintf("%d.%02d", c>>5, c&0x1f) }
