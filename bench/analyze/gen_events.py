#!/usr/bin/env python3
"""Write a seeded N-event `events` table as Parquet (pyarrow, snappy) and CSV, for the
analyze throughput bench (bench/analyze/run.sh).

    python3 bench/analyze/gen_events.py OUT_DIR [N] [SEED]     (defaults 10000000 42)

Writes OUT_DIR/events-N.parquet (pyarrow's default row groups of 1 Mi rows, snappy) and
OUT_DIR/events-N.csv (pyarrow's CSV writer, quoting only where needed, times as integer
nanoseconds, null as an empty field).

Data (the model of crates/metrics/benches/common/synth.rs, numpy RNG): 1 M md events/s
(exponential gaps, mean 1 us) over 20 symbols x 2 venues, symbol s on feed s % 4, each
feed numbering its packets 1, 2, ...; delivery coalesced by a 50 us timer with 0-2 us
jitter (so t_app is locally out of order), 0.1 % never delivered; 20 % of events are
transitions; bid/ask a random walk around 100 per symbol.
"""

import os
import sys

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq


def main():
    out = sys.argv[1]
    n = int(sys.argv[2]) if len(sys.argv) > 2 else 10_000_000
    seed = int(sys.argv[3]) if len(sys.argv) > 3 else 42
    rng = np.random.default_rng(seed)
    t = 1_700_000_000_000_000_000 + np.cumsum(rng.exponential(1_000.0, n).astype(np.int64))
    sym = rng.integers(0, 20, n)
    feed = sym % 4
    seq = np.zeros(n, dtype=np.uint64)
    for f in range(4):
        m = feed == f
        seq[m] = np.arange(1, int(m.sum()) + 1, dtype=np.uint64)
    venue = rng.integers(0, 2, n)
    batch = 50_000
    t_app = (t // batch + 1) * batch + rng.integers(0, 2_000, n)
    delivered = rng.integers(0, 1000, n) != 0
    transition = rng.integers(0, 5, n) == 0
    step = np.where(rng.integers(0, 2, n) == 0, 0.01, -0.01) * transition
    mid = np.zeros(n)
    for s in range(20):
        m = sym == s
        mid[m] = 100.0 + np.cumsum(step[m])
    mid = np.round(mid, 2)

    def keys(prefix, idx, width):
        names = np.array([f"{prefix}{i:0{width}d}" if width else f"{prefix}{i}" for i in range(idx.max() + 1)])
        return pa.DictionaryArray.from_arrays(pa.array(idx, pa.int32()), pa.array(names)).cast(pa.string())

    table = pa.table({
        "seq": pa.array(seq, pa.uint64()),
        "stream": keys("feed-", feed, 0),
        "kind": pa.array(np.full(n, "md")),
        "symbol": keys("SYM", sym, 2),
        "venue": keys("V", venue, 0),
        "t_ingress_ns": pa.array(t, pa.int64()),
        "t_stack_ns": pa.nulls(n, pa.int64()),
        "t_app_ns": pa.array(t_app, pa.int64(), mask=~delivered),
        "bid": pa.array(np.round(mid - 0.005, 3)),
        "ask": pa.array(np.round(mid + 0.005, 3)),
        "transition": pa.array(transition),
    })
    os.makedirs(out, exist_ok=True)
    pq.write_table(table, os.path.join(out, f"events-{n}.parquet"), compression="snappy")
    pacsv.write_csv(table, os.path.join(out, f"events-{n}.csv"),
                    pacsv.WriteOptions(quoting_style="needed"))


if __name__ == "__main__":
    main()
