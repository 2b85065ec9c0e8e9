// Command gocoap runs plgd-dev/go-coap v3's TCP server and client on
// 127.0.0.74:5683 for record-gocoap.sh: GET, PUT, POST, Observe with three
// notifications, Ping, a block-wise GET in BERT blocks, and a client of
// its own writing RFC 8323 bytes the way a stack may send them: a CSM and
// a GET in one write, and a PUT spread over three writes. Each exchange
// is checked; the program fails when go-coap does not answer as
// expected.
package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log"
	"net"
	"os"
	"time"

	"github.com/coapaudit/coapaudit/decode"
	"github.com/plgd-dev/go-coap/v3/message"
	"github.com/plgd-dev/go-coap/v3/message/codes"
	"github.com/plgd-dev/go-coap/v3/message/pool"
	"github.com/plgd-dev/go-coap/v3/mux"
	coapnet "github.com/plgd-dev/go-coap/v3/net"
	"github.com/plgd-dev/go-coap/v3/net/blockwise"
	"github.com/plgd-dev/go-coap/v3/options"
	"github.com/plgd-dev/go-coap/v3/tcp"
)

const addr = "127.0.0.74:5683"

func main() {
	if err := run(); err != nil {
		log.Fatal(err)
	}
}

func run() error {

	big := bytes.Repeat([]byte("0123456789abcdef"), 200) // 3200 bytes
	r := mux.NewRouter()
	must(r.Handle("/hello", mux.HandlerFunc(func(w mux.ResponseWriter, req *mux.Message) {
		must(w.SetResponse(codes.Content, message.TextPlain, bytes.NewReader([]byte("hello"))))
	})))
	must(r.Handle("/store", mux.HandlerFunc(func(w mux.ResponseWriter, req *mux.Message) {
		body, _ := req.ReadBody()
		must(w.SetResponse(codes.Changed, message.TextPlain, bytes.NewReader([]byte(fmt.Sprint(len(body))))))
	})))
	must(r.Handle("/big", mux.HandlerFunc(func(w mux.ResponseWriter, req *mux.Message) {
		must(w.SetResponse(codes.Content, message.AppOctets, bytes.NewReader(big)))
	})))
	must(r.Handle("/obs", mux.HandlerFunc(func(w mux.ResponseWriter, req *mux.Message) {
		cc, token := w.Conn(), req.Token()
		if obs, err := req.Options().Observe(); err != nil || obs != 0 {
			must(w.SetResponse(codes.Content, message.TextPlain, bytes.NewReader([]byte("n"))))
			return
		}
		go func() {
			for i := 2; i < 5; i++ {
				m := cc.AcquireMessage(cc.Context())
				m.SetCode(codes.Content)
				m.SetToken(token)
				m.SetObserve(uint32(i))
				m.SetContentFormat(message.TextPlain)
				m.SetBody(bytes.NewReader([]byte(fmt.Sprintf("n%d", i))))
				if err := cc.WriteMessage(m); err != nil {
					log.Print(err)
				}
				cc.ReleaseMessage(m)
				time.Sleep(50 * time.Millisecond)
			}
		}()
	})))
	l, err := coapnet.NewTCPListener("tcp", addr)
	if err != nil {
		return err
	}
	defer l.Close()
	s := tcp.NewServer(options.WithMux(r), options.WithBlockwise(true, blockwise.SZXBERT, 5*time.Second))
	defer s.Stop()
	go func() { _ = s.Serve(l) }()

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	co, err := tcp.Dial(addr, options.WithBlockwise(true, blockwise.SZXBERT, 5*time.Second))
	if err != nil {
		return err
	}
	resp, err := co.Get(ctx, "/hello")
	if err := expect(resp, err, codes.Content, "hello"); err != nil {
		return err
	}
	resp, err = co.Put(ctx, "/store", message.TextPlain, bytes.NewReader([]byte("value-1")))
	if err := expect(resp, err, codes.Changed, "7"); err != nil {
		return err
	}
	resp, err = co.Post(ctx, "/store", message.AppJSON, bytes.NewReader([]byte(`{"a":1}`)))
	if err := expect(resp, err, codes.Changed, "7"); err != nil {
		return err
	}
	if err := co.Ping(ctx); err != nil {
		return fmt.Errorf("ping: %w", err)
	}
	got := make(chan string, 8)
	obs, err := co.Observe(ctx, "/obs", func(m *pool.Message) {
		b, _ := m.ReadBody()
		got <- string(b)
	})
	if err != nil {
		return fmt.Errorf("observe: %w", err)
	}
	for range 3 {
		select {
		case <-got:
		case <-ctx.Done():
			return fmt.Errorf("observe: %w", ctx.Err())
		}
	}
	if err := obs.Cancel(ctx); err != nil {
		log.Printf("cancel observation: %v", err)
	}
	resp, err = co.Get(ctx, "/big")
	if err := expect(resp, err, codes.Content, string(big)); err != nil {
		return err
	}
	_ = co.Close()
	<-co.Done()
	return rawClient(big)
}

// rawClient writes RFC 8323 messages itself: CSM and GET in one write,
// then a PUT in three writes 50 ms apart.
func rawClient(big []byte) error {
	c, err := net.Dial("tcp", addr)
	if err != nil {
		return err
	}
	defer c.Close()
	csm := decode.Message{Code: decode.CodeCSM, Options: []decode.Option{{ID: decode.OptMaxMessageSize, Value: []byte{0x10, 0}}}}
	get := decode.Message{Code: decode.CodeGET, Token: []byte{0xa1}, Options: []decode.Option{{ID: decode.OptURIPath, Value: []byte("hello")}}}
	if _, err := c.Write(get.AppendTCP(csm.AppendTCP(nil))); err != nil {
		return err
	}
	put := decode.Message{Code: decode.CodePUT, Token: []byte{0xa2, 0xa3}, Options: []decode.Option{{ID: decode.OptURIPath, Value: []byte("store")}}, Payload: big[:1500]}
	b := put.AppendTCP(nil)
	if err := readUntil(c, []byte{0xa1}); err != nil {
		return err
	}
	for _, part := range [][]byte{b[:7], b[7:900], b[900:]} {
		if _, err := c.Write(part); err != nil {
			return err
		}
		time.Sleep(50 * time.Millisecond)
	}
	return readUntil(c, []byte{0xa2, 0xa3})
}

// readUntil reads messages until a response with the token comes.
func readUntil(c net.Conn, token []byte) error {
	if err := c.SetReadDeadline(time.Now().Add(5 * time.Second)); err != nil {
		return err
	}
	var buf []byte
	tmp := make([]byte, 4096)
	var m decode.Message
	for {
		for {
			n, err := m.DecodeTCP(buf)
			if err != nil {
				break
			}
			buf = buf[n:]
			if bytes.Equal(m.Token, token) && m.Code.IsResponse() {
				return nil
			}
		}
		n, err := c.Read(tmp)
		if err != nil {
			return err
		}
		buf = append(buf, tmp[:n]...)
	}
}

func expect(resp *pool.Message, err error, code codes.Code, body string) error {
	if err != nil {
		return err
	}
	b, _ := io.ReadAll(resp.Body())
	if resp.Code() != code || string(b) != body {
		return fmt.Errorf("got %v %q, want %v %q", resp.Code(), b, code, body)
	}
	return nil
}

func must(err error) {
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}
