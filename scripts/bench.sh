#!/usr/bin/env bash
# Whole-process benchmarks on generated captures: coapaudit packets and
# analyze against tshark, frames/s and peak RSS side by side, in one run.
#
# Usage: scripts/bench.sh [-r RUNS] [N ...]   (default: 1000000)
#
# For each N: a capture of N frames of proxied traffic (samples/gen) and
# one of N never-answered requests with unique tokens (samples/gen
# -flood). Each measurement is repeated RUNS times (default 3), coapaudit
# and tshark back to back in the same round, and reported as the range
# (min-max) of frames per second of wall time, frames per second of CPU
# time (user + system: less disturbed by other work on a shared machine)
# and peak RSS; the ratios are coapaudit analyze over tshark -2
# (two-pass, which links requests and responses), the worst over the
# worst and the best over the best. "analyze, one CPU" runs with
# GOMAXPROCS=1, without the pipeline that spreads analyze over the cores. tshark runs only up to
# TSHARK_MAX frames (default 1000000; it keeps state per frame and needs
# gigabytes beyond). Set COAPAUDIT_BENCH_PACKETS=1 to add the decoder
# alone (coapaudit packets and tshark one-pass).
set -euo pipefail
cd "$(dirname "$0")/.."
runs=3
if [ "${1:-}" = "-r" ]; then runs=$2; shift 2; fi
tmp=${TMPDIR:-/tmp}/coapaudit-bench
mkdir -p "$tmp"
go build -o "$tmp/coapaudit" ./cmd/coapaudit
go build -o "$tmp/gen" ./samples/gen
sizes=("$@"); [ ${#sizes[@]} -gt 0 ] || sizes=(1000000)
tshark_max=${TSHARK_MAX:-1000000}
have_tshark=0; command -v tshark >/dev/null && have_tshark=1
fields=(-T fields -e frame.number -e coap.type -e coap.code -e coap.mid -e coap.token -e coap.opt.uri_path)

# once LABEL N CMD...: runs CMD with output to /dev/null, appends
# "LABEL frames/s frames/CPU-s KiB" to $tmp/results.
once() {
  local label=$1 n=$2; shift 2
  /usr/bin/time -o "$tmp/time" -f '%e %U %S %M' "$@" >/dev/null 2>/dev/null || true
  tail -n 1 "$tmp/time" | awk -v l="$label" -v n="$n" \
    '{ cpu = $2 + $3; printf "%s\t%.0f\t%.0f\t%d\n", l, n/($1>0?$1:0.01), n/(cpu>0?cpu:0.01), $4 }' >>"$tmp/results"
}

for n in "${sizes[@]}"; do
  f="$tmp/gen-$n.pcap"; fl="$tmp/flood-$n.pcap"
  [ -f "$f" ] || "$tmp/gen" -o "$f" -n "$n"
  [ -f "$fl" ] || "$tmp/gen" -o "$fl" -n "$n" -flood
  : >"$tmp/results"
  tshark_ok=$(( have_tshark && n <= tshark_max ))
  for _ in $(seq "$runs"); do
    once "analyze" "$n" "$tmp/coapaudit" analyze --format ndjson "$f"
    once "analyze, one CPU" "$n" env GOMAXPROCS=1 "$tmp/coapaudit" analyze --format ndjson "$f"
    if [ "$tshark_ok" = 1 ]; then
      once "tshark -2" "$n" tshark -2 -n -r "$f" "${fields[@]}" -e coap.response_in -e coap.response_to
    fi
    once "analyze, flood" "$n" "$tmp/coapaudit" analyze --format ndjson "$fl"
    if [ "$tshark_ok" = 1 ]; then
      once "tshark -2, flood" "$n" tshark -2 -n -r "$fl" "${fields[@]}" -e coap.response_in -e coap.response_to
    fi
    if [ "${COAPAUDIT_BENCH_PACKETS:-0}" = 1 ]; then
      once "packets" "$n" "$tmp/coapaudit" packets --format ndjson "$f"
      [ "$tshark_ok" = 1 ] && once "tshark (one pass)" "$n" tshark -n -r "$f" "${fields[@]}"
    fi
  done
  echo "== $n frames, $runs runs (min-max) =="
  awk -F'\t' '
    function upd(a, l, v) { if (!((l, a) in lo) || v < lo[l, a]) lo[l, a] = v; if (!((l, a) in hi) || v > hi[l, a]) hi[l, a] = v }
    { if (!($1 in seen)) { seen[$1] = 1; order[++k] = $1 }
      upd(1, $1, $2); upd(2, $1, $3); upd(3, $1, $4 / 1024) }
    function ratio(name, a, b, col) {
      if (((a, col) in lo) && ((b, col) in lo))
        printf "%-34s %6.1f - %-6.1f\n", name, lo[a, col] / lo[b, col], hi[a, col] / hi[b, col]
    }
    END {
      printf "%-20s %23s %23s %17s\n", "", "frames/s (wall)", "frames/CPU-s", "peak RSS (MiB)"
      for (i = 1; i <= k; i++) { l = order[i]
        printf "%-20s %10d - %-10d %10d - %-10d %7.1f - %-7.1f\n", l, lo[l, 1], hi[l, 1], lo[l, 2], hi[l, 2], lo[l, 3], hi[l, 3] }
      ratio("analyze / tshark -2 (wall)", "analyze", "tshark -2", 1)
      ratio("analyze / tshark -2 (CPU)", "analyze", "tshark -2", 2)
      ratio("flood: analyze / tshark -2 (wall)", "analyze, flood", "tshark -2, flood", 1)
      ratio("flood: analyze / tshark -2 (CPU)", "analyze, flood", "tshark -2, flood", 2)
      ratio("analyze: ordinary / flood (CPU)", "analyze", "analyze, flood", 2)
      ratio("analyze: pipeline / one CPU (wall)", "analyze", "analyze, one CPU", 1)
    }' "$tmp/results"
done
