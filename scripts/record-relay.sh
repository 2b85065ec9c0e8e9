#!/usr/bin/env bash
# Records the relay captures of testdata/captures on loopback: a client, the
# misbehaving relay of samples/relay, and an origin server, with tcpdump
# writing every datagram of 127.0.1.0/24. Afterwards the relay annotates its
# truth file with the frame numbers of each act.
#
# Usage: scripts/record-relay.sh [plain|oscore ...]   (default: plain oscore)
# Needs root (tcpdump on lo), tcpdump, libcoap 4.3.1's coap-client-notls and
# coap-server-notls; oscore also needs aiocoap's source (AIOCOAP=dir) and
# Debian's python3 with python3-cbor2, python3-cryptography, python3-filelock.
#
# Addresses: client 127.0.1.1, relay 127.0.1.2:5683, origin 127.0.1.3:5683.
set -euo pipefail
cd "$(dirname "$0")/.."
out=${OUT:-testdata/captures} # OUT=dir records elsewhere
tmp=$(mktemp -d "${TMPDIR:-/tmp}/record-relay.XXXXXX")
mkdir -p "$out"
go build -o "$tmp/relay" ./samples/relay

CLIENT=127.0.1.1 RELAY=127.0.1.2 ORIGIN=127.0.1.3 PORT=5683
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
}
trap cleanup EXIT

# wait_udp ADDR:PORT waits until something listens there.
wait_udp() {
  for _ in $(seq 100); do
    ss -Hlnu "src $1" | grep -q . && return 0
    sleep 0.05
  done
  echo "nothing listens on $1" >&2
  return 1
}

# start_capture FILE starts tcpdump and waits until it listens.
start_capture() {
  tcpdump -i lo -U -s 0 -w "$1" "udp and net 127.0.1.0/24" 2>"$tmp/tcpdump.log" &
  tcpdump_pid=$!
  pids+=("$tcpdump_pid")
  for _ in $(seq 100); do
    grep -q "listening on" "$tmp/tcpdump.log" && return 0
    sleep 0.05
  done
  echo "tcpdump did not start" >&2
  return 1
}

# start_relay TRUTH [SCHEDULE] starts the relay in front of the origin.
start_relay() {
  local sched=()
  [ $# -gt 1 ] && sched=(-schedule "$2")
  "$tmp/relay" -listen "$RELAY:$PORT" -origin "$ORIGIN:$PORT" -truth "$1" "${sched[@]}" 2>>"$tmp/relay.log" &
  relay_pid=$!
  pids+=("$relay_pid")
  wait_udp "$RELAY:$PORT"
}

# stop PID stops one program we started and waits for it.
stop() { kill -TERM "$1"; wait "$1" || true; }

# finish NAME stops the relay and tcpdump and annotates NAME's truth file.
finish() {
  stop "$relay_pid"
  sleep 0.5 # let tcpdump see the last datagrams
  stop "$tcpdump_pid"
  chown "$(id -u):$(id -g)" "$out/$1.pcap"
  "$tmp/relay" -annotate "$out/$1.pcap" -truth "$out/$1.truth.jsonl"
  echo "$out/$1.pcap: $(tcpdump -r "$out/$1.pcap" 2>/dev/null | wc -l) frames, $(wc -l <"$out/$1.truth.jsonl") acts"
}

record_plain() {
  start_capture "$out/relay-plain.pcap"
  coap-server-notls -A "$ORIGIN" -p "$PORT" -d 10 -v 0 &
  server_pid=$!
  pids+=("$server_pid")
  wait_udp "$ORIGIN:$PORT"
  start_relay "$out/relay-plain.truth.jsonl"

  # One request each (n = 1, 2, ...) unless noted; the relay's default
  # schedule (samples/relay/acts.go) says what happens to which. Each
  # client gets its own token ("rqNN", which libcoap increments once).
  local u="coap://$RELAY"
  req() { local n=$1; shift; coap-client-notls -a "$CLIENT" -B 6 -T "$(printf 'rq%02d' "$n")" "$@"; }
  req 1 -m get "$u/time"                                         # faithful
  req 2 -m put -t text/plain -e "hello world" "$u/example_data"  # request payload
  req 3 -m get "$u/example_data"                                 # response payload
  req 4 -m get "$u/time"                                         # GET -> FETCH
  req 5 -m put -e "temp=21" "$u/dyn1"                            # faithful (creates /dyn1)
  req 6 -m get "$u/time?ticks"                                   # 2.05 -> 4.04
  req 7 -m put -t json -e '{"v":1}' "$u/example_data"            # request Content-Format
  req 8 -m get "$u/example_data"                                 # response Content-Format
  req 9 -m get "$u/dyn1"                                         # Uri-Path dyn1 -> example_data
  req 10 -m get "$u/time"                                        # forged answer
  req 11 -m post -e "x" "$u/test"                                # faithful
  req 12 -m get "$u/time"                                        # held 1.5 s
  req 13 -B 4 -m get "$u/example_data" || true                   # response withheld, also to the retransmission
  req 14 -m get "$u/time"                                        # response sent 3 times
  req 15 -m put -e "temp=22" "$u/dyn1"                           # request replayed
  req 16 -m delete "$u/dyn1"                                     # Uri-Path dropped
  req 17 -m get "$u/time?ticks"                                  # faithful
  req 18 -m put -e "abc" "$u/example_data"                       # 2.04 -> 2.01
  req 19 -N -m get "$u/time"                                     # faithful, NON
  req 20 -N -m get "$u/example_data"                             # response payload, NON
  req 21 -s 3 -B 5 -m get "$u/time"                              # Observe, 3 notifications and the
                                                                 # deregistration (22), faithful
  finish relay-plain
  stop "$server_pid"
}

# OSCORE test context (client's view, Wireshark's oscore_contexts format),
# committed with the capture. context_dir ROLE DIR writes aiocoap's
# settings.json for "client" or "server" into DIR.
OSCORE_CONTEXTS=testdata/captures/relay-oscore.oscore_contexts
context_dir() {
  local s r secret salt idc _
  IFS=, read -r s r secret salt idc _ <"$OSCORE_CONTEXTS"
  s=${s//\"/} r=${r//\"/} secret=${secret//\"/} salt=${salt//\"/} idc=${idc//\"/}
  [ "$1" = server ] && { local t=$s; s=$r; r=$t; }
  mkdir -p "$2"
  printf '{"sender-id_hex":"%s","recipient-id_hex":"%s","secret_hex":"%s","salt_hex":"%s","id-context_hex":"%s"}\n' \
    "$s" "$r" "$secret" "$salt" "$idc" >"$2/settings.json"
}

# The acts for the client's sequence in scripts/oscore-peer.py. Inside
# OSCORE the payload is ciphertext; the outer code, an outer
# Content-Format or Uri-Path the relay adds are visible and unprotected.
OSCORE_SCHEDULE="2:alter-request-payload,3:alter-response-payload,4:alter-method,5:alter-response-code,\
6:alter-content-format=request,7:alter-content-format=response,8:alter-uri-path=admin,9:forge,10:delay=1.5,\
11:flood=2,12:replay,16:drop"

record_oscore() {
  if [ -z "${AIOCOAP:-}" ] || [ ! -d "$AIOCOAP/aiocoap" ]; then
    echo "oscore: set AIOCOAP to aiocoap 0.4.7's source (git archive 0.4.7 of chrysn/aiocoap)" >&2
    return 1
  fi
  export PYTHONPATH=$AIOCOAP
  context_dir client "$tmp/ctx/client"
  context_dir server "$tmp/ctx/server"
  start_capture "$out/relay-oscore.pcap"
  /usr/bin/python3 scripts/oscore-peer.py server "$ORIGIN" "$tmp/ctx/server" 2>"$tmp/server.log" &
  server_pid=$!
  pids+=("$server_pid")
  wait_udp "$ORIGIN:$PORT"
  start_relay "$out/relay-oscore.truth.jsonl" "$OSCORE_SCHEDULE"
  /usr/bin/python3 scripts/oscore-peer.py client "$CLIENT" "$RELAY" "$tmp/ctx/client"
  finish relay-oscore
  stop "$server_pid"
}

for what in "${@:-plain oscore}"; do
  for w in $what; do
    case $w in
      plain) record_plain ;;
      oscore) record_oscore ;;
      *) echo "unknown recording $w" >&2; exit 2 ;;
    esac
  done
done
