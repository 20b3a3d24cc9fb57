#!/usr/bin/env bash
# Capture join throughput: `coalescope join` and `coalescope analyze --pcap` of a generated
# 10^6-packet pcap with a Parquet app log, before (a baseline binary) and after (this
# tree's release binary), next to `tcpdump -r FILE -w /dev/null` when tcpdump is
# installed; wall time and peak RSS from `/usr/bin/time -v`. Then the decode-only bench.
#
#   bench/capture/run.sh [PACKETS] [BASELINE_BINARY]
#       defaults: 1000000, no baseline (give an older binary to time it too)
#
# Needs python3 with numpy and pyarrow (bench/capture/gen_join.py writes the data).
set -euo pipefail
cd "$(dirname "$0")/../.."
n=${1:-1000000}
before=${2:-}
after=target/release/coalescope
data=${TMPDIR:-/tmp}/coalescope-bench-capture
mkdir -p "$data"
[ -f "$data/capture-$n.pcap" ] || python3 bench/capture/gen_join.py "$data" "$n" 42 1
cargo build -q --release -p coalescope
map="--stream-map 233.54.12.1:26400=feed-0 --stream-map 233.54.12.1:26401=feed-1"
map="$map --stream-map 233.54.12.1:26402=feed-2 --stream-map 233.54.12.1:26403=feed-3"
pcap="$data/capture-$n.pcap"
app="$data/app-$n.parquet"

# Wall seconds and peak RSS (MB) of a command, from /usr/bin/time -v.
measure() {
    local label=$1
    shift
    /usr/bin/time -v "$@" >/dev/null 2>"$data/time.txt" || { cat "$data/time.txt"; exit 1; }
    local wall rss
    wall=$(awk -F': ' '/Elapsed \(wall clock\)/ {print $2}' "$data/time.txt" |
        awk -F: '{ if (NF == 3) print $1*3600 + $2*60 + $3; else print $1*60 + $2 }')
    rss=$(awk -F': ' '/Maximum resident set size/ {printf "%.0f", $2 / 1024}' "$data/time.txt")
    printf '%-28s %7.2f s %8.1f M pkt/s %6s MB\n' "$label" "$wall" \
        "$(echo "$n / $wall / 1000000" | bc -l)" "$rss"
}

echo "capture join, $n packets ($pcap), app log $app"
for bin in "$before" "$after"; do
    [ -n "$bin" ] && [ -x "$bin" ] || { [ -n "$bin" ] && echo "($bin absent: skipped)"; continue; }
    tag=$([ "$bin" = "$after" ] && echo after || echo before)
    # shellcheck disable=SC2086
    measure "join ($tag)" "$bin" join --pcap "$pcap" --app-log "$app" $map -o "$data/out-$tag.parquet"
    # shellcheck disable=SC2086
    measure "analyze --pcap ($tag)" "$bin" analyze --pcap "$pcap" --app-log "$app" $map --json
done
if command -v tcpdump >/dev/null; then
    measure "tcpdump -r -w /dev/null" tcpdump -r "$pcap" -w /dev/null
else
    echo "(tcpdump not installed: apt-get install tcpdump for the reference row)"
fi
echo
echo "decode alone (cargo bench -p coalescope-capture --bench decode)"
cargo bench -q -p coalescope-capture --bench decode -- "$n" 2>/dev/null
