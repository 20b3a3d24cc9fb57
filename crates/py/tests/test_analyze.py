"""coalescope.analyze on pyarrow, pandas and polars inputs equals `coalescope analyze --json`."""

import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
import pytest

import coalescope
from conftest import TESTDATA


def as_pandas(t):
    return t.to_pandas()


def as_polars(t):
    import polars as pl

    return pl.from_arrow(t)


FRONTS = {"pyarrow": lambda t: t, "pandas": as_pandas, "polars": as_polars}


def files(d, *names):
    args = []
    for n in names:
        args += [f"--{n}", d / f"{n}.parquet"]
    return args


@pytest.mark.parametrize("front", sorted(FRONTS))
def test_events_only_equals_cli(front, tables, parquet_dir, cli_json):
    want = cli_json(*files(parquet_dir, "events"))
    got = coalescope.analyze(events=FRONTS[front](tables["events"]))
    # Not vacuous: md counted, groups with an MDDR, BDC present.
    assert got["counts"]["md"] == 70_000
    assert got["counts"]["ctl"] == 3_500
    assert len(got["groups"]) == 3
    assert got == want


@pytest.mark.parametrize("front", sorted(FRONTS))
def test_all_tables_equal_cli(front, tables, parquet_dir, cli_json):
    want = cli_json(*files(parquet_dir, "events", "orders", "fills", "parents"))
    f = FRONTS[front]
    got = coalescope.analyze(
        events=f(tables["events"]),
        orders=f(tables["orders"]),
        fills=f(tables["fills"]),
        parents=f(tables["parents"]),
    )
    assert got["branches"] is not None
    assert got == want


def test_options_equal_flags(tables, parquet_dir, cli_json):
    want = cli_json(
        *files(parquet_dir, "events", "fills"),
        "--by", "symbol", "--window", "100us", "--interval", "50ms", "--bucket", "1s",
        "--high-bdc", "q:0.75", "--horizons", "1s,2s", "--quantiles", "exact",
        "--no-dccd", "--reorder-horizon", "none", "--nic-config", "rx_usecs=50,rx_frames=0",
    )
    got = coalescope.analyze(
        events=tables["events"], fills=tables["fills"], by="symbol", window="100us",
        interval=50_000_000, bucket="1s", high_bdc="q:0.75", horizons=["1s", 2_000_000_000],
        quantiles="exact", dccd=False, reorder_horizon=None,
        nic_config="rx_usecs=50,rx_frames=0",
    )
    # Two streams' symbols by symbol only, per 1 s bucket: every group names a symbol.
    assert {g["symbol"] for g in got["groups"]} == {"AAA", "BBB", "CCC"}
    assert got["config"] == want["config"]
    assert got == want


def test_branches_fixture_from_csv(tmp_path, cli_json):
    """The hand-checked branches fixture (testdata/branches), via pyarrow's CSV reader."""
    tabs = {}
    for n in ("events", "orders", "fills", "parents"):
        tabs[n] = pacsv.read_csv(TESTDATA / "branches" / f"{n}.csv")
        pq.write_table(tabs[n], tmp_path / f"{n}.parquet")
    want = cli_json(*files(tmp_path, "events", "orders", "fills", "parents"))
    got = coalescope.analyze(**tabs)
    # The files' rows: 15 md events, 13 orders, 6 fills, 9 parent rows of which one
    # repeats a parent_id (8 parents).
    assert got["counts"] == {"md": 15, "ctl": 0, "orders": 13, "fills": 6, "parents": 9}
    assert got["branches"]["overall"]["n_parents"] == 8
    assert got == want


def test_record_batch_reader_input(tables, parquet_dir, cli_json):
    """A stream of several batches (not one table) reads the same."""
    t = tables["events"]
    reader = pa.RecordBatchReader.from_batches(t.schema, t.to_batches(max_chunksize=7_000))
    assert coalescope.analyze(events=reader) == cli_json(*files(parquet_dir, "events"))


def cli_error(cli, path):
    code, _, err = cli("analyze", "--json", "--events", path)
    assert code != 0
    return err


def test_missing_column_raises_cli_message(tables, tmp_path, cli):
    bad = tables["events"].drop_columns(["t_ingress_ns"])
    path = tmp_path / "bad.parquet"
    pq.write_table(bad, path)
    with pytest.raises(coalescope.Error) as e:
        coalescope.analyze(events=bad.to_pandas())
    msg = str(e.value)
    assert msg == "events: the events table has no column `t_ingress_ns`, which is required"
    assert msg.replace("events: ", f"{path}: ", 1) in cli_error(cli, path)
    assert isinstance(e.value, ValueError)


def test_bad_value_raises_cli_message(tables, tmp_path, cli):
    t = tables["events"].slice(0, 10)
    kinds = t.column("kind").to_pylist()
    kinds[2] = "quote"
    bad = t.set_column(t.schema.get_field_index("kind"), "kind", pa.array(kinds))
    path = tmp_path / "bad.parquet"
    pq.write_table(bad, path)
    import polars as pl

    with pytest.raises(coalescope.Error) as e:
        coalescope.analyze(events=pl.from_arrow(bad))
    msg = str(e.value)
    assert msg.startswith("events: events.kind at row 3: `quote` is not"), msg
    assert msg.replace("events: ", f"{path}: ", 1) in cli_error(cli, path)


def test_bad_type_row_number_spans_batches(tables):
    """Row numbers count across the stream's batches (1-based)."""
    t = tables["events"].slice(0, 100)
    seq = pa.array([1] * 50 + [-5] + [1] * 49, pa.int64())
    bad = t.set_column(t.schema.get_field_index("seq"), "seq", seq)
    reader = pa.RecordBatchReader.from_batches(bad.schema, bad.to_batches(max_chunksize=20))
    with pytest.raises(coalescope.Error, match=r"^events: events\.seq at row 51: `-5` is not"):
        coalescope.analyze(events=reader)


def test_bad_option_names_it():
    t = pa.table({"seq": [1], "stream": ["a"], "kind": ["md"], "t_ingress_ns": [1]})
    with pytest.raises(coalescope.Error, match=r"^window: "):
        coalescope.analyze(events=t, window="1s")
    with pytest.raises(coalescope.Error, match=r"^unknown option `windw`"):
        coalescope.analyze(events=t, windw="1s")
    with pytest.raises(coalescope.Error, match=r"^by: "):
        coalescope.analyze(events=t, by="colour")
    with pytest.raises(TypeError, match=r"^events: expected a pyarrow Table"):
        coalescope.analyze(events=[1, 2, 3])


def test_no_events_raises():
    t = pa.table(
        {"seq": pa.array([], pa.uint64()), "stream": pa.array([], pa.string()),
         "kind": pa.array([], pa.string()), "t_ingress_ns": pa.array([], pa.int64())}
    )
    with pytest.raises(coalescope.Error, match="no usable events in the input"):
        coalescope.analyze(events=t)
