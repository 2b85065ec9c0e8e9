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
# (min-max) of frames/s and of peak RSS; the ratio is coapaudit analyze
# over tshark -2 (two-pass, which links requests and responses), the
# best over the best and the worst over the worst. tshark runs only up to
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
# "LABEL frames/s KiB" to $tmp/results.
once() {
  local label=$1 n=$2; shift 2
  /usr/bin/time -o "$tmp/time" -f '%e %M' "$@" >/dev/null 2>/dev/null || true
  local out; out=$(tail -n 1 "$tmp/time")
  local secs=${out% *} kb=${out#* }
  awk -v l="$label" -v n="$n" -v s="$secs" -v kb="$kb" 'BEGIN { printf "%s\t%.0f\t%d\n", l, n/(s>0?s:0.001), kb }' >>"$tmp/results"
}

for n in "${sizes[@]}"; do
  f="$tmp/gen-$n.pcap"; fl="$tmp/flood-$n.pcap"
  [ -f "$f" ] || "$tmp/gen" -o "$f" -n "$n"
  [ -f "$fl" ] || "$tmp/gen" -o "$fl" -n "$n" -flood
  : >"$tmp/results"
  tshark_ok=$(( have_tshark && n <= tshark_max ))
  for _ in $(seq "$runs"); do
    once "analyze" "$n" "$tmp/coapaudit" analyze --format ndjson "$f"
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
    { if (!($1 in lo)) { order[++k] = $1; lo[$1] = hi[$1] = $2; mlo[$1] = mhi[$1] = $3 }
      if ($2 < lo[$1]) lo[$1] = $2; if ($2 > hi[$1]) hi[$1] = $2
      if ($3 < mlo[$1]) mlo[$1] = $3; if ($3 > mhi[$1]) mhi[$1] = $3 }
    END {
      printf "%-20s %24s %22s\n", "", "frames/s", "peak RSS (MiB)"
      for (i = 1; i <= k; i++) { l = order[i]
        printf "%-20s %11d - %-10d %9.1f - %-9.1f\n", l, lo[l], hi[l], mlo[l]/1024, mhi[l]/1024 }
      if ("tshark -2" in lo) printf "ratio analyze / tshark -2:        %.1f - %.1f\n", lo["analyze"]/lo["tshark -2"], hi["analyze"]/hi["tshark -2"]
      if ("tshark -2, flood" in lo) printf "ratio, flood:                     %.1f - %.1f\n", lo["analyze, flood"]/lo["tshark -2, flood"], hi["analyze, flood"]/hi["tshark -2, flood"]
      printf "flood per frame vs ordinary:      %.2f - %.2f times the time\n", lo["analyze"]/hi["analyze, flood"], hi["analyze"]/lo["analyze, flood"]
    }' "$tmp/results"
done
