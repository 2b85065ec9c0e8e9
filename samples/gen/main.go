// Command gen writes a large pcap of synthetic but realistic CoAP traffic
// on Ethernet/IPv4/UDP, for load tests and benchmarks of coapaudit.
//
//	go run ./samples/gen -o FILE -n N [-seed S] [-proxy=false] [-flood] [-oscore-keys KEYS]
//
// Several hundred clients send confirmable GET, PUT and POST requests to a
// handful of origin servers. Most go through a forward proxy: Proxy-Uri on
// the client leg, Uri-Path on the server leg, a new token and Message ID per
// leg, 1-5 ms spent in the proxy each way. The rest, and with -proxy=false
// all of them, go straight to the server. Most responses are piggybacked;
// some are separate (empty ACK, later a confirmable response and its ACK);
// some requests register an Observe relation and receive notifications;
// some fetch a firmware image block by block (Block2); now and then a slow
// server makes the client retransmit, and a few requests are never
// answered. Timestamps grow realistically, about 10,000 frames per second.
//
// With -flood every frame is instead a new confirmable GET, with a token
// and Message ID of its own, that is never answered nor retransmitted:
// 10,000 a second from the same clients (to the proxy, which never
// forwards them, or with -proxy=false straight to the servers), for
// measuring how the analysis bounds the state of requests that never end.
//
// With -oscore-keys every request of a client and every response to it is
// protected with OSCORE (RFC 8613), with one security context per client
// that all servers share, written to KEYS as a coapaudit JSON key file for
// `coapaudit analyze --keys KEYS`; there is then no proxy (-proxy=false).
// Notifications carry a Partial IV of their own; retransmissions repeat
// their bytes.
//
// The output depends only on -n, -seed and the mode flags. Frames are written as they are
// generated, so memory stays constant whatever N is.
package main

import (
	"bufio"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"strconv"
	"time"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"
	"github.com/google/gopacket/pcapgo"

	"github.com/coapaudit/coapaudit/decode"
)

func main() { os.Exit(run(os.Args[1:], os.Stderr)) }

func run(args []string, stderr io.Writer) int {
	fs := flag.NewFlagSet("gen", flag.ContinueOnError)
	fs.SetOutput(stderr)
	out := fs.String("o", "", "output pcap `file` (required)")
	n := fs.Int("n", 100000, "number of frames")
	seed := fs.Uint64("seed", 1, "random seed; the same seed gives the same file")
	proxy := fs.Bool("proxy", true, "route most exchanges through the forward proxy (false: all direct)")
	flood := fs.Bool("flood", false, "only never-answered requests, each with a new token")
	keys := fs.String("oscore-keys", "", "protect the messages with OSCORE and write the contexts to `file` (implies -proxy=false)")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if *out == "" || *n < 0 || fs.NArg() > 0 {
		fmt.Fprintln(stderr, "usage: gen -o FILE -n N [-seed S] [-proxy=false] [-flood] [-oscore-keys KEYS]")
		return 2
	}
	if *keys != "" {
		*proxy = false
	}
	if err := writeFile(*out, *n, *seed, *proxy, *flood, *keys); err != nil {
		fmt.Fprintf(stderr, "gen: %v\n", err)
		return 1
	}
	return 0
}

func writeFile(name string, n int, seed uint64, proxy, flood bool, keys string) (err error) {
	f, err := os.Create(name)
	if err != nil {
		return err
	}
	defer func() {
		if cerr := f.Close(); err == nil {
			err = cerr
		}
	}()
	bw := bufio.NewWriterSize(f, 1<<20)
	g := newGenerator(seed, proxy)
	g.flood = flood
	if keys != "" {
		if g.osc, err = newOSCOREKeys(seed, len(g.clients)); err != nil {
			return err
		}
		if err := g.osc.write(keys); err != nil {
			return err
		}
	}
	if err := generate(bw, n, g); err != nil {
		return err
	}
	return bw.Flush()
}

// generate writes a pcap of n frames from g to w.
func generate(w io.Writer, n int, g *generator) error {
	pw := pcapgo.NewWriter(w)
	if err := pw.WriteFileHeader(65535, layers.LinkTypeEthernet); err != nil {
		return err
	}
	return g.run(n, func(at int64, frame []byte) error {
		ci := gopacket.CaptureInfo{Timestamp: time.Unix(0, at), CaptureLength: len(frame), Length: len(frame)}
		return pw.WritePacket(ci, frame)
	})
}

// Timing, in nanoseconds.
const (
	ms = int64(time.Millisecond)
	us = int64(time.Microsecond)
	s  = int64(time.Second)

	// About 4.6 frames per exchange on average: 2,200 new exchanges per
	// second make about 10,000 frames per second.
	meanArrival = s / 2200
	// A flood sends 10,000 requests a second, one frame each.
	floodArrival = s / 10000
	ackTimeout   = 2 * s // RFC 7252 ACK_TIMEOUT; the first wait is 2-3 s
	maxRetx      = 4     // MAX_RETRANSMIT
)

var epoch = time.Date(2024, 6, 3, 8, 0, 0, 0, time.UTC).UnixNano()

// resource is a resource of the origin servers.
type resource struct {
	path       string   // as in Proxy-Uri
	segs       []string // Uri-Path
	methods    []uint8
	cf         int      // Content-Format of its representation, -1 none
	reps       [][]byte // representations a GET returns
	bodies     [][]byte // request payloads of PUT and POST
	observable bool
	blockwise  bool // served with Block2
	weight     int  // how often clients pick it, relative to the others
}

var firmware = func() []byte {
	b := make([]byte, 3072)
	r := rand.New(rand.NewPCG(7, 7))
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	return b
}()

func texts(ss ...string) [][]byte {
	bs := make([][]byte, len(ss))
	for i, s := range ss {
		bs[i] = []byte(s)
	}
	return bs
}

var resources = []resource{
	{path: "/sensors/temp", weight: 30, segs: []string{"sensors", "temp"}, methods: []uint8{codeGET}, cf: 0,
		reps: texts("20.5", "20.7", "21.0", "21.3", "21.6", "22.1", "19.8", "23.4"), observable: true},
	{path: "/sensors/humidity", weight: 15, segs: []string{"sensors", "humidity"}, methods: []uint8{codeGET}, cf: 0,
		reps: texts("41", "43", "44", "47", "52"), observable: true},
	{path: "/sensors/light", weight: 10, segs: []string{"sensors", "light"}, methods: []uint8{codeGET}, cf: 60,
		reps: [][]byte{{0xa2, 0x61, 0x76, 0x19, 0x01, 0xf4, 0x61, 0x75, 0x63, 0x6c, 0x75, 0x78}, {0xa2, 0x61, 0x76, 0x18, 0x64, 0x61, 0x75, 0x63, 0x6c, 0x75, 0x78}}},
	{path: "/actuators/valve", weight: 15, segs: []string{"actuators", "valve"}, methods: []uint8{codeGET, codePUT, codePUT}, cf: 50,
		reps: texts(`{"open":true,"flow":12.5}`, `{"open":false,"flow":0}`), bodies: texts(`{"open":true}`, `{"open":false}`)},
	{path: "/actuators/fan", weight: 10, segs: []string{"actuators", "fan"}, methods: []uint8{codeGET, codePUT, codePOST}, cf: 50,
		reps: texts(`{"rpm":1200}`, `{"rpm":0}`), bodies: texts(`{"rpm":1500}`, `{"rpm":0}`, `{"toggle":1}`)},
	{path: "/config/interval", weight: 8, segs: []string{"config", "interval"}, methods: []uint8{codeGET, codePUT}, cf: 0,
		reps: texts("60", "30"), bodies: texts("30", "60", "120")},
	{path: "/events", weight: 10, segs: []string{"events"}, methods: []uint8{codePOST}, cf: 50,
		bodies: texts(`{"type":"door","state":"open"}`, `{"type":"motion"}`, `{"type":"battery","level":17}`)},
	{path: "/firmware", weight: 1, segs: []string{"firmware"}, methods: []uint8{codeGET}, cf: 42, reps: [][]byte{firmware}, blockwise: true},
}

var totalWeight = func() int {
	n := 0
	for _, r := range resources {
		n += r.weight
	}
	return n
}()

// pickResource returns the index of the resource that w, in
// [0, totalWeight), falls on.
func pickResource(w int) int {
	for i, r := range resources {
		if w < r.weight {
			return i
		}
		w -= r.weight
	}
	return len(resources) - 1
}

// uriMode says how a request names its resource.
type uriMode uint8

const (
	uriNone  uriMode = iota
	uriProxy         // Proxy-Uri, to the proxy
	uriPath          // Uri-Path, to the origin server
)

type token struct {
	b [8]byte
	n uint8
}

// msg is a CoAP message to send.
type msg struct {
	typ, code uint8
	mid       uint16
	tok       token
	uri       uriMode
	observe   int32 // -1: none
	block2    int32 // -1: none
	cf        int16 // -1: none
	location  uint16
	payload   []byte
}

type step struct {
	at       int64
	src, dst *node
	m        msg
}

// exchange is one client request and everything that follows from it, as
// a time-ordered script of frames.
type exchange struct {
	steps []step
	i     int // next step
	srv   int // server index
	ri    int // resource index
	res   *resource
	osc   oscoreState // with -oscore-keys
}

func (x *exchange) next() int64 { return x.steps[x.i].at }

func (x *exchange) add(at int64, src, dst *node, m msg) {
	x.steps = append(x.steps, step{at: at, src: src, dst: dst, m: m})
}

type generator struct {
	rnd      *rand.Rand
	proxy    bool
	flood    bool        // -flood: never-answered requests only
	osc      *oscoreKeys // -oscore-keys: contexts to protect messages with
	clients  []*node
	servers  []*node
	pxFront  *node      // the proxy towards clients
	pxBack   *node      // the proxy towards servers
	proxyURI [][]string // by server, resource
	heap     []*exchange
	free     []*exchange
	buf      []byte
	opts     []decode.Option // options of the message being encoded
	vals     []byte          // and their values
	observe  uint32          // Observe sequence numbers
	events   uint16          // Location-Path of created events
}

func newGenerator(seed uint64, proxy bool) *generator {
	g := &generator{rnd: rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15)), proxy: proxy, buf: make([]byte, 0, 2048)}
	for i := range 500 {
		ip := [4]byte{10, 1, byte(i / 250), byte(1 + i%250)}
		g.clients = append(g.clients, newNode(ip, uint16(32768+g.rnd.IntN(28000)), uint16(g.rnd.Uint32())))
		g.clients[i].client = i + 1
	}
	for i := range 8 {
		g.servers = append(g.servers, newNode([4]byte{10, 0, 1, byte(10 + i)}, 5683, uint16(g.rnd.Uint32())))
	}
	g.pxFront = newNode([4]byte{10, 0, 0, 2}, 5683, uint16(g.rnd.Uint32()))
	g.pxBack = newNode([4]byte{10, 0, 0, 2}, 47113, uint16(g.rnd.Uint32()))
	g.pxBack.mac = g.pxFront.mac
	for _, srv := range g.servers {
		var uris []string
		for _, r := range resources {
			uris = append(uris, fmt.Sprintf("coap://%d.%d.%d.%d%s", srv.ip[0], srv.ip[1], srv.ip[2], srv.ip[3], r.path))
		}
		g.proxyURI = append(g.proxyURI, uris)
	}
	g.observe = g.rnd.Uint32N(1 << 16)
	return g
}

// between returns a random duration in [lo, hi).
func (g *generator) between(lo, hi int64) int64 { return lo + g.rnd.Int64N(hi-lo) }

func (g *generator) token(n int) token {
	var t token
	t.n = uint8(n)
	v := g.rnd.Uint64()
	for i := range n {
		t.b[i] = byte(v >> (8 * i))
	}
	return t
}

// run generates n frames and hands each to emit in time order.
func (g *generator) run(n int, emit func(at int64, frame []byte) error) error {
	arrival := epoch
	for written := 0; written < n; written++ {
		for len(g.heap) == 0 || arrival <= g.heap[0].next() {
			if x := g.newExchange(arrival); len(x.steps) > 0 {
				g.push(x)
			}
			mean := meanArrival
			if g.flood {
				mean = floodArrival
			}
			arrival += int64(g.rnd.ExpFloat64() * float64(mean))
		}
		x := g.heap[0]
		st := &x.steps[x.i]
		if err := emit(st.at, g.frame(x, st)); err != nil {
			return err
		}
		x.i++
		if x.i == len(x.steps) {
			g.pop()
			g.free = append(g.free, x)
		} else {
			g.down(0)
		}
	}
	return nil
}

// frame encodes the step's message in an Ethernet frame.
func (g *generator) frame(x *exchange, st *step) []byte {
	m := &st.m
	opts, vals := g.opts[:0], g.vals[:0]
	uintOpt := func(num uint16, v uint32) {
		n := len(vals)
		vals = decode.AppendUint(vals, v)
		opts = append(opts, decode.Option{ID: decode.OptionID(num), Value: vals[n:len(vals):len(vals)]})
	}
	strOpt := func(num uint16, v string) {
		n := len(vals)
		vals = append(vals, v...)
		opts = append(opts, decode.Option{ID: decode.OptionID(num), Value: vals[n:len(vals):len(vals)]})
	}
	if m.observe >= 0 {
		uintOpt(optObserve, uint32(m.observe))
	}
	if m.location != 0 {
		strOpt(optLocationPath, "events")
		strOpt(optLocationPath, strconv.Itoa(int(m.location)))
	}
	if m.uri == uriPath {
		for _, seg := range x.res.segs {
			strOpt(optURIPath, seg)
		}
	}
	if m.cf >= 0 {
		uintOpt(optContentFormat, uint32(m.cf))
	}
	if m.block2 >= 0 {
		uintOpt(optBlock2, uint32(m.block2))
	}
	if m.uri == uriProxy {
		strOpt(optProxyURI, g.proxyURI[x.srv][x.ri])
	}
	cm := decode.Message{Version: 1, Type: decode.Type(m.typ), Code: decode.Code(m.code), MessageID: m.mid,
		Token: m.tok.b[:m.tok.n], Options: opts, Payload: m.payload}
	var buf []byte
	if wire, ok := g.osc.protect(x, st.src, st.dst, &cm); ok {
		buf = append(g.buf[:headerLen], wire...)
	} else {
		buf = cm.Append(g.buf[:headerLen])
	}
	g.opts, g.vals = opts, vals
	finishFrame(buf, st.src, st.dst)
	g.buf = buf
	return buf
}

// newExchange scripts an exchange starting at time t.
func (g *generator) newExchange(t int64) *exchange {
	var x *exchange
	if n := len(g.free); n > 0 {
		x, g.free = g.free[n-1], g.free[:n-1]
		x.steps, x.i, x.osc = x.steps[:0], 0, oscoreState{}
	} else {
		x = new(exchange)
	}
	x.srv = g.rnd.IntN(len(g.servers))
	x.ri = pickResource(g.rnd.IntN(totalWeight))
	x.res = &resources[x.ri]
	client := g.clients[g.rnd.IntN(len(g.clients))]
	method := x.res.methods[g.rnd.IntN(len(x.res.methods))]
	proxied := g.proxy && g.rnd.IntN(100) < 85
	if g.flood {
		// One request, a token of 8 random bytes, never answered.
		req := msg{typ: typeCON, code: codeGET, mid: client.nextMID(), tok: g.token(8), uri: uriPath, observe: -1, block2: -1, cf: -1}
		server := g.servers[x.srv]
		if g.proxy {
			req.uri, server = uriProxy, g.pxFront
		}
		x.add(t, client, server, req)
		return x
	}

	var kind string
	switch p := g.rnd.IntN(1000); {
	case x.res.blockwise:
		kind = "block"
	case p < 50 && x.res.observable && method == codeGET:
		kind = "observe"
	case p < 130:
		kind = "separate"
	case p < 150:
		kind = "slow" // the client retransmits
	case p < 155:
		kind = "unanswered"
	default:
		kind = "piggybacked"
	}

	req := msg{typ: typeCON, code: method, mid: client.nextMID(), tok: g.token(1 + g.rnd.IntN(8)), observe: -1, block2: -1, cf: -1}
	if method != codeGET {
		req.cf = int16(x.res.cf)
		req.payload = x.res.bodies[g.rnd.IntN(len(x.res.bodies))]
	}
	if kind == "observe" {
		req.observe = 0
	}
	if kind == "block" {
		req.block2 = int32(g.rnd.IntN(3) + 4) // block 0, 256 to 1024 bytes
	}
	if kind == "unanswered" {
		req.uri = uriPath
		server := g.servers[x.srv]
		if proxied {
			req.uri, server = uriProxy, g.pxFront
		}
		at, wait := t, g.between(ackTimeout, ackTimeout*3/2)
		for range maxRetx + 1 {
			x.add(at, client, server, req)
			at += wait
			wait *= 2
		}
		return x
	}
	if kind == "block" {
		g.blockwise(x, t, client, req, proxied)
		return x
	}
	if !proxied {
		req.uri = uriPath
		g.leg(x, t, client, g.servers[x.srv], req, kind, method, nil)
		return x
	}
	// Through the proxy: the same request on the server leg, with the
	// proxy's Message ID and token, after its residence time.
	creq := req
	creq.uri = uriProxy
	sreq := req
	sreq.uri, sreq.mid, sreq.tok = uriPath, g.pxBack.nextMID(), g.token(8)
	x.add(t, client, g.pxFront, creq)
	g.leg(x, t+g.between(1*ms, 5*ms), g.pxBack, g.servers[x.srv], sreq, kind, method, &relay{client: client, req: creq})
	return x
}

// relay is the client leg of a proxied exchange, answered as the server leg
// is.
type relay struct {
	client *node
	req    msg
}

// leg scripts request req from src to dst at time t and dst's response. For
// a proxied exchange, r is the client leg: every response that reaches the
// proxy is relayed to the client after the proxy's residence time.
func (g *generator) leg(x *exchange, t int64, src, dst *node, req msg, kind string, method uint8, r *relay) {
	x.add(t, src, dst, req)
	resp := msg{typ: typeACK, code: codeContent, mid: req.mid, tok: req.tok, observe: -1, block2: -1, cf: -1}
	switch method {
	case codeGET:
		if g.rnd.IntN(100) < 2 {
			resp.code = codeNotFnd
		} else {
			resp.cf = int16(x.res.cf)
			resp.payload = x.res.reps[g.rnd.IntN(len(x.res.reps))]
		}
	case codePUT:
		resp.code = codeChanged
	case codePOST:
		resp.code = codeChanged
		if x.res.path == "/events" {
			resp.code = codeCreated
			g.events++
			resp.location = g.events
		}
	}
	srv := dst
	pxDelay := func() int64 { return g.between(1*ms, 5*ms) }
	// relayed returns the client-leg copy of a response.
	relayed := func(m msg) msg {
		m.mid, m.tok = r.req.mid, r.req.tok
		return m
	}

	switch kind {
	case "piggybacked", "observe":
		t += g.between(200*us, 3*ms)
		if kind == "observe" && resp.code == codeContent {
			resp.observe = int32(g.nextObserve())
		}
		x.add(t, srv, src, resp)
		if r != nil {
			t += pxDelay()
			x.add(t, g.pxFront, r.client, relayed(resp))
		}
		if kind == "observe" && resp.code == codeContent {
			g.notifications(x, t, srv, src, resp, r)
		}
	case "separate":
		// An empty ACK at once, the response later in a CON of its own.
		t += g.between(200*us, 1*ms)
		x.add(t, srv, src, msg{typ: typeACK, mid: req.mid, observe: -1, block2: -1, cf: -1})
		tc := t
		if r != nil {
			tc += g.between(200*us, 1*ms)
			x.add(tc, g.pxFront, r.client, msg{typ: typeACK, mid: r.req.mid, observe: -1, block2: -1, cf: -1})
		}
		t = max(t, tc) + g.between(20*ms, 500*ms)
		con := resp
		con.typ, con.mid = typeCON, srv.nextMID()
		x.add(t, srv, src, con)
		t += g.between(100*us, 1*ms)
		x.add(t, src, srv, msg{typ: typeACK, mid: con.mid, observe: -1, block2: -1, cf: -1})
		if r != nil {
			t += pxDelay()
			rc := relayed(con)
			rc.mid = g.pxFront.nextMID()
			x.add(t, g.pxFront, r.client, rc)
			t += g.between(300*us, 5*ms)
			x.add(t, r.client, g.pxFront, msg{typ: typeACK, mid: rc.mid, observe: -1, block2: -1, cf: -1})
		}
	case "slow":
		// The server takes longer than ACK_TIMEOUT: the requester
		// retransmits (the client to the proxy, which does not forward
		// the duplicate, and the proxy to the server), then gets a
		// piggybacked response.
		first := g.between(ackTimeout, ackTimeout*3/2)
		x.add(t+first, src, dst, req)
		if r != nil {
			// The client sent its request a few ms before the proxy did.
			ct := t - 2*ms + g.between(ackTimeout, ackTimeout*3/2)
			x.insert(ct, r.client, g.pxFront, r.req)
		}
		t += first + g.between(5*ms, 400*ms)
		x.add(t, srv, src, resp)
		if r != nil {
			t += pxDelay()
			x.add(t, g.pxFront, r.client, relayed(resp))
		}
	}
}

// insert adds a step keeping the script in time order.
func (x *exchange) insert(at int64, src, dst *node, m msg) {
	x.add(at, src, dst, m)
	for i := len(x.steps) - 1; i > x.i && x.steps[i].at < x.steps[i-1].at; i-- {
		x.steps[i], x.steps[i-1] = x.steps[i-1], x.steps[i]
	}
}

func (g *generator) nextObserve() uint32 {
	g.observe = (g.observe + 1) & 0xffffff
	return g.observe
}

// notifications scripts 2 to 8 Observe notifications from srv to obs (and
// relayed to the client of r), every 0.5 to 4 s. Every fourth one is
// confirmable and acknowledged.
func (g *generator) notifications(x *exchange, t int64, srv, obs *node, first msg, r *relay) {
	n := 2 + g.rnd.IntN(7)
	for i := range n {
		t += g.between(500*ms, 4*s)
		m := first
		m.typ, m.mid, m.observe = typeNON, srv.nextMID(), int32(g.nextObserve())
		m.payload = x.res.reps[g.rnd.IntN(len(x.res.reps))]
		if i%4 == 3 {
			m.typ = typeCON
		}
		x.add(t, srv, obs, m)
		if m.typ == typeCON {
			x.add(t+g.between(100*us, 1*ms), obs, srv, msg{typ: typeACK, mid: m.mid, observe: -1, block2: -1, cf: -1})
		}
		if r != nil {
			rm := m
			rm.typ, rm.mid, rm.tok = typeNON, g.pxFront.nextMID(), r.req.tok
			x.add(t+g.between(1*ms, 5*ms), g.pxFront, r.client, rm)
		}
	}
	// The script must stay in time order: the proxy's relays may come
	// after the next notification's ACK.
	sortSteps(x.steps[x.i:])
}

func sortSteps(st []step) {
	for i := 1; i < len(st); i++ {
		for j := i; j > 0 && st[j].at < st[j-1].at; j-- {
			st[j], st[j-1] = st[j-1], st[j]
		}
	}
}

// blockwise scripts a Block2 transfer of the firmware, block by block,
// each request through the proxy or direct.
func (g *generator) blockwise(x *exchange, t int64, client *node, req msg, proxied bool) {
	szx := req.block2 & 7
	size := 16 << szx
	body := x.res.reps[0]
	for num := 0; num*size < len(body); num++ {
		end := min((num+1)*size, len(body))
		more := int32(0)
		if end < len(body) {
			more = 8
		}
		rq := req
		rq.block2 = int32(num)<<4 | szx
		if num > 0 {
			rq.mid = client.nextMID()
		}
		resp := msg{typ: typeACK, code: codeContent, observe: -1, cf: int16(x.res.cf), block2: int32(num)<<4 | more | szx, payload: body[num*size : end]}
		if proxied {
			rq.uri = uriProxy
			x.add(t, client, g.pxFront, rq)
			t += g.between(1*ms, 5*ms)
			sq := rq
			sq.uri, sq.mid, sq.tok = uriPath, g.pxBack.nextMID(), g.token(8)
			x.add(t, g.pxBack, g.servers[x.srv], sq)
			t += g.between(200*us, 3*ms)
			sr := resp
			sr.mid, sr.tok = sq.mid, sq.tok
			x.add(t, g.servers[x.srv], g.pxBack, sr)
			t += g.between(1*ms, 5*ms)
		} else {
			rq.uri = uriPath
			x.add(t, client, g.servers[x.srv], rq)
			t += g.between(200*us, 3*ms)
		}
		resp.mid, resp.tok = rq.mid, rq.tok
		src := g.servers[x.srv]
		if proxied {
			src = g.pxFront
		}
		x.add(t, src, client, resp)
		t += g.between(300*us, 10*ms) // the client asks for the next block
	}
}

// The pending exchanges are a binary min-heap by the time of their next
// step.

func (g *generator) push(x *exchange) {
	g.heap = append(g.heap, x)
	for i := len(g.heap) - 1; i > 0; {
		p := (i - 1) / 2
		if g.heap[p].next() <= g.heap[i].next() {
			break
		}
		g.heap[p], g.heap[i] = g.heap[i], g.heap[p]
		i = p
	}
}

func (g *generator) pop() {
	n := len(g.heap) - 1
	g.heap[0] = g.heap[n]
	g.heap[n] = nil
	g.heap = g.heap[:n]
	if n > 0 {
		g.down(0)
	}
}

func (g *generator) down(i int) {
	h := g.heap
	for {
		l := 2*i + 1
		if l >= len(h) {
			return
		}
		m := l
		if r := l + 1; r < len(h) && h[r].next() < h[l].next() {
			m = r
		}
		if h[i].next() <= h[m].next() {
			return
		}
		h[i], h[m] = h[m], h[i]
		i = m
	}
}
