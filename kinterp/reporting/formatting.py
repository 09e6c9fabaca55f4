"""Numbers as reports and the terminal show them: one style everywhere.

Formats a table column can ask for: ``int`` (thousands separators), ``float`` (4 significant
digits), ``pct`` (a fraction as a percentage), ``prob`` (4 decimals, saturating at
``>0.9999`` and ``<0.0001``), ``sci`` (scientific), ``text``; ``None`` picks by type.
"""

from __future__ import annotations

import math
from typing import Any

FORMATS = ("int", "float", "pct", "prob", "sci", "text")


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


def format_number(value: Any, fmt: str | None = None) -> str:
    """``value`` as text in ``fmt`` (one of :data:`FORMATS`, or None to pick by type).

    Missing values (None, NaN) are an empty string; non-numbers are shown as text whatever
    the format.
    """
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    if fmt in _NUMERIC and isinstance(value, (int, float)) and not isinstance(value, bool):
        if math.isinf(value):
            return "inf" if value > 0 else "-inf"
        return _NUMERIC[fmt](value)
    if fmt == "text":
        return str(value)
    return _auto(value)
