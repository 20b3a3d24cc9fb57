"""The Arrow outputs: analyze's groups/intervals/features tables equal the files the CLI
writes; sim's tables equal `coalescope sim -o/--interrupts`; join equals `coalescope join`."""

import json
import pyarrow.parquet as pq
import pytest

import coalescope
from conftest import TESTDATA


def test_groups_intervals_features_equal_the_cli_files(tables, parquet_dir, cli, tmp_path):
    code, _, err = cli(
        "analyze", "--events", parquet_dir / "events.parquet", "--bucket", "1s",
        "-o", tmp_path / "groups.parquet", "--intervals", tmp_path / "intervals.parquet",
        "--features", tmp_path / "features.parquet",
    )
    assert code == 0, err
    got = coalescope.analyze(events=tables["events"], bucket="1s")
    for name in ("groups", "intervals", "features"):
        want = pq.read_table(tmp_path / f"{name}.parquet")
        table = getattr(got, f"{name}_table")
        assert table.num_rows > 0, name
        assert table.schema.names == want.schema.names, name
        assert table.to_pylist() == want.to_pylist(), name
    assert got.intervals_table.num_rows > 30  # 3 groups x ~15 intervals of 100 ms


def test_sim_tables_equal_the_cli_files(cli, tmp_path):
    code, out, err = cli(
        "sim", "--seed", 7, "--packets", 20000, "--json",
        "-o", tmp_path / "events.parquet", "--interrupts", tmp_path / "irq.parquet",
    )
    assert code == 0, err
    run = coalescope.sim(seed=7, packets=20000)
    assert run.summary == json.loads(out)["summary"]
    assert run.events.num_rows == 20000
    assert run.events.to_pylist() == pq.read_table(tmp_path / "events.parquet").to_pylist()
    assert run.interrupts.to_pylist() == pq.read_table(tmp_path / "irq.parquet").to_pylist()
    # Same seed, same tables.
    again = coalescope.sim(seed=7, packets=20000)
    assert again.events.equals(run.events)


def test_sim_takes_toml_text_and_files(tmp_path):
    text = 'seed = 1\npackets = 500\n[[stream]]\nname = "md"\narrivals = { kind = "poisson", rate_per_s = 100000 }\n'
    a = coalescope.sim(text)
    path = tmp_path / "s.toml"
    path.write_text(text)
    b = coalescope.sim(str(path))
    assert a.events.num_rows == 500
    assert a.events.equals(b.events)
    with pytest.raises(coalescope.Error, match="cannot read scenario file"):
        coalescope.sim(str(tmp_path / "missing.toml"))
    with pytest.raises(coalescope.Error, match="scenario"):
        coalescope.sim("packets = -5\n")


def test_join_equals_the_cli(cli, tmp_path):
    import pyarrow as pa

    pcap = TESTDATA / "pcap" / "moldudp64_us_le.pcap"
    seq = ["--seq-offset", "10", "--seq-width", "8", "--seq-endian", "be"]
    # An app log delivering seqs 1000 and 1002 (1001 undelivered) 5 and 7 us late.
    app = pa.table(
        {
            "seq": pa.array([1000, 1002], pa.uint64()),
            "stream": ["233.54.12.1:26400"] * 2,
            "kind": ["md", "md"],
            "symbol": ["AAPL", "MSFT"],
            "t_ingress_ns": [1700000000123456000, 1700000001000000000],
            "t_app_ns": [1700000000123461000, 1700000001000007000],
        }
    )
    pq.write_table(app, tmp_path / "app.parquet")
    out = tmp_path / "joined.parquet"
    code, stdout, err = cli(
        "join", "--pcap", pcap, "--app-log", tmp_path / "app.parquet", *seq, "-o", out, "--json"
    )
    assert code == 0, err
    got = coalescope.join(pcap, app, seq_offset=10, seq_width=8, seq_endian="be")
    assert got.report == json.loads(stdout)
    rows = got.events.to_pylist()
    assert rows == pq.read_table(out).to_pylist()
    assert [r["seq"] for r in rows] == [1000, 1001, 1002]
    assert [r["t_app_ns"] for r in rows] == [1700000000123461000, None, 1700000001000007000]
    assert [r["symbol"] for r in rows] == ["AAPL", None, "MSFT"]
    with pytest.raises(coalescope.Error, match="seq_offset/seq_width/seq_endian"):
        coalescope.join(pcap, seq_width=3)
    with pytest.raises(coalescope.Error, match="stream_map"):
        coalescope.join(pcap, stream_map=["nonsense"])
