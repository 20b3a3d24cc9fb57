#!/usr/bin/env bash
# coalescope sql (DataFusion) vs coalescope analyze on the same 10^7-event dataset (issue
# 13): the single Parquet file pyarrow writes (bench/analyze/gen_events.py) and the same
# rows split by time into a lake of 10 files. Each command is one fresh process under
# /usr/bin/time -v (wall, peak RSS); both compute the md metrics per (stream, symbol,
# venue) and the script checks that their MDDRs agree before printing the table.
#
#   bench/sql/run.sh [EVENTS]        (default 10000000; data in $DATA, default target/bench-data;
#                                     COALESCOPE_BIN=path skips the release build)
set -euo pipefail
EVENTS="${1:-10000000}"
ROOT="$(cd "$(dirname "$0")/../.." && pwd)"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$ROOT/target}"
DATA="${DATA:-$CARGO_TARGET_DIR/bench-data}"
BIN="${COALESCOPE_BIN:-$CARGO_TARGET_DIR/release/coalescope}"
PY="${PYTHON:-python3}"
cd "$ROOT"
mkdir -p "$DATA"
[ -x /usr/bin/time ] || { echo "bench/sql/run.sh: needs /usr/bin/time (Debian package: time)" >&2; exit 3; }
"$PY" -c 'import pyarrow, numpy' 2>/dev/null || pip install --quiet pyarrow numpy
[ -n "${COALESCOPE_BIN:-}" ] || cargo build --release --quiet -p coalescope

FILE="$DATA/events-$EVENTS.parquet"
[ -s "$FILE" ] || "$PY" bench/analyze/gen_events.py "$DATA" "$EVENTS" 42
LAKE="$DATA/lake-$EVENTS"
if [ ! -d "$LAKE" ]; then
    "$PY" - "$FILE" "$LAKE" <<'PYEOF'
import os, sys
import pyarrow.parquet as pq
src, out = sys.argv[1], sys.argv[2]
t = pq.read_table(src)
os.makedirs(out)
n = t.num_rows
for i in range(10):  # time order: the file is sorted by t_ingress
    lo, hi = i * n // 10, (i + 1) * n // 10
    pq.write_table(t.slice(lo, hi - lo), os.path.join(out, f"part-{i:03d}.parquet"),
                   compression="snappy", row_group_size=250_000)
PYEOF
fi

QUERY="SELECT stream, symbol, venue, count(*) AS n_md,
  mddr(t_ingress_ns, t_app_ns) AS mddr, mddr_q50(t_ingress_ns, t_app_ns) AS mddr_q50,
  mddr_q99(t_ingress_ns, t_app_ns) AS mddr_q99, gap_compression(t_ingress_ns, t_app_ns) AS gap_compression,
  delay_q(t_ingress_ns, t_app_ns, 0.5) AS delay_p50_ns, delay_q(t_ingress_ns, t_app_ns, 0.99) AS delay_p99_ns,
  delay_max(t_ingress_ns, t_app_ns) AS delay_max_ns, negative_delays(t_ingress_ns, t_app_ns) AS delay_negative,
  bdc_median(t_ingress_ns, t_app_ns) AS bdc_median, bdc_max(t_ingress_ns, t_app_ns) AS bdc_max
FROM events WHERE kind = 'md' GROUP BY 1, 2, 3 ORDER BY 1, 2, 3"

TIME="$DATA/time.txt"
ROWS=()
measure() {
    local name=$1 out=$2
    shift 2
    /usr/bin/time -v -o "$TIME" "$@" >"$out" 2>"$DATA/last.err" || {
        cat "$DATA/last.err" >&2; echo "bench/sql/run.sh: failed: $*" >&2; exit 2; }
    local wall rss
    wall=$(awk -F': ' '/Elapsed \(wall clock\)/ {print $2}' "$TIME")
    rss=$(awk -F': ' '/Maximum resident set size/ {print $2}' "$TIME")
    local secs
    secs=$(echo "$wall" | awk -F: '{ if (NF == 3) print $1*3600 + $2*60 + $3; else print $1*60 + $2 }')
    ROWS+=("$(printf '| %s | %.2f s | %d MB | %.2f M events/s |' "$name" "$secs" $((rss / 1024)) "$(echo "$EVENTS $secs" | awk '{print $1 / $2 / 1e6}')")")
}

measure "coalescope analyze --events FILE --json (all md metrics)" "$DATA/analyze.json" \
    "$BIN" analyze --events "$FILE" --json
measure "coalescope sql (md UDFs, 1 file)" "$DATA/sql-file.json" \
    "$BIN" sql "$QUERY" --table "events=$FILE" --json
measure "coalescope sql (md UDFs, lake of 10 files)" "$DATA/sql-lake.json" \
    "$BIN" sql "$QUERY" --table "events=$LAKE" --json
measure "coalescope analyze --events LAKE/*.parquet --json" "$DATA/analyze-lake.json" \
    "$BIN" analyze --events "$LAKE"/part-*.parquet --json

# The figures agree (per group MDDR, delays, counts) between analyze and sql.
"$PY" - "$DATA/analyze.json" "$DATA/sql-file.json" "$DATA/sql-lake.json" <<'PYEOF'
import json, sys
a = json.load(open(sys.argv[1]))
groups = {(g["stream"], g["symbol"], g["venue"]): g for g in a["groups"]}
for path in sys.argv[2:]:
    rows = json.load(open(path))
    assert len(rows) == len(groups), (path, len(rows), len(groups))
    for r in rows:
        g = groups[(r["stream"], r["symbol"], r["venue"])]
        for k in ("n_md", "mddr", "mddr_q50", "mddr_q99", "gap_compression", "delay_p50_ns",
                  "delay_p99_ns", "delay_max_ns", "bdc_median", "bdc_max"):
            assert r[k] == g[k], (path, k, r[k], g[k])
print(f"sql == analyze on {len(groups)} groups", file=sys.stderr)
PYEOF

echo "| command ($EVENTS events, $(nproc) cores, $(date -u +%Y-%m-%d)) | wall | peak RSS | rate |"
echo "|---|---|---|---|"
printf '%s\n' "${ROWS[@]}"
