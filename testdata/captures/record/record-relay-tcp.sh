#!/bin/sh
# Records ../relay-tcp.pcap and its truth file: the misbehaving relay of
# samples/relay with -origin-tcp, between libcoap 4.3.1's coap-client-notls
# over UDP (127.0.5.43) and coap-server-gnutls as a coap+tcp origin
# (127.0.5.41:5683); the relay listens on 127.0.5.42:5683 and connects to
# the origin from 127.0.5.42, one TCP connection per client. Afterwards the
# relay annotates the truth file with the frames of each act (the TCP
# frame of a message the origin sent, the datagram of one it received).
#
# Usage (as root, from the repository's top): testdata/captures/record/record-relay-tcp.sh
set -eu
HERE=$(cd "$(dirname "$0")" && pwd)
OUT=$HERE/../relay-tcp.pcap
TRUTH=$HERE/../relay-tcp.truth.jsonl
O=127.0.5.41
R=127.0.5.42
C=127.0.5.43
dir=$(mktemp -d)
trap 'kill $srv $relay $dump 2>/dev/null || true; rm -rf "$dir"' EXIT
go build -o "$dir/relay" ./samples/relay
tcpdump -i lo -U -s 0 -w "$OUT" "net 127.0.5.40/29" 2>"$dir/tcpdump.log" &
dump=$!
for _ in 1 2 3 4 5 6 7 8 9 10; do grep -q listening "$dir/tcpdump.log" && break; sleep 0.5; done
coap-server-gnutls -A $O -p 5683 -d 10 -v 0 &
srv=$!
sleep 0.3
"$dir/relay" -origin-tcp -listen $R:5683 -origin $O:5683 -truth "$TRUTH" \
	-schedule "2:alter-response-payload,4:drop,5:alter-response-code,7:alter-request-payload,8:flood=2" &
relay=$!
sleep 0.5
c() { coap-client-notls -a $C -v 0 "$@" >/dev/null || true; sleep 0.3; }
c -B 5 -m get -T 01 coap://$R/time
c -B 5 -m get -T 02 coap://$R/
c -B 5 -m put -T 03 -e hello coap://$R/example
c -B 4 -m get -T 04 coap://$R/example
c -B 5 -m get -T 05 coap://$R/example
c -B 5 -m put -T 06 -e world coap://$R/example
c -B 5 -m put -T 07 -e again coap://$R/example
c -B 5 -m get -T 08 coap://$R/example
sleep 1
kill $relay
wait $relay 2>/dev/null || true
kill $srv
sleep 0.5
kill -INT $dump
wait $dump 2>/dev/null || true
"$dir/relay" -annotate "$OUT" -truth "$TRUTH"
