#!/bin/sh
# Records ../libcoap-udp-tcp-proxy.pcap: libcoap 4.3.1's coap-client-gnutls
# (127.0.5.3) asks over UDP, through coap-server-gnutls -P as a forward
# proxy (127.0.5.2:5683), for coap+tcp:// URIs: the proxy relays each
# request to the origin coap-server-gnutls (127.0.5.1:5683) over TCP, from
# 127.0.0.1 (libcoap does not bind its outgoing sockets). The last request
# names a dead origin (127.0.5.250, connection refused). See ../PROXIES.md.
# The truth file, ../libcoap-udp-tcp-proxy.truth.jsonl, is written by hand
# from the capture (tshark -d tcp.port==5683,coap).
#
# Usage (as root, from the repository's top): testdata/captures/record/record-libcoap-udp-tcp.sh
set -eu
HERE=$(cd "$(dirname "$0")" && pwd)
OUT=${1:-$HERE/../libcoap-udp-tcp-proxy.pcap}
O=127.0.5.1
P=127.0.5.2
C=127.0.5.3
dir=$(mktemp -d)
trap 'kill $srv $prx $dump 2>/dev/null || true; rm -rf "$dir"' EXIT
tcpdump -i lo -U -s 0 -w "$OUT" "net 127.0.5.0/24" 2>"$dir/tcpdump.log" &
dump=$!
for _ in 1 2 3 4 5 6 7 8 9 10; do grep -q listening "$dir/tcpdump.log" && break; sleep 0.5; done
coap-server-gnutls -A $O -p 5683 -d 10 -v 0 &
srv=$!
coap-server-gnutls -A $P -p 5683 -P ,proxy.example -v 0 &
prx=$!
sleep 0.5
c() { coap-client-gnutls -a $C -v 0 -B 5 -P coap://$P "$@" >/dev/null || true; sleep 0.3; }
c -m get -T 01 coap+tcp://$O/time
c -m get -T 02 coap+tcp://$O/
c -m put -T 03 -e hello coap+tcp://$O/example
c -m get -T 04 coap+tcp://$O/example
c -m get -T 05 -s 4 coap+tcp://$O/time
seq 1 60 | tr '\n' ' ' >"$dir/big"
c -m put -T 06 -b 64 -f "$dir/big" coap+tcp://$O/big
c -m get -T 07 -b 64 coap+tcp://$O/big
c -m delete -T 08 coap+tcp://$O/example
c -m get -T 09 coap+tcp://127.0.5.250/time
sleep 1
kill $srv $prx
sleep 0.5
kill -INT $dump
wait $dump 2>/dev/null || true
