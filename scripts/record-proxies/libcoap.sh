#!/bin/bash
# libcoap 4.3.1: coap-client-notls -> coap-server-notls as forward proxy ->
# coap-server-notls as origin, all plain CoAP on loopback.
#
#   client 127.0.2.3 (one ephemeral port per request)
#   proxy  127.0.2.2:5683 (its server-side leg leaves from 127.0.0.1, the
#          kernel's choice: libcoap does not bind the outgoing session)
#   origin 127.0.2.1:5683
#
# usage: libcoap.sh OUT.pcap
. "$(dirname "$0")/lib.sh"
OUT=$1

ORIGIN=127.0.2.1 PROXY=127.0.2.2 CLIENT=127.0.2.3
for a in $ORIGIN $PROXY; do ensure_free $a 5683; done
bg coap-server-notls -A $ORIGIN -p 5683 -d 10
bg coap-server-notls -A $PROXY -p 5683 -P ,proxy.example
wait_udp $ORIGIN 5683
wait_udp $PROXY 5683

head -c 1500 /dev/zero | tr '\0' 'a' | fold -w 64 >"$WORK/big.txt"

capture_start "$OUT"
c() { coap-client-notls -a $CLIENT -P coap://$PROXY -B 5 "$@"; }
s() { step $CLIENT $PROXY:5683 $ORIGIN:5683 "$@"; }
O=coap://$ORIGIN

s GET "$O/time?ticks" -- c "$O/time?ticks"
s GET "$O/" -- c "$O/"
s GET "$O/.well-known/core" -- c "$O/.well-known/core"
s PUT "$O/example_data" -- c -m put -b 256 -f "$WORK/big.txt" "$O/example_data"
s GET "$O/example_data" -- c -b 128 "$O/example_data"
s PUT "$O/example_data" -- c -m put -e small-value "$O/example_data"
s GET "$O/example_data" -- c "$O/example_data"
s PUT "$O/sensors/temp" -- c -m put -t json -e '{"t":21.5}' "$O/sensors/temp"
s GET "$O/sensors/temp?unit=C&precise" -- c "$O/sensors/temp?unit=C&precise"
s POST "$O/sensors/temp" -- c -m post -e 22 "$O/sensors/temp"
s DELETE "$O/sensors/temp" -- c -m delete "$O/sensors/temp"
s GET "$O/does/not/exist?x=1" -- c "$O/does/not/exist?x=1"
s GET "$O/time" -- c -N "$O/time"
# The proxy tries the dead origin 5 times, then answers 5.02 (about a minute later).
step $CLIENT $PROXY:5683 127.0.2.250:5683 GET coap://127.0.2.250/nowhere -- c -B 90 coap://127.0.2.250/nowhere
# Last, because after the cancellation the origin goes on notifying the
# proxy (see PROXIES.md).
s GET "$O/time" -- c -s 3 "$O/time"

sleep 2
capture_stop
