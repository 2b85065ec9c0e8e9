// Command evilbroker is a small CoAP pub-sub broker (after
// draft-ietf-core-coap-pubsub) that misbehaves on a schedule, to record
// captures on which coapaudit must prove what a broker did. It serves
// /.well-known/core, the topic collection /ps (POST creates a topic,
// GET lists them), topic configurations /ps/<id> and topic data
// /ps/data/<id> (PUT publishes, GET reads, GET with Observe subscribes,
// Observe=1 deregisters). Notifications are NON.
//
// Acts, by the number of the publication (from 1) and the subscriber
// (by order of registration, from 1), are listed in -acts as
// act:publication:subscriber[:arg], comma-separated:
//
//	withhold:2:2        does not notify subscriber 2 of publication 2
//	alter:3:1           notifies subscriber 1 of publication 3 with another value
//	inject:4:3:0.4      0.4 s after publication 4, notifies subscriber 3
//	                    of a value nobody published
//	delay:5:3:1.5       holds subscriber 3's notification of publication 5
//	                    for 1.5 s
//	flood:6:1:2         notifies subscriber 1 of publication 6 two more times
//
// Each act is written to -truth as one JSON line: the act, the
// publication and subscriber numbers, the publication's Message ID and
// the Message IDs of the notifications the act concerns.
//
// Usage: go run ./samples/evilbroker -listen 127.0.4.101:5683 -truth truth.jsonl -acts ...
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log"
	"net"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/coapaudit/coapaudit/decode"
)

type act struct {
	kind     string
	pub, sub int
	arg      float64
}

type subscriber struct {
	n     int
	addr  *net.UDPAddr
	token []byte
	seq   uint32
}

type broker struct {
	conn *net.UDPConn
	acts []act

	mu     sync.Mutex
	mid    uint16
	value  []byte
	pubs   int
	subs   []*subscriber
	topics int
	truth  *json.Encoder
}

type truthLine struct {
	Act        string   `json:"act"`
	Pub        int      `json:"pub"`
	Sub        int      `json:"sub"`
	Subscriber string   `json:"subscriber"`
	PubMID     uint16   `json:"pub_mid"`
	MIDs       []uint16 `json:"mids,omitempty"`
	Value      string   `json:"value,omitempty"`
}

func main() {
	listen := flag.String("listen", "127.0.4.101:5683", "address to serve on")
	truthFile := flag.String("truth", "", "write the acts here, one JSON line each")
	actList := flag.String("acts", "", "the schedule (see the package documentation)")
	flag.Parse()
	acts, err := parseActs(*actList)
	if err != nil {
		log.Fatal(err)
	}
	la, err := net.ResolveUDPAddr("udp", *listen)
	if err != nil {
		log.Fatal(err)
	}
	conn, err := net.ListenUDP("udp", la)
	if err != nil {
		log.Fatal(err)
	}
	var truth io.Writer
	if *truthFile != "" {
		f, err := os.Create(*truthFile)
		if err != nil {
			log.Fatal(err)
		}
		defer f.Close()
		truth = f
	}
	log.Fatal(serve(conn, acts, truth))
}

// serve runs the broker on conn until reading from it fails; truth, if
// not nil, gets the acts.
func serve(conn *net.UDPConn, acts []act, truth io.Writer) error {
	b := &broker{conn: conn, acts: acts, mid: 0x4000}
	if truth != nil {
		b.truth = json.NewEncoder(truth)
	}
	buf := make([]byte, 2048)
	var m decode.Message
	for {
		n, from, err := conn.ReadFromUDP(buf)
		if err != nil {
			return err
		}
		if m.Decode(buf[:n]) != nil || !m.Code.IsRequest() {
			continue
		}
		b.handle(&m, from)
	}
}

func parseActs(s string) ([]act, error) {
	var out []act
	for _, f := range strings.Split(s, ",") {
		if f == "" {
			continue
		}
		p := strings.Split(f, ":")
		if len(p) < 3 {
			return nil, fmt.Errorf("act %q: want act:publication:subscriber[:arg]", f)
		}
		a := act{kind: p[0]}
		var err error
		if a.pub, err = strconv.Atoi(p[1]); err != nil {
			return nil, err
		}
		if a.sub, err = strconv.Atoi(p[2]); err != nil {
			return nil, err
		}
		if len(p) > 3 {
			if a.arg, err = strconv.ParseFloat(p[3], 64); err != nil {
				return nil, err
			}
		}
		out = append(out, a)
	}
	return out, nil
}

// option is one option of a message the broker sends.
type option struct {
	num uint16
	val []byte
}

// encode builds a CoAP message; options must be in increasing order.
func encode(typ decode.Type, code decode.Code, mid uint16, token []byte, opts []option, payload []byte) []byte {
	b := []byte{0x40 | byte(typ)<<4 | byte(len(token)), byte(code), byte(mid >> 8), byte(mid)}
	b = append(b, token...)
	last := uint16(0)
	for _, o := range opts {
		d, l := int(o.num-last), len(o.val)
		dn, dx := nib(d)
		ln, lx := nib(l)
		b = append(b, dn<<4|ln)
		b = append(b, dx...)
		b = append(b, lx...)
		b = append(b, o.val...)
		last = o.num
	}
	if len(payload) > 0 {
		b = append(append(b, 0xff), payload...)
	}
	return b
}

func nib(v int) (byte, []byte) {
	switch {
	case v < 13:
		return byte(v), nil
	case v < 269:
		return 13, []byte{byte(v - 13)}
	}
	return 14, []byte{byte((v - 269) >> 8), byte(v - 269)}
}

func uintVal(v uint32) []byte {
	switch {
	case v == 0:
		return nil
	case v < 1<<8:
		return []byte{byte(v)}
	case v < 1<<16:
		return []byte{byte(v >> 8), byte(v)}
	}
	return []byte{byte(v >> 16), byte(v >> 8), byte(v)}
}

const (
	cfText   = 0
	cfLink   = 40
	cfPubSub = 606
)

func (b *broker) send(to *net.UDPAddr, msg []byte) {
	if _, err := b.conn.WriteToUDP(msg, to); err != nil {
		log.Print(err)
	}
}

// reply answers request m piggybacked (ACK to CON, NON to NON).
func (b *broker) reply(m *decode.Message, to *net.UDPAddr, code decode.Code, opts []option, payload []byte) {
	typ, mid := decode.Acknowledgement, m.MessageID
	if m.Type != decode.Confirmable {
		typ, mid = decode.NonConfirmable, b.nextMID()
	}
	b.send(to, encode(typ, code, mid, m.Token, opts, payload))
}

func (b *broker) nextMID() uint16 {
	b.mid++
	return b.mid
}

func (b *broker) handle(m *decode.Message, from *net.UDPAddr) {
	b.mu.Lock()
	defer b.mu.Unlock()
	path := string(m.URIPath(nil))
	cf := []option{{12, uintVal(cfText)}}
	switch {
	case path == ".well-known/core" && m.Code == decode.CodeGET:
		links := `</ps>;rt="core.ps.coll"`
		b.reply(m, from, decode.CodeContent, []option{{12, uintVal(cfLink)}}, []byte(links))
	case path == "ps" && m.Code == decode.CodePOST:
		b.topics++
		id := "t" + strconv.Itoa(b.topics)
		conf := cborConfig("topic"+strconv.Itoa(b.topics), "ps/data/"+id)
		b.reply(m, from, decode.CodeCreated, []option{{8, []byte("ps")}, {8, []byte(id)}, {12, uintVal(cfPubSub)}}, conf)
	case path == "ps" && m.Code == decode.CodeGET:
		var links []string
		for i := 1; i <= b.topics; i++ {
			links = append(links, `</ps/t`+strconv.Itoa(i)+`>;rt="core.ps.conf"`)
		}
		b.reply(m, from, decode.CodeContent, []option{{12, uintVal(cfLink)}}, []byte(strings.Join(links, ",")))
	case strings.HasPrefix(path, "ps/t") && m.Code == decode.CodeGET:
		id := strings.TrimPrefix(path, "ps/")
		b.reply(m, from, decode.CodeContent, []option{{12, uintVal(cfPubSub)}}, cborConfig("topic"+strings.TrimPrefix(id, "t"), "ps/data/"+id))
	case strings.HasPrefix(path, "ps/data/") && m.Code == decode.CodePUT:
		b.value = append(b.value[:0], m.Payload...)
		b.reply(m, from, decode.CodeChanged, nil, nil)
		b.pubs++
		b.fanOut(b.pubs, m.MessageID)
	case strings.HasPrefix(path, "ps/data/") && m.Code == decode.CodeGET:
		obs, hasObs := m.UintOption(decode.OptObserve)
		switch {
		case hasObs && obs == 0:
			s := b.subscriberOf(from, m.Token)
			if s == nil {
				s = &subscriber{n: len(b.subs) + 1, addr: from, token: append([]byte(nil), m.Token...)}
				b.subs = append(b.subs, s)
			}
			s.seq++
			b.reply(m, from, decode.CodeContent, []option{{6, uintVal(s.seq)}, {12, uintVal(cfText)}}, b.value)
		case hasObs && obs == 1:
			if s := b.subscriberOf(from, m.Token); s != nil {
				s.addr = nil
			}
			b.reply(m, from, decode.CodeContent, cf, b.value)
		default:
			b.reply(m, from, decode.CodeContent, cf, b.value)
		}
	default:
		b.reply(m, from, decode.CodeNotFound, nil, nil)
	}
}

func (b *broker) subscriberOf(from *net.UDPAddr, token []byte) *subscriber {
	for _, s := range b.subs {
		if s.addr != nil && s.addr.String() == from.String() && string(s.token) == string(token) {
			return s
		}
	}
	return nil
}

// notification builds the next notification to s carrying value.
func (b *broker) notification(s *subscriber, value []byte) ([]byte, uint16) {
	s.seq++
	mid := b.nextMID()
	return encode(decode.NonConfirmable, decode.CodeContent, mid, s.token, []option{{6, uintVal(s.seq)}, {12, uintVal(cfText)}}, value), mid
}

func (b *broker) actFor(kind string, pub, sub int) (act, bool) {
	for _, a := range b.acts {
		if a.kind == kind && a.pub == pub && a.sub == sub {
			return a, true
		}
	}
	return act{}, false
}

func (b *broker) record(a act, s *subscriber, pubMID uint16, value []byte, mids ...uint16) {
	if b.truth == nil {
		return
	}
	b.truth.Encode(truthLine{Act: a.kind, Pub: a.pub, Sub: a.sub, Subscriber: s.addr.String(), PubMID: pubMID, MIDs: mids, Value: string(value)})
}

// fanOut notifies every subscriber of publication n, as the schedule
// says.
func (b *broker) fanOut(n int, pubMID uint16) {
	value := append([]byte(nil), b.value...)
	for _, s := range b.subs {
		if s.addr == nil {
			continue
		}
		if a, ok := b.actFor("withhold", n, s.n); ok {
			b.record(a, s, pubMID, nil)
			continue
		}
		v := value
		a, altered := b.actFor("alter", n, s.n)
		if altered {
			v = []byte("99.9")
		}
		msg, mid := b.notification(s, v)
		if a, ok := b.actFor("delay", n, s.n); ok {
			b.record(a, s, pubMID, nil, mid)
			to := s.addr
			time.AfterFunc(time.Duration(a.arg*float64(time.Second)), func() { b.send(to, msg) })
		} else {
			b.send(s.addr, msg)
		}
		if altered {
			b.record(a, s, pubMID, v, mid)
		}
		if a, ok := b.actFor("flood", n, s.n); ok {
			mids := []uint16{mid}
			for range int(a.arg) {
				extra, m := b.notification(s, v)
				b.send(s.addr, extra)
				mids = append(mids, m)
			}
			b.record(a, s, pubMID, nil, mids...)
		}
		if a, ok := b.actFor("inject", n, s.n); ok {
			s := s
			time.AfterFunc(time.Duration(a.arg*float64(time.Second)), func() {
				b.mu.Lock()
				defer b.mu.Unlock()
				v := []byte("66.6")
				msg, mid := b.notification(s, v)
				b.send(s.addr, msg)
				b.record(a, s, pubMID, v, mid)
			})
		}
	}
}

// cborConfig encodes a topic configuration: {0: name, 1: data path,
// 2: "core.ps.conf"} (application/core-pubsub+cbor).
func cborConfig(name, data string) []byte {
	b := []byte{0xa3}
	b = cborText(append(b, 0x00), name)
	b = cborText(append(b, 0x01), data)
	return cborText(append(b, 0x02), "core.ps.conf")
}

func cborText(b []byte, s string) []byte {
	if len(s) < 24 {
		b = append(b, 0x60|byte(len(s)))
	} else {
		b = append(b, 0x78, byte(len(s)))
	}
	return append(b, s...)
}
