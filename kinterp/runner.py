"""Execute a :class:`~kinterp.settings.runspec.RunSpec`: the one path every run takes.

The CLI's ``run``, ``predict``, ``demo`` and ``replay``, :func:`kinterp.run`, and any worker
process all call :func:`execute`. Bad input raises :class:`KinterpError` before anything is
written; a technique that crashes leaves a report with ``status: failed``.
"""

from __future__ import annotations

import json
import platform
import time
import traceback
import warnings
import zipfile
import zlib
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np

from kinterp._version import __version__
from kinterp.data.datasets import Dataset, check_npz
from kinterp.data.modeldata import ModelData, dataset_name
from kinterp.errors import KinterpError
from kinterp.loading.modelfile import sha256_of
from kinterp.loading.models import LoadedModel, load_model, resolve
from kinterp.plugins import PluginRecord, one_line, registry
from kinterp.registry import find_technique, load_dataset, preload_dataset
from kinterp.reporting.html import write_report
from kinterp.reporting.report import SCHEMA_VERSION, ReportBuilder, read_report
from kinterp.reporting.rundir import DEFAULT_ROOT, RunDirectory, check_root
from kinterp.reporting.verdict import final_summary
from kinterp.settings.params import params_to_dict, parse_params
from kinterp.settings.runspec import RunSpec
from kinterp.technique import Technique
from kinterp.technique.context import RunContext

MAX_LOG_LINES = 50


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
    def spec(self) -> RunSpec:
        """The spec that reproduces this run (its params as the technique parsed them).

        Its load options are the ones this process ran with (its caller's own choice), so
        an unsafe load is kept, unlike in a spec read from a file.
        """
        return RunSpec.from_dict(self.report["spec"], allow_unsafe=True)

    @property
    def arrays(self) -> dict[str, np.ndarray]:
        """Every saved array, by file stem."""
        return {
            Path(a["path"]).stem: np.load(self.path / a["path"])
            for a in self.report["artifacts"]
            if a["kind"] == "array"
        }

    @property
    def data(self) -> dict[str, Any]:
        """Every structured result saved with ``report.json(name, value)``, by name."""
        return {
            Path(a["path"]).stem: json.loads((self.path / a["path"]).read_text())
            for a in self.report["artifacts"]
            if a["kind"] == "json"
        }

    def _repr_html_(self) -> str:
        """Jupyter: the verdict, the key images (embedded) and the formatted metrics."""
        from kinterp.reporting.notebook import run_fragment

        return run_fragment(self.report, self.path)


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


def load_for(spec: RunSpec) -> LoadedModel:
    """Load the spec's model, refusing a file whose sha256 is not the one the spec names.

    Raises:
        KinterpError: the model cannot be loaded, or its file changed.
    """
    if spec.model_sha256:
        _, path, _ = resolve(spec.model)
        if path.exists() and sha256_of(path) != spec.model_sha256:
            raise KinterpError(
                f"{spec.model} has changed since the run was specified (sha256 "
                f"{sha256_of(path)[:12]}..., expected {spec.model_sha256[:12]}...); "
                "drop model_sha256 from the spec to run on the new file"
            )
    return load_model(spec.model, spec.load, hold_arrays(spec))


DATASET_KEYS = ("x", "y", "x_train", "y_train", "x_test", "y_test")


def hold_arrays(spec: RunSpec) -> dict[str, np.ndarray]:
    """For ``--hold mean``: the arrays of the ``--data`` .npz besides its images and labels,
    by name (the model's other inputs read theirs from here).

    Raises:
        KinterpError: ``--hold mean`` without an .npz file as ``--data``.
    """
    if spec.load.hold != "mean":
        return {}
    path = Path(spec.data) if spec.data else None
    if path is None or path.suffix.lower() != ".npz" or not path.is_file():
        raise KinterpError(
            "--hold mean holds each other input at the mean of the array named after it in "
            "--data FILE.npz; pass such a file, or --hold zeros"
        )
    try:
        check_npz(path)
        with np.load(path, allow_pickle=False) as archive:
            return {k: archive[k] for k in archive.files if k not in DATASET_KEYS}
    except (OSError, ValueError, EOFError, zipfile.BadZipFile, zlib.error) as exc:
        raise KinterpError(f"{path}: not a readable .npz file ({type(exc).__name__})") from exc


def execute(
    spec: RunSpec,
    model: LoadedModel | None = None,
    quiet: bool = True,
    amend: Callable[[dict[str, Any]], None] | None = None,
) -> RunResult:
    """Run ``spec`` and write its report directory.

    The output folder and the data are checked before the model is loaded; an interrupted
    run (Ctrl-C) leaves nothing behind.

    Args:
        spec: what to run.
        model: the spec's model, already loaded (a cache); it must be the spec's file.
        quiet: hide progress bars.
        amend: called with the report (a dict) just before it is written; a cluster worker
            uses it to record the paths its client knows instead of its own copies.

    Returns:
        The result; ``status`` is ``failed`` when the technique raised an unexpected error.

    Raises:
        KinterpError: bad input (nothing is written).
    """
    technique, plugin = find_technique(spec.technique)
    parsed = parse_params(technique.Params, dict(spec.params))
    root = check_root(Path(spec.out) if spec.out else DEFAULT_ROOT)
    preloaded = _preload_data(spec, technique)
    loaded = model or load_for(spec)
    if spec.model_sha256 and loaded.info.sha256 != spec.model_sha256:
        raise KinterpError(f"{spec.model}: the loaded model is not the file the spec names")
    reason = technique.supports(loaded.info)
    if reason:
        raise KinterpError(f"{technique.name} cannot run on {loaded.info.name}: {reason}")
    loaded.require_image()
    recorded = replace(
        spec,
        model=spec.model if loaded.info.card else loaded.info.path,
        params=params_to_dict(parsed),
        model_sha256=loaded.info.sha256,
    )

    import keras

    keras.utils.set_random_seed(spec.seed)
    run_dir = RunDirectory(root, technique.name, loaded.info.name)
    try:
        blocks = {name: block for name, (block, _) in registry().report_blocks.items()}
        builder = ReportBuilder(run_dir.path, blocks)
        opener = _data_opener(spec, loaded, preloaded)
        ctx = RunContext(
            loaded,
            builder,
            seed=spec.seed,
            quiet=quiet,
            open_data=opener,
            data_given=spec.data is not None,
        )
        started, clock = now(), time.perf_counter()
        error, trace, log = _run_capturing(technique, ctx, parsed)
        if spec.data is not None and not ctx.data_opened and spec.load.hold != "mean":
            log.append(f"UnusedData: {technique.name} did not read --data {spec.data}")
        block = _technique_block(technique, plugin)
        report = {
            "schema_version": SCHEMA_VERSION,
            "kinterp_version": __version__,
            "technique": block,
            "model": loaded.info.summary(),
            "data": ctx.data_used,
            "params": params_to_dict(parsed),
            "seed": spec.seed,
            "started": started,
            "ended": now(),
            "duration_s": round(time.perf_counter() - clock, 3),
            "environment": environment(),
            "status": "failed" if error else "ok",
            "error": error,
            "spec": recorded.as_dict(),
            "log": log,
            **builder.as_dict(),
        }
        report["summary"] = final_summary(builder.summary, block, builder.metrics, error)
        if amend is not None:
            amend(report)
        write_report(run_dir.path, report, blocks)
        path = run_dir.commit()
    except BaseException:  # bad input, Ctrl-C, an unwritable report: leave nothing behind
        run_dir.discard()
        raise
    return RunResult(path, read_report(path), trace)


def _preload_data(spec: RunSpec, technique: Technique) -> Dataset | None:
    """Check ``--data`` before the model loads (see :func:`preload_dataset`).

    Raises:
        KinterpError: the technique reads no data, or the data is missing or bad.
    """
    if spec.data is None:
        return None
    if not technique.reads_data:
        if spec.load.hold == "mean":
            return None  # --data only gives the held inputs their means
        raise KinterpError(
            f"{technique.name} does not read a dataset, so --data {spec.data} would be ignored; "
            "drop --data"
        )
    return preload_dataset(spec.data)


def _data_opener(spec: RunSpec, loaded: LoadedModel, preloaded: Dataset | None):
    """What ``ctx.data()`` calls: the spec's dataset, loaded on first use (unless preloaded)."""

    def open_data() -> ModelData:
        name = dataset_name(spec.data, loaded)
        height, width, channels = loaded.require_image()
        dataset = preloaded or load_dataset(name, size=(height, width), channels=channels)
        return ModelData(name, dataset, loaded)

    return open_data


def _run_capturing(
    technique: Technique, ctx: RunContext, params: Any
) -> tuple[dict[str, str] | None, str | None, list[str]]:
    """Run the technique with warnings captured: (error, traceback, log lines).

    Bad input (:class:`KinterpError`), Ctrl-C and exits propagate; any other exception is
    a bug in the technique, returned as the error of a failed report.
    """
    error = trace = None
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            technique.run(ctx, params)
        except KinterpError:
            raise
        except Exception as exc:
            error = {"type": type(exc).__name__, "message": one_line(exc)}
            trace = traceback.format_exc()
    return error, trace, _log_lines(caught)


def _log_lines(caught: list[warnings.WarningMessage]) -> list[str]:
    """Each distinct warning once, as ``Category: first line (file:line)``, with a count."""
    counts: dict[str, int] = {}
    for w in caught:
        first = (str(w.message).strip().splitlines() or [""])[0]
        line = f"{w.category.__name__}: {first} ({Path(w.filename).name}:{w.lineno})"
        counts[line] = counts.get(line, 0) + 1
    lines = [f"{line} [x{n}]" if n > 1 else line for line, n in counts.items()]
    if len(lines) > MAX_LOG_LINES:
        lines = lines[:MAX_LOG_LINES] + [f"... and {len(lines) - MAX_LOG_LINES} more warnings"]
    return lines


def _technique_block(technique: Technique, plugin: PluginRecord) -> dict[str, Any]:
    """The report's technique block."""
    return {
        "name": technique.name,
        "summary": technique.summary,
        "distribution": plugin.distribution,
        "version": plugin.version,
        "key_metric": technique.key_metric,
    }
