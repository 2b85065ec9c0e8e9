#!/bin/sh
# Records libcoap-tcp.pcap: libcoap 4.3.1's coap-client-gnutls talking
# coap+tcp to coap-server-gnutls on 127.0.0.73 (a loopback address of its
# own, so that other traffic on lo stays out): GET, PUT, Observe, and
# block-wise transfers both ways, 64-byte blocks and 1024-byte blocks
# (BERT when both sides agree to it in their CSMs). Run as root (tcpdump).
set -eu
out=${1:-libcoap-tcp.pcap}
A=127.0.0.73
dir=$(mktemp -d)
trap 'kill $srv $dump 2>/dev/null || true; rm -rf "$dir"' EXIT
tcpdump -i lo -U -s 0 -w "$out" "host $A and tcp port 5683" 2>"$dir/tcpdump.log" &
dump=$!
# Wait until tcpdump listens.
for _ in 1 2 3 4 5 6 7 8 9 10; do grep -q listening "$dir/tcpdump.log" && break; sleep 0.5; done
coap-server-gnutls -A $A -p 5683 -d 10 -v 0 &
srv=$!
sleep 0.5
c() { coap-client-gnutls -v 0 -B 5 "$@" >/dev/null; }
c -m get coap+tcp://$A/
c -m get -T cafe coap+tcp://$A/time
c -m put -T 01 -e hello coap+tcp://$A/example
c -m get -T 02 coap+tcp://$A/example
c -s 3 -T 0b5e coap+tcp://$A/time
seq 1 60 | tr '\n' ' ' >"$dir/big"
c -m put -T b1 -b 64 -f "$dir/big" coap+tcp://$A/big
c -m get -T b2 -b 64 coap+tcp://$A/big
seq 1 500 | tr '\n' ' ' >"$dir/bert"
c -m put -T be -b 1024 -f "$dir/bert" coap+tcp://$A/bert
c -m get -T bf -b 1024 coap+tcp://$A/bert
c -m delete -T dd coap+tcp://$A/example
sleep 1
kill $srv
sleep 0.5
kill -INT $dump
wait $dump 2>/dev/null || true
