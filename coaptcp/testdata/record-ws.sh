#!/bin/sh
# Records ws.pcap: CoAP over WebSockets (RFC 8323 section 4) between a Go
# client and server on coder/websocket (record/ws), on 127.0.0.75:8080;
# with TLS=1, wss.pcap and wss.keylog: the same over TLS (crypto/tls) on
# port 8443. Run as root (tcpdump) from this directory.
set -eu
out=ws.pcap
port=8080
args=
if [ "${TLS:-}" = 1 ]; then
	out=wss.pcap
	port=8443
	args="-keylog $(pwd)/wss.keylog"
fi
A=127.0.0.75
log=$(mktemp)
(cd record && go build -o "$log.bin" ./ws)
tcpdump -i lo -U -s 0 -w "$out" "host $A and tcp port $port" 2>"$log" &
dump=$!
trap 'kill $dump 2>/dev/null || true; rm -f "$log" "$log.bin"' EXIT
# Wait until tcpdump listens.
for _ in 1 2 3 4 5 6 7 8 9 10; do grep -q listening "$log" && break; sleep 0.5; done
"$log.bin" $args
sleep 0.5
kill -INT $dump
wait $dump 2>/dev/null || true
