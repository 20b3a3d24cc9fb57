"""coalescope.spark in local mode over a multi-file Parquet dataset equals `coalescope
analyze --json` on the same files."""

import os
import shutil
import sys

import pyarrow.parquet as pq
import pytest


def spark_or_skip():
    try:
        import pyspark  # noqa: F401
    except ImportError:
        if os.environ.get("COALESCOPE_CI") == "1":
            pytest.fail("pyspark is not installed (.ci/run installs it)")
        pytest.skip("skipped: pyspark not installed")
    if shutil.which("java") is None and not os.environ.get("JAVA_HOME"):
        if os.environ.get("COALESCOPE_CI") == "1":
            pytest.fail("java is not installed (.ci/run installs it)")
        pytest.skip("skipped: java not installed")


@pytest.fixture(scope="module")
def spark():
    spark_or_skip()
    from pyspark.sql import SparkSession

    os.environ["PYSPARK_PYTHON"] = sys.executable
    os.environ["PYSPARK_DRIVER_PYTHON"] = sys.executable
    s = (
        SparkSession.builder.master("local[2]")
        .appName("coalescope-test")
        .config("spark.ui.enabled", "false")
        .config("spark.driver.host", "127.0.0.1")
        .config("spark.driver.bindAddress", "127.0.0.1")
        .config("spark.sql.shuffle.partitions", "4")
        # Small splits: every file is cut into several partitions, and partitions pack
        # pieces of several files (largest first), so rows of one partition are not in
        # time order across files.
        .config("spark.sql.files.maxPartitionBytes", str(200 * 1024))
        .config("spark.sql.files.openCostInBytes", "0")
        .config("spark.sql.execution.arrow.pyspark.enabled", "true")
        .getOrCreate()
    )
    yield s
    s.stop()


@pytest.fixture(scope="module")
def lake(tables, tmp_path_factory):
    """The synthetic events split by time into 5 files of several row groups each."""
    d = tmp_path_factory.mktemp("lake")
    ev = tables["events"].sort_by([("t_ingress_ns", "ascending"), ("seq", "ascending")])
    n = ev.num_rows
    cuts = [0, n // 7, n // 3, n // 2, (4 * n) // 5, n]
    files = []
    for i, (lo, hi) in enumerate(zip(cuts, cuts[1:])):
        f = d / f"events-{i}.parquet"
        pq.write_table(ev.slice(lo, hi - lo), f, row_group_size=4_000)
        files.append(f)
    return d, files


def test_spark_analysis_equals_cli(spark, lake, cli_json):
    import coalescope.spark

    d, files = lake
    want = cli_json("--events", *files)
    df = spark.read.parquet(str(d))
    assert df.rdd.getNumPartitions() > 5
    got = coalescope.spark.analysis(df)
    assert got["counts"]["md"] == 70_000
    assert all(g["mddr"] is not None for g in got["groups"])
    assert got == want


def test_spark_analyze_returns_the_groups_table(spark, lake, cli_json):
    import coalescope.spark

    d, files = lake
    want = cli_json("--events", *files, "--by", "symbol", "--window", "100us")
    df = spark.read.parquet(str(d))
    groups = coalescope.spark.analyze(df, by=["symbol"], window="100us")
    rows = sorted((r.asDict() for r in groups.collect()), key=lambda r: r["symbol"])
    assert [r["symbol"] for r in rows] == ["AAA", "BBB", "CCC"]
    for r, w in zip(rows, want["groups"]):
        assert r["symbol"] == w["symbol"]
        assert r["n_md"] == w["n_md"]
        assert r["mddr"] == w["mddr"]
        assert r["bdc_median"] == w["bdc_median"]
