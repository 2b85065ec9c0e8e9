#!/bin/sh
# Records gocoap-tcp.pcap: plgd-dev/go-coap v3's TCP client and server
# (record/gocoap) on 127.0.0.74:5683, and a client of its own sending a
# CSM and a GET in one segment and a PUT over three segments. Run as root
# (tcpdump) from this directory.
set -eu
out=${1:-gocoap-tcp.pcap}
A=127.0.0.74
log=$(mktemp)
(cd record && go build -o "$log.bin" ./gocoap)
tcpdump -i lo -U -s 0 -w "$out" "host $A and tcp port 5683" 2>"$log" &
dump=$!
trap 'kill $dump 2>/dev/null || true; rm -f "$log" "$log.bin"' EXIT
# Wait until tcpdump listens.
for _ in 1 2 3 4 5 6 7 8 9 10; do grep -q listening "$log" && break; sleep 0.5; done
"$log.bin"
sleep 0.5
kill -INT $dump
wait $dump 2>/dev/null || true
