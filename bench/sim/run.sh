#!/usr/bin/env bash
# Indicative whole-process benchmark of `coalescope sim` (issue 9 targets):
#   EQE example, 10^7 packets, --json            target >= 30 M pkt/s, <= 64 MB peak RSS
#   EQE example, 10^8 packets, --json            target <= 64 MB peak RSS
#   EQE example, 10^7 packets, -o events.parquet target >= 8 M pkt/s
# Median wall time of $RUNS fresh processes; peak RSS from /usr/bin/time -v.
# Usage: bench/sim/run.sh [path/to/coalescope]   (default: builds target/release/coalescope)
set -euo pipefail
cd "$(dirname "$0")/../.."
BIN=${1:-}
RUNS=${RUNS:-5}
if [[ -z "$BIN" ]]; then
  cargo build --release -q -p coalescope
  BIN=target/release/coalescope
fi
[[ -x /usr/bin/time ]] || { echo "needs /usr/bin/time (Debian package: time)" >&2; exit 1; }
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT

# run NAME PACKETS ARGS...: prints median wall, M pkt/s and the largest peak RSS.
run() {
  local name=$1 packets=$2; shift 2
  local walls=() rss=0
  for _ in $(seq "$RUNS"); do
    /usr/bin/time -v -o "$TMP/time" "$BIN" sim --scenario scenarios/eqe-example.toml \
      --packets "$packets" "$@" > /dev/null
    local w r
    w=$(awk -F': ' '/Elapsed \(wall clock\)/ {n=split($2,a,":"); s=0; for(i=1;i<=n;i++) s=s*60+a[i]; print s}' "$TMP/time")
    r=$(awk -F': ' '/Maximum resident set size/ {print $2}' "$TMP/time")
    walls+=("$w")
    (( r > rss )) && rss=$r
  done
  local med
  med=$(printf '%s\n' "${walls[@]}" | sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}')
  awk -v n="$name" -v p="$packets" -v w="$med" -v r="$rss" \
    'BEGIN {printf "%-44s %6.2f s  %7.2f M pkt/s  %7.1f MB peak RSS\n", n, w, p/w/1e6, r/1024}'
}

echo "coalescope sim, $(date -u +%Y-%m-%d), $(nproc) cores, median of $RUNS runs: $BIN"
run "EQE example, 1e7 packets, --json" 10000000 --json
run "EQE example, 1e7 packets, -o events.parquet" 10000000 -o "$TMP/events.parquet"
RUNS=1 run "EQE example, 1e8 packets, --json (1 run)" 100000000 --json
