"""Type stubs of the coalescope Python module."""

from os import PathLike
from typing import Any, Iterable, Protocol, Sequence, Union

import pyarrow

__version__: str

class ArrowStreamExportable(Protocol):
    """Anything exposing the Arrow PyCapsule stream protocol (pyarrow, pandas, polars)."""

    def __arrow_c_stream__(self, requested_schema: object | None = None) -> object: ...

Duration = Union[str, int]
"""A duration: text with a unit (``"250us"``, ``"1ms"``) or integer nanoseconds."""

class Error(ValueError):
    """Bad input data or a bad option; the message names the table, column and row, or
    the option (the same text as the ``coalescope`` CLI's)."""

class Analysis(dict[str, Any]):
    """The ``coalescope analyze --json`` object (compares equal to the parsed CLI
    output) with the groups (``analyze -o``), intervals (``--intervals``) and features
    (``--features``) tables as pyarrow Tables."""

    groups_table: pyarrow.Table
    intervals_table: pyarrow.Table
    features_table: pyarrow.Table

class SimResult:
    """A simulator run: the ``summary`` object of ``coalescope sim --json``, the
    ``events`` table and the ``interrupts`` log as pyarrow Tables."""

    summary: dict[str, Any]
    events: pyarrow.Table
    interrupts: pyarrow.Table

class JoinResult:
    """A capture join: the joined ``events`` table and the ``join --json`` report."""

    events: pyarrow.Table
    report: dict[str, Any]

def analyze(
    events: ArrowStreamExportable,
    orders: ArrowStreamExportable | None = None,
    fills: ArrowStreamExportable | None = None,
    parents: ArrowStreamExportable | None = None,
    *,
    by: str = "stream,symbol,venue",
    bucket: Duration | None = None,
    window: Duration = "250us",
    interval: Duration = "100ms",
    high_bdc: str = "median",
    horizons: Union[str, Sequence[Duration]] = "1s,5s,30s",
    dccd_horizon: Duration = "1ms",
    reorder_horizon: Duration | None = "100ms",
    compress_gap: Duration = "1us",
    quantiles: str = "sketch",
    dccd: bool = True,
    nic_config: str | None = None,
    delta_stale: Duration = "500us",
    catchup_window: Duration = "1s",
    catchup_x: float = 2.0,
) -> Analysis:
    """The SPEC §4 metrics of ``coalescope analyze --json`` over in-memory tables.

    ``events`` is required; ``orders``, ``fills`` (enables markouts/CTE) and ``parents``
    (enables branches and cost) are optional. Tables are read with the column rules of
    the CLI's Parquet reader. Options are the CLI's flags with ``_`` for ``-``;
    ``dccd=False`` is ``--no-dccd``; ``reorder_horizon=None`` (or ``"none"``) is
    unbounded. Raises :class:`Error` on bad data or options, ``TypeError`` when a table
    argument is not an Arrow stream producer.
    """
    ...

def partial(
    events: ArrowStreamExportable | None = None,
    orders: ArrowStreamExportable | None = None,
    fills: ArrowStreamExportable | None = None,
    parents: ArrowStreamExportable | None = None,
    *,
    markouts: bool | None = None,
    branches: bool | None = None,
    **options: Any,
) -> bytes:
    """The partial state of :func:`analyze` over these tables (same options). Partials of
    any split merged with :func:`merge` and finished with :func:`finish` equal one
    :func:`analyze` call; ``markouts`` / ``branches`` default to whether this call has
    fills / parents and must agree across the partials of one analysis."""
    ...

def merge(partials: Iterable[bytes]) -> bytes:
    """One partial holding all of ``partials``; :class:`Error` on different options or
    corrupt bytes."""
    ...

def finish(partial: bytes) -> Analysis:
    """The :class:`Analysis` of a (merged) partial."""
    ...

def sim(
    scenario: str | None = None,
    *,
    seed: int | None = None,
    packets: int | None = None,
    quantiles: str = "sketch",
) -> SimResult:
    """Run the simulator: ``scenario`` is a TOML file path or TOML text (a string with a
    newline or ``=``); ``None`` is the built-in default scenario."""
    ...

def join(
    pcap: Union[str, PathLike[str], Sequence[Union[str, PathLike[str]]]],
    app_log: ArrowStreamExportable | None = None,
    *,
    seq_source: str = "payload",
    seq_offset: int = 0,
    seq_width: int = 8,
    seq_endian: str = "le",
    stream_map: Sequence[str] | None = None,
) -> JoinResult:
    """``coalescope join``: captures joined with an app log into an ``events`` table."""
    ...
