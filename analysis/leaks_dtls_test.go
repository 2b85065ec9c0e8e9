package analysis

import (
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/coapaudit/coapaudit/decode"
	"github.com/coapaudit/coapaudit/flows"
	"github.com/coapaudit/coapaudit/leaks/collect"
)

// TestLeaksDTLS analyses the libcoap capture of CoAP through a DTLS
// forward proxy with the hops' PSK: the record lengths on the client's
// leg are the CoAP lengths plus the fixed AEAD expansion (8-byte explicit
// nonce and 16-byte tag for AES-GCM and AES-CCM), the dtls-inner view
// measures those CoAP lengths, labelled by the decrypted resource, with
// the padding advice given for OSCORE; without keys there is nothing to
// label.
func TestLeaksDTLS(t *testing.T) {
	pcap, keys := libcoapDTLS(t)
	type sizes struct{ record, coap int }
	frames := map[int]sizes{}
	onPacket := func(p *Packet) {
		if !p.Inner() {
			return
		}
		r := p.F.DTLS.Records[0]
		if r.ContentType != decode.ContentApplicationData || len(p.F.DTLS.Records) != 1 {
			t.Fatalf("frame %d: records %+v", p.D.Number, p.F.DTLS.Records)
		}
		frames[p.D.Number] = sizes{r.Length, len(p.F.CoAP.Raw)}
	}
	var reqs, resps []int
	labels := map[string]bool{}
	onExchange := func(x *flows.Exchange) {
		l0 := &x.Legs[0]
		reqs = append(reqs, frames[l0.RequestFrames[0]].coap)
		resps = append(resps, frames[l0.ResponseFrames[0]].coap)
		labels[x.Method+" "+collect.ResourcePath(x.URI)] = true
	}
	opts := Options{TLSKeys: keys, TrackExchanges: true, Leaks: true}
	e, err := RunFiles([]string{pcap}, opts, onPacket, onExchange)
	if err != nil {
		t.Fatal(err)
	}
	if len(frames) != 20 {
		t.Fatalf("%d frames with decrypted CoAP, want 20", len(frames))
	}
	for f, s := range frames {
		if s.record-24 != s.coap {
			t.Errorf("frame %d: record %d bytes, CoAP %d: the expansion is not 24", f, s.record, s.coap)
		}
	}
	if len(reqs) != 4 || len(labels) != 3 {
		t.Fatalf("exchanges: requests %v, labels %v", reqs, labels)
	}
	ls := e.Leaks()
	for _, obs := range []struct {
		name string
		want []int
	}{{collect.ObsRequestSize, reqs}, {collect.ObsResponseSize, resps}} {
		// One anonymity set per size seen, each naming the label behind it.
		var got []int
		for _, l := range ls {
			v, ok := strings.CutPrefix(l.Scope, "all value=")
			if !ok || l.Metric != "anonymity_set" || l.Observable != obs.name || l.View != collect.ViewDTLS || l.Label != collect.LabelResource {
				continue
			}
			n, _ := strconv.Atoi(v)
			got = append(got, n)
			if top, _ := l.Extra["top"].(string); !labels[top] {
				t.Errorf("%s %d: label %q is no resource of the capture", obs.name, n, top)
			}
		}
		want := slices.Compact(slices.Sorted(slices.Values(obs.want)))
		slices.Sort(got)
		if !slices.Equal(got, want) {
			t.Errorf("%s dtls-inner sizes %v, want the client leg's CoAP sizes %v", obs.name, got, want)
		}
		mi := one(t, ls, "mutual_information", collect.ScopeAll, obs.name, collect.ViewDTLS)
		if mi.N != 4 || mi.Value <= 0 {
			t.Errorf("%s mutual information %+v", obs.name, mi)
		}
		pads := find(ls, "padding", collect.ScopeAll, obs.name, collect.ViewDTLS)
		rec := 0
		for _, p := range pads {
			if r, _ := p.Extra["recommended"].(bool); r {
				rec++
			}
		}
		if len(pads) < 2 || rec != 1 {
			t.Errorf("%s: %d padding schemes, %d recommended", obs.name, len(pads), rec)
		}
	}
	found := false
	for _, v := range e.LeakReport().Verdicts {
		found = found || strings.Contains(v, "by request size in DTLS")
	}
	if !found {
		t.Errorf("no request size verdict in DTLS: %q", e.LeakReport().Verdicts)
	}

	// Without keys no exchange is seen, so nothing is labelled.
	e, err = RunFiles([]string{pcap}, Options{TrackExchanges: true, Leaks: true}, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if got := find(e.Leaks(), "mutual_information", collect.ScopeAll, collect.ObsRequestSize, collect.ViewDTLS); len(got) != 0 {
		t.Errorf("without keys: %+v", got)
	}
}
