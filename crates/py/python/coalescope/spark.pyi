"""Type stubs of coalescope.spark."""

from typing import Any, Sequence

from . import Analysis

def partials(
    events: Any,
    orders: Any | None = None,
    fills: Any | None = None,
    parents: Any | None = None,
    by: Sequence[str] | str | None = None,
    **options: Any,
) -> Any:
    """An RDD of partial states (bytes), one per partition of each DataFrame."""
    ...

def analysis(
    events: Any,
    orders: Any | None = None,
    fills: Any | None = None,
    parents: Any | None = None,
    by: Sequence[str] | str | None = None,
    depth: int = 2,
    **options: Any,
) -> Analysis:
    """The Analysis of Spark DataFrames (partials merged on the executors)."""
    ...

def analyze(
    events: Any,
    orders: Any | None = None,
    fills: Any | None = None,
    parents: Any | None = None,
    by: Sequence[str] | str | None = None,
    table: str = "groups",
    **options: Any,
) -> Any:
    """The groups (or intervals/features) table as a Spark DataFrame."""
    ...
