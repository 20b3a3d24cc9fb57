#!/usr/bin/env python3
"""Peer baseline: MDDR and BDC of SPEC §4 computed with polars on an `events` Parquet file.

The same definitions as bench/metrics/mddr_bdc_pandas.py and coalescope-metrics (exact
nearest-rank quantiles in integers, floor-division windows and intervals, null keys are
their own group, groups stream x symbol x venue), so the summary line it prints must
equal theirs for the same file.

Usage: mddr_bdc_polars.py EVENTS.parquet [--window-ns 250000] [--interval-ns 100000000]
Needs polars (`pip install polars`).
"""

import argparse
import time

KEYS = ["stream", "symbol", "venue"]
# Groups are numbered once (a join on the three keys, nulls equal), and every later sort
# and group-by uses that integer: sorting by three string columns is 4x slower.
G = ["gid"]


def nearest_rank(pl, df, value, num, den):
    """Per group, the value at 1-based rank ceil(num/den * n), computed in integers."""
    return (
        df.sort(G + [value], nulls_last=False)
        .group_by(G, maintain_order=True)
        .agg(
            pl.col(value)
            .get(((pl.len() * num + den - 1) // den).clip(lower_bound=1) - 1)
            .alias("q"),
            pl.len().alias("n"),
        )
    )


def gaps(pl, frame, col):
    """Consecutive differences of `col` within each group (sorted), in int64."""
    same = pl.all_horizontal([pl.col(k).eq_missing(pl.col(k).shift(1)) for k in G])
    return (
        frame.select(G + [col])
        .sort(G + [col], nulls_last=False)
        .with_columns((pl.col(col) - pl.col(col).shift(1)).alias("gap"), same.alias("same"))
        .filter(pl.col("same"))
        .drop("same")
    )


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("events")
    ap.add_argument("--window-ns", type=int, default=250_000)
    ap.add_argument("--interval-ns", type=int, default=100_000_000)
    a = ap.parse_args()
    import polars as pl

    t0 = time.perf_counter()
    df = pl.read_parquet(a.events, columns=KEYS + ["kind", "t_ingress_ns", "t_app_ns"])
    t1 = time.perf_counter()
    md = df.filter(pl.col("kind") == "md").with_columns(pl.col("t_ingress_ns").cast(pl.Int64))
    ids = md.group_by(KEYS).agg(pl.len()).drop("len").with_row_index("gid")
    md = md.join(ids, on=KEYS, nulls_equal=True).drop(KEYS)
    delivered = md.filter(pl.col("t_app_ns").is_not_null()).with_columns(
        pl.col("t_app_ns").cast(pl.Int64)
    )
    qi = nearest_rank(pl, gaps(pl, md, "t_ingress_ns"), "gap", 95, 100)
    qa = nearest_rank(pl, gaps(pl, delivered, "t_app_ns"), "gap", 95, 100)
    m = (
        qi.join(qa, on=G, how="inner", suffix="_a", nulls_equal=True)
        .filter((pl.col("n") >= 2) & (pl.col("n_a") >= 2) & (pl.col("q") > 0))
        .select((pl.col("q_a") / pl.col("q")).alias("mddr"))
    )
    per_window = delivered.select(
        G
        + [
            (pl.col("t_app_ns") // a.interval_ns).alias("j"),
            (pl.col("t_app_ns") // a.window_ns).alias("k"),
        ]
    ).group_by(G + ["j", "k"]).agg(pl.len().alias("n"))
    per_interval = per_window.group_by(G + ["j"]).agg(
        (pl.col("n").max() / pl.col("n").sum()).alias("bdc")
    )
    median = nearest_rank(pl, per_interval, "bdc", 1, 2).rename({"q": "median"})
    merged = per_interval.join(median.select(G + ["median"]), on=G, nulls_equal=True)
    high = merged.filter(pl.col("bdc") > pl.col("median")).height
    t2 = time.perf_counter()
    n = md.height
    groups = ids.height
    print(f"polars {pl.__version__}: read {df.height} rows in {t1 - t0:.3f} s")
    print(
        f"polars MDDR + BDC: {n / (t2 - t1) / 1e6:6.2f} M events/s compute ({t2 - t1:.3f} s), "
        f"{n / (t2 - t0) / 1e6:6.2f} M events/s incl. read ({t2 - t0:.3f} s)"
    )
    print(
        f"    groups {groups}  mean MDDR {m['mddr'].mean():.6f}  "
        f"mean median-BDC {median['median'].mean():.6f}  intervals {per_interval.height}  "
        f"high-BDC intervals {high}"
    )


if __name__ == "__main__":
    main()
