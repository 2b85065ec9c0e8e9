#!/bin/bash
# node-coap (npm `coap`) client -> node-coap forward proxy
# (createServer({proxy: true})) -> libcoap 4.3.1 coap-server-notls origin.
#
#   client 127.0.2.5 (one ephemeral port per request)
#   proxy  127.0.2.4:5683 (relays from the same socket)
#   origin 127.0.2.1:5683
#
# usage: nodecoap.sh OUT.pcap   (NODE_PATH must find `coap`)
. "$(dirname "$0")/lib.sh"
OUT=$1
HERE=$(cd "$(dirname "$0")" && pwd)

ORIGIN=127.0.2.1 PROXY=127.0.2.4 CLIENT=127.0.2.5
for a in $ORIGIN $PROXY; do ensure_free $a 5683; done
bg coap-server-notls -A $ORIGIN -p 5683 -d 10
bg node "$HERE/nodecoap-proxy.js" $PROXY 5683
wait_udp $ORIGIN 5683
wait_udp $PROXY 5683

BIG=$(head -c 1500 /dev/zero | tr '\0' 'b')

capture_start "$OUT"
c() { node "$HERE/nodecoap-client.js" --bind $CLIENT --proxy $PROXY:5683 --timeout 6 "$@"; }
s() { step $CLIENT $PROXY:5683 $ORIGIN:5683 "$@"; }
O=coap://$ORIGIN:5683

s GET "$O/time?ticks" -- c GET "$O/time?ticks"
s GET "$O/" -- c GET "$O/"
s GET "$O/.well-known/core" -- c GET "$O/.well-known/core"
s PUT "$O/example_data" -- c --payload "$BIG" --block1 4 PUT "$O/example_data"
s GET "$O/example_data" -- c --block2 3 GET "$O/example_data"
s PUT "$O/sensors/temp" -- c --payload '{"t":21.5}' PUT "$O/sensors/temp"
s GET "$O/sensors/temp?unit=C" -- c GET "$O/sensors/temp?unit=C"
s POST "$O/sensors/temp" -- c --payload 22 POST "$O/sensors/temp"
s DELETE "$O/sensors/temp" -- c DELETE "$O/sensors/temp"
s GET "$O/time" -- c --non GET "$O/time"
s GET "coap://$ORIGIN/time" -- c GET "coap://$ORIGIN/time"
s GET "$O/time" -- c --observe 3 GET "$O/time"
# Nobody listens on 127.0.2.250: node-coap's UDP socket does not see the ICMP error.
step $CLIENT $PROXY:5683 127.0.2.250:5683 GET coap://127.0.2.250:5683/nowhere -- c GET coap://127.0.2.250:5683/nowhere

sleep 2
capture_stop
