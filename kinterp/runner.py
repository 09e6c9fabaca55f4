"""Run one technique on one model and write its report: the path every run takes."""

from __future__ import annotations

import base64
import difflib
import platform
import time
import traceback
from dataclasses import dataclass
from datetime import datetime, timezone
from html import escape
from pathlib import Path
from typing import Any

import numpy as np

from kinterp._version import __version__
from kinterp.context import RunContext
from kinterp.errors import KinterpError
from kinterp.models import LoadedModel, LoadOptions, load_model
from kinterp.params import params_to_dict, parse_params
from kinterp.plugins import PluginRecord, one_line, registry
from kinterp.report import SCHEMA_VERSION, ReportBuilder, read_report, write_report
from kinterp.rundir import DEFAULT_ROOT, RunDirectory
from kinterp.technique import Technique


@dataclass
class RunResult:
    """A finished run: where its report is, and what it found."""

    path: Path
    report: dict[str, Any]
    traceback: str | None = None

    @property
    def status(self) -> str:
        """``ok`` or ``failed``."""
        return self.report["status"]

    @property
    def metrics(self) -> dict[str, Any]:
        """The run's metrics."""
        return self.report["metrics"]

    @property
    def arrays(self) -> dict[str, np.ndarray]:
        """Every saved array, by file stem."""
        return {
            Path(a["path"]).stem: np.load(self.path / a["path"])
            for a in self.report["artifacts"]
            if a["kind"] == "array"
        }

    def _repr_html_(self) -> str:
        """Jupyter: the metrics and the first images, embedded (the notebook may live elsewhere)."""
        tiles = []
        for section in self.report["sections"]:
            for block in section["images"]:
                for tile in block["tiles"][:12]:
                    data = base64.b64encode((self.path / tile["path"]).read_bytes()).decode()
                    tiles.append(
                        f'<figure style="display:inline-block;margin:4px;text-align:center">'
                        f'<img src="data:image/png;base64,{data}" width="84">'
                        f'<figcaption style="font-size:10px">{escape(tile["caption"])}'
                        "</figcaption></figure>"
                    )
        metrics = {k: v for k, v in self.metrics.items() if not isinstance(v, dict)}
        technique, model = self.report["technique"]["name"], self.report["model"]["name"]
        return (
            f"<b>{escape(technique)}</b> on <b>{escape(model)}</b>: {self.status} · "
            f"{escape(str(metrics))} · <code>{escape(str(self.path))}/report.html</code><br>"
            + "".join(tiles[:24])
        )


def find_technique(name: str) -> tuple[Technique, PluginRecord]:
    """An installed technique by name, or a one-line error suggesting the closest names."""
    techniques = registry().techniques
    if name in techniques:
        return techniques[name]
    close = difflib.get_close_matches(name, list(techniques), n=3, cutoff=0.5)
    hint = f"did you mean {', '.join(close)}?" if close else "see: kinterp plugins"
    raise KinterpError(f"unknown technique {name!r}; {hint}")


def environment() -> dict[str, str]:
    """Versions that say what produced a report."""
    import keras
    import tensorflow as tf

    return {
        "kinterp": __version__,
        "python": platform.python_version(),
        "tensorflow": tf.__version__,
        "keras": keras.__version__,
        "numpy": np.__version__,
        "platform": platform.platform(),
    }


def now() -> str:
    """The current UTC time as ISO 8601, to the second."""
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def build_report(
    technique: dict[str, Any],
    loaded: LoadedModel,
    builder: ReportBuilder,
    data: dict[str, Any] | None,
    params: dict[str, Any],
    seed: int,
    started: str,
    clock: float,
    error: dict[str, str] | None,
) -> dict[str, Any]:
    """The report.json content of a finished run (see the shipped schema)."""
    env = environment()
    return {
        "schema_version": SCHEMA_VERSION,
        "kinterp_version": env["kinterp"],
        "technique": technique,
        "model": loaded.info.summary(),
        "data": data,
        "params": params,
        "seed": seed,
        "started": started,
        "ended": now(),
        "duration_s": round(time.perf_counter() - clock, 3),
        "environment": env,
        "status": "failed" if error else "ok",
        "error": error,
        **builder.as_dict(),
    }


def run_technique(
    technique_name: str,
    model: str | LoadedModel,
    params: dict[str, Any] | None = None,
    *,
    out: str | Path | None = None,
    data: str | None = None,
    seed: int = 0,
    load_options: LoadOptions | None = None,
    quiet: bool = True,
) -> RunResult:
    """Run a technique and write its report directory.

    Args:
        technique_name: an installed technique (see ``kinterp plugins``).
        model: a zoo name, a model path, or an already loaded model.
        params: parameter values by field name (strings are parsed as on the CLI).
        out: the directory the run directory goes under (default ./kinterp-reports).
        data: a dataset name or path (default: the model card's dataset, else mnist-5k).
        seed: seeds numpy, Python and TensorFlow for a reproducible run.

    Returns:
        The result; ``status`` is ``failed`` when the technique raised an unexpected error.

    Raises:
        KinterpError: bad input (nothing is written).
    """
    technique, plugin = find_technique(technique_name)
    parsed = parse_params(technique.Params, dict(params or {}))
    if not 0 <= seed < 2**32:
        raise KinterpError(f"--seed must be between 0 and {2**32 - 1}, got {seed}")
    loaded = model if isinstance(model, LoadedModel) else load_model(model, load_options)
    reason = technique.supports(loaded.info)
    if reason:
        raise KinterpError(f"{technique.name} cannot run on {loaded.info.name}: {reason}")
    loaded.require_image()

    import keras

    keras.utils.set_random_seed(seed)
    run_dir = RunDirectory(Path(out) if out else DEFAULT_ROOT, technique.name, loaded.info.name)
    builder = ReportBuilder(run_dir.path)
    ctx = RunContext(loaded, builder, seed=seed, data_name=data, quiet=quiet)
    started, clock, error, trace = now(), time.perf_counter(), None, None
    try:
        technique.run(ctx, parsed)
    except KinterpError:  # bad input: nothing is written
        run_dir.discard()
        raise
    except Exception as exc:  # a bug in the technique: keep a failed report
        error = {"type": type(exc).__name__, "message": one_line(exc)}
        trace = traceback.format_exc()
    except BaseException:  # Ctrl-C and exits: leave nothing behind
        run_dir.discard()
        raise
    technique_block = {
        "name": technique.name,
        "summary": technique.summary,
        "distribution": plugin.distribution,
        "version": plugin.version,
        "key_metric": technique.key_metric,
    }
    report = build_report(
        technique_block,
        loaded,
        builder,
        ctx.data_used,
        params_to_dict(parsed),
        seed,
        started,
        clock,
        error,
    )
    path = finish(run_dir, report)
    return RunResult(path, read_report(path), trace)


def finish(run_dir: RunDirectory, report: dict[str, Any]) -> Path:
    """Write report.json and report.html and move the run into place; on failure, remove it."""
    try:
        write_report(run_dir.path, report)
        return run_dir.commit()
    except BaseException:
        run_dir.discard()
        raise
