#!/usr/bin/env bash
# Side-by-side MDDR + BDC throughput: coalescope-metrics (Rust, one core, streaming) vs
# pandas, on the same seeded 10^7-event timeline.
#
#   bench/metrics/run.sh [N] [SEED]      (defaults: 10000000 42)
#
# 1. writes the timeline as Parquet with the timeline crate's writer
#    (crates/metrics/examples/gen_events.rs) to $OUT (default target dir),
# 2. runs the Rust bench (crates/metrics/benches/throughput.rs), which regenerates the
#    same events in memory from the same seed,
# 3. runs bench/metrics/mddr_bdc_pandas.py on the Parquet file.
# Both print a "groups ... mean MDDR ... high-BDC intervals" line: they must agree.
# The Rust bench prints wall and on-CPU rates (the CPU figure is the fair one on a shared
# machine). Needs python3 with pandas >= 2 and pyarrow (the script pip-installs them if
# missing).
set -euo pipefail
N="${1:-10000000}"
SEED="${2:-42}"
ROOT="$(cd "$(dirname "$0")/../.." && pwd)"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$ROOT/target}"
OUT="${OUT:-$CARGO_TARGET_DIR/metrics-bench-events-$N-$SEED.parquet}"
cd "$ROOT"
if [ ! -s "$OUT" ]; then
    cargo run --quiet --release -p coalescope-metrics --example gen_events -- "$OUT" "$N" "$SEED"
fi
echo "== Rust: coalescope-metrics (seed $SEED, $N events) =="
if [ "$SEED" != 42 ]; then
    echo "note: the Rust bench always uses seed 42; compare values only for SEED=42" >&2
fi
cargo bench --quiet -p coalescope-metrics --bench throughput -- "$N"
echo "== pandas =="
python3 "$ROOT/bench/metrics/mddr_bdc_pandas.py" "$OUT"
