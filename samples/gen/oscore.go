package main

import (
	"encoding/hex"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"

	"github.com/coapaudit/coapaudit/decode"
	"github.com/coapaudit/coapaudit/oscore"
)

// oscoreKeys are the security contexts of -oscore-keys: one per client,
// shared with every server (Sender ID: the client's number, two bytes;
// Recipient ID: empty), with master secrets drawn from the seed.
type oscoreKeys struct {
	params  []oscore.Params
	clients []*oscore.Context // the client's point of view
	servers []*oscore.Context // the servers'
	seq     []uint64          // next sender sequence number, by client
	srvSeq  []uint64          // of the servers, by client
}

func newOSCOREKeys(seed uint64, n int) (*oscoreKeys, error) {
	rnd := rand.New(rand.NewPCG(seed^0x05c0, seed))
	k := &oscoreKeys{seq: make([]uint64, n), srvSeq: make([]uint64, n)}
	for i := range n {
		secret := make([]byte, 16)
		for j := range secret {
			secret[j] = byte(rnd.Uint32())
		}
		p := oscore.Params{Name: fmt.Sprintf("client-%d", i+1), SenderID: []byte{byte((i + 1) >> 8), byte(i + 1)},
			RecipientID: []byte{}, MasterSecret: secret}
		c, err := oscore.NewContext(p)
		if err != nil {
			return nil, err
		}
		k.params = append(k.params, p)
		k.clients, k.servers = append(k.clients, c), append(k.servers, c.Reverse())
	}
	return k, nil
}

// write saves the contexts as a coapaudit JSON key file.
func (k *oscoreKeys) write(name string) error {
	type entry struct {
		Name         string `json:"name"`
		SenderID     string `json:"sender_id"`
		RecipientID  string `json:"recipient_id"`
		MasterSecret string `json:"master_secret"`
	}
	var es []entry
	for _, p := range k.params {
		es = append(es, entry{p.Name, hex.EncodeToString(p.SenderID), hex.EncodeToString(p.RecipientID), hex.EncodeToString(p.MasterSecret)})
	}
	b, err := json.MarshalIndent(map[string][]entry{"contexts": es}, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(name, append(b, '\n'), 0o600)
}

// oscoreState is what an exchange needs to protect its messages: the
// request its responses answer. A retransmission (same Message ID) keeps
// its Partial IV, so that its bytes repeat.
type oscoreState struct {
	mid uint16
	seq uint64
	ref oscore.RequestRef
	set bool
}

// protect returns the wire form of m between a client and a server:
// requests from the client are protected with its context, responses to it
// with the server's. ok is false, and m is to be sent as it is, without
// -oscore-keys (k nil), for empty messages and for messages not between a
// client and a server.
func (k *oscoreKeys) protect(x *exchange, src, dst *node, m *decode.Message) (wire []byte, ok bool) {
	switch {
	case k == nil || m.Code == 0:
		return nil, false
	case m.Code.IsRequest() && src.client > 0:
		c := src.client - 1
		if !x.osc.set || x.osc.mid != m.MessageID {
			x.osc = oscoreState{mid: m.MessageID, seq: k.seq[c], set: true}
			k.seq[c]++
		}
		wire, ref, err := k.clients[c].ProtectRequest(m, x.osc.seq)
		if err != nil {
			panic(err) // the generator's own messages always fit
		}
		x.osc.ref = ref
		return wire, true
	case m.Code.IsResponse() && dst.client > 0 && x.osc.set:
		c := dst.client - 1
		notification := m.HasOption(decode.OptObserve)
		wire, err := k.servers[c].ProtectResponse(m, x.osc.ref, k.srvSeq[c], notification)
		if err != nil {
			panic(err)
		}
		if notification {
			k.srvSeq[c]++
		}
		return wire, true
	}
	return nil, false
}
