package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os/exec"
	"strings"
	"testing"

	"github.com/coapaudit/coapaudit/decode"
	"github.com/coapaudit/coapaudit/internal/testenv"
)

// dtlsPacket is the part of a packet record this file's tests read.
type dtlsPacket struct {
	Type    string `json:"type"`
	Frame   int    `json:"frame"`
	Proto   string `json:"proto"`
	MsgType string `json:"msgtype"`
	Code    string `json:"code"`
	MID     *int   `json:"mid"`
	Token   string `json:"token"`
	URIPath string `json:"uri_path"`
	Payload int    `json:"payload_len"`
	Options []struct {
		Number int    `json:"number"`
		Value  string `json:"value"`
	} `json:"options"`
	DTLS *struct {
		Decrypted   *bool  `json:"decrypted"`
		Key         string `json:"key"`
		KeyIdentity string `json:"key_identity"`
	} `json:"dtls"`
}

func dtlsPackets(t *testing.T, args ...string) ([]dtlsPacket, string) {
	t.Helper()
	var stdout, stderr bytes.Buffer
	if code := run(context.Background(), append([]string{"packets", "--format", "ndjson"}, args...), nil, &stdout, &stderr); code != 0 {
		t.Fatalf("packets %v: exit %d: %s", args, code, stderr.String())
	}
	var out []dtlsPacket
	for _, l := range strings.Split(strings.TrimSpace(stdout.String()), "\n") {
		var p dtlsPacket
		if err := json.Unmarshal([]byte(l), &p); err != nil {
			t.Fatalf("%v: %q", err, l)
		}
		if p.Type == "packet" {
			out = append(out, p)
		}
	}
	return out, stdout.String() + stderr.String()
}

var dtlsMsgTypes = map[string]int{"CON": 0, "NON": 1, "ACK": 2, "RST": 3}

// line is a decrypted CoAP message in the form compared with tshark:
// frame, type, code, message ID, token, Uri-Path, payload length and
// block number. tshark gives a block-wise body's length on its last
// block only, so for block-wise messages the length is left out.
func (p *dtlsPacket) line() string {
	var c1, c2 int
	fmt.Sscanf(p.Code, "%d.%d", &c1, &c2)
	block, pl := "", ""
	for _, o := range p.Options {
		if o.Number == int(decode.OptBlock1) || o.Number == int(decode.OptBlock2) {
			var num int
			fmt.Sscanf(o.Value, "%d", &num)
			block = fmt.Sprint(num)
		}
	}
	if p.Payload > 0 && block == "" {
		pl = fmt.Sprint(p.Payload)
	}
	return fmt.Sprintf("%d\t%d\t%d\t%d\t%s\t%s\t%s\t%s", p.Frame, dtlsMsgTypes[p.MsgType], c1<<5|c2, *p.MID, p.Token, p.URIPath, pl, block)
}

// TestPacketsDTLSAgainstTshark decrypts the libcoap DTLS captures with
// the PSK and holds every frame's inner CoAP message against tshark's
// (-o dtls.psk): the same frames carry CoAP, with the same fields.
func TestPacketsDTLSAgainstTshark(t *testing.T) {
	tshark := testenv.Tool(t, "tshark")
	for _, tc := range []struct {
		name     string
		messages int
	}{
		{"libcoap-psk-proxy.pcap", 20},
		{"libcoap-openssl-ccm8.pcap", 24},
		{"libcoap-gnutls-cbc-etm.pcap", 6},
	} {
		t.Run(tc.name, func(t *testing.T) {
			pcap := dtlsTestdata(tc.name)
			cmd := exec.Command(tshark, "-n", "-r", pcap, "-o", "dtls.psk:686f704b6579", "-T", "fields",
				"-E", "separator=/t", "-E", "occurrence=a", "-E", "aggregator=/",
				"-e", "frame.number", "-e", "coap.type", "-e", "coap.code", "-e", "coap.mid", "-e", "coap.token",
				"-e", "coap.opt.uri_path", "-e", "coap.payload_length", "-e", "coap.opt.block_number")
			out, err := cmd.Output()
			if err != nil {
				t.Fatalf("tshark: %v", err)
			}
			var want []string
			for _, l := range strings.Split(strings.TrimSpace(string(out)), "\n") {
				f := strings.Split(l, "\t")
				if len(f) != 8 || f[3] == "" {
					continue
				}
				if f[7] != "" {
					f[6] = ""
				}
				want = append(want, strings.Join(f, "\t"))
			}
			ps, all := dtlsPackets(t, "--psk", "686f704b6579", pcap)
			var got []string
			decrypted := 0
			for i := range ps {
				p := &ps[i]
				if p.Proto != "dtls" || p.DTLS == nil {
					t.Fatalf("frame %d: proto %s, dtls %v", p.Frame, p.Proto, p.DTLS)
				}
				if p.DTLS.Decrypted != nil {
					if !*p.DTLS.Decrypted || p.DTLS.Key != "psk" || p.DTLS.KeyIdentity == "" {
						t.Errorf("frame %d: dtls %+v", p.Frame, *p.DTLS)
					}
					decrypted++
				}
				if p.MID != nil {
					got = append(got, p.line())
				}
			}
			if len(want) != tc.messages {
				t.Errorf("tshark shows %d CoAP messages, want %d", len(want), tc.messages)
			}
			if strings.Join(got, "\n") != strings.Join(want, "\n") {
				t.Errorf("decrypted CoAP\n%s\ntshark\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
			}
			if decrypted <= len(got) {
				t.Errorf("%d frames decrypted, %d with CoAP: the Finished and alert records are missing", decrypted, len(got))
			}
			if strings.Contains(all, "686f704b6579") || strings.Contains(all, "hopKey") {
				t.Error("the PSK reached the output")
			}
			// Without keys the frames stay DTLS, with nothing decrypted.
			ps, _ = dtlsPackets(t, pcap)
			for _, p := range ps {
				if p.MID != nil || p.DTLS == nil || p.DTLS.Decrypted != nil {
					t.Fatalf("without keys, frame %d: %+v", p.Frame, p)
				}
			}
		})
	}
}

// TestPacketsDTLSText checks the text form: a decrypted frame shows its
// CoAP message as tshark's info column does, and where the key came from.
func TestPacketsDTLSText(t *testing.T) {
	var stdout, stderr bytes.Buffer
	args := []string{"packets", "--format", "text", "--keylog", dtlsTestdata("libcoap-psk-proxy.keylog"), dtlsTestdata("libcoap-psk-proxy.pcap")}
	if code := run(context.Background(), args, nil, &stdout, &stderr); code != 0 {
		t.Fatalf("exit %d: %s", code, stderr.String())
	}
	lines := strings.Split(stdout.String(), "\n")
	for _, tc := range []struct {
		frame int
		want  string
	}{
		{25, "CoAP     91 CON, MID:50352, GET, TKN:01, /time [DTLS decrypted, keylog]"},
		{26, "CoAP    103 ACK, MID:50352, 2.05 Content, TKN:01, 15 bytes [DTLS decrypted, keylog]"},
		{29, "DTLS     81 DTLS 1.2 alert [decrypted, keylog]"},
	} {
		if len(lines) < tc.frame || !strings.HasSuffix(lines[tc.frame-1], tc.want) {
			t.Errorf("frame %d: %q, want suffix %q", tc.frame, lines[tc.frame-1], tc.want)
		}
	}
	// A wrong key: the records stay encrypted and say so.
	stdout.Reset()
	args = []string{"packets", "--format", "text", "--psk", "0badc0ffee", dtlsTestdata("libcoap-psk-proxy.pcap")}
	run(context.Background(), args, nil, &stdout, &stderr)
	if l := strings.Split(stdout.String(), "\n")[24]; !strings.HasSuffix(l, "DTLS     91 DTLS 1.2 application_data [not decrypted]") {
		t.Errorf("wrong key, frame 25: %q", l)
	}
}
