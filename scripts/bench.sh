#!/usr/bin/env bash
# Whole-process benchmarks on generated captures. Prints frames/s and peak
# RSS for coapaudit and, when installed, tshark on the same file.
# Usage: scripts/bench.sh [N ...]   (default: 1000000)
set -euo pipefail
cd "$(dirname "$0")/.."
tmp=${TMPDIR:-/tmp}/coapaudit-bench
mkdir -p "$tmp"
go build -o "$tmp/coapaudit" ./cmd/coapaudit
go build -o "$tmp/gen" ./samples/gen
sizes=("$@"); [ ${#sizes[@]} -gt 0 ] || sizes=(1000000)

measure() { # label frames cmd...
  local label=$1 n=$2; shift 2
  local out; out=$( { /usr/bin/time -f '%e %M' "$@" >/dev/null; } 2>&1 | tail -n 1)
  local secs=${out% *} kb=${out#* }
  awk -v l="$label" -v n="$n" -v s="$secs" -v kb="$kb" \
    'BEGIN { printf "%-40s %10d frames %8.2f s %12.0f frames/s %8.1f MiB peak RSS\n", l, n, s, n/s, kb/1024 }'
}

for n in "${sizes[@]}"; do
  f="$tmp/gen-$n.pcap"
  [ -f "$f" ] || "$tmp/gen" -o "$f" -n "$n" -proxy
  measure "coapaudit packets --format ndjson" "$n" "$tmp/coapaudit" packets --format ndjson "$f"
  if [ -x "$tmp/coapaudit" ] && "$tmp/coapaudit" analyze --help >/dev/null 2>&1; then
    measure "coapaudit analyze --format ndjson" "$n" "$tmp/coapaudit" analyze --format ndjson "$f"
  fi
  if command -v tshark >/dev/null && [ "$n" -le 1000000 ]; then
    measure "tshark -T fields (coap)" "$n" tshark -n -r "$f" -T fields -e frame.number -e coap.type -e coap.code -e coap.mid -e coap.token -e coap.opt.uri_path -e coap.payload_length
  fi
done
