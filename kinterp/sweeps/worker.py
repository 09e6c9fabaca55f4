"""The task a Dask worker runs: one RunSpec, with the worker's models cached by sha256.

A sweep's or the server's task (:func:`run_shipped`) carries the RunSpec and, for every file
it names by path (model, dataset, file params), the bytes the client sent (see
:mod:`kinterp.sweeps.transport`): the worker
writes them into its own folder, runs the spec there and sends the report directory back
packed, naming the client's paths. Each worker process loads a model once and keeps the last
few; before every run it checks that the file still has the spec's sha256.
"""

from __future__ import annotations

import shutil
import tempfile
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

from kinterp.errors import KinterpError
from kinterp.loading.modelfile import sha256_of
from kinterp.loading.models import LoadedModel, resolve
from kinterp.settings.filerefs import map_file_refs
from kinterp.settings.runspec import RunSpec
from kinterp.sweeps.outcome import Outcome, from_report
from kinterp.sweeps.transport import Parcel, local_spec, materialize_all, pack_report, work_root

MAX_CACHED_MODELS = 4

_MODELS: OrderedDict[tuple[str | None, Any], LoadedModel] = OrderedDict()
_LOCK = threading.Lock()


def run_task(
    spec: RunSpec, amend: Callable[[dict[str, Any]], None] | None = None
) -> dict[str, Any]:
    """Execute ``spec`` and return its :class:`Outcome` as a dict (a ``refused`` one on bad input).

    A crash of the technique is a ``failed`` report (see :func:`kinterp.runner.execute`); any
    other exception propagates, for Dask to retry. ``amend`` is execute's.
    """
    from kinterp.runner import execute

    clock = time.perf_counter()
    try:
        model, load_seconds = cached_model(spec)
        result = execute(spec, model=model, quiet=True, amend=amend)
    except KinterpError as exc:
        seconds = round(time.perf_counter() - clock, 3)
        return Outcome("refused", error=str(exc), seconds=seconds).as_dict()
    seconds = round(time.perf_counter() - clock, 3)
    return from_report(
        result.path, result.report, seconds=seconds, load_seconds=load_seconds
    ).as_dict()


def run_shipped(spec: RunSpec, parcel: Parcel | None = None) -> dict[str, Any]:
    """Run a spec in this worker's own folder; return its outcome and packed report.

    What arrived by content (``parcel``: the files the spec names by path, see
    :func:`~kinterp.sweeps.transport.sent_files`) is written under the worker's folder
    (sha256 checked) and the spec pointed at it; the run writes under a temporary folder of
    the worker, its report records the client's paths (``spec``), and it is returned as
    ``archive`` (tar bytes), ``files`` (sha256 by relative path) and ``name``; the worker
    keeps no copy.
    """
    from kinterp.registry import find_technique

    root = work_root()
    try:
        params_cls = find_technique(spec.technique)[0].Params
        paths = materialize_all(parcel or {}, root)
    except KinterpError as exc:
        return {"outcome": Outcome("refused", error=str(exc)).as_dict()}
    local = local_spec(spec, params_cls, paths)
    (root / "runs").mkdir(exist_ok=True)
    runs = Path(tempfile.mkdtemp(prefix="run-", dir=root / "runs"))
    try:
        client_paths = {v: k for k, v in paths.items()}

        def client_names(report: dict[str, Any]) -> None:
            _name_client_paths(report, spec, params_cls, client_paths)

        outcome = run_task(replace(local, out=str(runs)), amend=client_names)
        if outcome.get("report") is None:
            return {"outcome": outcome}
        run_dir = Path(outcome["report"])
        try:
            archive, files = pack_report(run_dir)
        except KinterpError as exc:
            return {"outcome": {**outcome, "status": "failed", "report": None, "error": str(exc)}}
        return {"outcome": outcome, "archive": archive, "files": files, "name": run_dir.name}
    finally:
        shutil.rmtree(runs, ignore_errors=True)


def _name_client_paths(
    report: dict[str, Any], spec: RunSpec, params_cls: type, client_paths: dict[str, str]
) -> None:
    """Make a report name the client's model, data, file params and out folder, not this
    worker's copies (``client_paths``: this worker's path -> the client's)."""
    recorded = report.get("spec") or {}
    recorded["out"] = spec.out
    if recorded.get("model") in client_paths:
        recorded["model"] = spec.model
        if isinstance(report.get("model"), dict):
            report["model"]["path"] = spec.model
    if recorded.get("data") in client_paths:
        recorded["data"] = spec.data
    if isinstance(recorded.get("params"), dict):
        recorded["params"] = map_file_refs(
            params_cls, recorded["params"], lambda _, ref: client_paths.get(ref)
        )
    report["spec"] = recorded


def cached_model(spec: RunSpec) -> tuple[LoadedModel, float]:
    """The spec's model from this process's cache, else loaded: (model, seconds spent loading).

    Raises:
        KinterpError: the file is gone or no longer has the spec's sha256, or cannot load.
    """
    from kinterp.runner import load_for

    key = (spec.model_sha256, spec.load)
    with _LOCK:
        if spec.model_sha256:
            _check_unchanged(spec)
        if key in _MODELS:
            _MODELS.move_to_end(key)
            return _MODELS[key], 0.0
        clock = time.perf_counter()
        loaded = load_for(spec)
        if spec.model_sha256:
            _MODELS[key] = loaded
            while len(_MODELS) > MAX_CACHED_MODELS:
                _MODELS.popitem(last=False)
        return loaded, round(time.perf_counter() - clock, 3)


def _check_unchanged(spec: RunSpec) -> None:
    """Refuse a model file that changed (or vanished) since the sweep was planned."""
    _, path, _ = resolve(spec.model)
    if not path.exists():
        raise KinterpError(f"{spec.model} is gone since the sweep was planned; restore it")
    found = sha256_of(path)
    if found != spec.model_sha256:
        raise KinterpError(
            f"{spec.model} has changed since the sweep was planned (sha256 {found[:12]}..., "
            f"expected {(spec.model_sha256 or '')[:12]}...); run the sweep again to plan it anew"
        )
