#!/usr/bin/env bash
# Whole-process throughput of `coalescope analyze --events FILE --json` on one
# 10^7-event Parquet file (pyarrow, snappy, 1 Mi-row row groups) and the same events as
# CSV, for issue 9 items 2 and 4 (parallel Parquet analysis, faster CSV).
#
#   bench/analyze/run.sh [N] [SEED]           (defaults: 10000000 42)
#   BEFORE=/path/to/old/coalescope bench/analyze/run.sh   also times an older binary
#                                                        and checks its JSON is identical
#
# 1. writes $DATA/events-N.parquet and events-N.csv with bench/analyze/gen_events.py
#    (needs python3 with numpy and pyarrow; pip-installs them if missing); the CSV is
#    rewritten without quotes (events-N-plain.csv), as pandas, polars and coalescope
#    write it; the quoted one (pyarrow's style) is timed too;
# 2. builds the release binary (unless $AFTER names one);
# 3. runs each binary on each file under /usr/bin/time -v and prints wall time, peak RSS
#    and M events/s; `cmp` checks the JSON of every run against the first.
# Indicative only on a shared machine: re-run on a quiet one for the README.
set -euo pipefail
N="${1:-10000000}"
SEED="${2:-42}"
ROOT="$(cd "$(dirname "$0")/../.." && pwd)"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$ROOT/target}"
DATA="${DATA:-$CARGO_TARGET_DIR/analyze-bench}"
cd "$ROOT"
python3 -c 'import numpy, pyarrow' 2>/dev/null || pip install --quiet numpy pyarrow
if [ ! -s "$DATA/events-$N.parquet" ] || [ ! -s "$DATA/events-$N.csv" ]; then
    python3 bench/analyze/gen_events.py "$DATA" "$N" "$SEED"
fi
if [ ! -s "$DATA/events-$N-plain.csv" ]; then
    sed 's/"//g' "$DATA/events-$N.csv" > "$DATA/events-$N-plain.csv"
fi
if [ -z "${AFTER:-}" ]; then
    cargo build --quiet --release -p coalescope
    AFTER="$CARGO_TARGET_DIR/release/coalescope"
fi
BINS=("$AFTER")
[ -n "${BEFORE:-}" ] && BINS=("$BEFORE" "$AFTER")
printf '%-28s %-40s %9s %10s %9s\n' file binary wall_s peak_MB Mev_per_s
for f in "events-$N.parquet" "events-$N-plain.csv" "events-$N.csv"; do
    first=""
    for bin in "${BINS[@]}"; do
        out="$DATA/$(basename "$bin").$(basename "$f").json"
        log="$DATA/time.log"
        /usr/bin/time -v "$bin" analyze --events "$DATA/$f" --json > "$out" 2> "$log"
        wall=$(awk -F': ' '/Elapsed \(wall clock\)/ {n=split($2,a,":"); s=0; for(i=1;i<=n;i++) s=s*60+a[i]; print s}' "$log")
        rss=$(awk -F': ' '/Maximum resident set size/ {printf "%.0f", $2/1024}' "$log")
        rate=$(awk -v n="$N" -v w="$wall" 'BEGIN {printf "%.2f", n/w/1e6}')
        printf '%-28s %-40s %9s %10s %9s\n' "$f" "$bin" "$wall" "$rss" "$rate"
        if [ -z "$first" ]; then first="$out"; else cmp -s "$first" "$out" || echo "  JSON differs: $first $out"; fi
    done
done
