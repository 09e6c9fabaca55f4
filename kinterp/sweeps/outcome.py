"""What became of one run of a sweep: its status, report folder, key metric and timings.

``ok`` and ``failed`` come from the run's report; ``refused`` means the worker raised a
:class:`KinterpError` (a changed model file, a technique that does not support the model)
and wrote nothing; ``skipped`` means an earlier sweep already left a report; ``pending``
means it has not finished (yet).
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

STATUSES = ("ok", "failed", "refused", "skipped", "pending")


@dataclass(frozen=True)
class Outcome:
    """One run's result, as the manifest records it."""

    status: str
    report: str | None = None  # the run directory
    report_status: str | None = None  # the report's own status (for skipped runs)
    error: str | None = None
    metric: str | None = None  # the technique's key metric ...
    value: float | None = None  # ... and its value
    seconds: float | None = None  # the whole task, model load included
    run_seconds: float | None = None  # the technique alone (the report's duration_s)
    load_seconds: float | None = None  # loading the model (0 when the worker had it cached)

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return asdict(self)


def key_metric(report: dict[str, Any]) -> tuple[str | None, float | None]:
    """The report's key metric name and numeric value (None when absent or not a number)."""
    metrics = report.get("metrics") or {}
    name = report.get("technique", {}).get("key_metric") or next(
        (k for k, v in metrics.items() if _number(v) is not None), None
    )
    return name, _number(metrics.get(name)) if name else None


def from_report(run_dir: Path, report: dict[str, Any], **timings: float | None) -> Outcome:
    """The outcome a finished report records."""
    name, value = key_metric(report)
    error = report.get("error")
    return Outcome(
        status=report["status"],
        report=str(run_dir),
        report_status=report["status"],
        error=f"{error['type']}: {error['message']}" if error else None,
        metric=name,
        value=value,
        run_seconds=report.get("duration_s"),
        **timings,
    )


def existing(folder: Path) -> Outcome | None:
    """The outcome of a report already in ``folder`` (the newest complete one), as skipped."""
    if not folder.is_dir():
        return None
    for run_dir in sorted(
        (p for p in folder.iterdir() if not p.name.startswith(".")), reverse=True
    ):
        try:
            report = json.loads((run_dir / "report.json").read_text())
            found = from_report(run_dir, report)
        except (OSError, ValueError, KeyError, TypeError):
            continue  # not a complete report
        return Outcome(**{**found.as_dict(), "status": "skipped"})
    return None


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value) if math.isfinite(value) else None
