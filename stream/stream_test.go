package stream

import (
	"bytes"
	"fmt"
	"net/netip"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/coapaudit/coapaudit/analysis"
	"github.com/coapaudit/coapaudit/capture"
	"github.com/coapaudit/coapaudit/decode"
	"github.com/coapaudit/coapaudit/flows"
	"github.com/coapaudit/coapaudit/internal/testenv"
	"github.com/coapaudit/coapaudit/oscore"
	"github.com/coapaudit/coapaudit/tlskeys"
)

// a CON GET with token 0x01 and an OSCORE option (flags 0x09: PIV of one
// byte, kid present; PIV 0x05, kid 0x02).
var oscoreGET = []byte{0x41, 0x01, 0x12, 0x34, 0x01, 0x93, 0x09, 0x05, 0x02}

func TestRecordRoundTrip(t *testing.T) {
	var msg decode.Message
	if err := msg.Decode(oscoreGET); err != nil {
		t.Fatal(err)
	}
	var inner decode.Message
	if err := inner.Decode([]byte{0x41, 0x01, 0x12, 0x34, 0x01, 0xb4, 't', 'i', 'm', 'e'}); err != nil {
		t.Fatal(err)
	}
	refs := &capture.FrameRefs{Files: []string{"a.pcap", "b.pcap"}}
	first, _ := refs.Ref(1, 3)
	m := &analysis.CoAPMessage{File: 0, Frame: 7, Time: time.Unix(100, 42), Src: netip.MustParseAddrPort("10.0.0.1:40000"),
		Dst: netip.MustParseAddrPort("[2001:db8::1]:5683"), Msg: &msg, Size: len(oscoreGET),
		OSCORE: &oscore.Result{IsRequest: true, Tried: true, Verified: true, Inner: inner, Replay: oscore.ReplayStatus(2), FirstFrame: first}}
	r := NewRecord("s1", refs, m)
	b, err := r.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	got, err := Unmarshal(b)
	if err != nil {
		t.Fatal(err)
	}
	if got.ID() != r.ID() || got.File != "a.pcap" || got.Sensor != "s1" {
		t.Fatalf("record changed: %+v", got)
	}
	var asked []string
	back, err := got.Message(5, func(file string, frame int) int {
		asked = append(asked, file)
		return 1000 + frame
	})
	if err != nil {
		t.Fatal(err)
	}
	if back.File != 5 || back.Frame != 7 || !back.Time.Equal(m.Time) || back.Src != m.Src || back.Dst != m.Dst || back.Size != m.Size {
		t.Errorf("message changed: %+v", back)
	}
	if !bytes.Equal(back.Msg.Raw, oscoreGET) {
		t.Errorf("raw %x", back.Msg.Raw)
	}
	o := back.OSCORE
	if o == nil || !o.Verified || !bytes.Equal(o.Option.KID, []byte{2}) || !bytes.Equal(o.Option.PIV, []byte{5}) ||
		string(o.Inner.URIPath(nil)) != "time" || o.Replay != 2 {
		t.Fatalf("oscore result changed: %+v", o)
	}
	if o.FirstFrame != 1003 || len(asked) != 1 || asked[0] != "b.pcap" {
		t.Errorf("first frame %d from %v, want 1003 from b.pcap", o.FirstFrame, asked)
	}

	// A record of another version is refused.
	r.V = Version + 1
	b, _ = r.Marshal()
	if _, err := Unmarshal(b); err == nil {
		t.Error("a record of an unknown version was accepted")
	}
	// The ID depends on the content.
	r2 := NewRecord("s2", refs, m)
	if r2.ID() == NewRecord("s1", refs, m).ID() {
		t.Error("two sensors' records share an ID")
	}
}

func TestPartitioner(t *testing.T) {
	ap := netip.MustParseAddrPort
	site, err := NewPartitioner("site", "lab", nil)
	if err != nil {
		t.Fatal(err)
	}
	if p := site.Partition(ap("1.1.1.1:1"), ap("2.2.2.2:2")); p != "lab" {
		t.Errorf("site partition %q", p)
	}
	if _, err := NewPartitioner("site", "a.b", nil); err == nil {
		t.Error("a site name with a dot was accepted")
	}
	if _, err := NewPartitioner("proxy", "", nil); err == nil {
		t.Error("proxy partitioning without proxies was accepted")
	}
	px, err := NewPartitioner("proxy", "", []netip.AddrPort{ap("127.0.0.32:0"), ap("[::1]:5683")})
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		src, dst, want string
	}{
		{"127.0.0.1:4000", "127.0.0.32:5683", "p-127_0_0_32"},  // client -> proxy
		{"127.0.0.32:6000", "127.0.0.31:5683", "p-127_0_0_32"}, // proxy -> origin, any port
		{"[::1]:5683", "[::2]:9", "p-___1__5683"},
		{"[::1]:5684", "[::2]:9", Fallback}, // not the proxy's port
		{"127.0.0.1:1", "127.0.0.31:5683", Fallback},
		{"127.0.0.32:1", "[::1]:5683", Fallback}, // between two proxies
	} {
		if got := px.Partition(ap(c.src), ap(c.dst)); got != c.want {
			t.Errorf("%s -> %s: %q, want %q", c.src, c.dst, got, c.want)
		}
	}
}

// TestReorderWindow: each capture file's records are handed on in frame
// order, the files merged by capture time up to the least of the files'
// latest times; a file quiet for the window no longer holds the others.
// A record behind a later frame of its file already handed on is late,
// counted and handed on at once.
func TestReorderWindow(t *testing.T) {
	clock := time.Unix(0, 0)
	s := newSession(ConsumerConfig{Window: time.Second})
	s.now = func() time.Time { return clock }
	s.start = clock
	var out []string
	feed := func(r *Record) error {
		out = append(out, fmt.Sprintf("%s%d@%d", r.Sensor, r.Frame, r.Time))
		return nil
	}
	add := func(sensor string, frame int, tm int64) { s.add(&Record{Sensor: sensor, Frame: frame, Time: tm}) }
	add("a", 2, 100)
	add("a", 1, 101) // file order wins over a timestamp going back
	add("a", 3, 500)
	add("b", 1, 95)
	s.release(feed, false)
	if len(out) != 0 {
		t.Fatalf("released %v while the sensors may not all be known", out)
	}
	clock = clock.Add(time.Second)
	add("b", 2, 108)
	s.release(feed, false)
	// a has sent up to 500 and b up to 108: b1, then a1, a2 (a's file
	// order), not b2 (a was quiet for the window, but b is not).
	if want := []string{"b1@95", "a1@101", "a2@100", "b2@108"}; !slices.Equal(out, want) {
		t.Fatalf("released %v, want %v", out, want)
	}
	add("b", 1, 96) // a frame of b before one handed on: late
	add("b", 3, 400)
	s.release(feed, false)
	// a is quiet: b alone sets the mark at 400.
	if want := []string{"b1@95", "a1@101", "a2@100", "b2@108", "b1@96", "b3@400"}; !slices.Equal(out, want) {
		t.Fatalf("released %v, want %v", out, want)
	}
	add("b", 4, 600)
	s.release(feed, true)
	if want := []string{"b1@95", "a1@101", "a2@100", "b2@108", "b1@96", "b3@400", "a3@500", "b4@600"}; !slices.Equal(out, want) {
		t.Errorf("released %v, want %v", out, want)
	}
	if s.Stats.Late != 1 || s.Stats.Fed != 8 {
		t.Errorf("stats %+v", s.Stats)
	}
}

// TestReliableRecordsRoundTrip publishes the messages of CoAP over TCP and
// over TLS captures as records (encoded and decoded) and analyses them
// elsewhere: the same exchanges, legs naming their transport and
// protection, the frames of a message several segments carried kept.
func TestReliableRecordsRoundTrip(t *testing.T) {
	root := testenv.RepoRoot()
	for _, c := range []struct{ file, keylog, transport, protection string }{
		{"coaptcp/testdata/gocoap-tcp.pcap", "", "tcp", ""},
		{"tlsdec/testdata/go-tls13.pcap", "tlsdec/testdata/go-tls13.keylog", "tls", "tls"},
		{"coaptcp/testdata/ws.pcap", "", "ws", ""},
	} {
		t.Run(filepath.Base(c.file), func(t *testing.T) {
			opts := analysis.Options{TrackExchanges: true}
			if c.keylog != "" {
				kl, err := tlskeys.LoadKeyLog(filepath.Join(root, c.keylog))
				if err != nil {
					t.Fatal(err)
				}
				opts.TLSKeys = &tlskeys.Keys{Log: kl}
			}
			var records []*Record
			multi := 0
			opts.OnCoAP = func(m *analysis.CoAPMessage) {
				r := NewRecord("s", nil, m)
				b, err := r.Marshal()
				if err != nil {
					t.Fatal(err)
				}
				if r, err = Unmarshal(b); err != nil {
					t.Fatal(err)
				}
				if len(r.Frames) > 1 {
					multi++
				}
				records = append(records, r)
			}
			var local []string
			_, err := analysis.RunFiles([]string{filepath.Join(root, c.file)}, opts, nil, func(x *flows.Exchange) {
				local = append(local, x.Method+" "+x.URI+" "+x.Code+" "+string(x.Status))
			})
			if err != nil {
				t.Fatal(err)
			}
			var remote []string
			e := analysis.New(analysis.Options{TrackExchanges: true}, func(x *flows.Exchange) {
				remote = append(remote, x.Method+" "+x.URI+" "+x.Code+" "+string(x.Status))
				for _, l := range x.Legs {
					if l.Transport != c.transport || l.Protection != c.protection {
						t.Errorf("%s leg %+v", x.ID, l)
					}
				}
			})
			for _, r := range records {
				m, err := r.Message(0, func(string, int) int { return 0 })
				if err != nil {
					t.Fatal(err)
				}
				if err := e.Message(m); err != nil {
					t.Fatal(err)
				}
			}
			s := e.Finish()
			if len(local) == 0 || !slices.Equal(local, remote) {
				t.Errorf("exchanges differ:\nlocal  %q\nremote %q", local, remote)
			}
			if s.ReliableMessages[c.transport] != len(records) {
				t.Errorf("%v messages by transport, %d records", s.ReliableMessages, len(records))
			}
			if c.transport == "tcp" && multi == 0 {
				t.Error("no record kept the frames of a message several segments carried")
			}
		})
	}
}
