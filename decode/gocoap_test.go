package decode

import (
	"bytes"
	"path/filepath"
	"testing"

	"github.com/plgd-dev/go-coap/v3/message"
	"github.com/plgd-dev/go-coap/v3/udp/coder"
)

// TestSecondOpinionGoCoAP decodes every CoAP datagram of the shared
// captures with go-coap's UDP coder as well and compares header, token,
// options and payload. A message that only Decode rejects is an error; one
// that only go-coap rejects is logged (go-coap limits tokens to 8 bytes, as
// before RFC 8974, and skips that case silently).
func TestSecondOpinionGoCoAP(t *testing.T) {
	dir := coapCapturesDir(t)
	var compared, bothFail, onlyOurs, onlyTheirs int
	for _, f := range coapCaptureFiles(t, dir) {
		for _, d := range coapReadUDP(t, filepath.Join(dir, f)) {
			if !d.coapPort() {
				continue
			}
			var ours Message
			ourErr := ours.Decode(d.Payload)
			var theirs message.Message
			theirs.Options = make(message.Options, 0, 32)
			_, theirErr := coder.DefaultCoder.Decode(d.Payload, &theirs)
			switch {
			case ourErr != nil && theirErr != nil:
				bothFail++
				continue
			case ourErr != nil:
				onlyOurs++
				t.Errorf("%s frame %d: Decode: %v; go-coap decoded it", f, d.Frame, ourErr)
				continue
			case theirErr != nil:
				onlyTheirs++
				if len(ours.Token) > 8 {
					continue // RFC 8974 extended token: go-coap does not support it
				}
				t.Logf("%s frame %d: go-coap: %v; Decode: ok", f, d.Frame, theirErr)
				continue
			}
			compared++
			if int(ours.Type) != int(theirs.Type) || int32(ours.MessageID) != theirs.MessageID ||
				uint8(ours.Code) != uint8(theirs.Code) || !bytes.Equal(ours.Token, theirs.Token) ||
				!bytes.Equal(ours.Payload, theirs.Payload) {
				t.Errorf("%s frame %d: header/token/payload differ: ours %v %v %x %x, go-coap %v %v %x %x",
					f, d.Frame, ours.Type, ours.Code, ours.Token, ours.Payload, theirs.Type, theirs.Code, []byte(theirs.Token), theirs.Payload)
				continue
			}
			if len(ours.Options) != len(theirs.Options) {
				t.Errorf("%s frame %d: %d options, go-coap %d", f, d.Frame, len(ours.Options), len(theirs.Options))
				continue
			}
			for i, o := range ours.Options {
				if uint16(o.ID) != uint16(theirs.Options[i].ID) || !bytes.Equal(o.Value, theirs.Options[i].Value) {
					t.Errorf("%s frame %d: option %d: %v=%x, go-coap %v=%x", f, d.Frame, i, o.ID, o.Value, theirs.Options[i].ID, theirs.Options[i].Value)
				}
			}
		}
	}
	t.Logf("compared %d messages with go-coap; both rejected %d; only Decode rejected %d; only go-coap rejected %d", compared, bothFail, onlyOurs, onlyTheirs)
	if compared < 10000 {
		t.Errorf("only %d messages compared, want the shared captures' 13,000+", compared)
	}
}
