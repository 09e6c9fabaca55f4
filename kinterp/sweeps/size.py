"""How many runs a sweep SPEC asks for, counted before anything is expanded.

A grid of a few short lists multiplies out fast: 8 parameters of 10 values are 10^8 points,
which planning would try to build one by one for hours. The count is the product of the
grid's list lengths x models x seeds per ``[[runs]]`` table, summed over the tables: a few
multiplications, however large the result. Above the limit (``DEFAULT_MAX_RUNS``, raised
with ``--max-runs``) the SPEC is refused before its grid values are even checked.
"""

from __future__ import annotations

import math
from typing import Any

from kinterp.errors import KinterpError
from kinterp.sweeps.locate import Locator

DEFAULT_MAX_RUNS = 10_000


def check_max_runs(value: Any) -> int:
    """``--max-runs`` (``max_runs=``) as a positive integer.

    Raises:
        KinterpError: not a whole number of at least 1.
    """
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise KinterpError(f"--max-runs expects a whole number of at least 1, got {value!r}")
    return value


def block_runs(grid: dict[str, list[Any]], models: int, seeds: int) -> int:
    """Runs of one ``[[runs]]`` table: grid points x models x seeds (before deduplication)."""
    return math.prod(len(values) for values in grid.values()) * models * seeds


def check_size(counts: list[tuple[int, int, bool]], max_runs: int, locator: Locator) -> int:
    """Refuse a sweep of more than ``max_runs`` runs, naming its largest table.

    Args:
        counts: per ``[[runs]]`` table: (its index, its run count, whether it has a grid).
        max_runs: the limit.
        locator: points the error at the SPEC line.

    Returns:
        The total count.

    Raises:
        KinterpError: the total is over the limit.
    """
    total = sum(count for _, count, _ in counts)
    if total <= max_runs:
        return total
    index, count, has_grid = max(counts, key=lambda c: c[1])
    raise locator.error(
        f"the SPEC expands to {_amount(total)} runs (grid points x models x seeds), over the "
        f"limit of {max_runs:,}; this table alone is {_amount(count)}: shrink its grid, or pass "
        "--max-runs N (max_runs=N in Python) if you mean it",
        run=index,
        key="grid" if has_grid else "models",
    )


def _amount(count: int) -> str:
    """A count with thousands separators; a power of ten once it is absurdly long."""
    return f"{count:,}" if count < 10**18 else f"about 10^{len(str(count)) - 1}"
