#!/bin/bash
# Record the proxy captures of testdata/captures (see PROXIES.md there) and
# derive their truth files. Needs tcpdump, tshark, libcoap 4.3.1's
# coap-client-notls/coap-server-notls, node + npm, /usr/bin/python3 and
# aiocoap's source. Uses only 127.0.2.0/24 on lo; run as root (tcpdump).
#
#   NODECOAP_DIR  where npm installs coap@1.5.0 (default /tmp/nodecoap)
#   AIOCOAP_DIR   an aiocoap 0.4.17 source tree (default /root/aiocoap-0.4.17;
#                 e.g. git archive 0.4.17 of github.com/chrysn/aiocoap)
#   OUT           where captures go (default testdata/captures)
#
# usage: scripts/record-proxies.sh [libcoap|nodecoap|aiocoap|mixes]...
set -eu
ROOT=$(cd "$(dirname "$0")/.." && pwd)
HERE=$ROOT/scripts/record-proxies
OUT=${OUT:-$ROOT/testdata/captures}
NODECOAP_DIR=${NODECOAP_DIR:-/tmp/nodecoap}
AIOCOAP_DIR=${AIOCOAP_DIR:-/root/aiocoap-0.4.17}

if [ ! -d "$NODECOAP_DIR/node_modules/coap" ]; then
	mkdir -p "$NODECOAP_DIR"
	npm install --prefix "$NODECOAP_DIR" coap@1.5.0
fi
export NODE_PATH=$NODECOAP_DIR/node_modules
export PYTHONPATH=$AIOCOAP_DIR

declare -A NAME=(
	[libcoap]=libcoap-proxy-reblock
	[nodecoap]=nodecoap-proxy
	[aiocoap]=aiocoap-proxy
	[mixes]=mixed-proxies
)
mkdir -p "$OUT"
for s in "${@:-libcoap nodecoap aiocoap mixes}"; do
	for s in $s; do
		work=$(mktemp -d)
		pcap=$OUT/${NAME[$s]}.pcap
		echo "== $s -> $pcap"
		WORK=$work "$HERE/$s.sh" "$pcap"
		/usr/bin/python3 "$HERE/truth.py" "$pcap" "$work/${NAME[$s]}.steps.jsonl" >"${pcap%.pcap}.truth.jsonl"
		rm -rf "$work"
	done
done
