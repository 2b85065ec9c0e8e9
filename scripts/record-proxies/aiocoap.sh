#!/bin/bash
# aiocoap (git, run from source with Debian's python3): aiocoap-proxy as a
# forward proxy and as a reverse proxy in front of a libcoap 4.3.1
# coap-server-notls origin. Clients: aiocoap (which asks a forward proxy
# with Uri-Host + Proxy-Scheme, not Proxy-Uri) and libcoap's coap-client
# (Proxy-Uri).
#
#   aiocoap client      127.0.2.7 (one ephemeral port per request)
#   libcoap client      127.0.2.3
#   forward proxy       127.0.2.6:5683 \ both leave towards the origin
#   reverse proxy       127.0.2.9:5683 / from 127.0.0.1 (unbound socket)
#   origin              127.0.2.1:5683
#   aiocoap-fileserver  127.0.2.8:5683 (an origin that validates ETags)
#
# usage: aiocoap.sh OUT.pcap   (PYTHONPATH must find aiocoap)
. "$(dirname "$0")/lib.sh"
OUT=$1
HERE=$(cd "$(dirname "$0")" && pwd)
AIOCOAP=$(/usr/bin/python3 -c 'import aiocoap, os; print(os.path.dirname(os.path.dirname(aiocoap.__file__)))')

ORIGIN=127.0.2.1 FILES=127.0.2.8 FWD=127.0.2.6 REV=127.0.2.9 ACLIENT=127.0.2.7 LCLIENT=127.0.2.3
mkdir -p "$WORK/files"
echo "valve open, 21.5 C" >"$WORK/files/status.txt"
for a in $ORIGIN $FILES $FWD $REV; do ensure_free $a 5683; done
bg coap-server-notls -A $ORIGIN -p 5683 -d 10
bg /usr/bin/python3 "$AIOCOAP/aiocoap-fileserver" --bind $FILES:5683 "$WORK/files"
bg /usr/bin/python3 "$AIOCOAP/aiocoap-proxy" --forward --bind $FWD:5683
bg /usr/bin/python3 "$AIOCOAP/aiocoap-proxy" --reverse --bind $REV:5683 --pathbased lc:$ORIGIN
wait_udp $ORIGIN 5683
wait_udp $FILES 5683
wait_udp $FWD 5683
wait_udp $REV 5683

BIG=$(head -c 1500 /dev/zero | tr '\0' 'c')

capture_start "$OUT"
a() { timeout 20 /usr/bin/python3 "$HERE/aiocoap-client.py" --bind $ACLIENT "$@"; }
af() { a --proxy coap://$FWD "$@"; }
sa() { step $ACLIENT $FWD:5683 $ORIGIN:5683 "$@"; }
sr() { step $ACLIENT $REV:5683 $ORIGIN:5683 "$@"; }
sl() { step $LCLIENT $FWD:5683 $ORIGIN:5683 "$@"; }
l() { coap-client-notls -a $LCLIENT -P coap://$FWD -B 5 "$@"; }
O=coap://$ORIGIN

# aiocoap client -> forward proxy
sa GET "$O/time?ticks" -- af GET "$O/time?ticks"
sa GET "$O/.well-known/core" -- af GET "$O/.well-known/core"
sa PUT "$O/example_data" -- af --payload "$BIG" PUT "$O/example_data"
sa GET "$O/example_data" -- af --block2 3 GET "$O/example_data"
sa PUT "$O/sensors/temp" -- af --payload '{"t":21.5}' PUT "$O/sensors/temp"
sa GET "$O/sensors/temp?unit=C&precise" -- af GET "$O/sensors/temp?unit=C&precise"
sa DELETE "$O/sensors/temp" -- af DELETE "$O/sensors/temp"
sa GET "$O/does/not/exist?x=1" -- af GET "$O/does/not/exist?x=1"
sa GET "$O/time" -- af --observe 3 GET "$O/time"
# libcoap client (Proxy-Uri) -> forward proxy
sl GET "$O/example_data" -- l "$O/example_data"
sl GET "$O/sensors/none?unit=C" -- l "$O/sensors/none?unit=C"
sl POST "$O/example_data" -- l -m post -e 23 "$O/example_data"
# aiocoap client -> reverse proxy, /lc/... is the origin's /...
sr GET "coap://$REV/lc/example_data" -- a GET "coap://$REV/lc/example_data"
sr GET "coap://$REV/lc/.well-known/core" -- a GET "coap://$REV/lc/.well-known/core"
sr GET "coap://$REV/lc/time" -- a GET "coap://$REV/lc/time"
# ETag validation at aiocoap's fileserver, whose ETag is the first 8 bytes
# of sha256(repr((st_mtime_ns, st_ctime_ns, st_size))) of the file.
ETAG=$(/usr/bin/python3 -c 'import hashlib, os, sys
st = os.stat(sys.argv[1])
print(hashlib.sha256(repr((st.st_mtime_ns, st.st_ctime_ns, st.st_size)).encode()).digest()[:8].hex())' "$WORK/files/status.txt")
F=coap://$FILES
step $ACLIENT $FWD:5683 $FILES:5683 GET "$F/status.txt" -- af --etag "$ETAG" GET "$F/status.txt"
step $ACLIENT $FWD:5683 $FILES:5683 GET "$F/status.txt" -- af --etag 0011223344556677 GET "$F/status.txt"
# Nobody listens on 127.0.2.250.
step $ACLIENT $FWD:5683 127.0.2.250:5683 GET coap://127.0.2.250/nowhere -- af GET coap://127.0.2.250/nowhere

sleep 1
capture_stop
