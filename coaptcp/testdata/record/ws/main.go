// Command ws runs a CoAP-over-WebSockets server and client (RFC 8323
// section 4) on 127.0.0.75:8080 for record-ws.sh, on coder/websocket: the
// client opens ws://127.0.0.75:8080/.well-known/coap with the subprotocol
// coap, both send a CSM, and the client sends a GET, a PUT of 2000 bytes,
// a GET whose message is written in three WebSocket frames (a fragmented
// message), a CoAP Ping and a WebSocket ping, and an Observe that gets two
// notifications; then it closes the WebSocket. Each exchange is checked.
package main

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"flag"
	"fmt"
	"log"
	"math/big"
	"net"
	"net/http"
	"os"
	"time"

	"github.com/coapaudit/coapaudit/decode"
	"github.com/coder/websocket"
)

var addr = "127.0.0.75:8080"

// keylog, when set, runs coaps+ws instead: TLS on port 8443 with a
// certificate made for the run, the client writing its key log there.
var keylog = flag.String("keylog", "", "run over TLS on port 8443, writing the client's key log to this file")

func main() {
	flag.Parse()
	if err := run(); err != nil {
		log.Fatal(err)
	}
}

func run() error {
	scheme := "ws://"
	var clientTLS, serverTLS *tls.Config
	if *keylog != "" {
		addr, scheme = "127.0.0.75:8443", "wss://"
		kl, err := os.Create(*keylog)
		if err != nil {
			return err
		}
		defer kl.Close()
		cert, err := selfSigned()
		if err != nil {
			return err
		}
		serverTLS = &tls.Config{Certificates: []tls.Certificate{cert}}
		clientTLS = &tls.Config{InsecureSkipVerify: true, KeyLogWriter: kl}
	}
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	if serverTLS != nil {
		l = tls.NewListener(l, serverTLS)
	}
	srv := &http.Server{Handler: http.HandlerFunc(serve)}
	go func() { _ = srv.Serve(l) }()
	defer srv.Close()

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	opts := &websocket.DialOptions{Subprotocols: []string{"coap"}}
	if clientTLS != nil {
		opts.HTTPClient = &http.Client{Transport: &http.Transport{TLSClientConfig: clientTLS}}
	}
	c, resp, err := websocket.Dial(ctx, scheme+addr+"/.well-known/coap", opts)
	if err != nil {
		return err
	}
	if resp.Header.Get("Sec-WebSocket-Protocol") != "coap" {
		return fmt.Errorf("subprotocol %q", resp.Header.Get("Sec-WebSocket-Protocol"))
	}
	in := make(chan decode.Message, 16)
	go func() {
		for {
			_, b, err := c.Read(ctx)
			if err != nil {
				close(in)
				return
			}
			var m decode.Message
			if err := m.DecodeWS(b); err != nil {
				log.Printf("client: %v", err)
				continue
			}
			in <- m
		}
	}()
	send := func(m decode.Message) error { return c.Write(ctx, websocket.MessageBinary, m.AppendWS(nil)) }
	wait := func(code decode.Code, token string) error {
		for {
			select {
			case m, ok := <-in:
				if !ok {
					return errors.New("connection closed")
				}
				if m.Code == code && string(m.Token) == token {
					return nil
				}
			case <-ctx.Done():
				return fmt.Errorf("waiting for %v %x: %w", code, token, ctx.Err())
			}
		}
	}
	path := func(p string) []decode.Option { return []decode.Option{{ID: decode.OptURIPath, Value: []byte(p)}} }
	if err := send(decode.Message{Code: decode.CodeCSM, Options: []decode.Option{{ID: decode.OptBlockWiseTransfer}}}); err != nil {
		return err
	}
	if err := wait(decode.CodeCSM, ""); err != nil {
		return err
	}
	if err := send(decode.Message{Code: decode.CodeGET, Token: []byte{1}, Options: path("hello")}); err != nil {
		return err
	}
	if err := wait(decode.CodeContent, "\x01"); err != nil {
		return err
	}
	if err := send(decode.Message{Code: decode.CodePUT, Token: []byte{2, 2}, Options: path("store"), Payload: bytes.Repeat([]byte("x"), 2000)}); err != nil {
		return err
	}
	if err := wait(decode.CodeChanged, "\x02\x02"); err != nil {
		return err
	}
	// One CoAP message in three WebSocket frames.
	frag := decode.Message{Code: decode.CodeGET, Token: []byte{3, 3, 3}, Options: path("hello")}
	b := frag.AppendWS(nil)
	w, err := c.Writer(ctx, websocket.MessageBinary)
	if err != nil {
		return err
	}
	for _, part := range [][]byte{b[:2], b[2:6], b[6:]} {
		if _, err := w.Write(part); err != nil {
			return err
		}
	}
	if err := w.Close(); err != nil {
		return err
	}
	if err := wait(decode.CodeContent, "\x03\x03\x03"); err != nil {
		return err
	}
	if err := send(decode.Message{Code: decode.CodePing, Token: []byte{4}}); err != nil {
		return err
	}
	if err := wait(decode.CodePong, "\x04"); err != nil {
		return err
	}
	if err := c.Ping(ctx); err != nil {
		return fmt.Errorf("websocket ping: %w", err)
	}
	if err := send(decode.Message{Code: decode.CodeGET, Token: []byte{5}, Options: append([]decode.Option{{ID: decode.OptObserve}}, path("obs")...)}); err != nil {
		return err
	}
	for range 3 {
		if err := wait(decode.CodeContent, "\x05"); err != nil {
			return err
		}
	}
	return c.Close(websocket.StatusNormalClosure, "")
}

// serve is the CoAP-over-WebSockets server.
func serve(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path != "/.well-known/coap" {
		http.NotFound(w, r)
		return
	}
	c, err := websocket.Accept(w, r, &websocket.AcceptOptions{Subprotocols: []string{"coap"}})
	if err != nil {
		log.Print(err)
		return
	}
	ctx := r.Context()
	send := func(m decode.Message) {
		if err := c.Write(ctx, websocket.MessageBinary, m.AppendWS(nil)); err != nil {
			log.Printf("server: %v", err)
		}
	}
	send(decode.Message{Code: decode.CodeCSM, Options: []decode.Option{{ID: decode.OptMaxMessageSize, Value: []byte{0x40, 0}}}})
	for {
		_, b, err := c.Read(ctx)
		if err != nil {
			return
		}
		var m decode.Message
		if err := m.DecodeWS(b); err != nil {
			log.Printf("server: %v", err)
			continue
		}
		text := decode.Option{ID: decode.OptContentFormat}
		switch {
		case m.Code == decode.CodePing:
			send(decode.Message{Code: decode.CodePong, Token: m.Token})
		case m.Code == decode.CodeGET && m.HasOption(decode.OptObserve):
			for i := range 3 {
				send(decode.Message{Code: decode.CodeContent, Token: m.Token, Options: []decode.Option{{ID: decode.OptObserve, Value: []byte{byte(i + 2)}}, text}, Payload: []byte(fmt.Sprintf("n%d", i))})
				time.Sleep(20 * time.Millisecond)
			}
		case m.Code == decode.CodeGET:
			send(decode.Message{Code: decode.CodeContent, Token: m.Token, Options: []decode.Option{text}, Payload: []byte("hello")})
		case m.Code == decode.CodePUT:
			send(decode.Message{Code: decode.CodeChanged, Token: m.Token})
		}
	}
}

// selfSigned makes an ECDSA certificate for the run.
func selfSigned() (tls.Certificate, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return tls.Certificate{}, err
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "coap.test"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), DNSNames: []string{"coap.test"}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return tls.Certificate{}, err
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}, nil
}
