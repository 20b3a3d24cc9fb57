"""coalescope on Spark: the SPEC §4 metrics of a DataFrame, computed where the data is.

Each Spark partition is analysed by :func:`coalescope.partial` inside ``mapInArrow``
(Arrow batches straight from Spark, no pandas in between); the partial states (bytes)
are merged on the executors by ``treeReduce`` with :func:`coalescope.merge`, and the
driver finishes the one merged partial. The merge is exact for any split of the rows
into partitions (SPEC §4: counts and exact quantiles equal one pass over all rows; a
gap series split across partitions that overlap by more than the reordering horizon
reports itself unreliable, never a different number).

On a cluster, install the same ``coalescope`` wheel on the driver and every executor
(e.g. ``spark-submit --py-files`` does not carry native code: build the wheel with
``pip wheel .`` and ship it with ``--archives`` of a virtualenv, or install it in the
executors' image)::

    from pyspark.sql import SparkSession
    import coalescope.spark

    spark = SparkSession.builder.getOrCreate()
    events = spark.read.parquet("s3://desk-lake/events/date=2026-11-*/")
    groups = coalescope.spark.analyze(events, by=["stream", "symbol"], window="250us")
    groups.orderBy("mddr", ascending=False).show()
"""

from __future__ import annotations

import itertools
from typing import Any, Iterator, Sequence

import coalescope

__all__ = ["analysis", "analyze", "partials"]

_TABLES = ("events", "orders", "fills", "parents")


def _by(by) -> str | None:
    if by is None:
        return None
    if isinstance(by, str):
        return by
    return ",".join(by)


_FILE = "__coalescope_file"


def _runs(batches: Iterator[Any]) -> Iterator[tuple[str, Any]]:
    """(source file, batch slice) for consecutive rows of one file: a partition is a
    sequence of file splits, each a contiguous piece of one file."""
    import pyarrow.compute as pc

    for batch in batches:
        if batch.num_rows == 0:
            continue
        files = batch.column(_FILE)
        data = batch.drop_columns([_FILE])
        if batch.num_rows == 1:
            yield files[0].as_py(), data
            continue
        change = pc.not_equal(files.slice(1), files.slice(0, batch.num_rows - 1))
        cuts = [0, *(i + 1 for i in pc.indices_nonzero(change).to_pylist()), batch.num_rows]
        for lo, hi in zip(cuts, cuts[1:]):
            yield files[lo].as_py(), data.slice(lo, hi - lo)


def _partial_of(table: str, options: dict):
    """The mapInArrow function of one table: one partial (bytes) per partition.

    Spark packs several file splits (and pieces of different files, largest first) into
    one partition, so the rows of a partition are not in time order across splits: each
    run of rows from one file gets its own partial, and the partition's partials are
    merged (exact whenever each file is in time order within the reordering horizon, as
    for a lake split by time)."""

    def run(batches: Iterator[Any]) -> Iterator[Any]:
        import pyarrow as pa

        parts = []
        for _, group in itertools.groupby(_runs(batches), key=lambda fb: fb[0]):
            first = next(group)[1]
            rest = (b for _, b in group)
            reader = pa.RecordBatchReader.from_batches(first.schema, itertools.chain([first], rest))
            # partial() reads the whole run before groupby moves on: streaming.
            parts.append(coalescope.partial(**{table: reader}, **options))
        blob = coalescope.merge(parts) if parts else coalescope.partial(**options)
        yield pa.RecordBatch.from_pydict({"partial": pa.array([blob], pa.binary())})

    return run


def partials(events, orders=None, fills=None, parents=None, by: Sequence[str] | str | None = None,
             **options):
    """An RDD of partial states (bytes), one per partition of each DataFrame given.

    ``events`` (and the optional ``orders``, ``fills``, ``parents``) are Spark
    DataFrames with the columns of the CLI's Parquet tables; options are
    :func:`coalescope.analyze`'s. Merge them with :func:`coalescope.merge`.
    """
    frames = dict(zip(_TABLES, (events, orders, fills, parents)))
    opts = dict(options)
    if by is not None:
        opts["by"] = _by(by)
    opts.setdefault("markouts", fills is not None)
    opts.setdefault("branches", parents is not None)
    from pyspark.sql.functions import input_file_name

    rdds = [
        df.withColumn(_FILE, input_file_name())
        .mapInArrow(_partial_of(name, opts), "partial binary")
        .rdd.map(lambda r: bytes(r[0]))
        for name, df in frames.items()
        if df is not None
    ]
    out = rdds[0]
    for r in rdds[1:]:
        out = out.union(r)
    return out


def analysis(events, orders=None, fills=None, parents=None,
             by: Sequence[str] | str | None = None, depth: int = 2,
             **options) -> "coalescope.Analysis":
    """The :class:`coalescope.Analysis` of Spark DataFrames: what
    :func:`coalescope.analyze` (and ``coalescope analyze --json``) gives on the same rows.
    Partials are merged on the executors (``treeReduce`` of the given ``depth``)."""
    merged = partials(events, orders, fills, parents, by=by, **options).treeReduce(
        lambda a, b: coalescope.merge([a, b]), depth=depth
    )
    return coalescope.finish(merged)


def analyze(events, orders=None, fills=None, parents=None,
            by: Sequence[str] | str | None = None, table: str = "groups", **options):
    """The groups table (``analyze -o``) of Spark DataFrames as a Spark DataFrame.

    ``by`` lists the group keys (``["stream", "symbol"]``; default: the CLI's
    ``stream,symbol,venue``); ``table`` = ``"groups"`` (default), ``"intervals"`` or
    ``"features"`` picks the table returned. Other options are
    :func:`coalescope.analyze`'s.
    """
    if table not in ("groups", "intervals", "features"):
        raise coalescope.Error(f"table: expected groups, intervals or features, got {table!r}")
    result = analysis(events, orders, fills, parents, by=by, **options)
    arrow = getattr(result, f"{table}_table")
    spark = events.sparkSession
    if arrow.num_columns == 0:
        from pyspark.sql.types import StructType

        return spark.createDataFrame([], StructType([]))
    return spark.createDataFrame(_spark_types(arrow))


def _spark_types(table):
    """``table`` with unsigned columns as Spark can hold them: uint64 -> int64 when every
    value fits (counts always do), else decimal(20, 0) (what Spark reads a uint64 Parquet
    column as)."""
    import pyarrow as pa

    cols = []
    for field, col in zip(table.schema, table.columns):
        if pa.types.is_unsigned_integer(field.type):
            try:
                col = col.cast(pa.int64())
            except pa.ArrowInvalid:
                col = col.cast(pa.decimal128(20, 0))
        cols.append(col)
    return pa.table(cols, names=table.schema.names)
