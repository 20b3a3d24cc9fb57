#!/usr/bin/env bash
# One benchmark run, each tool next to its peer on the same input (issue 9 item 5):
#
#   sim      coalescope sim (EQE rx-usecs 50, Poisson 200k pkt/s, ideal host, --json)
#            vs a SimPy model of the same EQE + NAPI path (bench/sim/simpy_eqe.py); both
#            mean delays are checked against `coalescope model nic` (SPEC §3 closed form)
#   analyze  coalescope analyze --events (Parquet written by pyarrow, and CSV) vs pandas
#            and polars computing MDDR + BDC (bench/metrics/mddr_bdc_{pandas,polars}.py);
#            the peers' summary lines must agree with each other
#   join     coalescope join and analyze --pcap of a pcap (bench/capture/gen_join.py) with
#            a Parquet app log vs `tcpdump -r FILE -w /dev/null` on the same file; the same
#            packets split over 4 capture files (decoded on several cores)
#   desk     coalescope replay of a synthetic day (DESK_MESSAGES market messages, default
#            1e7) under one receive-path setting, and under two settings in parallel
#
# Every command runs as a fresh process under /usr/bin/time -v: the table gives wall
# time, peak RSS and the rate. Usage:
#
#   bench/run.sh [SIM_PACKETS] [EVENTS] [CAPTURE_PACKETS] [DESK_MESSAGES]
#                (defaults 1e7 1e7 1e6 1e7)
#
# Installs its peers when missing (pip: simpy, polars, pandas, pyarrow, numpy; apt as
# root: time, tcpdump). Data goes to $DATA (default target/bench-data). Measure on a quiet
# machine: on a shared one the wall times mostly measure the other processes.
set -euo pipefail
SIM_PACKETS="${1:-10000000}"
EVENTS="${2:-10000000}"
CAPTURE_PACKETS="${3:-1000000}"
DESK_MESSAGES="${4:-10000000}"
SIMPY_PACKETS="${SIMPY_PACKETS:-1000000}"
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$ROOT/target}"
DATA="${DATA:-$CARGO_TARGET_DIR/bench-data}"
BIN="$CARGO_TARGET_DIR/release/coalescope"
cd "$ROOT"
mkdir -p "$DATA"

if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    need=()
    [ -x /usr/bin/time ] || need+=(time)
    command -v tcpdump >/dev/null 2>&1 || need+=(tcpdump)
    if [ ${#need[@]} -gt 0 ]; then
        apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
    fi
fi
[ -x /usr/bin/time ] || { echo "bench/run.sh: needs /usr/bin/time (Debian package: time)" >&2; exit 3; }
python3 -c 'import simpy, polars, pandas, pyarrow, numpy' 2>/dev/null \
    || pip install --quiet simpy polars pandas pyarrow numpy
cargo build --release --quiet -p coalescope

TIME="$DATA/time.txt"
ROWS=()
# measure NAME UNITS COUNT CMD...: one fresh process; records wall, peak RSS, rate.
measure() {
    local name=$1 units=$2 count=$3
    shift 3
    /usr/bin/time -v -o "$TIME" "$@" >"$DATA/last.out" 2>"$DATA/last.err" || {
        cat "$DATA/last.err" >&2
        echo "bench/run.sh: failed: $*" >&2
        exit 2
    }
    local wall rss
    wall=$(awk -F': ' '/Elapsed \(wall clock\)/ {n=split($2,a,":"); s=0; for(i=1;i<=n;i++) s=s*60+a[i]; print s}' "$TIME")
    rss=$(awk -F': ' '/Maximum resident set size/ {print $2}' "$TIME")
    ROWS+=("$(awk -v n="$name" -v u="$units" -v c="$count" -v w="$wall" -v r="$rss" \
        'BEGIN {printf "| %s | %.2f s | %.1f MB | %.2f M %s/s |", n, w, r/1024, c/w/1e6, u}')")
}

echo "== sim vs SimPy" >&2
EXPECT=$("$BIN" model nic --rate 200000 --rx-usecs 50 --json | python3 -c 'import json,sys; print(json.load(sys.stdin)["mean_added_delay_ns"])')
measure "coalescope sim, EQE ideal host, $SIM_PACKETS packets, --json" packets "$SIM_PACKETS" \
    "$BIN" sim --scenario scenarios/eqe-ideal-host.toml --packets "$SIM_PACKETS" --json
SIM_MEAN=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["summary"]["mean_coalescing_delay_ns"])' "$DATA/last.out")
measure "SimPy $(python3 -c 'import simpy; print(simpy.__version__)'), same model, $SIMPY_PACKETS packets" packets "$SIMPY_PACKETS" \
    python3 bench/sim/simpy_eqe.py --packets "$SIMPY_PACKETS" --check "$EXPECT"
SIMPY_MEAN=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["mean_added_delay_ns"])' "$DATA/last.out")
echo "mean added delay: closed form $EXPECT ns, coalescope $SIM_MEAN ns, SimPy $SIMPY_MEAN ns" >&2

echo "== analyze vs pandas and polars ($EVENTS events)" >&2
if [ ! -s "$DATA/events-$EVENTS.parquet" ] || [ ! -s "$DATA/events-$EVENTS.csv" ]; then
    python3 bench/analyze/gen_events.py "$DATA" "$EVENTS" 42
fi
measure "coalescope analyze --events (Parquet by pyarrow), all md metrics" events "$EVENTS" \
    "$BIN" analyze --events "$DATA/events-$EVENTS.parquet" --json
measure "coalescope analyze --events (CSV by pyarrow), all md metrics" events "$EVENTS" \
    "$BIN" analyze --events "$DATA/events-$EVENTS.csv" --json
measure "pandas $(python3 -c 'import pandas; print(pandas.__version__)'), MDDR + BDC only, incl. read" events "$EVENTS" \
    python3 bench/metrics/mddr_bdc_pandas.py "$DATA/events-$EVENTS.parquet"
PANDAS=$(grep groups "$DATA/last.out")
measure "polars $(python3 -c 'import polars; print(polars.__version__)'), MDDR + BDC only, incl. read" events "$EVENTS" \
    python3 bench/metrics/mddr_bdc_polars.py "$DATA/events-$EVENTS.parquet"
POLARS=$(grep groups "$DATA/last.out")
if [ "$PANDAS" != "$POLARS" ]; then
    echo "bench/run.sh: pandas and polars disagree:" >&2
    echo "  pandas:$PANDAS" >&2
    echo "  polars:$POLARS" >&2
    exit 1
fi

echo "== join vs tcpdump ($CAPTURE_PACKETS packets)" >&2
PCAP="$DATA/capture-$CAPTURE_PACKETS.pcap"
APP="$DATA/app-$CAPTURE_PACKETS.parquet"
[ -s "$PCAP" ] && [ -s "$APP" ] || python3 bench/capture/gen_join.py "$DATA" "$CAPTURE_PACKETS" 42 1
MAP=(--stream-map 233.54.12.1:26400=feed-0 --stream-map 233.54.12.1:26401=feed-1
     --stream-map 233.54.12.1:26402=feed-2 --stream-map 233.54.12.1:26403=feed-3)
measure "coalescope join (pcap + Parquet app log -> Parquet)" packets "$CAPTURE_PACKETS" \
    "$BIN" join --pcap "$PCAP" --app-log "$APP" "${MAP[@]}" -o "$DATA/joined.parquet"
measure "coalescope analyze --pcap (join + all md metrics)" packets "$CAPTURE_PACKETS" \
    "$BIN" analyze --pcap "$PCAP" --app-log "$APP" "${MAP[@]}" --json
SPLIT=("$DATA/capture-$CAPTURE_PACKETS-0.pcap" "$DATA/capture-$CAPTURE_PACKETS-1.pcap"
       "$DATA/capture-$CAPTURE_PACKETS-2.pcap" "$DATA/capture-$CAPTURE_PACKETS-3.pcap")
[ -s "${SPLIT[3]}" ] || python3 bench/capture/gen_join.py "$DATA" "$CAPTURE_PACKETS" 42 4
measure "coalescope analyze --pcap, the same packets in 4 files" packets "$CAPTURE_PACKETS" \
    "$BIN" analyze --pcap "${SPLIT[@]}" --app-log "$APP" "${MAP[@]}" --json
if command -v tcpdump >/dev/null 2>&1; then
    measure "tcpdump $(tcpdump --version 2>&1 | awk 'NR==1 {print $3}') -r FILE -w /dev/null" packets "$CAPTURE_PACKETS" \
        tcpdump -r "$PCAP" -w /dev/null
fi

echo "== desk ($DESK_MESSAGES synthetic market messages)" >&2
DAY="$DATA/desk-day-$DESK_MESSAGES.toml"
cat >"$DAY" <<TOML
seed = 7
[nic]
policy = "ethtool"
rx_usecs = 50
[market]
kind = "synthetic"
messages = $DESK_MESSAGES
[parents]
count = 1000
qty = 1000
duration_ns = 2000000000
TOML
measure "coalescope replay, one setting (rx-usecs=50): sim + desk + analysis" messages "$DESK_MESSAGES" \
    "$BIN" replay --scenario "$DAY" --settings "rx-usecs=50" --json
measure "coalescope replay, two settings in parallel (rx-usecs=50; adaptive)" messages "$((2 * DESK_MESSAGES))" \
    "$BIN" replay --scenario "$DAY" --settings "rx-usecs=50; adaptive" --resamples 200 --json

echo
echo "coalescope benchmarks, $(date -u '+%Y-%m-%d %H:%M UTC'), $(nproc) cores, $(uname -r)"
echo
echo "| command | wall | peak RSS | rate |"
echo "|---|---:|---:|---:|"
printf '%s\n' "${ROWS[@]}"
