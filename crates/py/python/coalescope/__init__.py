"""coalescope: make NIC/NVMe interrupt coalescing visible.

The metrics of ``coalescope analyze`` (SPEC §4) on in-memory tables::

    import pandas as pd, coalescope
    events = pd.read_parquet("events.parquet")
    result = coalescope.analyze(events=events, by="symbol", window="250us")
    for g in result["groups"]:
        print(g["symbol"], g["mddr"])

``analyze`` accepts pyarrow Tables, pandas and polars DataFrames (anything exposing the
Arrow PyCapsule stream protocol, ``__arrow_c_stream__``) and returns what
``coalescope analyze --json`` prints on the same data, as a dict, with the groups,
intervals and features tables as pyarrow Tables. ``partial`` / ``merge`` / ``finish``
run the same analysis in two phases (per partition, then merged), as
:func:`coalescope.spark.analyze` does on a Spark cluster. ``sim`` and ``join`` return
the simulator's and the capture join's ``events`` tables. Errors raise
:class:`coalescope.Error` (a ``ValueError``) with the CLI's message.
"""

from __future__ import annotations

from typing import Any, Iterable

from ._coalescope import Error, __version__
from . import _coalescope as _native

__all__ = [
    "Analysis",
    "Error",
    "JoinResult",
    "SimResult",
    "__version__",
    "analyze",
    "finish",
    "join",
    "merge",
    "partial",
    "sim",
]


class Analysis(dict):
    """The ``coalescope analyze --json`` object (a ``dict``: it compares equal to the
    parsed CLI output) with the tables ``analyze`` writes to files as pyarrow Tables:

    - ``groups_table``: one row per group (``analyze -o``),
    - ``intervals_table``: one row per interval of each group (``--intervals``),
    - ``features_table``: the bucket x group feature rows (``--features``).
    """

    groups_table: Any
    intervals_table: Any
    features_table: Any

    @classmethod
    def _of(cls, parts: tuple) -> "Analysis":
        report, groups, intervals, features = parts
        out = cls(report)
        out.groups_table = groups
        out.intervals_table = intervals
        out.features_table = features
        return out


class SimResult:
    """A simulator run: ``summary`` (the ``summary`` object of ``coalescope sim
    --json``), ``events`` (the SPEC §1 ``events`` table, what ``sim -o`` writes) and
    ``interrupts`` (the interrupt log, what ``sim --interrupts`` writes) as pyarrow
    Tables."""

    def __init__(self, summary: dict, events: Any, interrupts: Any) -> None:
        self.summary = summary
        self.events = events
        self.interrupts = interrupts

    def __repr__(self) -> str:
        return f"SimResult(events={self.events.num_rows} rows, interrupts={self.interrupts.num_rows} rows)"


class JoinResult:
    """A capture join: ``events`` (the joined ``events`` table, what ``coalescope join
    -o`` writes, as a pyarrow Table) and ``report`` (what ``join --json`` prints)."""

    def __init__(self, events: Any, report: dict) -> None:
        self.events = events
        self.report = report

    def __repr__(self) -> str:
        return f"JoinResult(events={self.events.num_rows} rows)"


def analyze(events, orders=None, fills=None, parents=None, **options) -> Analysis:
    """The SPEC §4 metrics of ``coalescope analyze --json`` over in-memory tables.

    ``events`` is required; ``orders``, ``fills`` (enables markouts/CTE) and ``parents``
    (enables branches and cost) are optional; each is a pyarrow Table or
    RecordBatchReader, a pandas or polars DataFrame (read through the Arrow PyCapsule
    stream, no copy of the buffers) with the columns of the CLI's Parquet tables.
    Options are the CLI's flags with ``_`` for ``-`` (``by``, ``window``, ``interval``,
    ``bucket``, ``high_bdc``, ``horizons``, ``dccd_horizon``, ``reorder_horizon``,
    ``compress_gap``, ``quantiles``, ``dccd``, ``nic_config``, ``delta_stale``,
    ``catchup_window``, ``catchup_x``); durations are ``"250us"`` or integer
    nanoseconds. Returns an :class:`Analysis`; raises :class:`Error` on bad data or
    options, ``TypeError`` when a table argument is not an Arrow stream producer.
    """
    return Analysis._of(_native._analyze(events, orders, fills, parents, **options))


def partial(events=None, orders=None, fills=None, parents=None, **options) -> bytes:
    """The partial state of ``analyze`` over these tables, as bytes.

    Partials of any split of the records (by time, by file, interleaved) merged with
    :func:`merge` and finished with :func:`finish` give what one :func:`analyze` call over
    all records gives. Every partial of one analysis must use the same options; pass
    ``markouts=True`` / ``branches=True`` when the fills / parents are in other partials
    than the events (by default they follow whether this call has fills / parents).
    The bytes are self-describing (format version, options) and checked when read.
    """
    return _native._partial(events, orders, fills, parents, **options)


def merge(partials: Iterable[bytes]) -> bytes:
    """One partial holding every partial of ``partials`` (in any order); raises
    :class:`Error` when they were made with different options or are corrupt."""
    return _native._merge(list(partials))


def finish(partial: bytes) -> Analysis:
    """The :class:`Analysis` of a (merged) partial: what :func:`analyze` returns."""
    return Analysis._of(_native._finish(partial))


def sim(scenario: str | None = None, *, seed: int | None = None, packets: int | None = None,
        quantiles: str = "sketch") -> SimResult:
    """Run the simulator (``coalescope sim``) and return its tables.

    ``scenario`` is a scenario TOML file's path, or TOML text (a string holding a
    newline or ``=``); ``None`` runs the built-in default scenario. ``seed`` and
    ``packets`` override the scenario's. Same seed, same tables.
    """
    summary, events, interrupts = _native._sim(scenario, seed, packets, quantiles)
    return SimResult(summary, events, interrupts)


def join(pcap, app_log=None, *, seq_source: str = "payload", seq_offset: int = 0,
         seq_width: int = 8, seq_endian: str = "le", stream_map=None) -> JoinResult:
    """Join packet captures with an application log (``coalescope join``).

    ``pcap`` is a path or a list of paths (pcap or pcapng, read in order); ``app_log``
    an ``events`` table (pyarrow/pandas/polars) holding ``t_app_ns``, joined by
    (stream, seq). The keyword arguments are the CLI's flags; ``stream_map`` is a list
    of ``"ADDR:PORT=NAME"``.
    """
    import os

    paths = [pcap] if isinstance(pcap, (str, os.PathLike)) else list(pcap)
    events, report = _native._join(
        [os.fspath(p) for p in paths], app_log, seq_source, seq_offset, seq_width,
        seq_endian, None if stream_map is None else list(stream_map))
    return JoinResult(events, report)
