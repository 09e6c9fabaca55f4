"""kinterp: look inside a trained Keras model — what it learned and where it breaks.

The public API, for notebooks and plugin authors. Importing kinterp does not import
TensorFlow; loading a model or running a technique does.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from kinterp._version import __version__
from kinterp.errors import KinterpError
from kinterp.hookspecs import hookimpl
from kinterp.technique import DemoPreset, Technique

if TYPE_CHECKING:
    from kinterp.models import LoadedModel
    from kinterp.runner import RunResult

__all__ = [
    "DemoPreset",
    "KinterpError",
    "Technique",
    "__version__",
    "hookimpl",
    "load_model",
    "run",
    "techniques",
]


def load_model(model: str, **options: Any) -> LoadedModel:
    """Load a zoo name or model file safely; ``options`` are :class:`LoadOptions` fields."""
    from kinterp.models import LoadOptions
    from kinterp.models import load_model as _load

    return _load(model, LoadOptions(**options))


def techniques() -> dict[str, str]:
    """Installed techniques: name -> one-line summary."""
    from kinterp.plugins import registry

    return {name: tech.summary for name, (tech, _) in sorted(registry().techniques.items())}


def run(
    technique: str,
    model: str | LoadedModel,
    out: str | None = None,
    *,
    data: str | None = None,
    seed: int = 0,
    **params: Any,
) -> RunResult:
    """Run ``technique`` on ``model``; returns a result with metrics, arrays and report path."""
    from kinterp.runner import run_technique

    return run_technique(technique, model, params, out=out, data=data, seed=seed)
