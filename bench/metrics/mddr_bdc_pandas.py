#!/usr/bin/env python3
"""Peer baseline: MDDR and BDC of SPEC §4 computed with pandas on an `events` Parquet file.

Same definitions as coalescope-metrics (exact nearest-rank quantiles, floor-division
windows and intervals, null keys are their own group, groups stream x symbol x venue),
so the values printed here must equal the Rust bench summary for the same file, and the
two events/s figures can be put side by side.

Usage: mddr_bdc_pandas.py EVENTS.parquet [--window-ns 250000] [--interval-ns 100000000]
Needs pandas >= 2 and pyarrow (`pip install pandas pyarrow`; installed on demand if
missing and pip is available).
"""

import argparse
import subprocess
import sys
import time


def ensure_deps():
    try:
        import pandas  # noqa: F401
        import pyarrow  # noqa: F401
    except ImportError:
        print("installing pandas and pyarrow with pip ...", file=sys.stderr)
        cmd = [sys.executable, "-m", "pip", "install", "--quiet", "pandas>=2", "pyarrow"]
        if subprocess.call(cmd) != 0:
            sys.exit("pandas/pyarrow missing and pip failed: run `pip install pandas pyarrow`")


KEYS = ["stream", "symbol", "venue"]


def nearest_rank(df, value, num, den):
    """Per group, the value at 1-based rank ceil(num/den * n), computed in integers."""
    d = df.sort_values(KEYS + [value])
    grp = d.groupby(KEYS, dropna=False, sort=False)
    n = grp[value].transform("size").to_numpy()
    pos = grp.cumcount().to_numpy()
    rank = (num * n + den - 1) // den
    rank[rank < 1] = 1
    sel = d[pos == rank - 1]
    return sel.set_index(KEYS)[value]


def gaps(md, col):
    d = md[KEYS + [col]].sort_values(KEYS + [col])
    # Differences in int64: groupby().diff() goes through float64, which rounds epoch
    # nanoseconds (~1.7e18) to multiples of 256 ns.
    codes = d.groupby(KEYS, dropna=False, sort=False).ngroup().to_numpy()
    t = d[col].to_numpy(dtype="int64")
    same = codes[1:] == codes[:-1]
    out = d.iloc[1:][KEYS][same].copy()
    out["gap"] = (t[1:] - t[:-1])[same]
    return out


def mddr(md, delivered):
    gi, ga = gaps(md, "t_ingress_ns"), gaps(delivered, "t_app_ns")
    qi = nearest_rank(gi, "gap", 95, 100)
    qa = nearest_rank(ga, "gap", 95, 100)
    ni = gi.groupby(KEYS, dropna=False).size()
    na = ga.groupby(KEYS, dropna=False).size()
    import pandas as pd

    t = pd.DataFrame({"qi": qi, "qa": qa, "ni": ni, "na": na})
    ok = (t.ni >= 2) & (t.na >= 2) & (t.qi > 0)
    return (t.qa / t.qi).where(ok)


def bdc(delivered, window, interval):
    d = delivered[KEYS].copy()
    t = delivered["t_app_ns"].to_numpy()
    d["j"] = t // interval  # numpy floor division: correct for negative instants
    d["k"] = t // window
    per_window = d.groupby(KEYS + ["j", "k"], dropna=False).size().rename("n").reset_index()
    per_interval = per_window.groupby(KEYS + ["j"], dropna=False)["n"].agg(["max", "sum"]).reset_index()
    per_interval["bdc"] = per_interval["max"] / per_interval["sum"]
    median = nearest_rank(per_interval, "bdc", 1, 2).rename("median")
    merged = per_interval.merge(median.reset_index(), on=KEYS, how="left")
    high = (merged.bdc > merged["median"]).groupby([merged[k] for k in KEYS], dropna=False).sum()
    count = per_interval.groupby(KEYS, dropna=False).size()
    return median, high, count


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("events")
    ap.add_argument("--window-ns", type=int, default=250_000)
    ap.add_argument("--interval-ns", type=int, default=100_000_000)
    a = ap.parse_args()
    ensure_deps()
    import pandas as pd

    t0 = time.perf_counter()
    cols = KEYS + ["kind", "t_ingress_ns", "t_app_ns"]
    # numpy_nullable keeps ns instants as exact Int64 (float64 would round them).
    df = pd.read_parquet(a.events, columns=cols, dtype_backend="numpy_nullable")
    t1 = time.perf_counter()
    md = df[df["kind"] == "md"]
    md = md.assign(t_ingress_ns=md["t_ingress_ns"].astype("int64"))
    delivered = md[md["t_app_ns"].notna()]
    delivered = delivered.assign(t_app_ns=delivered["t_app_ns"].astype("int64"))
    m = mddr(md, delivered)
    median, high, count = bdc(delivered, a.window_ns, a.interval_ns)
    t2 = time.perf_counter()
    n = len(md)
    print(f"pandas {pd.__version__}: read {len(df)} rows in {t1 - t0:.3f} s")
    print(
        f"pandas MDDR + BDC: {n / (t2 - t1) / 1e6:6.2f} M events/s compute ({t2 - t1:.3f} s), "
        f"{n / (t2 - t0) / 1e6:6.2f} M events/s incl. read ({t2 - t0:.3f} s)"
    )
    groups = md.groupby(KEYS, dropna=False).size()
    print(
        f"    groups {len(groups)}  mean MDDR {m.dropna().mean():.6f}  "
        f"mean median-BDC {median.mean():.6f}  intervals {int(count.sum())}  "
        f"high-BDC intervals {int(high.sum())}"
    )


if __name__ == "__main__":
    main()
