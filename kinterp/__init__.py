"""kinterp: look inside a trained Keras model — what it learned and where it breaks.

The public API, for notebooks and plugin authors. Importing kinterp does not import
TensorFlow; loading a model or running a technique does. The types a plugin receives
(``RunContext``, ``LoadedModel``, ``ModelInfo``, ``ReportBuilder``, ``ModelData``,
``Dataset``, ``Classification``), ``RunSpec`` and the model helpers a technique uses
(``load_alongside``, ``zoo_models``, ``activation_name``) are exported here and imported on
first use. docs/plugins.md documents every name in ``__all__``; the technique toolkit is
:mod:`kinterp.toolkit`.
"""

from __future__ import annotations

import importlib
import os
from typing import TYPE_CHECKING, Any

from kinterp._version import __version__
from kinterp.errors import KinterpError
from kinterp.hookspecs import hookimpl
from kinterp.reporting.formatting import format_number
from kinterp.technique import DemoPreset, Technique

if TYPE_CHECKING:
    from kinterp.data.datasets import Dataset, DatasetFormat, DatasetSpec
    from kinterp.data.modeldata import ModelData
    from kinterp.loading.models import LayerRow, LoadedModel, ModelInfo, load_alongside
    from kinterp.loading.view import activation_name
    from kinterp.loading.zoo import ZooModel, zoo_models
    from kinterp.reporting.blocks import ReportBlock
    from kinterp.reporting.report import ReportBuilder
    from kinterp.runner import RunResult
    from kinterp.serve.client import Client
    from kinterp.settings.runspec import RunSpec
    from kinterp.sweeps import sweep
    from kinterp.technique.context import RunContext
    from kinterp.toolkit.classification import Classification
    from kinterp.toolkit.perturb import Family

_LAZY = {
    "Classification": "kinterp.toolkit.classification",
    "Client": "kinterp.serve.client",
    "RunContext": "kinterp.technique.context",
    "Dataset": "kinterp.data.datasets",
    "DatasetFormat": "kinterp.data.datasets",
    "DatasetSpec": "kinterp.data.datasets",
    "ModelData": "kinterp.data.modeldata",
    "LayerRow": "kinterp.loading.models",
    "LoadedModel": "kinterp.loading.models",
    "ModelInfo": "kinterp.loading.models",
    "activation_name": "kinterp.loading.view",
    "load_alongside": "kinterp.loading.models",
    "ZooModel": "kinterp.loading.zoo",
    "zoo_models": "kinterp.loading.zoo",
    "ReportBlock": "kinterp.reporting.blocks",
    "ReportBuilder": "kinterp.reporting.report",
    "RunResult": "kinterp.runner",
    "RunSpec": "kinterp.settings.runspec",
    "sweep": "kinterp.sweeps",
}

__all__ = [
    "Classification",
    "Client",
    "Dataset",
    "DatasetFormat",
    "DatasetSpec",
    "DemoPreset",
    "KinterpError",
    "LayerRow",
    "LoadedModel",
    "ModelData",
    "ModelInfo",
    "ReportBlock",
    "ReportBuilder",
    "RunContext",
    "RunResult",
    "RunSpec",
    "Technique",
    "ZooModel",
    "__version__",
    "activation_name",
    "execute",
    "format_number",
    "hookimpl",
    "load_alongside",
    "load_model",
    "perturbation_families",
    "run",
    "sweep",
    "techniques",
    "zoo_models",
]


def __getattr__(name: str) -> Any:
    """Import the exported types and helpers on first use (they pull in numpy, Pillow, Jinja2).

    Raises:
        AttributeError: ``name`` is not exported.
    """
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'kinterp' has no attribute {name!r}")


def load_model(model: str, **options: Any) -> LoadedModel:
    """Load a zoo name or model file safely.

    In Jupyter the model shows as its card and layer table.

    Args:
        model: a zoo name or a model path.
        **options: :class:`LoadOptions` fields (``unsafe=True`` is a bool, not a string).

    Raises:
        KinterpError: a bad option, or a model that cannot be loaded.
    """
    from kinterp.loading.models import load_model as _load
    from kinterp.reporting.notebook import NotebookModel
    from kinterp.settings.loadspec import checked_load

    loaded = _load(_path_text(model, "model"), checked_load(options))
    return NotebookModel(loaded.keras_model, loaded.info)


def techniques() -> dict[str, str]:
    """Installed techniques: name -> one-line summary."""
    from kinterp.registry import technique_summaries

    return technique_summaries()


def perturbation_families() -> dict[str, Family]:
    """Registered perturbation families by name, the built-in ones first (what robustness
    sweeps; a plugin adds one with the ``register_perturbation_families`` hook)."""
    from kinterp.registry import perturbation_families as _families

    return _families()


def run(
    technique: str,
    model: str | LoadedModel,
    out: str | None = None,
    *,
    data: str | None = None,
    seed: int = 0,
    quiet: bool = True,
    **params: Any,
) -> RunResult:
    """Run ``technique`` on ``model`` and write its report directory.

    Args:
        technique: an installed technique (see :func:`techniques`).
        model: a zoo name, a model path, or a :class:`LoadedModel` (reused as it is).
        out: the folder the run directory goes under (default ./kinterp-reports).
        data: a dataset name or path (default: the model card's dataset, else mnist-5k).
        seed: seeds numpy, Python and TensorFlow (0 to 2**32 - 1).
        quiet: hide progress bars.
        **params: the technique's parameters, as values or CLI strings.

    Returns:
        The :class:`RunResult`: ``status``, ``metrics``, ``arrays``, ``path``, ``spec``.

    Raises:
        KinterpError: bad input, with the same one-line message as the CLI.
    """
    from kinterp.loading.models import LoadedModel
    from kinterp.runner import execute as _execute
    from kinterp.settings.runspec import RunSpec

    out = None if out is None else _path_text(out, "out")
    data = None if data is None else _path_text(data, "data")
    loaded = model if isinstance(model, LoadedModel) else None
    if loaded is not None:
        name = loaded.info.name if loaded.info.card else loaded.info.path
        spec = RunSpec(technique, name, params, data, seed, out, loaded.info.sha256)
    else:
        spec = RunSpec(technique, _path_text(model, "model"), params, data, seed, out)
    return _execute(spec, model=loaded, quiet=quiet)


def execute(spec: RunSpec, quiet: bool = True) -> RunResult:
    """Run a :class:`RunSpec` (for example one read with ``RunSpec.from_json``).

    Raises:
        KinterpError: ``spec`` is not a RunSpec, or bad input (nothing is written).
    """
    from kinterp.runner import execute as _execute
    from kinterp.settings.runspec import RunSpec

    if not isinstance(spec, RunSpec):
        raise KinterpError(
            f"kinterp.execute expects a RunSpec, got {type(spec).__name__}; build one with "
            "kinterp.RunSpec(technique, model, ...) or RunSpec.from_json(text)"
        )
    return _execute(spec, quiet=quiet)


def _path_text(value: Any, name: str) -> str:
    """A str or path-like argument as text.

    Raises:
        KinterpError: anything else, naming the argument.
    """
    if isinstance(value, (str, os.PathLike)):
        text = os.fspath(value)
        if isinstance(text, str):
            return text
    raise KinterpError(f"{name} must be a string or a path, got {type(value).__name__} {value!r}")
