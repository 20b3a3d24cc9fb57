#!/usr/bin/env python3
"""Regenerate the Parquet interop fixture matrix (run by hand, not by CI).

    pip install pyarrow polars pandas duckdb
    python3 testdata/parquet-interop/generate.py

Every `NAME.parquet` is written by one tool (pyarrow, polars, pandas, DuckDB) with one
set of options, and `NAME.csv` is its twin: the same records written here with Python's
csv module, times as integer nanoseconds, null as an empty field. The twins are made from
the Python values, never by reading the Parquet back, so the Rust test
(crates/timeline/tests/parquet_interop.rs) compares two independent encodings.
PROVENANCE.md is rewritten with the tool versions and what each file exercises.

The file name says the table: events_*, orders_*, fills_*, parents_*.
"""

import csv
import datetime as dt
import os
import sys

import duckdb
import numpy as np
import pandas as pd
import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq

HERE = os.path.dirname(os.path.abspath(__file__))
N = 40
BASE_NS = 1_700_000_000_123_456_789
UNIT_NS = {"s": 1_000_000_000, "ms": 1_000_000, "us": 1_000, "ns": 1}
CODECS = ["uncompressed", "snappy", "zstd", "lz4", "gzip", "brotli"]
MANIFEST = []  # (file, writer, what it exercises)

EVENT_COLS = ["seq", "stream", "kind", "symbol", "venue", "t_ingress_ns", "t_stack_ns",
              "t_app_ns", "bid", "ask", "transition"]
ORDER_COLS = ["child_id", "parent_id", "strategy", "symbol", "venue", "side", "qty", "px",
              "t_emit_ns", "trigger_seq"]
FILL_COLS = ["child_id", "t_fill_ns", "fill_px", "fill_qty"]
PARENT_COLS = ["parent_id", "strategy", "symbol", "side", "qty", "t_start_ns",
               "t_deadline_ns"]


def floor_unit(v, unit):
    if v is None:
        return None
    u = UNIT_NS[unit]
    return v - v % u


def events(unit="ns", big_seq=False):
    """The events rows as a dict of Python lists (None = null); times in `unit` steps."""
    cols = {c: [] for c in EVENT_COLS}
    symbols = ["AAPL", "MSFT", None, "ÄÖ-ü"]
    for i in range(N):
        b = i % 2 == 1
        ctl = i % 7 == 3
        seq = (i // 2) + 1
        if b and big_seq:
            seq += 2**63 + 5  # beyond int64: only a uint64 column holds it
        t_in = BASE_NS + i * 1_234_567 + (i % 3) * 101
        t_stack = None if i % 6 == 5 else t_in + 2_000 + i * 37
        if i % 9 == 8:
            t_app = None  # never delivered
        else:
            t_app = (t_stack if t_stack is not None else t_in) + 5_000 + i * 11
        bid = None if ctl else round(100.0 + i * 0.01, 2)
        cols["seq"].append(seq)
        cols["stream"].append("feed-b" if b else "feed-a")
        cols["kind"].append("ctl" if ctl else "md")
        cols["symbol"].append(symbols[i % 4])
        cols["venue"].append(None if i % 5 == 4 else ("XNAS" if i % 3 else "XNYS"))
        cols["t_ingress_ns"].append(floor_unit(t_in, unit))
        cols["t_stack_ns"].append(floor_unit(t_stack, unit))
        cols["t_app_ns"].append(floor_unit(t_app, unit))
        cols["bid"].append(bid)
        cols["ask"].append(None if bid is None else round(bid + 0.02, 2))
        cols["transition"].append(None if ctl else i % 4 == 0)
    return cols


def orders():
    cols = {c: [] for c in ORDER_COLS}
    for i in range(12):
        cols["child_id"].append(1000 + i)
        cols["parent_id"].append(1 + i // 4)
        cols["strategy"].append(None if i % 5 == 4 else ("mm" if i % 2 else "taker"))
        cols["symbol"].append("AAPL" if i % 3 else "MSFT")
        cols["venue"].append(None if i % 4 == 3 else "XNAS")
        cols["side"].append(1 if i % 2 else -1)
        cols["qty"].append(100.0 + 50 * i)
        cols["px"].append(None if i % 6 == 5 else round(100.05 + 0.01 * i, 2))
        cols["t_emit_ns"].append(BASE_NS + 10_000 + i * 2_345_678)
        cols["trigger_seq"].append(None if i % 3 == 2 else 2 * i + 1)
    return cols


def fills():
    cols = {c: [] for c in FILL_COLS}
    for i in range(10):
        cols["child_id"].append(1000 + i)
        cols["t_fill_ns"].append(BASE_NS + 50_000 + i * 2_345_679)
        cols["fill_px"].append(round(100.06 + 0.01 * i, 2))
        cols["fill_qty"].append(50.0 + 25 * i)
    return cols


def parents():
    cols = {c: [] for c in PARENT_COLS}
    for i in range(4):
        cols["parent_id"].append(1 + i)
        cols["strategy"].append(None if i == 3 else "taker")
        cols["symbol"].append("AAPL" if i % 2 else "MSFT")
        cols["side"].append(1 if i % 2 else -1)
        cols["qty"].append(400.0 + i)
        cols["t_start_ns"].append(BASE_NS + i * 1_000_000_007)
        cols["t_deadline_ns"].append(BASE_NS + i * 1_000_000_007 + 60_000_000_000)
    return cols


def text(v):
    if v is None:
        return ""
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, float):
        return repr(v)
    return str(v)


def write_twin(name, cols):
    names = list(cols)
    with open(os.path.join(HERE, name + ".csv"), "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f, lineterminator="\n")
        w.writerow(names)
        for row in zip(*(cols[c] for c in names)):
            w.writerow([text(v) for v in row])


def done(name, cols, writer, what):
    write_twin(name, cols)
    MANIFEST.append((name + ".parquet", writer, what))


def path(name):
    return os.path.join(HERE, name + ".parquet")


# ---------------------------------------------------------------- Arrow tables

def ts_array(values, unit, tz=None):
    u = UNIT_NS[unit]
    return pa.array([None if v is None else v // u for v in values],
                    type=pa.timestamp(unit, tz=tz))


def arrow_events(cols, unit="ns", tz=None, time_as="timestamp", seq_type=pa.uint64(),
                 str_type=pa.string(), flag="bool"):
    arrays = {}
    for c in EVENT_COLS:
        v = cols[c]
        if c == "seq":
            arrays[c] = pa.array(v, type=seq_type)
        elif c in ("stream", "kind", "symbol", "venue"):
            if str_type == "dictionary":
                arrays[c] = pa.array(v, type=pa.string()).dictionary_encode()
            else:
                arrays[c] = pa.array(v, type=str_type)
        elif c.endswith("_ns"):
            if time_as == "timestamp":
                arrays[c] = ts_array(v, unit, tz)
            else:
                arrays[c] = pa.array(v, type=pa.int64())
        elif c in ("bid", "ask"):
            arrays[c] = pa.array(v, type=pa.float64())
        elif c == "transition":
            if flag == "bool":
                arrays[c] = pa.array(v, type=pa.bool_())
            else:
                arrays[c] = pa.array([None if x is None else int(x) for x in v], type=flag)
    return pa.table(arrays)


def pyarrow_files():
    ev = events(big_seq=True)
    t = arrow_events(ev)
    pq.write_table(t, path("events_pyarrow_default"))
    done("events_pyarrow_default", ev, "pyarrow",
         "defaults (snappy, dictionary pages); uint64 seq beyond 2^63; timestamp[ns]; bool flags")
    for codec in CODECS:
        name = f"events_pyarrow_{codec}"
        pq.write_table(t, path(name), compression="none" if codec == "uncompressed" else codec)
        what = {"lz4": "LZ4_RAW (pyarrow's `lz4`)"}.get(codec, codec.upper())
        done(name, ev, "pyarrow", f"codec {what}")
    pq.write_table(t, path("events_pyarrow_plain_v2"), use_dictionary=False,
                   data_page_version="2.0", compression="zstd")
    done("events_pyarrow_plain_v2", ev, "pyarrow",
         "PLAIN encoding (no dictionary), data page v2, zstd")
    for unit in ["s", "ms", "us", "ns"]:
        for tz in [None, "UTC", "America/New_York"]:
            cols = events(unit=unit)
            tag = {None: "naive", "UTC": "utc", "America/New_York": "nyc"}[tz]
            name = f"events_pyarrow_ts_{unit}_{tag}"
            pq.write_table(arrow_events(cols, unit=unit, tz=tz, seq_type=pa.int64()),
                           path(name))
            note = " (Parquet has no seconds unit: pyarrow stores ms)" if unit == "s" else ""
            done(name, cols, "pyarrow",
                 f"timestamp[{unit}] time columns, time zone {tz}{note}")
    ev_small = events()
    for st, tag in [(pa.large_string(), "large_string"), (pa.string_view(), "string_view"),
                    ("dictionary", "dictionary")]:
        name = f"events_pyarrow_{tag}"
        pq.write_table(arrow_events(ev_small, str_type=st, seq_type=pa.int64()), path(name))
        done(name, ev_small, "pyarrow", f"{tag} key columns, int64 seq")
    name = "events_pyarrow_int64_times_int8_flags"
    pq.write_table(arrow_events(ev_small, time_as="int64", seq_type=pa.uint32(),
                                flag=pa.int8()), path(name))
    done(name, ev_small, "pyarrow", "int64 ns time columns, uint32 seq, int8 0/1 transition")
    name = "events_pyarrow_uint8_flags"
    pq.write_table(arrow_events(ev_small, seq_type=pa.int32(), flag=pa.uint8()), path(name))
    done(name, ev_small, "pyarrow", "int32 seq, uint8 0/1 transition")
    for table, cols in [("orders", orders()), ("fills", fills()), ("parents", parents())]:
        t = pa.table(cols)
        # Make the side column int8, as SPEC stores it.
        if "side" in cols:
            t = t.set_column(t.schema.get_field_index("side"), "side",
                             pa.array(cols["side"], type=pa.int8()))
        name = f"{table}_pyarrow_default"
        pq.write_table(t, path(name))
        done(name, cols, "pyarrow", f"{table} table, inferred types (int64 ids), defaults")


# ---------------------------------------------------------------- polars

def polars_events(cols, tz=None, unit="ns", categorical=False):
    df = pl.DataFrame({
        "seq": pl.Series(cols["seq"], dtype=pl.UInt64),
        "stream": pl.Series(cols["stream"], dtype=pl.Categorical if categorical else pl.String),
        "kind": pl.Series(cols["kind"], dtype=pl.String),
        "symbol": pl.Series(cols["symbol"], dtype=pl.String),
        "venue": pl.Series(cols["venue"], dtype=pl.Categorical if categorical else pl.String),
        "bid": pl.Series(cols["bid"], dtype=pl.Float64),
        "ask": pl.Series(cols["ask"], dtype=pl.Float64),
        "transition": pl.Series(cols["transition"], dtype=pl.Boolean),
    })
    for c in ["t_ingress_ns", "t_stack_ns", "t_app_ns"]:
        s = pl.Series(c, cols[c], dtype=pl.Int64)
        s = (s // UNIT_NS[unit]).cast(pl.Datetime(unit))
        if tz:
            s = s.dt.replace_time_zone("UTC").dt.convert_time_zone(tz)
        df = df.with_columns(s)
    return df


def polars_files():
    ev = events(big_seq=True)
    df = polars_events(ev)
    df.write_parquet(path("events_polars_default"))
    done("events_polars_default", ev, "polars",
         "defaults (zstd); Datetime[ns] time columns; UInt64 seq beyond 2^63")
    for codec in CODECS:
        name = f"events_polars_{codec}"
        df.write_parquet(path(name), compression=codec)
        done(name, ev, "polars", f"codec {codec}")
    cols = events(unit="us")
    name = "events_polars_us_utc_categorical"
    polars_events(cols, tz="Europe/London", unit="us", categorical=True).write_parquet(path(name))
    done(name, cols, "polars", "Datetime[us, Europe/London], Categorical (dictionary) keys")
    name = "events_polars_ms_pyarrow_writer"
    cols = events(unit="ms")
    polars_events(cols, unit="ms").write_parquet(path(name), use_pyarrow=True)
    done(name, cols, "polars", "Datetime[ms] via use_pyarrow=True")
    for table, c in [("orders", orders()), ("fills", fills()), ("parents", parents())]:
        d = pl.DataFrame(c)
        if "side" in c:
            d = d.with_columns(pl.col("side").cast(pl.Int8))
        for col in ["child_id", "parent_id", "trigger_seq"]:
            if col in c:
                d = d.with_columns(pl.col(col).cast(pl.UInt64))
        for col in [x for x in c if x.endswith("_ns")]:
            d = d.with_columns(pl.col(col).cast(pl.Datetime("ns")))
        name = f"{table}_polars_default"
        d.write_parquet(path(name))
        done(name, c, "polars", f"{table} table, UInt64 ids, Datetime[ns] times, zstd")


# ---------------------------------------------------------------- pandas

def ns_series(values, tz=None):
    arr = np.array([np.datetime64("NaT") if v is None else np.datetime64(v, "ns")
                    for v in values], dtype="datetime64[ns]")
    s = pd.Series(arr)
    if tz:
        s = s.dt.tz_localize("UTC").dt.tz_convert(tz)
    return s


def pandas_events(cols, tz=None, float_flags=False):
    df = pd.DataFrame({
        "seq": pd.Series(np.array(cols["seq"], dtype=np.uint64)),
        "stream": pd.Series(cols["stream"]).astype("category"),
        "kind": cols["kind"],
        "symbol": cols["symbol"],
        "venue": cols["venue"],
        "t_ingress_ns": ns_series(cols["t_ingress_ns"], tz),
        "t_stack_ns": ns_series(cols["t_stack_ns"], tz),
        "t_app_ns": ns_series(cols["t_app_ns"], tz),
        "bid": pd.Series([np.nan if v is None else v for v in cols["bid"]], dtype="float64"),
        "ask": pd.Series([np.nan if v is None else v for v in cols["ask"]], dtype="float64"),
    })
    if float_flags:
        df["transition"] = pd.Series([np.nan if v is None else float(v)
                                      for v in cols["transition"]], dtype="float64")
    else:
        df["transition"] = pd.Series(cols["transition"], dtype="boolean")
    return df


def pandas_files():
    ev = events(big_seq=True)
    df = pandas_events(ev)
    assert str(df["t_ingress_ns"].dtype) == "datetime64[ns]", df.dtypes
    df.to_parquet(path("events_pandas_default"))
    done("events_pandas_default", ev, "pandas",
         "defaults (pyarrow engine, snappy); datetime64[ns] time columns with NaT; "
         "category stream; NaN quotes; nullable boolean flags; uint64 seq; index column")
    for codec in ["zstd", "gzip", "brotli", "lz4", None]:
        tag = codec or "uncompressed"
        name = f"events_pandas_{tag}"
        df.to_parquet(path(name), compression=codec, index=False)
        done(name, ev, "pandas", f"codec {tag}, index=False")
    name = "events_pandas_tz_float_flags"
    pandas_events(ev, tz="Asia/Tokyo", float_flags=True).to_parquet(path(name))
    done(name, ev, "pandas",
         "datetime64[ns, Asia/Tokyo] time columns; transition as float64 0/1/NaN")
    o = orders()
    d = pd.DataFrame(o)
    d["side"] = d["side"].astype("int8")
    d["trigger_seq"] = d["trigger_seq"].astype("float64")  # NaN for missing, as pandas does
    d["t_emit_ns"] = ns_series(o["t_emit_ns"])
    d.to_parquet(path("orders_pandas_default"))
    done("orders_pandas_default", o, "pandas",
         "orders: trigger_seq as float64 with NaN, datetime64[ns] t_emit_ns")
    f = fills()
    d = pd.DataFrame(f)
    d["t_fill_ns"] = ns_series(f["t_fill_ns"])
    d.to_parquet(path("fills_pandas_default"))
    done("fills_pandas_default", f, "pandas", "fills: datetime64[ns] t_fill_ns")


# ---------------------------------------------------------------- DuckDB

def duckdb_files():
    con = duckdb.connect()
    ev = events(big_seq=True)
    src = arrow_events(ev)  # noqa: F841 (DuckDB scans the Python variable by name)
    select = ("SELECT seq::UBIGINT AS seq, stream, kind, symbol, venue, "
              "t_ingress_ns::TIMESTAMP_NS AS t_ingress_ns, "
              "t_stack_ns::TIMESTAMP_NS AS t_stack_ns, t_app_ns::TIMESTAMP_NS AS t_app_ns, "
              "bid, ask, transition FROM src")
    name = "events_duckdb_default"
    con.execute(f"COPY ({select}) TO '{path(name)}' (FORMAT parquet)")
    done(name, ev, "duckdb",
         "defaults (snappy); UBIGINT seq; TIMESTAMP_NS; BOOLEAN flags")
    for codec in CODECS:
        name = f"events_duckdb_{codec}"
        con.execute(f"COPY ({select}) TO '{path(name)}' (FORMAT parquet, COMPRESSION {codec})")
        done(name, ev, "duckdb", f"codec {codec}")
    cols = events(unit="us")
    src = arrow_events(cols, unit="us", seq_type=pa.int64())  # noqa: F841
    name = "events_duckdb_timestamptz_us_int_flags"
    # The cast reads the naive values in the session zone: UTC keeps the instants.
    con.execute("SET TimeZone = 'UTC'")
    con.execute(
        "COPY (SELECT seq, stream, kind, symbol, venue, "
        "t_ingress_ns::TIMESTAMPTZ AS t_ingress_ns, t_stack_ns::TIMESTAMPTZ AS t_stack_ns, "
        "t_app_ns::TIMESTAMPTZ AS t_app_ns, bid, ask, transition::INTEGER AS transition "
        f"FROM src) TO '{path(name)}' (FORMAT parquet)")
    done(name, cols, "duckdb", "TIMESTAMPTZ (us, UTC-adjusted), BIGINT seq, INTEGER 0/1 flags")
    o = orders()
    src = pa.table(o)  # noqa: F841
    name = "orders_duckdb_default"
    con.execute(
        "COPY (SELECT child_id::UBIGINT AS child_id, parent_id::UBIGINT AS parent_id, "
        "strategy, symbol, venue, side::TINYINT AS side, qty, px, t_emit_ns, "
        f"trigger_seq::UBIGINT AS trigger_seq FROM src) TO '{path(name)}' (FORMAT parquet)")
    done(name, o, "duckdb", "orders: UBIGINT ids, TINYINT side, BIGINT ns times")


def provenance():
    lines = [
        "# Parquet interop fixtures",
        "",
        "Written by `generate.py` in this directory (run by hand: "
        "`pip install pyarrow polars pandas duckdb && python3 generate.py`).",
        "Each `NAME.parquet` has a twin `NAME.csv` with the same records written by the script",
        "from its own Python values (integer nanoseconds, empty = null), not read back from",
        "the Parquet file. `crates/timeline/tests/parquet_interop.rs` reads every Parquet file",
        "and checks every record against its twin, field by field.",
        "",
        "Versions used:",
        "",
        f"- Python {sys.version.split()[0]}",
        f"- pyarrow {pa.__version__}",
        f"- polars {pl.__version__}",
        f"- pandas {pd.__version__} (pyarrow engine)",
        f"- duckdb {duckdb.__version__}",
        f"- numpy {np.__version__}",
        "",
        "LZ4 with the Hadoop framing (the legacy `LZ4` codec) is written by none of these",
        "tools today (their `lz4` is `LZ4_RAW`); the test writes such a file with arrow-rs.",
        "",
        "| file | writer | exercises |",
        "| --- | --- | --- |",
    ]
    for f, w, what in sorted(MANIFEST):
        lines.append(f"| {f} | {w} | {what} |")
    with open(os.path.join(HERE, "PROVENANCE.md"), "w", encoding="utf-8") as f:
        f.write("\n".join(lines) + "\n")


def main():
    for f in os.listdir(HERE):
        if f.endswith((".parquet", ".csv")):
            os.remove(os.path.join(HERE, f))
    pyarrow_files()
    polars_files()
    pandas_files()
    duckdb_files()
    provenance()
    total = sum(os.path.getsize(os.path.join(HERE, f)) for f in os.listdir(HERE))
    print(f"{len(MANIFEST)} files, {total} bytes in {HERE}")


if __name__ == "__main__":
    main()
