#!/bin/sh
# Records ../libcoap-tcp-udp-proxy.pcap: the reverse of
# record-libcoap-udp-tcp.sh. libcoap 4.3.1's coap-client-gnutls
# (127.0.5.53) connects over coap+tcp to the forward proxy
# coap-server-gnutls -P (127.0.5.52:5683), one connection per request, and
# asks for coap:// URIs of the origin coap-server-notls -d 10
# (127.0.5.51:5683), which the proxy asks over UDP from 127.0.0.1. See
# ../PROXIES.md. The truth file is written by hand from the capture.
#
# Usage (as root, from the repository's top): testdata/captures/record/record-libcoap-tcp-udp.sh
set -eu
HERE=$(cd "$(dirname "$0")" && pwd)
OUT=${1:-$HERE/../libcoap-tcp-udp-proxy.pcap}
O=127.0.5.51
P=127.0.5.52
C=127.0.5.53
dir=$(mktemp -d)
trap 'kill $srv $prx $dump 2>/dev/null || true; rm -rf "$dir"' EXIT
tcpdump -i lo -U -s 0 -w "$OUT" "net 127.0.5.48/29 or (udp and host 127.0.5.51)" 2>"$dir/tcpdump.log" &
dump=$!
for _ in 1 2 3 4 5 6 7 8 9 10; do grep -q listening "$dir/tcpdump.log" && break; sleep 0.5; done
coap-server-notls -A $O -p 5683 -d 10 -v 0 &
srv=$!
coap-server-gnutls -A $P -p 5683 -P ,proxy.example -v 0 &
prx=$!
sleep 0.5
c() { coap-client-gnutls -a $C -v 0 -B 5 -P coap+tcp://$P "$@" >/dev/null || true; sleep 0.3; }
c -m get -T 11 coap://$O/time
c -m get -T 12 coap://$O/
c -m put -T 13 -e hello coap://$O/example
c -m get -T 14 coap://$O/example
c -m get -T 15 -s 3 coap://$O/time
c -m delete -T 16 coap://$O/example
sleep 1
kill $srv $prx
sleep 0.5
kill -INT $dump
wait $dump 2>/dev/null || true
