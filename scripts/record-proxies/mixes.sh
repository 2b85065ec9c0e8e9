#!/bin/bash
# Mixed implementations on the two sides of a forward proxy:
#   libcoap 4.3.1 coap-client  127.0.2.3 -> node-coap proxy 127.0.2.4:5683
#   node-coap client           127.0.2.5 -> libcoap proxy   127.0.2.2:5683
# both in front of the libcoap coap-server-notls origin 127.0.2.1:5683.
#
# usage: mixes.sh OUT.pcap   (NODE_PATH must find `coap`)
. "$(dirname "$0")/lib.sh"
OUT=$1
HERE=$(cd "$(dirname "$0")" && pwd)

ORIGIN=127.0.2.1 LPROXY=127.0.2.2 NPROXY=127.0.2.4 LCLIENT=127.0.2.3 NCLIENT=127.0.2.5
for a in $ORIGIN $LPROXY $NPROXY; do ensure_free $a 5683; done
bg coap-server-notls -A $ORIGIN -p 5683 -d 10
bg coap-server-notls -A $LPROXY -p 5683 -P ,proxy.example
bg node "$HERE/nodecoap-proxy.js" $NPROXY 5683
wait_udp $ORIGIN 5683
wait_udp $LPROXY 5683
wait_udp $NPROXY 5683

BIG=$(head -c 1500 /dev/zero | tr '\0' 'd')

capture_start "$OUT"
l() { coap-client-notls -a $LCLIENT -P coap://$NPROXY -B 4 "$@"; }
n() { node "$HERE/nodecoap-client.js" --bind $NCLIENT --proxy $LPROXY:5683 --timeout 6 "$@"; }
sl() { step $LCLIENT $NPROXY:5683 $ORIGIN:5683 "$@"; }
sn() { step $NCLIENT $LPROXY:5683 $ORIGIN:5683 "$@"; }
O=coap://$ORIGIN:5683

# libcoap client -> node-coap proxy
sl GET "$O/time?ticks" -- l "$O/time?ticks"
sl PUT "$O/example_data" -- l -m put -e mixed "$O/example_data"
sl GET "$O/example_data" -- l "$O/example_data"
sl GET "coap://$ORIGIN/example_data" -- l "coap://$ORIGIN/example_data"
# node-coap client -> libcoap proxy
sn GET "$O/time?ticks" -- n GET "$O/time?ticks"
sn PUT "$O/example_data" -- n --payload "$BIG" --block1 4 PUT "$O/example_data"
sn GET "$O/example_data" -- n --block2 3 GET "$O/example_data"
sn PUT "$O/sensors/temp" -- n --payload '{"t":21.5}' PUT "$O/sensors/temp"
sn GET "$O/sensors/temp?unit=C" -- n GET "$O/sensors/temp?unit=C"
sn DELETE "$O/sensors/temp" -- n DELETE "$O/sensors/temp"
sn GET "$O/time" -- n --observe 3 GET "$O/time"

sleep 2
capture_stop
