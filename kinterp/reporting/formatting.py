"""Numbers as reports and the terminal show them: one style everywhere.

Formats a table column can ask for: ``int`` (thousands separators), ``float`` (4 significant
digits), ``pct`` (a fraction as a percentage), ``prob`` (4 decimals, saturating at
``>0.9999`` and ``<0.0001``), ``sci`` (scientific), ``text``; ``None`` picks by type.

A missing value (None, NaN) is an empty table cell, but a metric's reads as ``n/a``, or
``never`` for a point that was never reached (:func:`metric_text`, the CLI and the index).
"""

from __future__ import annotations

import math
from typing import Any

FORMATS = ("int", "float", "pct", "prob", "sci", "text")
MISSING = "n/a"
NEVER = "never"
NEVER_REACHED = ("breaking_point", "correlated_tv")
"""Endings of metric names whose value is a point something reaches: None means never."""


def _auto(value: Any) -> str:
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        if value.is_integer() and abs(value) < 1e15:
            return f"{int(value):,}"
        return f"{value:.4g}"
    return str(value)


def _prob(value: float) -> str:
    if value > 0.9999:
        return ">0.9999"
    if 0 < value < 0.0001:
        return "<0.0001"
    return f"{value:.4f}"


_NUMERIC = {
    "int": lambda v: f"{round(v):,}",
    "float": lambda v: f"{v:.4g}",
    "pct": lambda v: f"{v * 100:.1f}%",
    "prob": _prob,
    "sci": lambda v: f"{v:.3e}",
}


def format_number(value: Any, fmt: str | None = None, missing: str = "") -> str:
    """``value`` as text in ``fmt`` (one of :data:`FORMATS`, or None to pick by type).

    Missing values (None, NaN) are ``missing`` (an empty string unless given); non-numbers
    are shown as text whatever the format.
    """
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return missing
    if fmt in _NUMERIC and isinstance(value, (int, float)) and not isinstance(value, bool):
        if math.isinf(value):
            return "inf" if value > 0 else "-inf"
        return _NUMERIC[fmt](value)
    if fmt == "text":
        return str(value)
    return _auto(value)


def missing_text(metric: str) -> str:
    """What a missing value of ``metric`` reads as: ``never`` for a point that was never
    reached (a breaking point, the TV weight from which restarts agree), else ``n/a``."""
    return NEVER if metric.endswith(NEVER_REACHED) else MISSING


def metric_text(name: str, value: Any, most: int = 8) -> str:
    """Metric ``name`` on one line: a number, or the first ``most`` entries of a per-key
    dict (``edge never, rotate 30``); a missing value reads as :func:`missing_text` says."""
    missing = missing_text(name)
    if not isinstance(value, dict):
        return format_number(value, None, missing)
    shown = [f"{key} {format_number(v, None, missing)}" for key, v in list(value.items())[:most]]
    more = f", ... ({len(value) - most} more)" if len(value) > most else ""
    return ", ".join(shown) + more
