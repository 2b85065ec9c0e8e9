#!/bin/sh
# Records ../aiocoap-pubsub-broker.pcap: the aiocoap-based pub-sub broker
# (github.com/jaimejim/aiocoap-pubsub-broker, broker.py) at 127.0.4.1 with
# libcoap 4.3.1 and aiocoap clients. See ../BROKERS.md for the roles.
#
# Usage: record-aiocoap-broker.sh BROKER_DIR AIOCOAP_DIR
set -eu
BROKER_DIR=$1
AIOCOAP_DIR=$2
HERE=$(cd "$(dirname "$0")" && pwd)
OUT=$HERE/../aiocoap-pubsub-broker.pcap
B=127.0.4.1
PY="env PYTHONPATH=$AIOCOAP_DIR:$BROKER_DIR /usr/bin/python3"
CLI="$PY $HERE/pubsub_clients.py $B"
C=coap-client-notls

tcpdump -i lo -U -s 0 -w "$OUT" "udp and net 127.0.4.0/24" 2>/dev/null &
TCPDUMP=$!
(cd "$BROKER_DIR" && exec $PY broker.py --host $B --port 5683) >/tmp/broker.log 2>&1 &
BROKER=$!
sleep 2

# Discovery, topic creation, the topic list and the topic configuration.
$C -a 127.0.4.10 -m get coap://$B/.well-known/core >/dev/null
DATA=$(BIND=127.0.4.11 $CLI create temperature 2>/tmp/conf)
CONF=$(cat /tmp/conf)
$C -a 127.0.4.10 -m get coap://$B/ps >/dev/null
$C -a 127.0.4.10 -m get coap://$B/$CONF >/dev/null

# A publication before anyone subscribed.
$C -a 127.0.4.30 -m put -t 0 -e 21.5 coap://$B/$DATA
sleep 0.5

# Four subscribers: libcoap that deregisters (GET Observe=1) when -s runs
# out, libcoap that stays until the topic data is deleted, aiocoap that
# cancels (RST to the next notification), aiocoap that vanishes (killed).
$C -a 127.0.4.20 -s 4 -B 8 -m get coap://$B/$DATA >/dev/null &
SUBA=$!
$C -a 127.0.4.24 -s 30 -B 30 -m get coap://$B/$DATA >/dev/null &
SUBD=$!
BIND=127.0.4.21 $CLI observe $DATA 3 4 2>/dev/null &
SUBB=$!
BIND=127.0.4.22 $CLI observe $DATA 60 2>/dev/null &
SUBC=$!
sleep 1.5

BIND=127.0.4.31 $CLI put $DATA 21.7 21.9 2>/dev/null
$C -a 127.0.4.30 -m put -t 0 -e 22.0 coap://$B/$DATA
sleep 0.3
# A plain GET of the topic data.
$C -a 127.0.4.23 -m get coap://$B/$DATA >/dev/null
sleep 0.3
kill -9 $SUBC
sleep 0.3
$C -a 127.0.4.30 -m put -t 0 -e 22.4 coap://$B/$DATA
wait $SUBA || true
sleep 0.3
$C -a 127.0.4.30 -m put -t 0 -e 22.6 coap://$B/$DATA
wait $SUBB
sleep 0.5
# Deleting the topic data ends the last observation with 4.04.
BIND=127.0.4.11 $CLI delete $DATA 2>/dev/null
wait $SUBD || true
BIND=127.0.4.11 $CLI delete $CONF 2>/dev/null
sleep 6

kill $BROKER
sleep 0.5
kill $TCPDUMP
wait $TCPDUMP || true
