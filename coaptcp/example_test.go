package coaptcp_test

import (
	"errors"
	"fmt"
	"io"
	"log"

	"github.com/coapaudit/coapaudit/capture"
	"github.com/coapaudit/coapaudit/coaptcp"
	"github.com/coapaudit/coapaudit/decode"
)

// The Assembler takes the TCP segments of a capture; each CoAP message
// comes out with the frames that carried it.
func Example() {
	r, err := capture.Open("testdata/gocoap-tcp.pcap")
	if err != nil {
		log.Fatal(err)
	}
	defer r.Close()
	a := coaptcp.New(coaptcp.Config{}, func(m *coaptcp.Message) {
		if m.CoAP.Code == decode.CodePUT {
			fmt.Printf("%s %v %s %s frames %v\n", m.Transport, m.CoAP.Code, m.CoAP.URIPath(nil), m.Dst, m.Frames)
		}
	})
	var d capture.Datagram
	other := 0
	for {
		if err := r.Next(&d); errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			log.Fatal(err)
		}
		if d.Kind == capture.KindTCP && !a.Segment(&d) {
			other++ // a TCP segment that carries no CoAP: other/tcp
		}
	}
	a.Close()
	s := a.Stats()
	fmt.Println(s.Messages, "messages,", s.TCPStreams, "connections,", other, "other")
	// Output:
	// tcp 0.03 store 127.0.0.74:5683 frames [11]
	// tcp 0.03 store 127.0.0.74:5683 frames [39 41 43]
	// 24 messages, 2 connections, 0 other
}
