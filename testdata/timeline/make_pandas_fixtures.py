"""Writes pandas_events.parquet and pandas_orders.parquet the way a pandas user would.

Run from this directory: python3 make_pandas_fixtures.py
(pandas 3.1.1 + pyarrow 26.0.1 made the committed files.) The expected records are
spelled out in crates/timeline/tests/parquet_liberal.rs.
"""
import numpy as np
import pandas as pd

events = pd.DataFrame(
    {
        # Plain int64 (pandas has no idiomatic uint64 habit).
        "seq": np.array([1, 2, 3, 4], dtype="int64"),
        "stream": ["feed-a", "feed-a", "feed-b", "feed-b"],
        "kind": pd.Categorical(["md", "md", "ctl", "md"]),
        "symbol": ["AAPL", None, "Ünïcødé", ""],
        "venue": pd.Categorical(["XNAS", "XNAS", None, "XLON"]),
        # Instants as pandas datetimes -> timestamp[ns].
        "t_ingress_ns": pd.to_datetime(
            [1_000, 2_000, 3_000, 1_700_000_000_123_456_789], unit="ns"
        ),
        # A nullable integer that went through NaN -> float64.
        "t_app_ns": [51_000.0, np.nan, 2_500.0, 1_700_000_000_123_460_000.0],
        "bid": [100.25, np.nan, None, 0.1],
        "ask": [100.5, 100.75, None, 0.2],
        "transition": pd.array([True, None, False, True], dtype="boolean"),
        "comment": ["x", "y", "z", "w"],
    }
)
events.to_parquet("pandas_events.parquet", engine="pyarrow")

orders = pd.DataFrame(
    {
        "child_id": np.array([10, 11], dtype="int64"),
        "parent_id": np.array([1, 1], dtype="int32"),
        "strategy": [None, None],
        "symbol": ["AAPL", "AAPL"],
        "side": np.array([1, -1], dtype="int64"),
        "qty": np.array([100, 50], dtype="int64"),
        "px": [100.5, np.nan],
        "t_emit_ns": np.array([60_000, -70_000], dtype="int64"),
        "trigger_seq": [1.0, np.nan],
    }
)
orders.to_parquet("pandas_orders.parquet", engine="pyarrow")

for name in ["pandas_events.parquet", "pandas_orders.parquet"]:
    import pyarrow.parquet as pq

    print(name, pq.read_schema(name))
