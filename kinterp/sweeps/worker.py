"""The task a Dask worker runs: one RunSpec, with the worker's models cached by sha256.

A task carries the RunSpec (paths, params, the model's sha256), never a model. Each worker
process loads a model once and keeps the last few; before every run it checks that the file
still has the spec's sha256, so a model changed mid-sweep is refused, not silently used.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from typing import Any

from kinterp.errors import KinterpError
from kinterp.loading.modelfile import sha256_of
from kinterp.loading.models import LoadedModel, resolve
from kinterp.settings.runspec import RunSpec
from kinterp.sweeps.outcome import Outcome, from_report

MAX_CACHED_MODELS = 4

_MODELS: OrderedDict[tuple[str | None, Any], LoadedModel] = OrderedDict()
_LOCK = threading.Lock()


def run_task(spec: RunSpec) -> dict[str, Any]:
    """Execute ``spec`` and return its :class:`Outcome` as a dict (a ``refused`` one on bad input).

    A crash of the technique is a ``failed`` report (see :func:`kinterp.runner.execute`); any
    other exception propagates, for Dask to retry.
    """
    from kinterp.runner import execute

    clock = time.perf_counter()
    try:
        model, load_seconds = cached_model(spec)
        result = execute(spec, model=model, quiet=True)
    except KinterpError as exc:
        seconds = round(time.perf_counter() - clock, 3)
        return Outcome("refused", error=str(exc), seconds=seconds).as_dict()
    seconds = round(time.perf_counter() - clock, 3)
    return from_report(
        result.path, result.report, seconds=seconds, load_seconds=load_seconds
    ).as_dict()


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
