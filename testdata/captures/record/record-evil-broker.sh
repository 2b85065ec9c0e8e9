#!/bin/sh
# Records ../evil-pubsub-broker.pcap and its truth file: the misbehaving
# broker of samples/evilbroker at 127.0.4.101 with libcoap 4.3.1 clients
# (discovery and topic creation at 127.0.4.110, subscribers 127.0.4.41-43,
# publisher 127.0.4.50). See ../BROKERS.md.
#
# Usage (from the repository's top): testdata/captures/record/record-evil-broker.sh
set -eu
HERE=$(cd "$(dirname "$0")" && pwd)
OUT=$HERE/../evil-pubsub-broker.pcap
TRUTH=$HERE/../evil-pubsub-broker.truth.jsonl
B=127.0.4.101
C=coap-client-notls
BIN=$(mktemp -d)/evilbroker
go build -o "$BIN" ./samples/evilbroker

tcpdump -i lo -U -s 0 -w "$OUT" "udp and net 127.0.4.0/24" 2>/dev/null &
TCPDUMP=$!
"$BIN" -listen $B:5683 -truth "$TRUTH" \
	-acts withhold:2:2,alter:3:1,inject:4:3:0.4,delay:5:3:1.5,flood:6:1:2 &
BROKER=$!
sleep 1

$C -a 127.0.4.110 -m get coap://$B/.well-known/core >/dev/null
# {0: "temp"} in application/core-pubsub+cbor (606)
$C -a 127.0.4.110 -m post -t 606 -e '%A1%00dtemp' coap://$B/ps >/dev/null
$C -a 127.0.4.110 -m get coap://$B/ps >/dev/null
$C -a 127.0.4.110 -m get coap://$B/ps/t1 >/dev/null

for s in 41 42 43; do
	$C -a 127.0.4.$s -s 22 -B 25 -m get coap://$B/ps/data/t1 >/dev/null &
	sleep 0.2
done
sleep 1
for v in 20.1 20.2 20.3 20.4 20.5 20.6 20.7; do
	$C -a 127.0.4.50 -m put -t 0 -e $v coap://$B/ps/data/t1 >/dev/null
	sleep 2.5
done
wait %3 %4 %5 2>/dev/null || sleep 6
sleep 1
kill $BROKER
sleep 0.5
kill $TCPDUMP
wait $TCPDUMP || true
