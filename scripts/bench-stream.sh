#!/usr/bin/env bash
# Throughput of the distributed analysis: a sensor publishes a generated
# capture to NATS JetStream (one node with one replica, or three nodes with
# three), then an analyzer consumes and audits it. Prints messages/s of
# each and checks the analyzer's exchanges and findings against a local
# analyze of the same capture.
# Usage: scripts/bench-stream.sh [N] [NODES]   (default: 200000 1)
set -euo pipefail
cd "$(dirname "$0")/.."
n=${1:-200000}; nodes=${2:-1}
tmp=$(mktemp -d "${TMPDIR:-/tmp}/coapaudit-stream-bench.XXXXXX")
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$tmp"; }
trap cleanup EXIT
go build -o "$tmp/coapaudit" ./cmd/coapaudit
go run ./samples/gen -o "$tmp/gen.pcap" -n "$n"
ports=($(python3 -c "
import socket
ss=[socket.socket() for _ in range(2*$nodes)]
for s in ss: s.bind(('127.0.0.1',0))
print(' '.join(str(s.getsockname()[1]) for s in ss))"))
routes=""; urls=""
for ((i = 0; i < nodes; i++)); do
  routes+="nats-route://127.0.0.1:${ports[nodes+i]},"; urls+="nats://127.0.0.1:${ports[i]},"
done
routes=${routes%,}; urls=${urls%,}
for ((i = 0; i < nodes; i++)); do
  conf="$tmp/n$i.conf"
  printf 'server_name: n%d\nlisten: 127.0.0.1:%d\njetstream { store_dir: "%s" }\n' "$i" "${ports[i]}" "$tmp/store$i" >"$conf"
  if [ "$nodes" -gt 1 ]; then
    printf 'cluster { name: c; listen: 127.0.0.1:%d; routes: [%s] }\n' "${ports[nodes+i]}" "$routes" >>"$conf"
  fi
  nats-server -c "$conf" >"$tmp/n$i.log" 2>&1 &
  pids+=($!)
done
for _ in $(seq 100); do
  "$tmp/coapaudit" streams init "$urls" --stream BENCH --replicas "$nodes" >/dev/null 2>&1 && break
  sleep 0.2
done
pub=$("$tmp/coapaudit" analyze --publish "$urls" --sensor s1 --site lab "$tmp/gen.pcap")
echo "$pub" | python3 -c 'import json,sys; p=json.load(sys.stdin); print("publish: %d records in %.2f s: %.0f records/s; acked %d, dropped %d, failed %d" % (p["records"], p["seconds"], p["records"]/p["seconds"], p["acked"], p["dropped"], p["failed"]))'
idle=1
start=$(date +%s.%N)
"$tmp/coapaudit" analyze --format ndjson "$urls" --stream BENCH --idle $idle >"$tmp/remote.ndjson"
end=$(date +%s.%N)
python3 -c "print('consume and analyze: %d records in %.2f s (without the %d s idle end): %.0f records/s' % ($n, $end-$start-$idle, $idle, $n/($end-$start-$idle)))"
start=$(date +%s.%N)
"$tmp/coapaudit" analyze --format ndjson "$tmp/gen.pcap" >"$tmp/local.ndjson"
end=$(date +%s.%N)
python3 -c "print('local analyze (one process): %d frames in %.2f s: %.0f frames/s' % ($n, $end-$start, $n/($end-$start)))"
python3 - "$tmp/local.ndjson" "$tmp/remote.ndjson" <<'PY'
import json, sys, collections
def view(f):
    x, fi = collections.Counter(), collections.Counter()
    for l in open(f):
        r = json.loads(l)
        if r["type"] == "exchange": x[(r["method"], r["uri"], r["status"], len(r["legs"]))] += 1
        if r["type"] == "finding": fi[(r["rule"], r["severity"], r["certainty"])] += 1
    return x, fi
(lx, lf), (rx, rf) = view(sys.argv[1]), view(sys.argv[2])
print("local: %d exchanges, %d findings; stream: %d exchanges, %d findings; %s" % (
    sum(lx.values()), sum(lf.values()), sum(rx.values()), sum(rf.values()), "equal" if (lx, lf) == (rx, rf) else "DIFFERENT"))
PY
