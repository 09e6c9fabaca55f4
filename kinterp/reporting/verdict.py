"""The line a report opens with: the technique's own verdict, else one made from its metrics."""

from __future__ import annotations

from typing import Any

from kinterp.reporting.formatting import format_number


def key_metric_name(technique: dict[str, Any], metrics: dict[str, Any]) -> str | None:
    """The technique's key metric if the run recorded it, else the first scalar metric."""
    name = technique.get("key_metric")
    if name in metrics:
        return name
    return next((k for k, v in metrics.items() if not isinstance(v, dict)), None)


def final_summary(
    summary: dict[str, Any],
    technique: dict[str, Any],
    metrics: dict[str, Any],
    error: dict[str, str] | None,
) -> dict[str, Any]:
    """The report's summary block: a failure says so; a run without a verdict gets its key
    metric as one (``mean_drop 0.0123``)."""
    if error is not None:
        return {**summary, "verdict": f"Failed: {error['type']}: {error['message']}", "tone": "bad"}
    if summary["verdict"]:
        return dict(summary)
    name = key_metric_name(technique, metrics)
    text = f"{name} {format_number(metrics[name])}" if name else "Finished; no metrics recorded."
    return {**summary, "verdict": text}
