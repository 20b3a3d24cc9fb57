"""Shared fixtures: the CLI binary the module is compared against, and the data."""

import json
import os
import pathlib
import subprocess

import numpy as np
import pyarrow as pa
import pytest

REPO = pathlib.Path(__file__).resolve().parents[3]
TESTDATA = REPO / "testdata"


def cli_path() -> pathlib.Path:
    """The `coalescope` binary: $COALESCOPE_BIN, else the workspace's debug build."""
    return pathlib.Path(os.environ.get("COALESCOPE_BIN", REPO / "target" / "debug" / "coalescope"))


@pytest.fixture(scope="session")
def cli():
    """Run `coalescope ARGS...`; return (exit code, stdout, stderr)."""
    path = cli_path()
    if not path.exists():
        if os.environ.get("COALESCOPE_CI") == "1":
            pytest.fail(f"the coalescope binary is missing at {path} (cargo build -p coalescope)")
        pytest.skip(f"skipped: coalescope binary not built at {path}")

    def run(*args):
        p = subprocess.run([str(path), *map(str, args)], capture_output=True, text=True)
        return p.returncode, p.stdout, p.stderr

    return run


@pytest.fixture(scope="session")
def cli_json(cli):
    """`coalescope analyze --json ARGS...` parsed; fails the test on a non-zero exit."""

    def run(*args):
        code, out, err = cli("analyze", "--json", *args)
        assert code == 0, err
        return json.loads(out)

    return run


def synthetic_tables(n_md: int = 70_000, seed: int = 13):
    """A deterministic events/orders/fills/parents set large enough for every metric:
    two streams, three symbols, bursts of md delivered late in batches (coalescing),
    ctl events, quotes, child orders triggered by md, fills and parents. `n_md` above
    65,536 makes the events table span more than one reader batch."""
    rng = np.random.default_rng(seed)
    gaps = rng.exponential(20_000.0, n_md).astype(np.int64) + 1
    t_ingress = 1_000_000_000 + np.cumsum(gaps)
    # Coalescing: the app sees each md event at the end of its 50 us window + 3 us.
    t_app = (t_ingress // 50_000 + 1) * 50_000 + 3_000
    symbols = np.array(["AAA", "BBB", "CCC"])[rng.integers(0, 3, n_md)]
    streams = np.where(np.isin(symbols, ["AAA", "BBB"]), "feedA", "feedB")
    mid = 100.0 + np.cumsum(rng.normal(0.0, 0.01, n_md))
    bid = np.round(mid - 0.01, 2)
    ask = np.round(mid + 0.01, 2)
    transition = rng.random(n_md) < 0.05
    n_ctl = n_md // 20
    ctl_at = np.sort(rng.integers(t_ingress[0], t_ingress[-1], n_ctl))
    events = pa.table(
        {
            "seq": pa.array(np.concatenate([np.arange(n_md), np.arange(n_ctl)]).astype(np.uint64)),
            "stream": np.concatenate([streams, np.full(n_ctl, "ctl0")]),
            "kind": np.concatenate([np.full(n_md, "md"), np.full(n_ctl, "ctl")]),
            "symbol": np.concatenate([symbols, np.full(n_ctl, None)]),
            "venue": np.concatenate([np.full(n_md, "X"), np.full(n_ctl, None)]),
            "t_ingress_ns": np.concatenate([t_ingress, ctl_at]),
            "t_app_ns": np.concatenate([t_app, ctl_at + 2_000]),
            "bid": np.concatenate([bid, np.full(n_ctl, np.nan)]),
            "ask": np.concatenate([ask, np.full(n_ctl, np.nan)]),
            "transition": pa.array(np.concatenate([transition, np.zeros(n_ctl, bool)])),
        }
    )
    # Sort by app time like an app log.
    events = events.sort_by([("t_app_ns", "ascending"), ("seq", "ascending")])
    n_par = 40
    par_sym = np.array(["AAA", "BBB", "CCC"])[np.arange(n_par) % 3]
    t_start = t_ingress[0] + np.arange(n_par) * (t_ingress[-1] - t_ingress[0]) // n_par
    parents = pa.table(
        {
            "parent_id": pa.array(np.arange(1, n_par + 1).astype(np.uint64)),
            "strategy": np.where(np.arange(n_par) % 2 == 0, "twap", "pov"),
            "symbol": par_sym,
            "side": pa.array(np.where(np.arange(n_par) % 2 == 0, 1, -1).astype(np.int8)),
            "qty": np.full(n_par, 100.0),
            "t_start_ns": t_start,
            "t_deadline_ns": t_start + 200_000_000,
        }
    )
    n_ord = 400
    trig = np.sort(rng.integers(0, n_md, n_ord))
    parent_of = rng.integers(1, n_par + 1, n_ord)
    orders = pa.table(
        {
            "child_id": pa.array(np.arange(1, n_ord + 1).astype(np.uint64)),
            "parent_id": pa.array(parent_of.astype(np.uint64)),
            "strategy": np.where(parent_of % 2 == 1, "twap", "pov"),
            "symbol": np.array(["AAA", "BBB", "CCC"])[(parent_of - 1) % 3],
            "venue": np.full(n_ord, "X"),
            "side": pa.array(np.where(parent_of % 2 == 1, 1, -1).astype(np.int8)),
            "qty": np.full(n_ord, 10.0),
            "px": np.round(mid[trig], 2),
            "t_emit_ns": t_app[trig] + 1_500,
            "trigger_seq": pa.array(trig.astype(np.uint64)),
        }
    )
    filled = np.arange(n_ord)[rng.random(n_ord) < 0.7]
    fills = pa.table(
        {
            "child_id": pa.array((filled + 1).astype(np.uint64)),
            "t_fill_ns": t_app[trig[filled]] + 40_000,
            "fill_px": np.round(mid[trig[filled]], 2),
            "fill_qty": np.full(len(filled), 10.0),
        }
    )
    return {"events": events, "orders": orders, "fills": fills, "parents": parents}


@pytest.fixture(scope="session")
def tables():
    """The synthetic tables as pyarrow Tables."""
    return synthetic_tables()


@pytest.fixture(scope="session")
def parquet_dir(tables, tmp_path_factory):
    """The synthetic tables written as Parquet files by pyarrow (what the CLI reads)."""
    import pyarrow.parquet as pq

    d = tmp_path_factory.mktemp("timeline")
    for name, t in tables.items():
        pq.write_table(t, d / f"{name}.parquet", row_group_size=30_000)
    return d
