"""``OUT/sweep.json``: every run of the sweep with its key, status, report and seconds.

It is rewritten (atomically) as each run finishes, so an interrupted sweep leaves an honest
manifest: finished runs with their status, the rest ``pending``.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections import Counter
from pathlib import Path
from typing import Any

from kinterp._version import __version__
from kinterp.sweeps.outcome import STATUSES, Outcome
from kinterp.sweeps.plan import PlannedRun

MANIFEST = "sweep.json"
MANIFEST_VERSION = 1


def summary(outcomes: list[Outcome]) -> dict[str, int]:
    """How many runs ended in each status, and in all."""
    counts = Counter(o.status for o in outcomes)
    return {"total": len(outcomes), **{status: counts.get(status, 0) for status in STATUSES}}


def entry(run: PlannedRun, outcome: Outcome, out: Path) -> dict[str, Any]:
    """One run's manifest entry; its report path relative to ``out``."""
    spec = run.spec
    report = outcome.report
    if report is not None:
        report = Path(os.path.relpath(report, out)).as_posix()
    return {
        "key": run.key,
        "technique": spec.technique,
        "model": run.model_name,
        "model_path": spec.model,
        "model_sha256": spec.model_sha256,
        "params": spec.params,
        "grid": run.grid,
        "data": spec.data,
        "seed": spec.seed,
        **outcome.as_dict(),
        "report": report,
    }


def build(
    out: Path, runs: list[PlannedRun], outcomes: dict[str, Outcome], **info: Any
) -> dict[str, Any]:
    """The manifest document: ``info`` (source, cluster, times ...), summary and runs."""
    ordered = [outcomes[run.key] for run in runs]
    return {
        "manifest_version": MANIFEST_VERSION,
        "kinterp_version": __version__,
        "out": str(out),
        **info,
        "summary": summary(ordered),
        "runs": [entry(run, o, out) for run, o in zip(runs, ordered, strict=True)],
    }


def write(out: Path, manifest: dict[str, Any]) -> Path:
    """Write ``out/sweep.json`` atomically (a temporary file renamed into place)."""
    out.mkdir(parents=True, exist_ok=True)
    path = out / MANIFEST
    fd, temp = tempfile.mkstemp(prefix=f".{MANIFEST}.", dir=out)
    try:
        with os.fdopen(fd, "w") as fh:
            json.dump(manifest, fh, indent=2, allow_nan=False)
        os.replace(temp, path)
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise
    return path
